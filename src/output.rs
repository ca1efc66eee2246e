//! Writing rendered files: one transaction for the whole output directory.
//!
//! A build stages the complete new output directory beside the old one and
//! swaps it in with one atomic exchange ([`Staging`]), so a reader (a
//! firewall, a GitOps pipeline) sees wholly the previous build or wholly the
//! new one, whatever instant the build is killed at.

use std::fs;
use std::io::{self, Write};
use std::path::{Component, Path, PathBuf};

use crate::render::RenderedFile;

/// Rejects output paths that would leave the output directory.
fn checked(out_dir: &Path, file: &RenderedFile) -> io::Result<PathBuf> {
    let ok = !file.path.as_os_str().is_empty()
        && file
            .path
            .components()
            .all(|c| matches!(c, Component::Normal(_)));
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!(
                "refusing to write outside the output directory: {}",
                file.path.display()
            ),
        ));
    }
    Ok(out_dir.join(&file.path))
}

/// How a file on disk differs from what a build would leave there.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Difference {
    /// The build would write it; it is not there.
    Missing,
    /// It is there with other contents.
    Stale,
    /// It is in a target's directory the build writes, but neither this
    /// build nor another policy of the manifest produces it (see [`orphans`]).
    Orphan,
}

impl Difference {
    /// The word `build --check` prints before the path.
    pub fn label(self) -> &'static str {
        match self {
            Difference::Missing => "missing",
            Difference::Stale => "stale",
            Difference::Orphan => "orphan",
        }
    }
}

