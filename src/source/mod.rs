//! Stage 1, source: read the policy files (following includes), parse KDL and
//! decode it strictly into a syntax tree that keeps a span for everything.
//!
//! This stage checks shape and literal values: node and property names, value
//! types, argument counts, CIDRs, ports, dates. Names are not resolved here;
//! that is the model stage's job.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use jiff::civil::Date;
use kdl::KdlDocument;

mod doc;
mod fastkdl;
pub mod ip;

use doc::{Doc, Entry, Node, Value};
use ip::IpProblem;

use crate::addrset::{AddrSet, ByteSet, PortSet};
use crate::catalogue;
use crate::diagnostics::{
    Diagnostic, Diagnostics, FileId, SourceMap, Span, did_you_mean, is_unsafe_char,
};
use crate::vocab::{Action, ServiceSet, Target};

/// Largest policy file accepted (a policy of 100,000 rules is about 20 MiB;
/// split larger ones with includes).
pub const MAX_FILE_BYTES: usize = 64 << 20;

/// Deepest include nesting accepted (a guard against runaway recursion that
/// is not a cycle, e.g. through symlinks).
const MAX_INCLUDE_DEPTH: usize = 32;

/// A value with the place it was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

pub type Name = Spanned<String>;

/// The policy as written, with includes expanded in place.
#[derive(Debug, Default)]
pub struct SyntaxTree {
    /// The policy's name: declared (`policy "name"`) or, without a
    /// declaration, the root file's stem; validated like every other name.
    pub name: Option<Name>,
    /// The `policy` node's keyword, when the root file has one.
    pub policy_span: Option<Span>,
    /// `deny-all #true` in the `policy` node: the policy means to deny
    /// everything (without it, a policy with no rules or no zones is an
    /// error: an empty or truncated file must not build a deny-all firewall).
    pub deny_all: Option<Span>,
    /// The start of the root file, for problems of the policy as a whole.
    pub root_span: Span,
    pub description: Option<String>,
    /// The targets this policy is compiled to (`policy { targets ... }`);
    /// empty means every target.
    pub targets: Vec<Name>,
    pub zones: Vec<ZoneDecl>,
    pub classes: Vec<ClassDecl>,
    pub groups: Vec<GroupDecl>,
    /// Built-in catalogue services first, then the policy's own.
    pub services: Vec<ServiceDecl>,
    pub advisories: Vec<AdvisoryDecl>,
    pub rules: Vec<RuleDecl>,
}

#[derive(Debug)]
pub struct ZoneDecl {
    pub name: Name,
    pub description: Option<String>,
    pub prefixes: Vec<Spanned<IpNet>>,
    pub residual: Option<Span>,
    /// `vendor #true`: a remote-access zone for vendors (used by the analysis lints).
    pub vendor: bool,
    /// (target, interface or zone name on that target)
    pub bindings: Vec<(Name, Name)>,
    pub span: Span,
}

/// An address literal: a host, a CIDR or an inclusive range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddrLiteral {
    pub text: String,
    pub set: AddrSet,
}

#[derive(Debug)]
pub struct ClassDecl {
    pub name: Name,
    pub zone: Option<Name>,
    pub description: Option<String>,
    pub addresses: Vec<Spanned<AddrLiteral>>,
    pub affected_by: Vec<Name>,
    /// `clinical #true`: a medical device class (used by the analysis lints).
    pub clinical: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct GroupDecl {
    pub name: Name,
    pub description: Option<String>,
    pub members: Vec<Name>,
    /// `clinical #true`: every class in the group, directly or through nested
    /// groups, is a medical device class.
    pub clinical: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct ServiceDecl {
    pub name: Name,
    pub description: Option<String>,
    pub set: ServiceSet,
    pub builtin: bool,
    pub span: Span,
}

#[derive(Debug)]
pub struct AdvisoryDecl {
    pub name: Name,
    pub title: Option<String>,
    pub ids: Vec<String>,
    pub cves: Vec<String>,
    pub urls: Vec<String>,
    pub block: Vec<Spanned<AddrLiteral>>,
    pub span: Span,
}

/// One side of a rule, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EndpointText {
    Any,
    /// Boxed: literals are rare, and a name or `any` would otherwise take
    /// the literal's 80 bytes.
    Literal(Box<AddrLiteral>),
    Name(String),
}

/// A rule's service, as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServiceText {
    Literal(String, ServiceSet),
    Name(String),
}

#[derive(Debug)]
pub enum RuleKind {
    /// `allow` / `deny` / `reject`.
    Plain,
    /// `block-advisory "name"`.
    BlockAdvisory,
    /// `exception "name" { ... }` inside a deny/reject.
    Exception,
}

