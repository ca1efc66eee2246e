//! Reading policy files: the `Files` trait and the disk, the bounded
//! regular-file reader, includes and their confinement to the root
//! file's directory.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use kdl::KdlDocument;

use super::doc::{Doc, Node};

use super::decode::{
    Cx, MAX_NESTING, TOP_LEVEL, decode_advisory, decode_class, decode_group, decode_policy,
    decode_rules, decode_service, decode_zone, token_at, too_deep, unreachable_catalogue,
};
use super::fastkdl;
use super::literal::{looks_like_address, looks_like_date, name_problem};
use super::tree::{Spanned, SyntaxTree};

use crate::diagnostics::{Diagnostic, Diagnostics, FileId, SourceMap, Span};

/// Largest policy file accepted (a policy of 100,000 rules is about 20 MiB;
/// split larger ones with includes).
pub(crate) const MAX_FILE_BYTES: usize = 64 << 20;

/// Deepest include nesting accepted (a guard against runaway recursion that
/// is not a cycle, e.g. through symlinks).
pub(super) const MAX_INCLUDE_DEPTH: usize = 32;

/// Why the root policy file could not be read at all (an I/O problem, not a
/// policy error).
#[derive(Debug, thiserror::Error)]
#[error("cannot read policy file {path}: {source}")]
pub struct ReadError {
    pub path: String,
    #[source]
    pub source: std::io::Error,
}

/// Where policy files are read from: the working tree, or (for `diff
/// --base`) a git revision.
pub trait Files {
    /// The file's bytes. Only regular files are read, and at most
    /// [`MAX_FILE_BYTES`] + 1 bytes of them (enough to tell that a file is
    /// too large without reading all of it).
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>>;
    /// A stable identity of the file for the cycle and double-include
    /// checks (two paths to one file must give the same identity).
    fn identity(&self, path: &Path) -> PathBuf;
    /// Where `path` really is (symlinks resolved, `.` and `..` removed), for
    /// the check that an include stays inside the policy's directory; an
    /// error when it does not exist.
    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf>;
}

/// The filesystem.
pub struct Disk;

impl Files for Disk {
    fn read(&self, path: &Path) -> std::io::Result<Vec<u8>> {
        read_regular_file(path, MAX_FILE_BYTES as u64 + 1)
    }

    fn identity(&self, path: &Path) -> PathBuf {
        path.canonicalize()
            .unwrap_or_else(|_| normalize_lexically(path))
    }

    fn resolve(&self, path: &Path) -> std::io::Result<PathBuf> {
        path.canonicalize()
    }
}

/// Reads at most `limit` bytes of a regular file. Devices, FIFOs and
/// directories are refused before they are opened (`/dev/zero` would never
/// end, a FIFO would block), and again after (the file is opened without
/// blocking and checked with fstat, in case it was swapped in between).
pub(crate) fn read_regular_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let not_regular = || {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file (devices, FIFOs and directories are never read)",
        )
    };
    if !std::fs::metadata(path)?.is_file() {
        return Err(not_regular());
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = options.open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::with_capacity(meta.len().min(limit) as usize);
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// `a/./b/../c` → `a/c`, without touching the filesystem.
pub(crate) fn normalize_lexically(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out: Vec<Component<'_>> = Vec::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.last(), Some(Component::Normal(_))) => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out.iter().collect()
}

/// The directory every file of the policy must be in: the root file's
/// directory, symlinks resolved. The root file itself must resolve inside
/// it (a `policy.kdl` that is a symlink to `/proc/self/environ` is refused).
pub(super) fn policy_tree(files: &dyn Files, root: &Path) -> std::io::Result<PathBuf> {
    let dir = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tree = files.resolve(dir)?;
    match resolve_inside(files, root, &tree)? {
        Confined::Inside(_) => Ok(tree),
        Confined::Outside(real) => Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "it resolves to `{}`, outside its directory `{}`",
                display_path(&real),
                display_path(dir)
            ),
        )),
    }
}

/// Where a policy file resolved to, relative to the policy's directory.
pub(super) enum Confined {
    Inside(PathBuf),
    Outside(PathBuf),
}

