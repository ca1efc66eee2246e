//! The project file, `wardwall.toml`: the settings a policy repository
//! would otherwise repeat on every call (policies and their output
//! directories, targets, templates, target options, the lint selection,
//! the review budget). Command-line flags override it.
//!
//! Found by `--config FILE`, else as the nearest `wardwall.toml` from the
//! working directory upwards, stopping at the repository root (the first
//! directory with a `.git`) or the filesystem root: a file outside the
//! repository (in a home or temporary directory) never changes a build.
//! Relative paths in it are relative to its own directory. Keys are spelt
//! as the command-line flags they stand for; an unknown key or a bad value
//! is an error at its line and column, with a "did you mean".

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use wardwall::DEFAULT_POLICY;
use wardwall::analysis::selection::{self, Selection};
use wardwall::diagnostics::{self, Diagnostic, FileId, SourceMap, Span, Style};
use wardwall::vocab::Target;

/// The project file's name.
pub(super) const FILE_NAME: &str = "wardwall.toml";

/// A loaded project file (or the defaults, when there is none).
#[derive(Debug, Default)]
pub(super) struct Project {
    /// The `[[policy]]` entries, in the file's order.
    policies: Vec<PolicySettings>,
    /// `[lint]`.
    pub(super) lint: Selection,
    /// `[diff] budget`.
    pub(super) budget: Option<usize>,
}

/// How one policy is built: a `[[policy]]` entry, or the defaults.
#[derive(Clone, Debug, Default)]
pub(super) struct PolicySettings {
    pub(super) path: PathBuf,
    pub(super) out: Option<PathBuf>,
    pub(super) targets: Vec<Target>,
    pub(super) templates: Option<PathBuf>,
    pub(super) nft_address_only: bool,
}

impl Project {
    /// The settings of each policy a command was given, or, given none,
    /// of every policy of the project file, or of the default policy.
    pub(super) fn policies(&self, given: &[PathBuf]) -> Vec<PolicySettings> {
        if given.is_empty() && !self.policies.is_empty() {
            return self.policies.clone();
        }
        let given = if given.is_empty() {
            &[PathBuf::from(DEFAULT_POLICY)][..]
        } else {
            given
        };
        given.iter().map(|path| self.settings_of(path)).collect()
    }

    /// [`Project::policy`], printing why there is none (exit 2).
    pub(super) fn policy_or_report(&self, given: Option<&Path>) -> Result<PolicySettings, u8> {
        self.policy(given).map_err(|e| {
            eprintln!("error: {e}");
            super::EXIT_USAGE
        })
    }