#[derive(Debug)]
pub struct RuleDecl {
    pub name: Name,
    pub kind: RuleKind,
    pub action: Action,
    pub absolute: Option<Span>,
    pub from: Vec<Spanned<EndpointText>>,
    pub to: Vec<Spanned<EndpointText>>,
    pub service: Vec<Spanned<ServiceText>>,
    pub log: Option<bool>,
    pub description: Option<String>,
    pub owner: Option<String>,
    pub ticket: Option<String>,
    pub expires: Option<Spanned<Date>>,
    pub exceptions: Vec<RuleDecl>,
    /// The node's name token (`allow`, `deny`, ...) for labels.
    pub keyword_span: Span,
    pub span: Span,
}

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
pub fn read_regular_file(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
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
pub fn normalize_lexically(path: &Path) -> PathBuf {
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

/// Reads `root` and everything it includes from the filesystem. Policy
/// problems go to `diags`; only an unreadable root file is an `Err`.
pub fn load(
    root: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<SyntaxTree, ReadError> {
    load_from(&Disk, root, sources, diags)
}

/// [`load`], reading through `files`.
pub fn load_from(
    files: &dyn Files,
    root: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<SyntaxTree, ReadError> {
    let mut tree = SyntaxTree::default();
    let builtin = sources.add(
        catalogue::SERVICES_FILE.to_string(),
        catalogue::SERVICES_KDL.to_string(),
    );
    let read_error = |source| ReadError {
        path: display_path(root),
        source,
    };
    let tree_root = policy_tree(files, root).map_err(read_error)?;
    let bytes = files.read(root).map_err(read_error)?;
    let mut loader = Loader {
        root_file: None,
        files,
        sources,
        diags,
        tree: &mut tree,
        stack: Vec::new(),
        seen: BTreeSet::new(),
        tree_root,
        given: Default::default(),
    };
    loader.decode_text(builtin, FileRole::Catalogue);
    loader.load_file(root, bytes, None);
    let root_file = loader.root_file;
    if let Some(file) = root_file {
        tree.root_span = Span {
            file,
            offset: 0,
            len: 0,
        };
        name_from_file(root, &mut tree, diags);
    }
    Ok(tree)
}

/// The directory every file of the policy must be in: the root file's
/// directory, symlinks resolved. The root file itself must resolve inside
/// it (a `policy.kdl` that is a symlink to `/proc/self/environ` is refused).
fn policy_tree(files: &dyn Files, root: &Path) -> std::io::Result<PathBuf> {
    let dir = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tree = files.resolve(dir)?;
    let real = files.resolve(root)?;
    if !inside(&real, &tree) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::PermissionDenied,
            format!(
                "it resolves to `{}`, outside its directory `{}`",
                display_path(&real),
                display_path(dir)
            ),
        ));
    }
    Ok(tree)
}

/// Whether `path` (resolved) lies in `tree` (resolved): lexically under it
/// and with no `..` left that could climb out.
fn inside(path: &Path, tree: &Path) -> bool {
    use std::path::Component;
    path.starts_with(tree) && !path.components().any(|c| c == Component::ParentDir)
}

/// Without `policy "name"`, the policy is named after the root file's
/// stem, which must then be a valid name: output file names and the
/// targets' headers are built from it (a file named with line breaks
/// would otherwise write them into a router config).
fn name_from_file(root: &Path, tree: &mut SyntaxTree, diags: &mut Diagnostics) {
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
enum FileRole {
    Root,
    Included,
    Catalogue,
}

struct Loader<'a> {
    /// The root file, once it is in the source map.
    root_file: Option<FileId>,
    files: &'a dyn Files,
    sources: &'a mut SourceMap,
    diags: &'a mut Diagnostics,
    tree: &'a mut SyntaxTree,
    /// Canonical paths of the files being read, outermost first (cycle check).
    stack: Vec<PathBuf>,
    /// Canonical paths of every file read so far (double-include check).
    seen: BTreeSet<PathBuf>,
    /// The resolved directory of the root file: includes must stay in it.
    tree_root: PathBuf,
    /// Each loaded file's path as given or as its include resolved it
    /// (the source map holds an escaped copy for messages).
    given: std::collections::BTreeMap<FileId, PathBuf>,
}

impl Loader<'_> {
    /// Reads one file; `include` is the span of the include node that asked
    /// for it (None for the root).
    fn load_file(&mut self, path: &Path, bytes: Vec<u8>, include: Option<Span>) {
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

    fn decode_text(&mut self, file: FileId, role: FileRole) {
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
                    let help = if looks_like_address(&token) {
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
            let why = format!(
                "`{}` is outside the policy's directory `{}`",
                target.value.escape_debug(),
                display_path(&self.tree_root)
            );
            self.diags.push(outside(why));
            return None;
        }
        let including = self.given.get(&file).cloned().unwrap_or_default();
        let path = including.parent().unwrap_or(Path::new("")).join(written);
        let resolved = match self.files.resolve(&path) {
            Ok(p) => p,
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
        if !inside(&resolved, &self.tree_root) {
            let why = format!(
                "`{}` is outside the policy's directory `{}`",
                target.value.escape_debug(),
                display_path(&self.tree_root)
            );
            self.diags.push(outside(why));
            return None;
        }
        Some((path, resolved))
    }
}

/// A path for messages, with characters that could forge log lines or
/// hide text (control characters, line separators, bidi controls)
/// escaped as `\u{..}`.
pub fn display_path(path: &Path) -> String {
    crate::diagnostics::escape_unsafe(&path.display().to_string())
}

/// Deepest `{ }` nesting accepted. The KDL parser recurses per level and
/// would overflow the stack on hostile input long before any real policy
/// (which needs three levels) gets close.
const MAX_NESTING: usize = 64;

/// Offset of the first `{` that nests deeper than [`MAX_NESTING`], skipping
/// KDL strings (quoted, multi-line, raw) and comments.
fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let (mut i, mut depth) = (0usize, 0usize);
    let starts = |i: usize, pat: &[u8]| b.get(i..i + pat.len()) == Some(pat);
    while i < b.len() {
        match b[i] {
            b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(i);
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'/' if starts(i, b"//") => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if starts(i, b"/*") => {
                let mut level = 0usize;
                while i < b.len() {
                    if starts(i, b"/*") {
                        level += 1;
                        i += 2;
                    } else if starts(i, b"*/") {
                        level -= 1;
                        i += 2;
                        if level == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            b'"' => {
                let multi = starts(i, b"\"\"\"");
                i += if multi { 3 } else { 1 };
                while i < b.len() {
                    if b[i] == b'\\' {
                        i += 2;
                    } else if multi && starts(i, b"\"\"\"") {
                        i += 3;
                        break;
                    } else if !multi && b[i] == b'"' {
                        i += 1;
                        break;
                    } else {
                        i += 1;
                    }
                }
            }
            b'#' => {
                let hashes = b[i..].iter().take_while(|&&c| c == b'#').count();
                i += hashes;
                if b.get(i) != Some(&b'"') {
                    continue;
                }
                let multi = starts(i, b"\"\"\"");
                let mut close = if multi {
                    b"\"\"\"".to_vec()
                } else {
                    b"\"".to_vec()
                };
                close.extend(std::iter::repeat_n(b'#', hashes));
                i += if multi { 3 } else { 1 };
                while i < b.len() && !starts(i, &close) {
                    i += 1;
                }
                i += close.len();
            }
            _ => i += 1,
        }
    }
    None
}

/// The whitespace-delimited token starting at `offset` (for hints).
fn token_at(text: &str, offset: usize) -> String {
    let start = offset.min(text.len());
    if !text.is_char_boundary(start) {
        return String::new();
    }
    text[start..]
        .chars()
        .take_while(|&c| {
            !c.is_whitespace()
                && !crate::diagnostics::is_unsafe_char(c)
                && !matches!(c, '{' | '}' | ';' | '"')
        })
        .take(32)
        .collect()
}

fn unreachable_catalogue(keyword: &str) {
    // The catalogue holds only services; a test decodes it without errors.
    debug_assert!(
        false,
        "unexpected node `{keyword}` in the built-in catalogue"
    );
}

const TOP_LEVEL: &[&str] = &[
    "policy", "include", "zone", "class", "group", "service", "advisory", "rules",
];

/// Decoding context: the file being read and where problems go.
struct Cx<'a> {
    file: FileId,
    diags: &'a mut Diagnostics,
    /// The file's text, to point at one character inside a string.
    src: &'a str,
}

impl Cx<'_> {
    fn span(&self, s: miette::SourceSpan) -> Span {
        Span::new(self.file, s)
    }

    fn error(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn unknown_node(&mut self, node: Node<'_>, name: &str, inside: &str, allowed: &[&str]) {
        let mut help = did_you_mean(name, allowed.iter().copied())
            .map(|s| format!("{s} "))
            .unwrap_or_default();
        help.push_str(&format!("{inside} may contain: {}", allowed.join(", ")));
        let d = Diagnostic::error("unknown-node", format!("unknown node `{name}` in {inside}"))
            .at(self.span(node.name().span()), "not understood here")
            .help(help);
        self.error(d);
    }

    fn args<'d>(&self, node: Node<'d>) -> impl Iterator<Item = Entry<'d>> + use<'d> {
        node.entries().filter(|e| e.name().is_none())
    }

    fn no_props(&mut self, node: Node<'_>) {
        for e in node.entries().filter(|e| e.name().is_some()) {
            let name = e.name().map(|n| n.value()).unwrap_or_default();
            let d = Diagnostic::error(
                "unknown-property",
                format!("`{}` takes no property `{name}`", node.name().value()),
            )
            .at(self.span(e.span()), "unexpected property")
            .help(format!(
                "fields are child nodes inside the block: `{} {{ {name} ... }}`; only `interface` takes properties",
                node.name().value()
            ));
            self.error(d);
        }
    }

    fn no_children(&mut self, node: Node<'_>) {
        if let Some(children) = node.children() {
            let d = Diagnostic::error(
                "unexpected-block",
                format!("`{}` takes no block", node.name().value()),
            )
            .at(self.span(children.span()), "remove this block");
            self.error(d);
        }
    }

    fn no_args(&mut self, node: Node<'_>) {
        for e in self.args(node).collect::<Vec<_>>() {
            let d = Diagnostic::error(
                "unexpected-argument",
                format!("`{}` takes no arguments here", node.name().value()),
            )
            .at(self.span(e.span()), "unexpected argument");
            self.error(d);
        }
    }

    /// A leaf node with only arguments.
    fn leaf(&mut self, node: Node<'_>) {
        self.no_props(node);
        self.no_children(node);
    }

    fn expect_string(&mut self, node: Node<'_>, e: Entry<'_>) -> Option<Spanned<String>> {
        match e.value() {
            Value::String(s) => Some(Spanned {
                value: s.to_string(),
                span: self.span(e.span()),
            }),
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!(
                        "`{}` expects a string, found {}",
                        node.name().value(),
                        describe(other)
                    ),
                )
                .at(self.span(e.span()), "expected a quoted string")
                .help("wrap the value in double quotes");
                self.error(d);
                None
            }
        }
    }

    /// Exactly one string argument.
    fn single_string(&mut self, node: Node<'_>) -> Option<Spanned<String>> {
        let mut args = self.args(node);
        match (args.next(), args.next()) {
            (Some(one), None) => self.expect_string(node, one),
            (None, _) => {
                let d = Diagnostic::error(
                    "missing-argument",
                    format!("`{}` needs one value", node.name().value()),
                )
                .at(self.span(node.span()), "value missing");
                self.error(d);
                None
            }
            (Some(_), Some(second)) => {
                for e in std::iter::once(second).chain(args) {
                    let d = Diagnostic::error(
                        "unexpected-argument",
                        format!("`{}` takes exactly one value", node.name().value()),
                    )
                    .at(self.span(e.span()), "extra value");
                    self.error(d);
                }
                None
            }
        }
    }

    /// One or more string arguments.
    fn strings(&mut self, node: Node<'_>) -> Vec<Spanned<String>> {
        let count = self.args(node).count();
        if count == 0 {
            let d = Diagnostic::error(
                "missing-argument",
                format!("`{}` needs at least one value", node.name().value()),
            )
            .at(self.span(node.span()), "values missing");
            self.error(d);
        }
        let mut out = Vec::with_capacity(count);
        for e in self.args(node) {
            out.extend(self.expect_string(node, e));
        }
        out
    }

    fn single_bool(&mut self, node: Node<'_>) -> Option<bool> {
        let mut args = self.args(node);
        match (args.next(), args.next()) {
            (Some(e), None) => match e.value() {
                Value::Bool(b) => Some(b),
                other => {
                    let d = Diagnostic::error(
                        "wrong-type",
                        format!(
                            "`{}` expects #true or #false, found {}",
                            node.name().value(),
                            describe(other)
                        ),
                    )
                    .at(self.span(e.span()), "expected a boolean")
                    .help("KDL v2 booleans are written #true and #false");
                    self.error(d);
                    None
                }
            },
            _ => {
                let d = Diagnostic::error(
                    "missing-argument",
                    format!(
                        "`{}` needs exactly one value, #true or #false",
                        node.name().value()
                    ),
                )
                .at(self.span(node.span()), "write #true or #false");
                self.error(d);
                None
            }
        }
    }

    /// The object name of a declaration node (`zone "icu"`), validated.
    fn decl_name(&mut self, node: Node<'_>) -> Option<Name> {
        let name = self.single_string(node)?;
        self.check_name(&name).then_some(name)
    }

    /// Names are safe in every target by construction: a letter first, then
    /// letters, digits, `-`, `_` or `.`; at most 63 characters. They can
    /// never carry quotes, spaces or line breaks into an output.
    fn check_name(&mut self, name: &Name) -> bool {
        let problem = name_problem(&name.value);
        if let Some(problem) = problem {
            let d = Diagnostic::error("invalid-name", format!("invalid name `{}`: {problem}", name.value.escape_debug()))
                .at(name.span, "invalid name")
                .help("names start with a letter and use only letters, digits, `-`, `_` and `.` (at most 63 characters)");
            self.error(d);
            return false;
        }
        true
    }

    /// Free text (descriptions, owners, tickets, titles): one line of
    /// characters every target can carry. Refused, at the character, with
    /// its code point: control characters (tab and line breaks included:
    /// these fields become one-line comments), what XML 1.0 cannot hold
    /// (noncharacters such as U+FFFE), the line and paragraph separators,
    /// and bidi controls ("Trojan Source"). Each renderer still escapes
    /// what its format needs.
    fn text(&mut self, node: Node<'_>) -> Option<String> {
        self.leaf(node);
        let s = self.single_string(node)?;
        if let Some(c) = s.value.chars().find(|&c| is_unsafe_char(c)) {
            let d = Diagnostic::error(
                "invalid-text",
                format!(
                    "`{}` contains U+{:04X}, {}",
                    node.name().value(),
                    u32::from(c),
                    char_kind(c)
                ),
            )
            .at(self.char_span(&s, c), format!("U+{:04X} here", u32::from(c)))
            .help("free text is one line of printable characters: remove the character (descriptions cannot hold line breaks, and bidi controls can make a comment read differently from what it is)");
            self.error(d);
            return None;
        }
        if s.value.len() > 1024 {
            let d = Diagnostic::error(
                "text-too-long",
                format!("`{}` is longer than 1024 bytes", node.name().value()),
            )
            .at(s.span, "too long");
            self.error(d);
            return None;
        }
        Some(s.value)
    }

    /// The span of the first `c` in the string value `s`, as written: the
    /// character itself, or its escape (`\n`, `\u{202E}`); the whole
    /// string if neither is found.
    fn char_span(&self, s: &Spanned<String>, c: char) -> Span {
        let Some(raw) = self.src.get(s.span.offset..s.span.offset + s.span.len) else {
            return s.span;
        };
        let at = |offset: usize, len: usize| Span {
            file: s.span.file,
            offset: s.span.offset + offset,
            len,
        };
        if let Some(i) = raw.find(c) {
            return at(i, c.len_utf8());
        }
        let short = match c {
            '\n' => Some("\\n"),
            '\r' => Some("\\r"),
            '\t' => Some("\\t"),
            '\u{8}' => Some("\\b"),
            '\u{c}' => Some("\\f"),
            _ => None,
        };
        if let Some(i) = short.and_then(|e| raw.find(e)) {
            return at(i, 2);
        }
        for (i, _) in raw.match_indices("\\u{") {
            let rest = &raw[i + 3..];
            let Some(end) = rest.find('}') else { continue };
            if u32::from_str_radix(&rest[..end], 16).ok() == Some(u32::from(c)) {
                return at(i, end + 4);
            }
        }
        s.span
    }

    fn duplicate_child(&mut self, node: Node<'_>, first: Span) {
        let d = Diagnostic::error(
            "duplicate-field",
            format!("`{}` is given twice", node.name().value()),
        )
        .at(self.span(node.span()), "second one")
        .also(first, "first one here")
        .help("give each field once");
        self.error(d);
    }
}