/// Resolves `path` (symlinks followed) and checks it lies in `tree`: the
/// one confinement check for the root file and every include. An error
/// when `path` cannot be resolved (it does not exist).
pub(super) fn resolve_inside(
    files: &dyn Files,
    path: &Path,
    tree: &Path,
) -> std::io::Result<Confined> {
    let real = files.resolve(path)?;
    Ok(if inside(&real, tree) {
        Confined::Inside(real)
    } else {
        Confined::Outside(real)
    })
}

/// Whether `path` (resolved) lies in `tree` (resolved): lexically under it
/// and with no `..` left that could climb out.
pub(super) fn inside(path: &Path, tree: &Path) -> bool {
    use std::path::Component;
    path.starts_with(tree) && !path.components().any(|c| c == Component::ParentDir)
}

/// Without `policy "name"`, the policy is named after the root file's
/// stem, which must then be a valid name: output file names and the
/// targets' headers are built from it (a file named with line breaks
/// would otherwise write them into a router config).
pub(super) fn name_from_file(root: &Path, tree: &mut SyntaxTree, diags: &mut Diagnostics) {
    if tree.policy_span.is_some() {
        return; // declared: validated (or reported) as written
    }
    let stem = root.file_stem().unwrap_or_default();
    let problem = match stem.to_str() {
        Some(stem) => name_problem(stem),
        None => Some("it is not UTF-8"),
    };
    let Some(problem) = problem else {
        tree.name = Some(Spanned {
            value: stem.to_string_lossy().into_owned(),
            span: tree.root_span,
        });
        return;
    };
    let shown = crate::diagnostics::escape_unsafe(&stem.to_string_lossy());
    diags.push(
        Diagnostic::error(
            "invalid-policy-name",
            format!("the file name `{shown}` cannot be the policy's name: {problem}"),
        )
        .at(tree.root_span, "policy named after its file")
        .help("add `policy \"name\"` at the top of the file (a letter, then letters, digits, `-`, `_` or `.`; at most 63 characters)"),
    );
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum FileRole {
    Root,
    Included,
    Catalogue,
}

pub(super) struct Loader<'a> {
    /// The root file, once it is in the source map.
    pub(super) root_file: Option<FileId>,
    pub(super) files: &'a dyn Files,
    pub(super) sources: &'a mut SourceMap,
    pub(super) diags: &'a mut Diagnostics,
    pub(super) tree: &'a mut SyntaxTree,
    /// Canonical paths of the files being read, outermost first (cycle check).
    pub(super) stack: Vec<PathBuf>,
    /// Canonical paths of every file read so far (double-include check).
    pub(super) seen: BTreeSet<PathBuf>,
    /// The resolved directory of the root file: includes must stay in it.
    pub(super) tree_root: PathBuf,
    /// Each loaded file's path as given or as its include resolved it
    /// (the source map holds an escaped copy for messages).
    pub(super) given: std::collections::BTreeMap<FileId, PathBuf>,
}