/// The files (full paths) whose contents on disk differ from `files`, or
/// that are missing, in the order given.
pub fn stale(out_dir: &Path, files: &[RenderedFile]) -> io::Result<Vec<(Difference, PathBuf)>> {
    let mut out = Vec::new();
    for file in files {
        let path = checked(out_dir, file)?;
        match fs::read(&path) {
            Ok(bytes) if bytes == file.contents.as_bytes() => {}
            Ok(_) => out.push((Difference::Stale, path)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => out.push((Difference::Missing, path)),
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
    }
    Ok(out)
}

/// The orphans of a build of `policy` that writes `written` (paths relative
/// to `out_dir`): the files directly in a target directory the build writes
/// into (`<target>/`, the first component of a written path) that the build
/// does not write and no *other* policy of `manifest` lists. Such a file is
/// what a pipeline applying `out/` would deploy although no policy says it
/// (a renamed policy's or a dropped output's file, a copy left by hand);
/// `build` keeps it, as it keeps every file it does not write, so it must
/// be removed by hand. Only target directories the build writes are looked
/// at (a `-t` build says nothing of the others), never the top of `out_dir`
/// (a README beside the outputs) nor subdirectories, and hidden files
/// (`.gitkeep`) are not outputs. Sorted, full paths.
pub fn orphans(
    out_dir: &Path,
    policy: &str,
    written: &[PathBuf],
    manifest: &Manifest,
) -> io::Result<Vec<PathBuf>> {
    let written: Vec<String> = written.iter().map(|p| rel_string(p)).collect();
    let claimed = |rel: &str| {
        written.iter().any(|w| w == rel)
            || manifest
                .policies
                .iter()
                .any(|(name, entry)| name != policy && entry.files.iter().any(|f| f == rel))
    };
    let mut targets: Vec<&str> = written.iter().map(|p| first_component(p)).collect();
    targets.sort();
    targets.dedup();
    let mut out = Vec::new();
    for target in targets.into_iter().filter(|t| *t != MANIFEST) {
        let dir = out_dir.join(target);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot list {}: {e}", dir.display()),
                ));
            }
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !entry.path().is_file() {
                continue;
            }
            if !claimed(&format!("{target}/{name}")) {
                out.push(dir.join(&name));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The files on disk under `out_dir` at the paths `like` names (what the
/// policy renders now); a missing file is left out, so it shows as added.
pub fn read_existing(out_dir: &Path, like: &[RenderedFile]) -> io::Result<Vec<RenderedFile>> {
    let mut out = Vec::new();
    for file in like {
        let path = checked(out_dir, file)?;
        match fs::read(&path) {
            Ok(bytes) => out.push(RenderedFile {
                path: file.path.clone(),
                contents: String::from_utf8_lossy(&bytes).into_owned(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(io::Error::new(
                    e.kind(),
                    format!("cannot read {}: {e}", path.display()),
                ));
            }
        }
    }
    Ok(out)
}

/// Writes every file in one transaction (see [`Staging`]); returns the full
/// paths written, in the order given. No manifest entry: for tests and
/// library callers that render no policy.
pub fn write_all(out_dir: &Path, files: &[RenderedFile]) -> io::Result<Vec<PathBuf>> {
    // Validate every path before touching the disk.
    for file in files {
        checked(out_dir, file)?;
    }
    let mut staging = Staging::new(out_dir);
    for file in files {
        staging.add(file)?;
    }
    staging.commit(None).map(|c| c.paths)
}

/// Replaces the regular file `path` with `contents` atomically: a
/// temporary file beside it (`.<name>.wardwall-new.<pid>`, same directory,
/// so same filesystem) gets the contents and the old file's permissions,
/// is flushed, and is renamed over `path`; the directory is flushed too.
/// A reader sees wholly the old or wholly the new file, and a failure
/// leaves the old one. For `fmt`, which rewrites policy files in place.
pub fn replace_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temp = dir.join(format!(".{name}.wardwall-new.{}", std::process::id()));
    let permissions = fs::metadata(path)
        .map_err(|e| with_path(e, path))?
        .permissions();
    let result = (|| {
        let file = write_new(&temp, contents)?;
        file.set_permissions(permissions)
            .and_then(|()| file.sync_all())
            .map_err(|e| with_path(e, &temp))?;
        fs::rename(&temp, path).map_err(|e| with_path(e, path))?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

/// The build manifest, `DIR/wardwall-manifest.json`: per policy built into
/// the directory, its active rule count and the files it produced. Lets the
/// next build say how many rules it drops against the previous one. Its
/// content depends only on what was built (no date, no time), so it is
/// byte-identical across runs and `build --check` compares it like a file.
pub(crate) const MANIFEST: &str = "wardwall-manifest.json";

#[derive(serde::Serialize, serde::Deserialize, Default, Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The manifest's own format version.
    pub format: u32,
    pub policies: std::collections::BTreeMap<String, PolicyEntry>,
}

#[derive(serde::Serialize, serde::Deserialize, Debug, Clone, PartialEq)]
pub struct PolicyEntry {
    /// Active rules (IR rules at the build's `--date`).
    pub rules: usize,
    /// Files this policy wrote, relative to the directory, sorted.
    pub files: Vec<String>,
}

impl Manifest {
    /// The manifest in `dir`; empty when there is none or it cannot be read
    /// as one (a build from before manifests, a hand edit).
    pub fn read(dir: &Path) -> Manifest {
        fs::read(dir.join(MANIFEST))
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// This manifest with `policy`'s entry replaced by one for `files`. A
    /// build limited with `-t` keeps the old entry's files of the targets
    /// (first path component) it did not render.
    pub fn with(&self, policy: &str, rules: usize, files: &[RenderedFile]) -> Manifest {
        let new: Vec<String> = files.iter().map(|f| rel_string(&f.path)).collect();
        let targets: Vec<&str> = new.iter().map(|p| first_component(p)).collect();
        let mut all: Vec<String> = self
            .policies
            .get(policy)
            .map(|e| e.files.clone())
            .unwrap_or_default()
            .into_iter()
            .filter(|f| !targets.contains(&first_component(f)))
            .chain(new.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        let mut out = self.clone();
        out.format = 1;
        out.policies
            .insert(policy.to_string(), PolicyEntry { rules, files: all });
        out
    }

    /// The manifest as written: pretty JSON, keys sorted, final newline.
    pub fn to_file(&self) -> RenderedFile {
        let mut text = serde_json::to_string_pretty(self).expect("JSON of plain data");
        text.push('\n');
        RenderedFile {
            path: PathBuf::from(MANIFEST),
            contents: text,
        }
    }
}

fn rel_string(p: &Path) -> String {
    p.to_string_lossy().replace('\\', "/")
}

fn first_component(p: &str) -> &str {
    p.split('/').next().unwrap_or(p)
}

/// What [`Staging::commit`] changed.
pub struct Committed {
    /// Full paths written (the output directory as given), in order added.
    pub paths: Vec<PathBuf>,
    /// The policy's active rule count in the previous manifest, if any.
    pub previous_rules: Option<usize>,
}

/// One build as one transaction over the whole output directory `DIR`.
///
/// The first [`Staging::add`] takes an exclusive `flock` on DIR's parent
/// (one build per directory at a time), removes what an interrupted build
/// left there, and creates the staging directory `.<DIR>.wardwall-staging.<pid>`
/// beside DIR. Every file is written into it (flushed on a helper thread, so
/// `build` can drop each target's text and render the next). [`Staging::commit`]
/// adds the manifest, hard-links every file of DIR this build does not
/// replace (other policies' files, other targets), fsyncs the tree, and
/// swaps it with DIR in one `renameat2(RENAME_EXCHANGE)`; the old tree, now
/// under the staging name, is removed. At every instant DIR is wholly the old
/// build or wholly the new one. Dropping an uncommitted `Staging` (a later
/// target failed, an I/O error) removes the staging directory and any
/// directory it created above DIR. See docs/architecture.md, "Writing outputs".
pub struct Staging {
    out_dir: PathBuf,
    txn: Option<Txn>,
    /// Relative paths staged, in the order added.
    staged: Vec<PathBuf>,
    /// Flushes to disk in progress, one per staged file (see [`Staging::add`]).
    flushes: Vec<std::thread::JoinHandle<io::Result<()>>>,
    /// Directories above DIR this staging created, outermost first.
    created: Vec<PathBuf>,
}

/// The open transaction: where DIR really is and where it is being rebuilt.
struct Txn {
    /// DIR with symlinks resolved (a symlinked DIR keeps its link: the
    /// directory it points to is swapped).
    target: PathBuf,
    parent: PathBuf,
    staging: PathBuf,
    /// The flock on `parent`, released when dropped (or the process dies).
    _lock: fs::File,
}

/// Test-only fault injection: `WARDWALL_TEST_ABORT_AT=<point>` aborts the
/// process (no cleanup, like a kill) at that point of a commit. Used by
/// tests/output_txn.rs to hit the instants around the swap exactly.
fn fault_point(point: &str) {
    if std::env::var_os("WARDWALL_TEST_ABORT_AT").is_some_and(|v| v == point) {
        std::process::abort();
    }
}

impl Staging {
    pub fn new(out_dir: &Path) -> Self {
        Staging {
            out_dir: out_dir.to_path_buf(),
            txn: None,
            staged: Vec::new(),
            flushes: Vec::new(),
            created: Vec::new(),
        }
    }

    /// Writes `file` into the staging directory (flushed to disk on a
    /// helper thread); nothing in the output directory changes yet.
    pub fn add(&mut self, file: &RenderedFile) -> io::Result<()> {
        checked(&self.out_dir, file)?;
        if file.path == Path::new(MANIFEST) || self.staged.contains(&file.path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "two rendered files share the path {}",
                    self.out_dir.join(&file.path).display()
                ),
            ));
        }
        let staging = self.open()?.staging.clone();
        let path = staging.join(&file.path);
        let dir = path.parent().unwrap_or(&staging);
        fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        let written = write_new(&path, file.contents.as_bytes())?;
        self.staged.push(file.path.clone());
        // `fsync` waits for the disk, not the CPU: flush on another thread
        // while the caller renders the next target. `commit` waits for
        // every flush before swapping anything.
        let shown = self.out_dir.join(&file.path);
        self.flushes.push(std::thread::spawn(move || {
            written.sync_all().map_err(|e| with_path(e, &shown))
        }));
        Ok(())
    }

    /// The transaction, opened on first use.
    fn open(&mut self) -> io::Result<&Txn> {
        if self.txn.is_none() {
            let txn = Txn::open(&self.out_dir, &mut self.created)?;
            self.txn = Some(txn);
        }
        Ok(self.txn.as_ref().expect("just opened"))
    }

    /// Completes the new tree (manifest, unchanged files) and swaps it in.
    /// `entry` is (policy, active rules) for the manifest; `None` writes no
    /// manifest entry.
    pub fn commit(mut self, entry: Option<(&str, usize)>) -> io::Result<Committed> {
        // Every file must be on disk before the tree is swapped in; a
        // failed flush drops `self`, which removes the staging directory.
        self.wait_for_flushes()?;
        self.open()?;
        let txn = self.txn.as_ref().expect("opened");
        let old = Manifest::read(&txn.target);
        let previous_rules = entry.and_then(|(p, _)| old.policies.get(p).map(|e| e.rules));
        let mut skip: Vec<PathBuf> = self.staged.clone();
        if let Some((policy, rules)) = entry {
            let like: Vec<RenderedFile> = self
                .staged
                .iter()
                .map(|p| RenderedFile {
                    path: p.clone(),
                    contents: String::new(),
                })
                .collect();
            let manifest = old.with(policy, rules, &like).to_file();
            write_new(&txn.staging.join(MANIFEST), manifest.contents.as_bytes())?
                .sync_all()
                .map_err(|e| with_path(e, &txn.staging))?;
            skip.push(PathBuf::from(MANIFEST));
        }
        if txn.target.is_dir() {
            link_tree(&txn.target, &txn.staging, Path::new(""), &skip)?;
        }
        sync_dirs(&txn.staging)?;
        fault_point("before-swap");
        swap_in(txn)?;
        // From here DIR is the new build: nothing of it may be removed.
        let txn = self.txn.take().expect("opened");
        self.created.clear();
        // Best effort from here: the build is in place, an error would
        // wrongly report "nothing written".
        let _ = sync_dir(&txn.parent);
        fault_point("after-swap");
        // The old tree, now under the staging name. A failure here leaves
        // a directory the next build removes; the build itself succeeded.
        let _ = fs::remove_dir_all(&txn.staging);
        let paths = self.staged.iter().map(|p| self.out_dir.join(p)).collect();
        Ok(Committed {
            paths,
            previous_rules,
        })
    }
}

impl Txn {
    /// Resolves DIR, locks its parent, removes leftovers of interrupted
    /// builds and creates the (empty) staging directory.
    fn open(out_dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<Txn> {
        let (parent, name) = resolve(out_dir, created)?;
        let lock = lock_dir(&parent)?;
        let target = parent.join(&name);
        recover(&parent, &name, &target)?;
        let staging = parent.join(format!(".{name}.wardwall-staging.{}", std::process::id()));
        fs::create_dir(&staging).map_err(|e| with_path(e, &staging))?;
        // The new DIR keeps the old one's permissions.
        if let Ok(meta) = fs::metadata(&target) {
            fs::set_permissions(&staging, meta.permissions())
                .map_err(|e| with_path(e, &staging))?;
        }
        Ok(Txn {
            target,
            parent,
            staging,
            _lock: lock,
        })
    }
}

/// (parent directory, name) of the real output directory: symlinks
/// resolved, the parent created if missing (remembered in `created`). An
/// output directory that is a mount point cannot be swapped: refused.
fn resolve(out_dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<(PathBuf, String)> {
    let invalid = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("output directory {}: {why}", out_dir.display()),
        )
    };
    let real = if fs::symlink_metadata(out_dir).is_ok() {
        let real = fs::canonicalize(out_dir).map_err(|e| with_path(e, out_dir))?;
        if !real.is_dir() {
            return Err(invalid("not a directory"));
        }
        real
    } else {
        let name = out_dir
            .file_name()
            .ok_or_else(|| invalid("not a directory name"))?;
        let parent = match out_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        create_missing(parent, created)?;
        fs::canonicalize(parent)
            .map_err(|e| with_path(e, parent))?
            .join(name)
    };
    let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
        return Err(invalid("the root directory cannot be replaced"));
    };
    // `-o .` in a repository would swap (and hard-link) the whole working
    // tree: an output directory holds rendered files, not a checkout.
    if real.join(".git").exists() {
        return Err(invalid(
            "holds a .git entry; build into a directory of its own (e.g. -o out)",
        ));
    }
    if is_mount_point(&real, parent) {
        return Err(invalid(
            "is a mount point, which cannot be replaced as a whole; \
             build into a directory inside it (e.g. -o DIR/out)",
        ));
    }
    Ok((parent.to_path_buf(), name.to_string_lossy().into_owned()))
}

#[cfg(unix)]
fn is_mount_point(dir: &Path, parent: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(dir), fs::metadata(parent)) {
        (Ok(d), Ok(p)) => d.dev() != p.dev(),
        _ => false,
    }
}

#[cfg(not(unix))]
fn is_mount_point(_: &Path, _: &Path) -> bool {
    false
}

/// Creates the missing directories `dir` and above, outermost first,
/// remembering them so that a rollback can remove them again.
fn create_missing(dir: &Path, created: &mut Vec<PathBuf>) -> io::Result<()> {
    let missing: Vec<&Path> = dir
        .ancestors()
        .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
        .collect();
    for d in missing.into_iter().rev() {
        fs::create_dir(d).map_err(|e| with_path(e, d))?;
        created.push(d.to_path_buf());
    }
    Ok(())
}

/// An exclusive `flock` on `dir`: two builds into one directory would each
/// swap in a tree made from the same old one and lose the other's files.
/// Waits (saying so) while another build holds it. Where `flock` is not
/// available (some network filesystems) the build goes on unlocked.
#[cfg(unix)]
fn lock_dir(dir: &Path) -> io::Result<fs::File> {
    use std::os::fd::AsRawFd;
    let f = fs::File::open(dir).map_err(|e| with_path(e, dir))?;
    // SAFETY: flock on a file descriptor we own.
    let busy = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0
        && io::Error::last_os_error().kind() == io::ErrorKind::WouldBlock;
    if busy {
        eprintln!(
            "note: waiting for another wardwall build in {}",
            dir.display()
        );
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
    }
    Ok(f)
}

#[cfg(not(unix))]
fn lock_dir(dir: &Path) -> io::Result<fs::File> {
    fs::File::open(dir).map_err(|e| with_path(e, dir))
}

/// Run under the lock, before a build stages anything: finishes or undoes
/// what an interrupted build of `name` left in `parent`, then removes it.
/// After a kill around an exchange, DIR is complete (old or new) and the
/// staging directory is garbage. After a kill inside the two-rename
/// fallback, DIR may be missing: the old tree exists only once the staging
/// tree was complete, so the staging tree is rolled forward.
fn recover(parent: &Path, name: &str, target: &Path) -> io::Result<()> {
    let prefix = format!(".{name}.wardwall-");
    let mut leftovers: Vec<PathBuf> = fs::read_dir(parent)
        .map_err(|e| with_path(e, parent))?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .map(|e| e.path())
        .collect();
    leftovers.sort();
    if fs::symlink_metadata(target).is_err() {
        let is = |kind: &str, p: &PathBuf| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&format!("{prefix}{kind}.")))
        };
        if let Some(old) = leftovers.iter().find(|p| is("old", p)) {
            let pid = old.extension().unwrap_or_default();
            let staging = parent.join(format!("{prefix}staging.{}", pid.to_string_lossy()));
            let from = if staging.is_dir() { &staging } else { old };
            fs::rename(from, target).map_err(|e| with_path(e, target))?;
        }
    }
    for p in leftovers {
        if fs::symlink_metadata(&p).is_ok() {
            fs::remove_dir_all(&p).map_err(|e| with_path(e, &p))?;
        }
    }
    Ok(())
}