/// What kind of forbidden character `c` is, for messages.
fn char_kind(c: char) -> &'static str {
    match u32::from(c) {
        0x0A | 0x0D => "a line break",
        0x2028 | 0x2029 => "a line or paragraph separator",
        0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069 => {
            "a bidirectional text control"
        }
        _ if c.is_control() => "a control character",
        _ => "a noncharacter (XML cannot carry it)",
    }
}

fn name_problem(name: &str) -> Option<&'static str> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some("it is empty"),
        Some(c) if !c.is_ascii_alphabetic() => return Some("it must start with a letter"),
        _ => {}
    }
    if name.len() > 63 {
        return Some("it is longer than 63 characters");
    }
    if !chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')) {
        return Some("it contains a character other than a letter, digit, `-`, `_` or `.`");
    }
    if name == "any" {
        return Some("`any` is reserved");
    }
    None
}

fn describe(v: Value<'_>) -> String {
    match v {
        Value::String(s) => format!("the string \"{}\"", s.escape_debug()),
        Value::Integer(i) => format!("the number {i}"),
        Value::Float(f) => format!("the number {f}"),
        Value::Bool(b) => format!("#{b}"),
        Value::Null => "#null".to_string(),
    }
}

/// Tracks which single-valued fields were already seen in a block.
#[derive(Default)]
struct Seen<'d>(Vec<(&'d str, Span)>);

impl<'d> Seen<'d> {
    /// Records `node`; reports and returns false if it was already given.
    fn first(&mut self, cx: &mut Cx<'_>, node: Node<'d>) -> bool {
        let name = node.name().value();
        if let Some((_, first)) = self.0.iter().find(|(n, _)| *n == name) {
            let first = *first;
            cx.duplicate_child(node, first);
            return false;
        }
        self.0.push((name, cx.span(node.span())));
        true
    }
}

