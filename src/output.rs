//! Writing rendered files: atomically, and only once everything rendered.
//!
//! The caller renders every target in memory first; nothing here runs when a
//! policy or a renderer has errors. Each file is written to a temporary file
//! in its own directory, flushed to disk and renamed over the target, so a
//! reader (or a firewall loading the file) never sees a half-written config.

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

/// The files (full paths) whose contents on disk differ from `files`,
/// including missing ones, in the order given.
pub fn stale(out_dir: &Path, files: &[RenderedFile]) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for file in files {
        let path = checked(out_dir, file)?;
        match fs::read(&path) {
            Ok(bytes) if bytes == file.contents.as_bytes() => {}
            Ok(_) => out.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => out.push(path),
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

/// Writes every file atomically (temporary file + rename in the same
/// directory); returns the full paths written, in the order given.
pub fn write_all(out_dir: &Path, files: &[RenderedFile]) -> io::Result<Vec<PathBuf>> {
    // Validate every path before touching the disk.
    for file in files {
        checked(out_dir, file)?;
    }
    let mut staging = Staging::new(out_dir);
    for file in files {
        staging.add(file)?;
    }
    staging.commit()
}

/// Files written to temporary names in their final directories, renamed
/// into place only by [`Staging::commit`]. Lets `build` write each target as
/// soon as it is rendered and drop its text (so a large policy never holds
/// every target in memory at once) while keeping "all or nothing": dropping
/// an uncommitted `Staging` (a later target failed, or an I/O error) removes
/// every temporary file and every directory it created.
pub struct Staging {
    out_dir: PathBuf,
    /// (temporary file, final path), in the order added.
    staged: Vec<(PathBuf, PathBuf)>,
    /// Flushes to disk in progress, one per staged file (see [`Staging::add`]).
    flushes: Vec<std::thread::JoinHandle<io::Result<()>>>,
    /// Directories this staging created, outermost first.
    created: Vec<PathBuf>,
}

impl Staging {
    pub fn new(out_dir: &Path) -> Self {
        Staging {
            out_dir: out_dir.to_path_buf(),
            staged: Vec::new(),
            flushes: Vec::new(),
            created: Vec::new(),
        }
    }

    /// Writes `file` to a temporary file next to its final path (flushed to
    /// disk); nothing visible under its own name changes yet.
    pub fn add(&mut self, file: &RenderedFile) -> io::Result<()> {
        let path = checked(&self.out_dir, file)?;
        if self.staged.iter().any(|(_, p)| *p == path) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("two rendered files share the path {}", path.display()),
            ));
        }
        self.create_parent(&path)?;
        let (tmp, written) = write_temp(&path, file.contents.as_bytes())?;
        self.staged.push((tmp, path.clone()));
        // `fsync` waits for the disk, not the CPU: flush on another thread
        // while the caller renders the next target. `commit` waits for
        // every flush before renaming anything.
        self.flushes.push(std::thread::spawn(move || {
            written.sync_all().map_err(|e| with_path(e, &path))
        }));
        Ok(())
    }

    /// Creates the missing directories above `path`, remembering them so
    /// that a rollback can remove them again.
    fn create_parent(&mut self, path: &Path) -> io::Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let missing: Vec<&Path> = dir
            .ancestors()
            .take_while(|d| !d.as_os_str().is_empty() && !d.exists())
            .collect();
        for d in missing.into_iter().rev() {
            fs::create_dir(d).map_err(|e| with_path(e, d))?;
            self.created.push(d.to_path_buf());
        }
        Ok(())
    }

    /// Renames every staged file into place; returns the final paths in the
    /// order added. A rename that fails stops the commit and removes the
    /// temporary files not yet renamed.
    pub fn commit(mut self) -> io::Result<Vec<PathBuf>> {
        // Every file must be on disk before any is renamed over an old one;
        // a failed flush drops `self`, which removes every temporary file.
        self.wait_for_flushes()?;
        let staged = std::mem::take(&mut self.staged);
        // From here the directories hold (or will hold) real files.
        self.created.clear();
        let mut result = Ok(());
        let mut paths = Vec::with_capacity(staged.len());
        for (tmp, path) in staged {
            if result.is_ok() {
                result = fs::rename(&tmp, &path).map_err(|e| with_path(e, &path));
            }
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            paths.push(path);
        }
        result.map(|()| paths)
    }
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
        for (tmp, _) in &self.staged {
            let _ = fs::remove_file(tmp);
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

/// Writes `bytes` to a temporary file next to `path` and flushes it to disk;
/// returns the temporary file's path.
fn stage(path: &Path, bytes: &[u8]) -> io::Result<PathBuf> {
    let (tmp, file) = write_temp(path, bytes)?;
    file.sync_all().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        with_path(e, path)
    })?;
    Ok(tmp)
}

/// Writes `bytes` to a temporary file next to `path`, not yet flushed;
/// returns its path and the open file.
fn write_temp(path: &Path, bytes: &[u8]) -> io::Result<(PathBuf, fs::File)> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        Ok(f)
    })();
    match result {
        Ok(f) => Ok((tmp, f)),
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            Err(with_path(e, path))
        }
    }
}

/// Writes `bytes` to `path` through a temporary file in the same directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = stage(path, bytes)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        with_path(e, path)
    })
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
    fn writes_then_reports_fresh_and_stale() {
        let dir = tempfile::tempdir().unwrap();
        let files = vec![file("nftables/p.nft", "a\n"), file("x/q.txt", "b\n")];
        assert_eq!(stale(dir.path(), &files).unwrap().len(), 2);
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
            vec![dir.path().join("nftables/p.nft")]
        );
    }

    #[test]
    fn a_failed_write_replaces_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write_all(dir.path(), &[file("a/p.nft", "old\n")]).unwrap();
        // `b` is a file, so `b/q.txt` cannot be staged: `a/p.nft` must keep
        // its old contents even though it comes first.
        fs::write(dir.path().join("b"), "not a directory").unwrap();
        let res = write_all(
            dir.path(),
            &[file("a/p.nft", "new\n"), file("b/q.txt", "x")],
        );
        assert!(res.is_err());
        assert_eq!(
            fs::read_to_string(dir.path().join("a/p.nft")).unwrap(),
            "old\n"
        );
        let names: Vec<_> = fs::read_dir(dir.path().join("a"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
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