/// Hard-links into `to` every entry of `from` (under `rel`) that the new
/// build does not replace; directories are recreated with their
/// permissions. A file the new build wrote, or whose path it uses for
/// something else, is skipped, and so are the `.<name>.<pid>.tmp` files of
/// builds before the directory swap (never part of a build).
fn link_tree(from: &Path, to: &Path, rel: &Path, skip: &[PathBuf]) -> io::Result<()> {
    let dir = from.join(rel);
    for entry in fs::read_dir(&dir).map_err(|e| with_path(e, &dir))? {
        let entry = entry.map_err(|e| with_path(e, &dir))?;
        let name = entry.file_name();
        let sub = rel.join(&name);
        let kind = entry.file_type().map_err(|e| with_path(e, &entry.path()))?;
        let dest = to.join(&sub);
        if skip.contains(&sub) || is_legacy_temp(&name.to_string_lossy()) {
            continue;
        }
        if kind.is_dir() {
            match fs::symlink_metadata(&dest) {
                Ok(m) if !m.is_dir() => continue,
                Ok(_) => {}
                Err(_) => fs::create_dir(&dest).map_err(|e| with_path(e, &dest))?,
            }
            let perms = entry.metadata().map_err(|e| with_path(e, &entry.path()))?;
            fs::set_permissions(&dest, perms.permissions()).map_err(|e| with_path(e, &dest))?;
            link_tree(from, to, &sub, skip)?;
        } else if fs::symlink_metadata(&dest).is_err() {
            // Links the entry itself (a symlink stays a symlink).
            fs::hard_link(entry.path(), &dest).map_err(|e| with_path(e, &dest))?;
        }
    }
    Ok(())
}