fn children(node: Node<'_>) -> impl Iterator<Item = Node<'_>> {
    node.children().into_iter().flat_map(|block| block.nodes())
}

/// Whether the block has a child `field` at all. "Missing field" errors
/// check this, so a field that is present but invalid is reported once (as
/// invalid), not twice.
fn has_child(node: Node<'_>, field: &str) -> bool {
    children(node).any(|c| c.name().value() == field)
}

fn decode_policy(cx: &mut Cx<'_>, node: Node<'_>, tree: &mut SyntaxTree) {
    cx.no_props(node);
    if let Some(existing) = &tree.name {
        let d = Diagnostic::error("duplicate-field", "`policy` is given twice")
            .at(cx.span(node.span()), "second one")
            .also(existing.span, "first one here");
        cx.error(d);
        return;
    }
    tree.policy_span = Some(cx.span(node.name().span()));
    tree.name = cx.decl_name(node);
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => tree.description = cx.text(child),
            "targets" if seen.first(cx, child) => {
                cx.leaf(child);
                for t in cx.strings(child) {
                    if Target::from_name(&t.value).is_some() {
                        tree.targets.push(t);
                        continue;
                    }
                    let mut help = did_you_mean(&t.value, Target::names())
                        .map(|s| format!("{s} "))
                        .unwrap_or_default();
                    help.push_str(&format!(
                        "targets are: {}",
                        Target::names().collect::<Vec<_>>().join(", ")
                    ));
                    cx.error(
                        Diagnostic::error(
                            "unknown-target",
                            format!("unknown target `{}`", t.value),
                        )
                        .at(t.span, "not a target")
                        .help(help),
                    );
                }
            }
            "deny-all" if seen.first(cx, child) => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    tree.deny_all = Some(cx.span(child.span()));
                }
            }
            "description" | "targets" | "deny-all" => {}
            other => cx.unknown_node(
                child,
                other,
                "`policy`",
                &["description", "targets", "deny-all"],
            ),
        }
    }
}

const ZONE_FIELDS: &[&str] = &["description", "prefix", "residual", "interface", "vendor"];

fn decode_zone(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ZoneDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let mut zone = ZoneDecl {
        name: name.clone().unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        description: None,
        prefixes: Vec::new(),
        residual: None,
        vendor: false,
        bindings: Vec::new(),
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => zone.description = cx.text(child),
            "prefix" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if let Some(net) = parse_prefix(cx, &s) {
                        zone.prefixes.push(net);
                    }
                }
            }
            "residual" if seen.first(cx, child) => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    zone.residual = Some(cx.span(child.span()));
                }
            }
            "vendor" if seen.first(cx, child) => {
                cx.leaf(child);
                zone.vendor = cx.single_bool(child) == Some(true);
            }
            "interface" if seen.first(cx, child) => {
                cx.no_children(child);
                cx.no_args(child);
                for e in child.entries().filter(|e| e.name().is_some()) {
                    let key = e.name().expect("filtered on name");
                    let key = Spanned {
                        value: key.value().to_string(),
                        span: cx.span(key.span()),
                    };
                    if Target::from_name(&key.value).is_none() {
                        let mut help = did_you_mean(&key.value, Target::names())
                            .map(|s| format!("{s} "))
                            .unwrap_or_default();
                        help.push_str(&format!(
                            "targets are: {}",
                            Target::names().collect::<Vec<_>>().join(", ")
                        ));
                        let d = Diagnostic::error(
                            "unknown-target",
                            format!("unknown target `{}`", key.value),
                        )
                        .at(key.span, "not a target")
                        .help(help);
                        cx.error(d);
                        continue;
                    }
                    let Some(value) = cx.expect_string(child, e) else {
                        continue;
                    };
                    if !is_interface_name(&value.value) {
                        let d = Diagnostic::error("invalid-interface", format!("invalid interface name `{}`", value.value.escape_debug()))
                            .at(value.span, "invalid interface name")
                            .help("interface and zone names use letters, digits and `_ . / : -`, start with a letter or digit, and are at most 31 characters");
                        cx.error(d);
                        continue;
                    }
                    zone.bindings.push((key, value));
                }
            }
            "description" | "residual" | "interface" | "vendor" => {}
            other => cx.unknown_node(child, other, "`zone`", ZONE_FIELDS),
        }
    }
    name?;
    Some(zone)
}

fn is_interface_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 31
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | ':' | '-'))
}

fn parse_prefix(cx: &mut Cx<'_>, s: &Spanned<String>) -> Option<Spanned<IpNet>> {
    match parse_addr_literal(&s.value) {
        Ok((set, Some(net))) => {
            let _ = set;
            Some(Spanned {
                value: net,
                span: s.span,
            })
        }
        Ok((_, None)) => {
            let d = Diagnostic::error(
                "invalid-prefix",
                format!("`{}` is a range, not a prefix", s.value),
            )
            .at(s.span, "zones take CIDR prefixes")
            .help("write the zone as one or more CIDR prefixes, e.g. \"10.20.0.0/16\"");
            cx.error(d);
            None
        }
        Err(problem) => {
            cx.error(problem.into_diagnostic(s));
            None
        }
    }
}

/// A problem with an address literal.
#[derive(Debug)]
enum AddrProblem {
    /// The literal itself (a host, a prefix, an end of a range) is refused
    /// by the strict parser.
    Ip(IpProblem),
    HostBits(IpNet),
    Inverted,
    MixedRange,
}

impl From<IpProblem> for AddrProblem {
    fn from(p: IpProblem) -> Self {
        AddrProblem::Ip(p)
    }
}

impl AddrProblem {
    fn into_diagnostic(self, s: &Spanned<String>) -> Diagnostic {
        match self {
            AddrProblem::Ip(IpProblem::NotAnAddress) => Diagnostic::error(
                "invalid-address",
                format!(
                    "`{}` is not an IP address, CIDR or range",
                    s.value.escape_debug()
                ),
            )
            .at(s.span, "not an address")
            .help(IpProblem::NotAnAddress.hint()),
            AddrProblem::Ip(p) => {
                Diagnostic::error(p.code(), format!("`{}` {p}", s.value.escape_debug()))
                    .at(s.span, p.label())
                    .help(p.hint())
            }
            AddrProblem::HostBits(net) => {
                Diagnostic::error("host-bits-set", format!("`{}` has host bits set", s.value))
                    .at(s.span, "host bits set")
                    .help(format!(
                        "did you mean \"{}\"? (or \"{}\" for the single host)",
                        net.trunc(),
                        net.addr()
                    ))
            }
            AddrProblem::Inverted => Diagnostic::error(
                "inverted-range",
                format!("range `{}` ends before it starts", s.value),
            )
            .at(s.span, "inverted range")
            .help("write the lower address first"),
            AddrProblem::MixedRange => Diagnostic::error(
                "mixed-family-range",
                format!("range `{}` mixes IPv4 and IPv6", s.value),
            )
            .at(s.span, "mixed families")
            .help("both ends of a range must be of the same family"),
        }
    }
}

/// Parses a host, CIDR or range with the strict literal rules of
/// [`ip`]. Returns the set and, for hosts and CIDRs, the prefix.
fn parse_addr_literal(text: &str) -> Result<(AddrSet, Option<IpNet>), AddrProblem> {
    if text.contains('/') {
        let net = ip::parse_net(text)?;
        if net.trunc() != net {
            return Err(AddrProblem::HostBits(net));
        }
        return Ok((AddrSet::from_net(net), Some(net)));
    }
    if let Some((lo, hi)) = text.split_once('-') {
        let (lo, hi) = match (ip::parse_addr(lo.trim()), ip::parse_addr(hi.trim())) {
            (Ok(lo), Ok(hi)) => (lo, hi),
            (Err(IpProblem::LeadingZero { .. }), _) | (_, Err(IpProblem::LeadingZero { .. })) => {
                return Err(IpProblem::LeadingZero {
                    canonical: format!(
                        "{}-{}",
                        without_leading_zeros(lo),
                        without_leading_zeros(hi)
                    ),
                }
                .into());
            }
            (Err(p), _) | (_, Err(p)) => return Err(p.into()),
        };
        if lo.is_ipv4() != hi.is_ipv4() {
            return Err(AddrProblem::MixedRange);
        }
        if lo > hi {
            return Err(AddrProblem::Inverted);
        }
        return Ok((AddrSet::from_range(lo, hi), None));
    }
    let addr = ip::parse_addr(text)?;
    let net = IpNet::from(addr);
    Ok((AddrSet::from_net(net), Some(net)))
}

