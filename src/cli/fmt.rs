//! `wardwall fmt`: lay out policy files canonically (`source::format_text`).
//!
//! Which files: each POLICY named (default: the shipped example policy)
//! and the files it includes, found by the same loader `build` uses, so
//! the includes are exactly those `build` reads and never a file outside
//! the policy's directory. Every file is formatted in memory first; if any
//! cannot be (not KDL, an include that cannot be read), nothing is
//! written and the run exits 2. Otherwise each changed file is replaced
//! atomically (`output::replace_file`).

use std::cell::RefCell;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;

use super::args::Common;
use super::{EXIT_FINDINGS, EXIT_OK, EXIT_USAGE};
use wardwall::diagnostics::{self, Diagnostic, Diagnostics, SourceMap, Span};
use wardwall::source::{self, FormatErrorKind, display_path};

#[derive(Args, Debug)]
pub(super) struct FmtArgs {
    /// Policy files to format, each with the files it includes (default:
    /// the project file's policies, else policies/hospital.kdl).
    #[arg(value_name = "POLICY")]
    policies: Vec<PathBuf>,
    /// Write nothing; list the files that would change and exit 1 if any.
    #[arg(long)]
    check: bool,
    /// Write nothing; print a unified diff of each file that would change
    /// and exit 1 if any (implies --check).
    #[arg(long)]
    diff: bool,
}

/// A file the loader read: where (symlinks resolved), how to show it,
/// and its text.
struct PolicyFile {
    path: PathBuf,
    shown: String,
    text: String,
}

/// [`source::Files`] on the disk that keeps what it reads.
struct Recording {
    read: RefCell<Vec<(PathBuf, Vec<u8>)>>,
}

impl source::Files for Recording {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        let bytes = source::Disk.read(path)?;
        self.read
            .borrow_mut()
            .push((path.to_path_buf(), bytes.clone()));
        Ok(bytes)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        source::Disk.identity(path)
    }

    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf> {
        source::Disk.resolve(path)
    }
}

/// What stops a file from being formatted, as the loader reports it; its
/// other findings (unknown names, ...) are `check`'s business.
fn blocks_formatting(d: &Diagnostic) -> bool {
    matches!(
        d.code,
        "kdl-syntax" | "not-utf8" | "file-too-large" | "nesting-too-deep"
    ) || matches!(
        d.code,
        "include-missing" | "include-outside-tree" | "include-depth"
    )
}

pub(super) fn fmt(args: FmtArgs, common: &Common) -> u8 {
    let style = common.style();
    let mut sources = SourceMap::default();
    let mut diags = Diagnostics::default();
    let mut files = Vec::new();
    for root in common.project.policies(&args.policies) {
        match policy_files(&root.path, &mut sources, &mut diags) {
            Ok(found) => files.extend(found),
            Err(e) => {
                super::common::report_unreadable(&root.path, &e);
                return EXIT_USAGE;
            }
        }
    }
    if diags.has_errors() {
        return refuse(&sources, &diags, style);
    }
    // A file two roots include is formatted once.
    let mut seen = std::collections::BTreeSet::new();
    files.retain(|f| seen.insert(f.path.clone()));
    let formatted: Vec<(PolicyFile, String)> = files
        .into_iter()
        .filter_map(|f| match source::format_text(&f.text) {
            Ok(out) => Some((f, out)),
            Err(e) => {
                let file = sources.add(f.shown.clone(), f.text.clone());
                diags.push(format_problem(file, e));
                None
            }
        })
        .collect();
    if diags.has_errors() {
        return refuse(&sources, &diags, style);
    }
    let changed: Vec<&(PolicyFile, String)> =
        formatted.iter().filter(|(f, out)| f.text != *out).collect();
    if args.check || args.diff {
        report_unformatted(&changed, formatted.len(), args.diff, common.quiet)
    } else {
        rewrite(&changed, formatted.len(), common.quiet)
    }
}