    /// The settings of the one policy a command works on: the one given,
    /// else the project file's only policy, else the default policy.
    fn policy(&self, given: Option<&Path>) -> Result<PolicySettings, String> {
        match (given, self.policies.as_slice()) {
            (Some(path), _) => Ok(self.settings_of(path)),
            (None, [only]) => Ok(only.clone()),
            (None, []) => Ok(self.settings_of(Path::new(DEFAULT_POLICY))),
            (None, several) => Err(format!(
                "the project file names {} policies ({}): name the one to use",
                several.len(),
                several
                    .iter()
                    .map(|p| wardwall::source::display_path(&p.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// The entry for `path` if the project file has one (the same file,
    /// however the path is spelt), else the defaults.
    fn settings_of(&self, path: &Path) -> PolicySettings {
        let entry = self.policies.iter().find(|p| same_file(&p.path, path));
        PolicySettings {
            path: path.to_path_buf(),
            ..entry.cloned().unwrap_or_default()
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The project file `--config` names, else the one found from the working
/// directory; an error is the report to print (exit 2).
pub(super) fn load(named: Option<&Path>, style: Style) -> Result<Project, String> {
    let file = match named {
        Some(file) => file.to_path_buf(),
        None => match std::env::current_dir().ok().and_then(|cwd| discover(&cwd)) {
            Some(file) => file,
            None => return Ok(Project::default()),
        },
    };
    let shown = wardwall::source::display_path(&file);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("error: cannot read the project file {shown}: {e}\n"))?;
    let base = file.parent().unwrap_or(Path::new(""));
    let mut sources = SourceMap::default();
    let id = sources.add(shown, text.clone());
    // A snippet must not replay control or bidi characters to the
    // terminal: such a file is shown by its offending line only, cleaned.
    if text
        .chars()
        .any(|c| diagnostics::is_unsafe_char(c) && !matches!(c, '\n' | '\r' | '\t'))
    {
        sources.excerpt_only(id);
    }
    parse(&text, base, id).map_err(|d| diagnostics::render(&sources, &d, style))
}

/// The nearest project file at or above `cwd`, as a path relative to it
/// (`../wardwall.toml`), so the paths in it read as they are written.
fn discover(cwd: &Path) -> Option<PathBuf> {
    let mut up = PathBuf::new();
    for dir in cwd.ancestors() {
        if dir.join(FILE_NAME).is_file() {
            return Some(up.join(FILE_NAME));
        }
        if dir.join(".git").exists() {
            return None;
        }
        up.push("..");
    }
    None
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawProject {
    #[serde(default)]
    policy: Vec<RawPolicy>,
    #[serde(default)]
    lint: RawLint,
    #[serde(default)]
    diff: RawDiff,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    path: String,
    out: Option<String>,
    #[serde(default)]
    targets: Vec<Spanned<String>>,
    templates: Option<Spanned<String>>,
    #[serde(default)]
    nft_address_only: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawLint {
    select: Option<Vec<Spanned<String>>>,
    #[serde(default)]
    ignore: Vec<Spanned<String>>,
    #[serde(default)]
    severity: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawDiff {
    budget: Option<usize>,
}

/// The project in `text`, its relative paths resolved against `base`.
fn parse(text: &str, base: &Path, file: FileId) -> Result<Project, Box<Diagnostic>> {
    let raw: RawProject = toml::from_str(text).map_err(|e| toml_error(&e, file))?;
    let bad =
        |code, at: &Spanned<String>, message: String| project_error(code, message, at.span(), file);
    let mut policies = Vec::new();
    for p in raw.policy {
        let targets = p
            .targets
            .iter()
            .map(|t| super::args::parse_target(t.get_ref()).map_err(|e| bad("project-value", t, e)))
            .collect::<Result<_, _>>()?;
        // Checked as `--templates` is: a misspelt override would
        // otherwise be passed over while the built-in template is used.
        let templates = match &p.templates {
            Some(t) => {
                let dir = base.join(t.get_ref());
                wardwall::render::check_override_dir(&dir, &wardwall::registry::all_renderers())
                    .map_err(|e| bad("project-value", t, e))?;
                Some(dir)
            }
            None => None,
        };
        policies.push(PolicySettings {
            path: base.join(p.path),
            out: p.out.map(|o| base.join(o)),
            targets,
            templates,
            nft_address_only: p.nft_address_only,
        });
    }
    let code = |c: &Spanned<String>| {
        selection::lint_code(c.get_ref()).map_err(|e| bad("project-lint-code", c, e))
    };
    let mut lint = Selection {
        select: match &raw.lint.select {
            Some(codes) => Some(codes.iter().map(code).collect::<Result<_, _>>()?),
            None => None,
        },
        ignore: raw.lint.ignore.iter().map(code).collect::<Result<_, _>>()?,
        ..Selection::default()
    };
    for (c, level) in &raw.lint.severity {
        let severity = super::args::parse_level(level.get_ref())
            .map_err(|e| bad("project-value", level, e))?;
        lint.severity.insert(code(c)?, severity);
    }
    Ok(Project {
        policies,
        lint,
        budget: raw.diff.budget,
    })
}

/// An error at `at` in the project file; a message of the form "what;
/// hint" (as [`selection::lint_code`] gives) is split into the two.
fn project_error(
    code: &'static str,
    message: String,
    at: Range<usize>,
    file: FileId,
) -> Box<Diagnostic> {
    let span = Span {
        file,
        offset: at.start,
        len: at.len(),
    };
    let (message, help) = match message.split_once("; ") {
        Some((message, help)) => (message.to_string(), Some(help.to_string())),
        None => (message, None),
    };
    let d = Diagnostic::error(code, message).at(span, "in the project file");
    Box::new(match help {
        Some(help) => d.help(help),
        None => d,
    })
}

/// A TOML or serde error (bad syntax, an unknown key, a wrong type) as a
/// diagnostic; an unknown key or value gets the nearest known one.
fn toml_error(e: &toml::de::Error, file: FileId) -> Box<Diagnostic> {
    let message = diagnostics::escape_unsafe(e.message().trim());
    let at = e.span().unwrap_or(0..0);
    let Some((unknown, known)) = unknown_and_expected(&message) else {
        return project_error("project-value", message, at, file);
    };
    let (code, what) = if message.starts_with("unknown field") {
        ("project-unknown-key", "key")
    } else {
        ("project-value", "value")
    };
    let hint = diagnostics::did_you_mean(unknown, known.iter().copied())
        .map(|s| format!("; {s}"))
        .unwrap_or_default();
    let message = format!(
        "unknown {what} `{unknown}` (known: {}){hint}",
        known.join(", ")
    );
    project_error(code, message, at, file)
}

/// serde's "unknown field `x`, expected one of `a`, `b`" (or "unknown
/// variant"), taken apart: the unknown name and the known ones.
fn unknown_and_expected(message: &str) -> Option<(&str, Vec<&str>)> {
    if !message.starts_with("unknown ") {
        return None;
    }
    let mut quoted = message.split('`').skip(1).step_by(2);
    let unknown = quoted.next()?;
    Some((unknown, quoted.collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_unknown_field_messages_are_taken_apart() {
        // Pins serde's wording: if it changes, the suggestions would go.
        let e = toml::from_str::<RawDiff>("budgt = 1").unwrap_err();
        assert_eq!(
            unknown_and_expected(e.message()),
            Some(("budgt", vec!["budget"]))
        );
        let e = toml::from_str::<RawLint>("selet = []").unwrap_err();
        assert_eq!(
            unknown_and_expected(e.message()),
            Some(("selet", vec!["select", "ignore", "severity"]))
        );
        assert_eq!(unknown_and_expected("invalid type: string"), None);
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let templates = tempfile::tempdir().unwrap();
        let abs = templates.path().display().to_string();
        let text = format!("[[policy]]\npath = \"p.kdl\"\nout = \"o\"\ntemplates = {abs:?}\n");
        let project = parse(&text, Path::new("../conf"), FileId(0)).unwrap();
        let p = &project.policies[0];
        assert_eq!(p.path, Path::new("../conf/p.kdl"));
        assert_eq!(p.out.as_deref(), Some(Path::new("../conf/o")));
        assert_eq!(p.templates.as_deref(), Some(templates.path()));
    }

    #[test]
    fn a_given_policy_gets_its_entry_however_spelt() {
        let project = parse(
            "[[policy]]\npath = \"a.kdl\"\nout = \"x\"\n",
            Path::new(""),
            FileId(0),
        )
        .unwrap();
        assert_eq!(
            project.policy(Some(Path::new("a.kdl"))).unwrap().out,
            Some("x".into())
        );
        assert_eq!(project.policy(Some(Path::new("b.kdl"))).unwrap().out, None);
        assert_eq!(project.policy(None).unwrap().path, Path::new("a.kdl"));
    }
}
