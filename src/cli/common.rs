//! Helpers several commands share.

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use super::{EXIT_OK, EXIT_USAGE};
use wardwall::analysis::selection::Selection;
use wardwall::{Compiled, DEFAULT_POLICY};

/// Compiles one policy, printing an I/O error (exit 2) if it cannot be
/// read; its warnings as the lint selection has them.
pub(super) fn compile_or_report(path: &Path, date: Date, lint: &Selection) -> Result<Compiled, u8> {
    let mut compiled = wardwall::compile(path, date).map_err(|e| {
        report_unreadable(path, &e);
        EXIT_USAGE
    })?;
    lint.apply(&mut compiled.diagnostics.items);
    Ok(compiled)
}

/// Prints why the policy file at `path` could not be read, with a hint
/// where it is a relative path that is not there.
pub(super) fn report_unreadable(path: &Path, e: &wardwall::source::ReadError) {
    eprintln!("error: {e}");
    if e.source.kind() == std::io::ErrorKind::NotFound
        && let Some(help) = missing_policy_help(path)
    {
        eprintln!("  help: {help}");
    }
}

/// What to do about a relative policy path that is not there: it was
/// looked up in the working directory, which a user running wardwall
/// outside the repository (or the default `policies/hospital.kdl`, which
/// only a checkout of wardwall has) does not expect.
fn missing_policy_help(path: &Path) -> Option<String> {
    if path.is_absolute() {
        return None;
    }
    let cwd = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_else(|_| "(unknown)".to_string());
    Some(if path == Path::new(DEFAULT_POLICY) {
        format!(
            "no POLICY was given, and the default, {DEFAULT_POLICY}, is relative to the \
             working directory ({cwd}), which has none: name your policy file (e.g. \
             `wardwall check path/to/site.kdl`), list it in a wardwall.toml, or run \
             wardwall where policies/ is"
        )
    } else {
        format!(
            "{} is relative to the working directory ({cwd})",
            path.display()
        )
    })
}

/// The enclosing git repository's top level (the first ancestor of the
/// working directory with a `.git`), which SARIF URIs are relative to.
pub(super) fn repository_root() -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .find(|dir| dir.join(".git").exists())
        .map(Path::to_path_buf)
}

/// Writes generated text (a completion script, a man page) to standard
/// output: exit 0 when it was taken, else (a closed pipe, a full disk) the
/// error is reported and the exit code is 2.
pub(super) fn print_stdout(bytes: &[u8]) -> u8 {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: cannot write to standard output: {e}");
            EXIT_USAGE
        }
    }
}