/// `.<name>.<pid>.tmp`: a temporary file of a build before the swap design.
fn is_legacy_temp(name: &str) -> bool {
    let Some(inner) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) else {
        return false;
    };
    inner
        .rsplit_once('.')
        .is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

/// fsyncs every directory of the tree at `dir`, so that the hard links and
/// new names are on disk before the tree is swapped in.
fn sync_dirs(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir).map_err(|e| with_path(e, dir))? {
        let entry = entry.map_err(|e| with_path(e, dir))?;
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            sync_dirs(&entry.path())?;
        }
    }
    sync_dir(dir)
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| with_path(e, dir))
}

/// Puts the staging tree at DIR. An existing DIR is exchanged with it in
/// one `renameat2(RENAME_EXCHANGE)`. Where the filesystem or kernel refuses
/// the exchange (EINVAL, ENOSYS, ENOTSUP), two renames: DIR to
/// `.<DIR>.wardwall-old.<pid>`, then staging to DIR, and the old tree back
/// at the staging name. Between the two DIR is missing for an instant,
/// never mixed; a kill there is rolled forward by the next build.
fn swap_in(txn: &Txn) -> io::Result<()> {
    if fs::symlink_metadata(&txn.target).is_err() {
        return fs::rename(&txn.staging, &txn.target).map_err(|e| with_path(e, &txn.target));
    }
    match exchange(&txn.staging, &txn.target) {
        Ok(()) => return Ok(()),
        Err(e) if !exchange_unsupported(&e) => return Err(with_path(e, &txn.target)),
        Err(_) => {}
    }
    let name = txn.target.file_name().unwrap_or_default().to_string_lossy();
    let old = txn
        .parent
        .join(format!(".{name}.wardwall-old.{}", std::process::id()));
    fs::rename(&txn.target, &old).map_err(|e| with_path(e, &txn.target))?;
    fault_point("fallback-between-renames");
    if let Err(e) = fs::rename(&txn.staging, &txn.target) {
        // Put the old tree back: a missing DIR is worse than a failed build.
        let _ = fs::rename(&old, &txn.target);
        return Err(with_path(e, &txn.target));
    }
    // The caller removes the old tree under the staging name.
    fs::rename(&old, &txn.staging).map_err(|e| with_path(e, &old))
}