/// One end of a range as the hint should show it.
fn without_leading_zeros(end: &str) -> String {
    match ip::parse_addr(end.trim()) {
        Err(IpProblem::LeadingZero { canonical }) => canonical,
        _ => end.trim().to_string(),
    }
}

/// Whether text looks like an address literal rather than a name (so that a
/// bad literal gets an address error, not "unknown name").
fn looks_like_address(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit()) || text.contains(':')
}

fn addr_literal(cx: &mut Cx<'_>, s: &Spanned<String>) -> Option<Spanned<AddrLiteral>> {
    match parse_addr_literal(&s.value) {
        Ok((set, _)) => Some(Spanned {
            value: AddrLiteral {
                text: s.value.clone(),
                set,
            },
            span: s.span,
        }),
        Err(p) => {
            cx.error(p.into_diagnostic(s));
            None
        }
    }
}

const CLASS_FIELDS: &[&str] = &["zone", "description", "address", "affected-by", "clinical"];

fn decode_class(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ClassDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let mut class = ClassDecl {
        name: name.clone().unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        zone: None,
        description: None,
        addresses: Vec::new(),
        affected_by: Vec::new(),
        clinical: false,
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "zone" if seen.first(cx, child) => {
                cx.leaf(child);
                class.zone = cx.single_string(child).filter(|n| cx.check_name(n));
            }
            "description" if seen.first(cx, child) => class.description = cx.text(child),
            "address" => {
                cx.leaf(child);
                let strings = cx.strings(child);
                let mut items = Vec::with_capacity(strings.len());
                for s in strings {
                    items.extend(addr_literal(cx, &s));
                }
                append(&mut class.addresses, items);
            }
            "affected-by" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if cx.check_name(&s) {
                        class.affected_by.push(s);
                    }
                }
            }
            "clinical" if seen.first(cx, child) => {
                cx.leaf(child);
                class.clinical = cx.single_bool(child) == Some(true);
            }
            "zone" | "description" | "clinical" => {}
            other => cx.unknown_node(child, other, "`class`", CLASS_FIELDS),
        }
    }
    if !has_child(node, "zone") && name.is_some() {
        let d = Diagnostic::error(
            "missing-field",
            format!(
                "class `{}` does not say which zone it lives in",
                class.name.value
            ),
        )
        .at(class.name.span, "no `zone` line")
        .help("add `zone \"<zone name>\"` inside the class");
        cx.error(d);
    }
    if !has_child(node, "address") && name.is_some() {
        let d = Diagnostic::error(
            "missing-field",
            format!("class `{}` has no addresses", class.name.value),
        )
        .at(class.name.span, "no `address` line")
        .help("add `address \"10.20.1.0/24\"` (hosts, CIDRs and ranges are accepted)");
        cx.error(d);
    }
    name?;
    Some(class)
}

fn decode_group(cx: &mut Cx<'_>, node: Node<'_>) -> Option<GroupDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut group = GroupDecl {
        name,
        description: None,
        members: Vec::new(),
        clinical: false,
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "description" if seen.first(cx, child) => group.description = cx.text(child),
            "member" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if cx.check_name(&s) {
                        group.members.push(s);
                    }
                }
            }
            "clinical" if seen.first(cx, child) => {
                cx.leaf(child);
                group.clinical = cx.single_bool(child) == Some(true);
            }
            "description" | "clinical" => {}
            other => cx.unknown_node(
                child,
                other,
                "`group`",
                &["description", "member", "clinical"],
            ),
        }
    }
    if !has_child(node, "member") {
        let d = Diagnostic::error(
            "missing-field",
            format!("group `{}` has no members", group.name.value),
        )
        .at(group.name.span, "no `member` line")
        .help("add `member \"<class, zone or group>\" ...`");
        cx.error(d);
    }
    Some(group)
}

const SERVICE_FIELDS: &[&str] = &[
    "description",
    "tcp",
    "udp",
    "icmp",
    "icmpv4",
    "icmpv6",
    "protocol",
];

fn decode_service(cx: &mut Cx<'_>, node: Node<'_>) -> Option<ServiceDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut svc = ServiceDecl {
        name,
        description: None,
        set: ServiceSet::default(),
        builtin: false,
        span: cx.span(node.span()),
    };
    let errors_before = cx.diags.error_count();
    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        match kw {
            "description" if seen.first(cx, child) => svc.description = cx.text(child),
            "description" => {}
            "tcp" | "udp" => {
                cx.leaf(child);
                let ports = decode_ports(cx, child);
                let field = if kw == "tcp" {
                    &mut svc.set.tcp
                } else {
                    &mut svc.set.udp
                };
                *field = field.union(&ports);
            }
            "icmp" | "icmpv4" | "icmpv6" => {
                cx.leaf(child);
                let (v4, v6) = decode_icmp(cx, child);
                svc.set.icmp4 = svc.set.icmp4.union(&v4);
                svc.set.icmp6 = svc.set.icmp6.union(&v6);
            }
            "protocol" => {
                cx.leaf(child);
                let protos = decode_protocols(cx, child);
                svc.set.protocols = svc.set.protocols.union(&protos);
            }
            other => cx.unknown_node(child, other, "`service`", SERVICE_FIELDS),
        }
    }
    // An empty service after errors in its lines is already explained.
    if svc.set.is_empty() && cx.diags.error_count() == errors_before {
        let d = Diagnostic::error(
            "missing-field",
            format!("service `{}` matches nothing", svc.name.value),
        )
        .at(svc.name.span, "no protocol lines")
        .help("add e.g. `tcp 443`, `udp 53`, `icmp \"echo-request\"` or `protocol \"gre\"`");
        cx.error(d);
    }
    Some(svc)
}

/// `tcp 443 "8000-8080"`; no arguments means every port.
fn decode_ports(cx: &mut Cx<'_>, node: Node<'_>) -> PortSet {
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    if args.is_empty() {
        return PortSet::full();
    }
    let mut ranges = Vec::new();
    for e in args {
        let span = cx.span(e.span());
        match e.value() {
            Value::Integer(n) => match port_number(n) {
                Some(p) => ranges.push((p, p)),
                None => cx.error(port_range_error(span, &n.to_string())),
            },
            Value::String(s) => match s.split_once('-') {
                Some((lo, hi)) => {
                    let (Ok(lo), Ok(hi)) = (lo.trim().parse::<i128>(), hi.trim().parse::<i128>())
                    else {
                        let d =
                            Diagnostic::error("invalid-port", format!("`{s}` is not a port range"))
                                .at(span, "expected \"FIRST-LAST\"")
                                .help("write a range as \"8000-8080\"");
                        cx.error(d);
                        continue;
                    };
                    match (port_number(lo), port_number(hi)) {
                        (Some(a), Some(b)) if a <= b => ranges.push((a, b)),
                        (Some(_), Some(_)) => {
                            let d = Diagnostic::error(
                                "inverted-range",
                                format!("port range `{s}` ends before it starts"),
                            )
                            .at(span, "inverted range")
                            .help("write the lower port first");
                            cx.error(d);
                        }
                        _ => cx.error(port_range_error(span, s)),
                    }
                }
                None => {
                    let d = Diagnostic::error("wrong-type", format!("port `{s}` is a string"))
                        .at(span, "expected a number")
                        .help(format!("write single ports without quotes: {}", s.trim()));
                    cx.error(d);
                }
            },
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected a port, found {}", describe(other)),
                )
                .at(span, "expected a port number or \"FIRST-LAST\"");
                cx.error(d);
            }
        }
    }
    PortSet::from_ranges(ranges)
}

