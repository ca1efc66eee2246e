//! `--templates DIR`, checked as it is parsed: a folder or file in DIR that
//! matches no target or template is a usage error (exit 2) listing the
//! valid names, instead of being passed over while the built-in template
//! is used.

use std::path::PathBuf;

/// The value parser of every `--templates` option.
pub(super) fn parse_templates_dir(s: &str) -> Result<PathBuf, String> {
    let dir = PathBuf::from(s);
    wardwall::render::check_override_dir(&dir, &wardwall::registry::all_renderers())?;
    Ok(dir)
}