impl Loader<'_> {
    /// Reads one file; `include` is the span of the include node that asked
    /// for it (None for the root).
    pub(super) fn load_file(&mut self, path: &Path, bytes: Vec<u8>, include: Option<Span>) {
        if bytes.len() > MAX_FILE_BYTES {
            let d = Diagnostic::error(
                "file-too-large",
                format!(
                    "policy file `{}` is larger than {} MiB",
                    display_path(path),
                    MAX_FILE_BYTES >> 20
                ),
            )
            .help("split the policy with `include`");
            let d = match include {
                Some(span) => d.at(span, "included here"),
                None => d,
            };
            self.diags.push(d);
            return;
        }
        let canonical = self.files.identity(path);
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
                let file = self.sources.add(display_path(path), lossy);
                if include.is_none() {
                    self.root_file = Some(file);
                }
                // Not policy text: show at most the offending line, cut short.
                self.sources.excerpt_only(file);
                let d = Diagnostic::error("not-utf8", "policy file is not valid UTF-8")
                    .at(
                        Span {
                            file,
                            offset: valid,
                            len: 1,
                        },
                        "invalid byte here",
                    )
                    .help("save the file as UTF-8");
                self.diags.push(d);
                return;
            }
        };
        let file = self.sources.add(display_path(path), text);
        if include.is_none() {
            self.root_file = Some(file);
        }
        self.given.insert(file, path.to_path_buf());
        self.seen.insert(canonical.clone());
        self.stack.push(canonical);
        let role = if include.is_some() {
            FileRole::Included
        } else {
            FileRole::Root
        };
        self.decode_text(file, role);
        self.stack.pop();
    }

    pub(super) fn decode_text(&mut self, file: FileId, role: FileRole) {
        let text = self.sources.file(file).text.clone();
        if let Some(offset) = too_deep(&text) {
            self.sources.excerpt_only(file);
            self.diags.push(
                Diagnostic::error(
                    "nesting-too-deep",
                    format!("blocks nest deeper than {MAX_NESTING} levels"),
                )
                .at(Span { file, offset, len: 1 }, "too deep")
                .help("a policy needs at most three levels (rules, rule, exception); check for unbalanced braces"),
            );
            return;
        }
        // The fast path reads the common subset; kdl reads (and reports
        // errors in) everything else.
        let parsed = match fastkdl::parse(&text) {
            Some(doc) => Ok(doc),
            None => KdlDocument::parse_v2(&text).map(|doc| Doc::from_kdl(&doc)),
        };
        let doc = match parsed {
            Ok(doc) => doc,
            Err(err) => {
                // Not KDL, so perhaps not a policy at all: never print more
                // of it than the offending line, cut short.
                self.sources.excerpt_only(file);
                // Only the first error: each one shows an excerpt, and a
                // file that is not a policy (a NUL-separated environment)
                // can produce one error every few bytes.
                for d in err.diagnostics.into_iter().take(1) {
                    let span = Span::new(file, d.span);
                    let message = d.message.unwrap_or_else(|| "invalid KDL".to_string());
                    let token = token_at(&text, span.offset);
                    let help = if looks_like_date(&token) {
                        format!(
                            "dates must be quoted in KDL v2 (unquoted, `{token}` reads as a number or an address): \"{token}\""
                        )
                    } else if looks_like_address(&token) {
                        format!("addresses and CIDRs must be quoted in KDL v2: \"{token}\"")
                    } else {
                        d.help.unwrap_or_else(|| {
                            "policies are KDL v2: quote addresses and CIDRs (\"10.0.0.0/8\"), write booleans as #true/#false".to_string()
                        })
                    };
                    let diag =
                        Diagnostic::error("kdl-syntax", format!("KDL syntax error: {message}"))
                            .at(span, d.label.unwrap_or_else(|| "here".to_string()))
                            .help(help);
                    self.diags.push(diag);
                }
                return;
            }
        };
        for node in doc.top().nodes() {
            let keyword = node.name().value();
            if keyword == "include" && role != FileRole::Catalogue {
                self.include(file, node);
                continue;
            }
            let mut cx = Cx {
                file,
                diags: self.diags,
                src: &text,
            };
            let tree = &mut *self.tree;
            match keyword {
                "policy" if role == FileRole::Root => decode_policy(&mut cx, node, tree),
                "policy" if role == FileRole::Included => cx.error(
                    Diagnostic::error(
                        "misplaced-node",
                        "`policy` may only appear in the root policy file",
                    )
                    .at(cx.span(node.name().span()), "in an included file")
                    .help("move the policy name and description to the file you pass to wardwall"),
                ),
                "service" => {
                    if let Some(mut s) = decode_service(&mut cx, node) {
                        s.builtin = role == FileRole::Catalogue;
                        tree.services.push(s);
                    }
                }
                _ if role == FileRole::Catalogue => unreachable_catalogue(keyword),
                "zone" => tree.zones.extend(decode_zone(&mut cx, node)),
                "class" => tree.classes.extend(decode_class(&mut cx, node)),
                "group" => tree.groups.extend(decode_group(&mut cx, node)),
                "advisory" => tree.advisories.extend(decode_advisory(&mut cx, node)),
                "rules" => decode_rules(&mut cx, node, &mut tree.rules),
                "expect" => super::expect::decode_expect(&mut cx, node, &mut tree.expectations),
                other => cx.unknown_node(node, other, "a policy file", TOP_LEVEL),
            }
        }
    }

    fn include(&mut self, file: FileId, node: Node<'_>) {
        let src = self.sources.file(file).text.clone();
        let mut cx = Cx {
            file,
            diags: self.diags,
            src: &src,
        };
        cx.no_props(node);
        cx.no_children(node);
        let Some(target) = cx.single_string(node) else {
            return;
        };
        let node_span = cx.span(node.span());
        let Some((path, resolved)) = self.include_path(file, &target) else {
            return;
        };
        if self.stack.len() >= MAX_INCLUDE_DEPTH {
            self.diags.push(
                Diagnostic::error(
                    "include-depth",
                    format!("includes nest deeper than {MAX_INCLUDE_DEPTH} files"),
                )
                .at(target.span, "included here"),
            );
            return;
        }
        let bytes = match self.files.read(&resolved) {
            Ok(b) => b,
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "include-missing",
                        format!("cannot read included file `{}`: {e}", display_path(&path)),
                    )
                    .at(target.span, "included here")
                    .help("include paths are relative to the file that includes them"),
                );
                return;
            }
        };
        let canonical = self.files.identity(&path);
        if self.stack.contains(&canonical) {
            self.diags.push(
                Diagnostic::error(
                    "include-cycle",
                    format!(
                        "`{}` includes itself (directly or through other files)",
                        display_path(&path)
                    ),
                )
                .at(target.span, "this include closes a cycle")
                .help("remove one of the includes that form the cycle"),
            );
            return;
        }
        if self.seen.contains(&canonical) {
            self.diags.push(
                Diagnostic::error(
                    "include-twice",
                    format!("`{}` is already included", display_path(&path)),
                )
                .at(target.span, "second include of the same file")
                .help("include each file once; its definitions would otherwise be duplicated"),
            );
            return;
        }
        self.load_file(&path, bytes, Some(node_span));
    }
}