fn port_number(n: i128) -> Option<u16> {
    u16::try_from(n).ok().filter(|&p| p >= 1)
}

fn port_range_error(span: Span, text: &str) -> Diagnostic {
    Diagnostic::error(
        "port-out-of-range",
        format!("port `{text}` is outside 1..65535"),
    )
    .at(span, "not a valid port")
    .help("ports are 1 to 65535; leave the port list out (`tcp`) to mean every port")
}

/// `icmp "echo-request"` (both families), `icmpv4 8`, `icmpv6 "packet-too-big"`;
/// no arguments means every type of that family (or both).
fn decode_icmp(cx: &mut Cx<'_>, node: Node<'_>) -> (ByteSet, ByteSet) {
    let kw = node.name().value();
    let (want4, want6) = match kw {
        "icmp" => (true, true),
        "icmpv4" => (true, false),
        _ => (false, true),
    };
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    let full = |on: bool| {
        if on {
            ByteSet::full()
        } else {
            ByteSet::empty()
        }
    };
    if args.is_empty() {
        return (full(want4), full(want6));
    }
    let (mut v4, mut v6) = (Vec::new(), Vec::new());
    for e in args {
        let span = cx.span(e.span());
        match e.value() {
            Value::Integer(n) if kw == "icmp" => {
                let d = Diagnostic::error(
                    "ambiguous-icmp-type",
                    format!("ICMP type {n} means different messages in IPv4 and IPv6"),
                )
                .at(span, "numeric type in a family-neutral `icmp` line")
                .help(format!(
                    "use a name (e.g. \"echo-request\"), or `icmpv4 {n}` / `icmpv6 {n}`"
                ));
                cx.error(d);
            }
            Value::Integer(n) => match u8::try_from(n) {
                Ok(t) if want4 => v4.push((t, t)),
                Ok(t) => v6.push((t, t)),
                Err(_) => {
                    let d = Diagnostic::error(
                        "icmp-type-out-of-range",
                        format!("ICMP type {n} is outside 0..255"),
                    )
                    .at(span, "not an ICMP type");
                    cx.error(d);
                }
            },
            Value::String(s) => {
                let t4 = want4.then(|| catalogue::icmp_type(s, false)).flatten();
                let t6 = want6.then(|| catalogue::icmp_type(s, true)).flatten();
                let complete = (t4.is_some() || !want4) && (t6.is_some() || !want6);
                if complete {
                    v4.extend(t4.map(|t| (t, t)));
                    v6.extend(t6.map(|t| (t, t)));
                    continue;
                }
                let known: Vec<&str> = match kw {
                    "icmp" => catalogue::icmp_names_both().collect(),
                    "icmpv4" => catalogue::icmp_names(false).collect(),
                    _ => catalogue::icmp_names(true).collect(),
                };
                let only_other = (t4.is_some() || t6.is_some())
                    || (kw == "icmp"
                        && (catalogue::icmp_type(s, true).is_some()
                            || catalogue::icmp_type(s, false).is_some()));
                let mut help = did_you_mean(s, known.iter().copied())
                    .map(|h| format!("{h} "))
                    .unwrap_or_default();
                if only_other {
                    help = format!(
                        "`{s}` exists in only one family: write `icmpv{} \"{s}\"`. ",
                        if catalogue::icmp_type(s, true).is_some() {
                            6
                        } else {
                            4
                        }
                    );
                }
                help.push_str(&format!("`{kw}` knows: {}", known.join(", ")));
                let d = Diagnostic::error(
                    "unknown-icmp-type",
                    format!("unknown ICMP type `{s}` for `{kw}`"),
                )
                .at(span, "unknown type")
                .help(help);
                cx.error(d);
            }
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected an ICMP type, found {}", describe(other)),
                )
                .at(span, "expected a type name or number");
                cx.error(d);
            }
        }
    }
    (ByteSet::from_ranges(v4), ByteSet::from_ranges(v6))
}

fn decode_protocols(cx: &mut Cx<'_>, node: Node<'_>) -> ByteSet {
    let args: Vec<Entry<'_>> = cx.args(node).collect();
    if args.is_empty() {
        let d = Diagnostic::error(
            "missing-argument",
            "`protocol` needs a protocol name or number",
        )
        .at(cx.span(node.span()), "which protocol?")
        .help(format!(
            "known names: {}",
            catalogue::protocol_names().collect::<Vec<_>>().join(", ")
        ));
        cx.error(d);
    }
    let mut out = Vec::new();
    for e in args {
        let span = cx.span(e.span());
        let number = match e.value() {
            Value::Integer(n) => u8::try_from(n).ok().map(|p| (p, n.to_string())),
            Value::String(s) => match catalogue::protocol_number(s) {
                Some(p) => Some((p, s.to_string())),
                None => {
                    let mut help = did_you_mean(s, catalogue::protocol_names())
                        .map(|h| format!("{h} "))
                        .unwrap_or_default();
                    help.push_str(&format!(
                        "known names: {} (or a number 0..255)",
                        catalogue::protocol_names().collect::<Vec<_>>().join(", ")
                    ));
                    if matches!(s, "tcp" | "udp" | "icmp" | "icmpv6") {
                        help = format!(
                            "write `{s}` as its own line in the service, with ports or types"
                        );
                    }
                    let d =
                        Diagnostic::error("unknown-protocol", format!("unknown protocol `{s}`"))
                            .at(span, "unknown protocol")
                            .help(help);
                    cx.error(d);
                    continue;
                }
            },
            other => {
                let d = Diagnostic::error(
                    "wrong-type",
                    format!("expected a protocol, found {}", describe(other)),
                )
                .at(span, "expected a protocol name or number");
                cx.error(d);
                continue;
            }
        };
        match number {
            Some((p, _)) if matches!(p, 1 | 6 | 17 | 58) => {
                let d = Diagnostic::error("special-protocol", format!("protocol {p} has its own service line"))
                    .at(span, "use tcp/udp/icmp/icmpv6 instead")
                    .help("write `tcp`, `udp`, `icmpv4` or `icmpv6` (without ports or types to mean all of them)");
                cx.error(d);
            }
            Some((p, _)) => out.push((p, p)),
            None => {
                let d = Diagnostic::error("protocol-out-of-range", "protocol numbers are 0..255")
                    .at(span, "not a protocol number");
                cx.error(d);
            }
        }
    }
    ByteSet::from_ranges(out)
}

const ADVISORY_FIELDS: &[&str] = &["title", "id", "cve", "url", "block"];

fn decode_advisory(cx: &mut Cx<'_>, node: Node<'_>) -> Option<AdvisoryDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node)?;
    let mut adv = AdvisoryDecl {
        name,
        title: None,
        ids: Vec::new(),
        cves: Vec::new(),
        urls: Vec::new(),
        block: Vec::new(),
        span: cx.span(node.span()),
    };
    let mut seen = Seen::default();
    for child in children(node) {
        match child.name().value() {
            "title" if seen.first(cx, child) => adv.title = cx.text(child),
            "title" => {}
            field @ ("id" | "cve" | "url") => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    if !is_identifier_text(&s.value) {
                        let d = Diagnostic::error(
                            "invalid-text",
                            format!("`{}` is not a valid {field}", s.value.escape_debug()),
                        )
                        .at(
                            s.span,
                            "spaces, quotes and control characters are not allowed here",
                        );
                        cx.error(d);
                        continue;
                    }
                    if field == "cve" && !is_cve(&s.value) {
                        let d = Diagnostic::error(
                            "invalid-cve",
                            format!("`{}` is not a CVE identifier", s.value),
                        )
                        .at(s.span, "expected CVE-YYYY-NNNN")
                        .help("CVE identifiers look like \"CVE-2024-12248\"");
                        cx.error(d);
                        continue;
                    }
                    match field {
                        "id" => adv.ids.push(s.value),
                        "cve" => adv.cves.push(s.value),
                        _ => adv.urls.push(s.value),
                    }
                }
            }
            "block" => {
                cx.leaf(child);
                for s in cx.strings(child) {
                    adv.block.extend(addr_literal(cx, &s));
                }
            }
            other => cx.unknown_node(child, other, "`advisory`", ADVISORY_FIELDS),
        }
    }
    if !has_child(node, "block") {
        let d = Diagnostic::error(
            "missing-field",
            format!("advisory `{}` blocks no networks", adv.name.value),
        )
        .at(adv.name.span, "no `block` line")
        .help("add `block \"202.114.4.0/24\"` with the networks the advisory says to block");
        cx.error(d);
    }
    Some(adv)
}