fn exchange_unsupported(e: &io::Error) -> bool {
    std::env::var_os("WARDWALL_TEST_NO_EXCHANGE").is_some()
        || matches!(
            e.raw_os_error(),
            Some(libc::EINVAL) | Some(libc::ENOSYS) | Some(libc::EOPNOTSUPP)
        )
}

/// Atomically exchanges the directory entries `a` and `b`.
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use std::ffi::CString;
    use std::os::unix::ffi::OsStrExt;
    if std::env::var_os("WARDWALL_TEST_NO_EXCHANGE").is_some() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let a = CString::new(a.as_os_str().as_bytes())?;
    let b = CString::new(b.as_os_str().as_bytes())?;
    // SAFETY: two NUL-terminated paths that outlive the call. The raw
    // syscall, not glibc's wrapper (glibc 2.28+ only, absent in some libcs).
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            a.as_ptr(),
            libc::AT_FDCWD,
            b.as_ptr(),
            libc::RENAME_EXCHANGE,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

impl Staging {
    /// Waits for every flush started by [`Staging::add`]; the first error.
    fn wait_for_flushes(&mut self) -> io::Result<()> {
        let mut result = Ok(());
        for flush in self.flushes.drain(..) {
            let outcome = flush
                .join()
                .unwrap_or_else(|_| Err(io::Error::other("a flush to disk panicked")));
            if result.is_ok() {
                result = outcome;
            }
        }
        result
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Files are removed only once nothing writes to them any more.
        let _ = self.wait_for_flushes();
        if let Some(txn) = self.txn.take() {
            let _ = fs::remove_dir_all(&txn.staging);
        }
        for dir in self.created.iter().rev() {
            // Only empty directories: never anything someone else wrote.
            let _ = fs::remove_dir(dir);
        }
    }
}