impl Loader<'_> {
    /// The file an include names, resolved (symlinks followed), or None
    /// after reporting why it may not be read: it is absolute, missing, or
    /// outside the root file's directory. Nothing outside the tree is ever
    /// opened, so its content can never reach a diagnostic.
    /// Returns the path as written (relative to the root's directory, for
    /// messages) and the resolved path to read.
    fn include_path(
        &mut self,
        file: FileId,
        target: &Spanned<String>,
    ) -> Option<(PathBuf, PathBuf)> {
        let outside = |why: String| {
            Diagnostic::error("include-outside-tree", why)
                .at(target.span, "outside the policy's directory")
                .help("includes are relative to the including file and stay inside the root policy's directory; put shared files in a subdirectory of it")
        };
        let not_inside = format!(
            "`{}` is outside the policy's directory `{}`",
            target.value.escape_debug(),
            display_path(&self.tree_root)
        );
        let written = Path::new(&target.value);
        if written.is_absolute() {
            let why = format!("`{}` is an absolute path", target.value.escape_debug());
            self.diags.push(outside(why));
            return None;
        }
        // `..` that climbs out is refused as written, before anything is
        // looked up (a missing directory on the way must not hide it).
        let including_dir = self.stack.last().and_then(|p| p.parent());
        if let Some(dir) = including_dir
            && !inside(&normalize_lexically(&dir.join(written)), &self.tree_root)
        {
            self.diags.push(outside(not_inside));
            return None;
        }
        let including = self.given.get(&file).cloned().unwrap_or_default();
        let path = including.parent().unwrap_or(Path::new("")).join(written);
        let resolved = match resolve_inside(self.files, &path, &self.tree_root) {
            Ok(Confined::Inside(p)) => p,
            Ok(Confined::Outside(_)) => {
                self.diags.push(outside(not_inside));
                return None;
            }
            Err(e) => {
                self.diags.push(
                    Diagnostic::error(
                        "include-missing",
                        format!("cannot read included file `{}`: {e}", display_path(&path)),
                    )
                    .at(target.span, "included here")
                    .help("include paths are relative to the file that includes them"),
                );
                return None;
            }
        };
        Some((path, resolved))
    }
}

/// A path for messages, with characters that could forge log lines or
/// hide text (control characters, line separators, bidi controls)
/// escaped as `\u{..}`.
pub fn display_path(path: &Path) -> String {
    crate::diagnostics::escape_unsafe(&path.display().to_string())
}