fn is_identifier_text(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 512
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '"' | '\'' | '<' | '>' | '\\' | '`'))
}

fn is_cve(s: &str) -> bool {
    let mut parts = s.split('-');
    parts.next() == Some("CVE")
        && parts
            .next()
            .is_some_and(|y| y.len() == 4 && y.chars().all(|c| c.is_ascii_digit()))
        && parts
            .next()
            .is_some_and(|n| n.len() >= 4 && n.chars().all(|c| c.is_ascii_digit()))
        && parts.next().is_none()
}

const RULE_KINDS: &[&str] = &["allow", "deny", "reject", "block-advisory"];
const RULE_FIELDS: &[&str] = &[
    "description",
    "from",
    "to",
    "service",
    "log",
    "owner",
    "ticket",
    "expires",
    "absolute",
    "exception",
];
const EXCEPTION_FIELDS: &[&str] = &[
    "description",
    "from",
    "to",
    "service",
    "log",
    "owner",
    "ticket",
    "expires",
];
const ADVISORY_RULE_FIELDS: &[&str] = &["description", "owner", "ticket"];

fn decode_rules(cx: &mut Cx<'_>, node: Node<'_>, out: &mut Vec<RuleDecl>) {
    cx.no_props(node);
    cx.no_args(node);
    for child in children(node) {
        let kw = child.name().value();
        match kw {
            "allow" => out.extend(decode_rule(cx, child, Action::Allow, RuleKind::Plain)),
            "deny" => out.extend(decode_rule(cx, child, Action::Deny, RuleKind::Plain)),
            "reject" => out.extend(decode_rule(cx, child, Action::Reject, RuleKind::Plain)),
            "block-advisory" => out.extend(decode_rule(
                cx,
                child,
                Action::Deny,
                RuleKind::BlockAdvisory,
            )),
            other => cx.unknown_node(child, other, "`rules`", RULE_KINDS),
        }
    }
}

fn decode_rule(
    cx: &mut Cx<'_>,
    node: Node<'_>,
    action: Action,
    kind: RuleKind,
) -> Option<RuleDecl> {
    cx.no_props(node);
    let name = cx.decl_name(node);
    let named = name.is_some();
    let mut rule = RuleDecl {
        name: name.unwrap_or(Spanned {
            value: String::new(),
            span: cx.span(node.span()),
        }),
        kind,
        action,
        absolute: None,
        from: Vec::new(),
        to: Vec::new(),
        service: Vec::new(),
        log: None,
        description: None,
        owner: None,
        ticket: None,
        expires: None,
        exceptions: Vec::new(),
        keyword_span: cx.span(node.name().span()),
        span: cx.span(node.span()),
    };
    let allowed = match rule.kind {
        RuleKind::Plain if action == Action::Allow => &RULE_FIELDS[..8],
        RuleKind::Plain => RULE_FIELDS,
        RuleKind::Exception => EXCEPTION_FIELDS,
        RuleKind::BlockAdvisory => ADVISORY_RULE_FIELDS,
    };

    let mut seen = Seen::default();
    for child in children(node) {
        let kw = child.name().value();
        if !allowed.contains(&kw) {
            let mut d_allowed = allowed.to_vec();
            d_allowed.sort_unstable();
            if kw == "exception" && action == Action::Allow {
                let d =
                    Diagnostic::error("misplaced-node", "an `allow` rule cannot have exceptions")
                        .at(cx.span(child.name().span()), "exception inside an allow")
                        .help("exceptions carve allowed traffic out of a `deny` or `reject` rule");
                cx.error(d);
                continue;
            }
            let inside = match rule.kind {
                RuleKind::Plain => format!("`{action}` rule"),
                RuleKind::Exception => "`exception`".to_string(),
                RuleKind::BlockAdvisory => "`block-advisory`".to_string(),
            };
            cx.unknown_node(child, kw, &inside, &d_allowed);
            continue;
        }
        match kw {
            "description" | "owner" | "ticket" | "log" | "expires" | "absolute"
                if !seen.first(cx, child) => {}
            "description" => rule.description = cx.text(child),
            "owner" => rule.owner = cx.text(child),
            "ticket" => rule.ticket = cx.text(child),
            "log" => {
                cx.leaf(child);
                rule.log = cx.single_bool(child);
            }
            "absolute" => {
                cx.leaf(child);
                if cx.single_bool(child) == Some(true) {
                    rule.absolute = Some(cx.span(child.span()));
                }
            }
            "expires" => {
                cx.leaf(child);
                if let Some(s) = cx.single_string(child) {
                    match s.value.parse::<Date>() {
                        Ok(date) if s.value.len() == 10 => {
                            rule.expires = Some(Spanned {
                                value: date,
                                span: s.span,
                            })
                        }
                        _ => {
                            let d = Diagnostic::error(
                                "invalid-date",
                                format!("`{}` is not a date", s.value),
                            )
                            .at(s.span, "expected YYYY-MM-DD")
                            .help("write the last day the rule applies, e.g. \"2027-03-31\"");
                            cx.error(d);
                        }
                    }
                }
            }
            "from" | "to" => {
                cx.leaf(child);
                let strings = cx.strings(child);
                let mut items = Vec::with_capacity(strings.len());
                for s in strings {
                    items.extend(endpoint_text(cx, s));
                }
                append(
                    if kw == "from" {
                        &mut rule.from
                    } else {
                        &mut rule.to
                    },
                    items,
                );
            }
            "service" => {
                cx.leaf(child);
                let strings = cx.strings(child);
                let mut items = Vec::with_capacity(strings.len());
                for s in strings {
                    items.extend(service_text(cx, s));
                }
                append(&mut rule.service, items);
            }
            "exception" => {
                cx.no_props(child);
                rule.exceptions
                    .extend(decode_rule(cx, child, Action::Allow, RuleKind::Exception));
            }
            _ => unreachable!("field list and match arms agree"),
        }
    }
    if !named {
        return None;
    }
    if matches!(rule.kind, RuleKind::BlockAdvisory) {
        return Some(rule);
    }
    for field in ["from", "to", "service"] {
        if !has_child(node, field) {
            let example = match field {
                "service" => "`service \"https\"` (or `service \"any\"`)",
                _ => "a zone, class, group, CIDR or `any`",
            };
            let d = Diagnostic::error(
                "missing-field",
                format!("rule `{}` has no `{field}`", rule.name.value),
            )
            .at(rule.name.span, format!("no `{field}` line"))
            .help(format!("every rule says `{field}` explicitly: {example}"));
            cx.error(d);
        }
    }
    Some(rule)
}

/// Appends `items` to a list that is usually given in one line: then the
/// list takes `items` as it is, without the spare capacity growing from
/// empty would leave (it adds up over thousands of rules).
fn append<T>(list: &mut Vec<T>, mut items: Vec<T>) {
    if list.is_empty() {
        *list = items;
    } else {
        list.append(&mut items);
    }
}

