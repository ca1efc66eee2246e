//! Helpers several commands share.

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use super::EXIT_USAGE;
use crate::Compiled;
use crate::analysis::selection::Selection;

/// Compiles one policy, printing an I/O error (exit 2) if it cannot be
/// read; its warnings as the lint selection has them.
pub(super) fn compile_or_report(path: &Path, date: Date, lint: &Selection) -> Result<Compiled, u8> {
    let mut compiled = crate::compile(path, date).map_err(|e| {
        eprintln!("error: {e}");
        EXIT_USAGE
    })?;
    lint.apply(&mut compiled.diagnostics.items);
    Ok(compiled)
}

/// The enclosing git repository's top level (the first ancestor of the
/// working directory with a `.git`), which SARIF URIs are relative to.
pub(super) fn repository_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}