/// Reports why nothing is formatted: exit 2, no file touched.
fn refuse(sources: &SourceMap, diags: &Diagnostics, style: diagnostics::Style) -> u8 {
    let text = diagnostics::render_all(sources, diags, style);
    let _ = std::io::stderr().write_all(text.as_bytes());
    eprintln!("error: nothing formatted");
    EXIT_USAGE
}

/// `root` and every file it includes, as `build` would read them, in the
/// order read. Problems that stop formatting go to `diags`.
fn policy_files(
    root: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<Vec<PolicyFile>, source::ReadError> {
    let recording = Recording {
        read: RefCell::new(Vec::new()),
    };
    let mut found = Diagnostics::default();
    source::load_from(&recording, root, sources, &mut found)?;
    diags.extend(found.items.into_iter().filter(blocks_formatting));
    let cwd = std::env::current_dir()
        .and_then(|d| d.canonicalize())
        .unwrap_or_default();
    let read = recording.read.into_inner();
    Ok(read
        .into_iter()
        .enumerate()
        .filter_map(|(i, (path, bytes))| {
            // The loader already reported a file that is not UTF-8.
            let text = String::from_utf8(bytes).ok()?;
            let real = path.canonicalize().ok()?;
            let shown = if i == 0 {
                display_path(root)
            } else {
                display_path(real.strip_prefix(&cwd).unwrap_or(&real))
            };
            Some(PolicyFile {
                path: real,
                shown,
                text,
            })
        })
        .collect())
}

/// A file kdl accepts that the formatter still refuses, at its place.
fn format_problem(file: diagnostics::FileId, e: source::FormatError) -> Diagnostic {
    let span = Span {
        file,
        offset: e.offset,
        len: 0,
    };
    match e.kind {
        FormatErrorKind::Syntax(message) => {
            Diagnostic::error("kdl-syntax", format!("KDL syntax error: {message}"))
                .at(span, "here")
                .help("policies are KDL v2: quote addresses and CIDRs (\"10.0.0.0/8\"), write booleans as #true/#false")
        }
        FormatErrorKind::Unsupported => Diagnostic::error(
            "fmt-unsupported",
            "fmt cannot lay out this construct without moving a comment",
        )
        .at(span, "here")
        .help("move the comment out of the type annotation or away from `/-`, then run fmt again"),
        FormatErrorKind::Changed(why) => Diagnostic::error(
            "fmt-internal",
            format!("fmt refused its own layout of this file: {why}"),
        )
        .at(span, "in this file")
        .help("this is a bug in wardwall fmt; the file was left as it is, please report it"),
    }
}

fn report_unformatted(
    changed: &[&(PolicyFile, String)],
    total: usize,
    diff: bool,
    quiet: bool,
) -> u8 {
    let mut out = std::io::stdout().lock();
    for (file, formatted) in changed {
        if diff {
            let text = similar::TextDiff::from_lines(&file.text, formatted)
                .unified_diff()
                .header(&file.shown, &file.shown)
                .to_string();
            let _ = out.write_all(text.as_bytes());
        } else {
            let _ = writeln!(out, "would reformat: {}", file.shown);
        }
    }
    if !quiet {
        eprintln!(
            "{} of {total} {} would be reformatted",
            changed.len(),
            files_word(total)
        );
    }
    if changed.is_empty() {
        EXIT_OK
    } else {
        EXIT_FINDINGS
    }
}

fn rewrite(changed: &[&(PolicyFile, String)], total: usize, quiet: bool) -> u8 {
    for (file, formatted) in changed {
        if let Err(e) = wardwall::output::replace_file(&file.path, formatted.as_bytes()) {
            eprintln!("error: cannot write {}: {e}", file.shown);
            return EXIT_USAGE;
        }
        println!("reformatted: {}", file.shown);
    }
    if !quiet {
        eprintln!(
            "{} of {total} {} reformatted",
            changed.len(),
            files_word(total)
        );
    }
    EXIT_OK
}

fn files_word(n: usize) -> &'static str {
    if n == 1 { "file" } else { "files" }
}
