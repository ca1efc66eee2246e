//! Checking a template override directory (`--templates DIR`) before it is
//! used. The loader looks an override up by name (`DIR/<target>/<name>`)
//! and falls back to the built-in template, so a misspelled folder or file
//! would otherwise be ignored without a word and the built-in frame used:
//! every entry must name a target, and every file in a target's folder one
//! of its templates.

use std::path::Path;

use super::Renderer;
use crate::diagnostics::did_you_mean;

/// Every problem with `dir` as an override directory for `renderers`
/// (every target), one line each, with the valid names and a
/// "did you mean"; `Ok` when each entry is used. Hidden entries
/// (`.gitkeep`, editor files) are skipped, and so are files whose name
/// starts with `_`: partials an override pulls in with `{% include %}`.
pub fn check_override_dir(dir: &Path, renderers: &[Box<dyn Renderer>]) -> Result<(), String> {
    let entries = read_dir(dir)?;
    let targets: Vec<&str> = renderers.iter().map(|r| r.target().name()).collect();
    let mut problems = Vec::new();
    for (name, is_dir) in entries {
        let path = dir.join(&name);
        match renderers.iter().find(|r| r.target().name() == name) {
            Some(renderer) if is_dir => {
                problems.extend(check_target_dir(&path, renderer.as_ref())?)
            }
            Some(_) => problems.push(format!(
                "{} is a file: a target's overrides go in a folder, {}/<template>",
                path.display(),
                path.display()
            )),
            None => problems.push(unknown_target(&path, &name, is_dir, &targets, renderers)),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

/// The problems of one target's folder: files that are none of its
/// templates.
fn check_target_dir(dir: &Path, renderer: &dyn Renderer) -> Result<Vec<String>, String> {
    let templates: Vec<&str> = renderer
        .embedded_templates()
        .iter()
        .map(|(n, _)| *n)
        .collect();
    let target = renderer.target().name();
    let mut problems = Vec::new();
    for (name, is_dir) in read_dir(dir)? {
        if !is_dir && (name.starts_with('_') || templates.contains(&name.as_str())) {
            continue;
        }
        let hint = did_you_mean(&name, templates.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_default();
        problems.push(format!(
            "{} matches no {target} template{hint} ({target} templates: {}; a partial for \
             `{{% include %}}` is named `_NAME`)",
            dir.join(&name).display(),
            templates.join(", "),
        ));
    }
    Ok(problems)
}

/// An entry of DIR that names no target: a misspelled folder, or a
/// template put in DIR itself instead of its target's folder.
fn unknown_target(
    path: &Path,
    name: &str,
    is_dir: bool,
    targets: &[&str],
    renderers: &[Box<dyn Renderer>],
) -> String {
    let owner = renderers
        .iter()
        .find(|r| r.embedded_templates().iter().any(|(n, _)| *n == name));
    let hint = match owner {
        Some(r) if !is_dir => format!(
            "; overrides go in a target's folder: move it to {}",
            path.with_file_name(r.target().name()).join(name).display()
        ),
        _ => did_you_mean(name, targets.iter().copied())
            .map(|h| format!("; {h}"))
            .unwrap_or_default(),
    };
    format!(
        "{} matches no target{hint} (targets: {}; overrides go in DIR/<target>/<template>)",
        path.display(),
        targets.join(", ")
    )
}

/// The visible entries of `dir` (name, whether a directory), sorted by
/// name so the problems are listed in a stable order.
fn read_dir(dir: &Path) -> Result<Vec<(String, bool)>, String> {
    let cannot =
        |e: std::io::Error| format!("cannot read template directory {}: {e}", dir.display());
    if !dir.is_dir() && dir.exists() {
        return Err(format!(
            "{} is not a directory: --templates takes a directory of overrides, \
             DIR/<target>/<template>",
            dir.display()
        ));
    }
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') {
            out.push((name, entry.path().is_dir()));
        }
    }
    out.sort();
    Ok(out)
}