fn endpoint_text(cx: &mut Cx<'_>, s: Spanned<String>) -> Option<Spanned<EndpointText>> {
    let value = if s.value == "any" {
        EndpointText::Any
    } else if looks_like_address(&s.value) {
        EndpointText::Literal(Box::new(addr_literal(cx, &s)?.value))
    } else if cx.check_name(&s) {
        EndpointText::Name(s.value)
    } else {
        return None;
    };
    Some(Spanned {
        value,
        span: s.span,
    })
}

/// `"https"` (a name), `"any"`, or a literal such as `"tcp/443"`,
/// `"udp/5000-5010"`, `"icmp/echo-request"`, `"proto/gre"`, `"proto/47"`.
fn service_text(cx: &mut Cx<'_>, s: Spanned<String>) -> Option<Spanned<ServiceText>> {
    if s.value == "any" {
        return Some(Spanned {
            value: ServiceText::Literal("any".to_string(), ServiceSet::any()),
            span: s.span,
        });
    }
    let Some((proto, arg)) = s.value.split_once('/') else {
        if cx.check_name(&s) {
            return Some(Spanned {
                value: ServiceText::Name(s.value),
                span: s.span,
            });
        }
        return None;
    };
    let mut set = ServiceSet::default();
    let bad = |cx: &mut Cx<'_>, why: String| {
        let d = Diagnostic::error("invalid-service", format!("`{}` is not a service", s.value))
            .at(s.span, why)
            .help("write a service name, `any`, or a literal such as \"tcp/443\", \"udp/5000-5010\", \"icmp/echo-request\", \"proto/gre\"");
        cx.error(d);
    };
    match proto {
        "tcp" | "udp" => {
            let range = match arg.split_once('-') {
                Some((a, b)) => (a.parse::<i128>().ok(), b.parse::<i128>().ok()),
                None => (arg.parse::<i128>().ok(), arg.parse::<i128>().ok()),
            };
            let ports = match range {
                (Some(a), Some(b)) => match (port_number(a), port_number(b)) {
                    (Some(a), Some(b)) if a <= b => PortSet::range(a, b),
                    (Some(_), Some(_)) => {
                        let d = Diagnostic::error(
                            "inverted-range",
                            format!("port range `{}` ends before it starts", s.value),
                        )
                        .at(s.span, "inverted range")
                        .help("write the lower port first");
                        cx.error(d);
                        return None;
                    }
                    _ => {
                        cx.error(port_range_error(s.span, arg));
                        return None;
                    }
                },
                _ => {
                    bad(
                        cx,
                        "expected a port or FIRST-LAST after the slash".to_string(),
                    );
                    return None;
                }
            };
            if proto == "tcp" {
                set.tcp = ports
            } else {
                set.udp = ports
            }
        }
        "icmp" | "icmpv4" | "icmpv6" => {
            let v6 = proto == "icmpv6";
            let both = proto == "icmp";
            let t4 = (!v6).then(|| catalogue::icmp_type(arg, false)).flatten();
            let t6 = (v6 || both)
                .then(|| catalogue::icmp_type(arg, true))
                .flatten();
            let numeric = arg.parse::<u8>().ok().filter(|_| !both);
            match (t4, t6, numeric) {
                (_, _, Some(n)) if v6 => set.icmp6 = ByteSet::single(n),
                (_, _, Some(n)) => set.icmp4 = ByteSet::single(n),
                (Some(a), Some(b), None) if both => {
                    set.icmp4 = ByteSet::single(a);
                    set.icmp6 = ByteSet::single(b);
                }
                (Some(a), None, None) if !both => set.icmp4 = ByteSet::single(a),
                (None, Some(b), None) if !both => set.icmp6 = ByteSet::single(b),
                _ => {
                    bad(cx, format!("unknown ICMP type `{arg}` for `{proto}`"));
                    return None;
                }
            }
        }
        "proto" => {
            let number = arg
                .parse::<u8>()
                .ok()
                .or_else(|| catalogue::protocol_number(arg));
            match number {
                Some(1 | 6 | 17 | 58) => {
                    bad(
                        cx,
                        format!("use tcp/, udp/, icmpv4/ or icmpv6/ for protocol `{arg}`"),
                    );
                    return None;
                }
                Some(n) => set.protocols = ByteSet::single(n),
                None => {
                    bad(cx, format!("unknown protocol `{arg}`"));
                    return None;
                }
            }
        }
        _ => {
            bad(cx, format!("unknown protocol `{proto}`"));
            return None;
        }
    }
    Some(Spanned {
        value: ServiceText::Literal(s.value, set),
        span: s.span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_decodes_cleanly() {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p.kdl");
        std::fs::write(&root, "").unwrap();
        let tree = load(&root, &mut sources, &mut diags).unwrap();
        assert!(diags.items.is_empty(), "{diags:?}");
        let names: Vec<&str> = tree
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .collect();
        for expected in [
            "dns",
            "ntp",
            "syslog",
            "snmp",
            "https",
            "ssh",
            "rdp",
            "hl7-mllp",
            "dicom",
            "dicom-tls",
        ] {
            assert!(names.contains(&expected), "catalogue lacks {expected}");
        }
        let dicom = tree
            .services
            .iter()
            .find(|s| s.name.value == "dicom")
            .unwrap();
        assert_eq!(dicom.set.tcp.ranges(), &[(104, 104), (11112, 11112)]);
        let ping = tree
            .services
            .iter()
            .find(|s| s.name.value == "ping")
            .unwrap();
        assert_eq!(ping.set.icmp4.ranges(), &[(8, 8)]);
        assert_eq!(ping.set.icmp6.ranges(), &[(128, 128)]);
    }

    #[test]
    fn nesting_guard_skips_strings_and_comments() {
        let deep = "a {".repeat(65) + &"}".repeat(65);
        assert!(too_deep(&deep).is_some());
        assert!(too_deep(&("a {".repeat(64) + &"}".repeat(64))).is_none());
        let braces = "{".repeat(100);
        for hidden in [
            format!("x \"{braces}\""),
            format!("x \"\"\"\n{braces}\n\"\"\""),
            format!("x #\"{braces}\"#"),
            format!("x ##\"\"#{braces}\"##"),
            format!("// {braces}\nx 1"),
            format!("/* /* {braces} */ */ x 1"),
            format!("x \"\\\"{braces}\""),
        ] {
            assert_eq!(too_deep(&hidden), None, "{hidden}");
        }
        // Closing braces inside strings cannot hide real nesting.
        let sneaky = "a { \"}\" ".repeat(100);
        assert!(too_deep(&sneaky).is_some());
    }

    #[test]
    fn names_are_restricted() {
        assert!(name_problem("icu-monitors").is_none());
        assert!(name_problem("a.b_c-1").is_none());
        assert!(name_problem("1abc").is_some());
        assert!(name_problem("has space").is_some());
        assert!(name_problem("quote\"").is_some());
        assert!(name_problem("any").is_some());
        assert!(name_problem(&"a".repeat(64)).is_some());
    }

    #[test]
    fn address_literals() {
        assert!(parse_addr_literal("10.0.0.1").is_ok());
        assert!(matches!(
            parse_addr_literal("10.0.0.1/24"),
            Err(AddrProblem::HostBits(_))
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.9-10.0.0.1"),
            Err(AddrProblem::Inverted)
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.1-::1"),
            Err(AddrProblem::MixedRange)
        ));
        assert!(matches!(
            parse_addr_literal("10.0.0.256"),
            Err(AddrProblem::Ip(IpProblem::NotAnAddress))
        ));
        for zeros in ["10.020.4.0/23", "10.10.020.40", "10.0.0.01-10.0.0.9"] {
            assert!(
                matches!(
                    parse_addr_literal(zeros),
                    Err(AddrProblem::Ip(IpProblem::LeadingZero { .. }))
                ),
                "{zeros}"
            );
        }
        let (set, _) = parse_addr_literal("fd00:20::/48").unwrap();
        assert!(set.contains("fd00:20::1".parse().unwrap()));
    }
}