fn with_path(e: io::Error, what: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", what.display()))
}

/// Creates `path` (which must not exist) with `bytes`, not yet flushed.
fn write_new(path: &Path, bytes: &[u8]) -> io::Result<fs::File> {
    let result = (|| {
        let mut f = fs::File::create_new(path)?;
        f.write_all(bytes)?;
        Ok(f)
    })();
    result.map_err(|e| with_path(e, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, contents: &str) -> RenderedFile {
        RenderedFile {
            path: PathBuf::from(path),
            contents: contents.to_string(),
        }
    }

    #[test]
    fn replace_file_swaps_contents_and_keeps_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.kdl");
        fs::write(&path, "old").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o640)).unwrap();
        replace_file(&path, b"new").unwrap();
        assert_eq!(fs::read_to_string(&path).unwrap(), "new");
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left: {left:?}");
        assert!(replace_file(&dir.path().join("missing.kdl"), b"x").is_err());
    }

    #[test]
    fn writes_then_reports_fresh_and_stale() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![file("nftables/p.nft", "a\n"), file("x/q.txt", "b\n")];
        let kinds: Vec<Difference> = stale(dir.path(), &files)
            .unwrap()
            .into_iter()
            .map(|(kind, _)| kind)
            .collect();
        assert_eq!(kinds, [Difference::Missing, Difference::Missing]);
        let written = write_all(dir.path(), &files).unwrap();
        assert_eq!(written[0], dir.path().join("nftables/p.nft"));
        assert_eq!(fs::read_to_string(&written[1]).unwrap(), "b\n");
        assert!(stale(dir.path(), &files).unwrap().is_empty());
        // No temporary file is left behind.
        let names: Vec<_> = fs::read_dir(dir.path().join("nftables"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("p.nft")]);
        let changed = vec![file("nftables/p.nft", "a2\n"), file("x/q.txt", "b\n")];
        assert_eq!(
            stale(dir.path(), &changed).unwrap(),
            vec![(Difference::Stale, dir.path().join("nftables/p.nft"))]
        );
    }

    #[test]
    fn an_orphan_is_a_target_file_no_policy_writes() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path();
        for (path, text) in [
            ("nftables/p.nft", "p"),
            ("nftables/old-name.nft", "renamed away"),
            ("nftables/other.nft", "another policy's"),
            ("nftables/.gitkeep", ""),
            (
                "nftables/sub/x.nft",
                "not directly in the target's directory",
            ),
            ("cisco/p.ios", "a target this build does not write"),
            ("README", "beside the outputs"),
        ] {
            fs::create_dir_all(out.join(path).parent().unwrap()).unwrap();
            fs::write(out.join(path), text).unwrap();
        }
        let mut manifest = Manifest::default();
        let entry = |files: &[&str]| PolicyEntry {
            rules: 1,
            files: files.iter().map(|f| f.to_string()).collect(),
        };
        manifest
            .policies
            .insert("other".into(), entry(&["nftables/other.nft"]));
        // This policy's own old entry claims nothing: only others' entries do.
        manifest
            .policies
            .insert("p".into(), entry(&["nftables/old-name.nft", "cisco/p.ios"]));
        let written = [PathBuf::from("nftables/p.nft")];
        assert_eq!(
            orphans(out, "p", &written, &manifest).unwrap(),
            [out.join("nftables/old-name.nft")]
        );
        // Without the other policy's entry, its file is an orphan too.
        manifest.policies.remove("other");
        assert_eq!(
            orphans(out, "p", &written, &manifest).unwrap(),
            [
                out.join("nftables/old-name.nft"),
                out.join("nftables/other.nft")
            ]
        );
    }

    #[test]
    fn a_failed_write_replaces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_all(&out, &[file("a/p.nft", "old\n")]).unwrap();
        // The second file cannot be staged (same path twice): `a/p.nft`
        // must keep its old contents even though it comes first.
        let res = write_all(&out, &[file("a/p.nft", "new\n"), file("a/p.nft", "x")]);
        assert!(res.is_err());
        assert_eq!(fs::read_to_string(out.join("a/p.nft")).unwrap(), "old\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["out"], "no staging directory left");
    }

    #[test]
    fn a_new_file_where_an_old_one_was_replaces_it_and_keeps_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        write_all(&out, &[file("a/keep.nft", "keep\n"), file("b", "a file\n")]).unwrap();
        fs::write(out.join(".x.nft.123.tmp"), "pre-swap temporary").unwrap();
        write_all(&out, &[file("b/q.txt", "x")]).unwrap();
        assert_eq!(
            fs::read_to_string(out.join("a/keep.nft")).unwrap(),
            "keep\n"
        );
        assert_eq!(fs::read_to_string(out.join("b/q.txt")).unwrap(), "x");
        assert!(!out.join(".x.nft.123.tmp").exists(), "legacy temp dropped");
    }

    #[test]
    fn refuses_a_checkout_as_the_output_directory() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join(".git")).unwrap();
        let err = write_all(dir.path(), &[file("a.nft", "x")]).unwrap_err();
        assert!(err.to_string().contains(".git"), "{err}");
        assert!(!dir.path().join("a.nft").exists());
    }

    #[test]
    fn recognises_only_legacy_temporary_names() {
        assert!(is_legacy_temp(".p.nft.4242.tmp"));
        assert!(!is_legacy_temp(".p.nft.tmp"));
        assert!(!is_legacy_temp("p.nft.42.tmp"));
        assert!(!is_legacy_temp(".p.nft.42"));
    }

    #[test]
    fn the_manifest_keeps_other_targets_and_policies() {
        let m = Manifest::default()
            .with(
                "p",
                10,
                &[file("nftables/p.nft", ""), file("cisco/p.ios", "")],
            )
            .with("q", 3, &[file("nftables/q.nft", "")]);
        // A `-t nftables` build of p keeps its Cisco file in the list.
        let m = m.with("p", 8, &[file("nftables/p.nft", "")]);
        assert_eq!(m.policies["p"].files, ["cisco/p.ios", "nftables/p.nft"]);
        assert_eq!(m.policies["p"].rules, 8);
        assert_eq!(m.policies["q"].rules, 3);
        assert_eq!(m.to_file().contents, m.clone().to_file().contents);
    }

    #[test]
    fn refuses_paths_outside_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for bad in ["../evil", "/etc/passwd", "a/../../b", ""] {
            assert!(write_all(dir.path(), &[file(bad, "x")]).is_err(), "{bad}");
        }
        // Nothing was written, not even the valid file listed first.
        let res = write_all(dir.path(), &[file("ok.txt", "x"), file("../evil", "x")]);
        assert!(res.is_err());
        assert!(!dir.path().join("ok.txt").exists());
    }
}
