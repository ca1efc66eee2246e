//! Reading a policy as it was at a git revision (`diff --base REV`).

use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::source::{Files, MAX_FILE_BYTES, normalize_lexically};

/// Policy files read from a git revision with `git show REV:./PATH`, so
/// paths stay relative to the current directory exactly as on disk.
pub struct GitRevision {
    rev: String,
    /// The directory git runs in; relative policy paths are relative to it.
    dir: PathBuf,
    /// The repository's top level, for absolute policy paths.
    toplevel: PathBuf,
}

impl GitRevision {
    /// Checks that `rev` names a commit of the repository around `dir`.
    pub(crate) fn open(dir: &Path, rev: &str) -> io::Result<Self> {
        if rev.starts_with('-') || rev.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("`{rev}` is not a git revision"),
            ));
        }
        let toplevel = git(dir, &["rev-parse", "--show-toplevel"])?;
        let toplevel = PathBuf::from(String::from_utf8_lossy(&toplevel).trim());
        let commit = git(
            dir,
            &[
                "rev-parse",
                "--verify",
                "--quiet",
                &format!("{rev}^{{commit}}"),
            ],
        )
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{rev}` is not a commit in this git repository"),
            )
        })?;
        // The commit id, not the name: the name could move while we read.
        Ok(Self {
            rev: String::from_utf8_lossy(&commit).trim().to_string(),
            dir: dir.to_path_buf(),
            toplevel,
        })
    }

    fn spec(&self, path: &Path) -> String {
        let path = normalize_lexically(path);
        match path.strip_prefix(&self.toplevel) {
            Ok(inside) => format!("{}:{}", self.rev, inside.display()),
            Err(_) => format!("{}:./{}", self.rev, path.display()),
        }
    }
}

/// What `diff --base SPEC` compares, as `git diff SPEC` would:
///
/// - `REF`: the merge base of REF and HEAD → the working tree (a branch
///   behind its base is not shown the base's newer changes as undone);
/// - `A...B`: the merge base of A and B → B;
/// - `A..B`: A → B.
///
/// An empty side of `..` / `...` means HEAD, as in git.
pub struct Comparison {
    pub old: GitRevision,
    /// `None`: the working tree.
    pub new: Option<GitRevision>,
    /// How the old side was chosen, for the output ("merge base of main
    /// and HEAD").
    pub old_label: String,
    pub new_label: String,
}

impl Comparison {
    pub fn resolve(dir: &Path, spec: &str) -> io::Result<Self> {
        if let Some((a, b)) = spec.split_once("...") {
            let (a, b) = (or_head(a), or_head(b));
            let base = merge_base(dir, a, b)?;
            let new = GitRevision::open(dir, b)?;
            return Ok(Self {
                old_label: format!("{} (merge base of {a} and {b})", short(&base)),
                new_label: format!("{} ({b})", short(&new.rev)),
                old: GitRevision::open(dir, &base)?,
                new: Some(new),
            });
        }
        if let Some((a, b)) = spec.split_once("..") {
            let (a, b) = (or_head(a), or_head(b));
            let old = GitRevision::open(dir, a)?;
            let new = GitRevision::open(dir, b)?;
            return Ok(Self {
                old_label: format!("{} ({a})", short(&old.rev)),
                new_label: format!("{} ({b})", short(&new.rev)),
                old,
                new: Some(new),
            });
        }
        // Checked first so that a bad REF is named as such, not as a
        // failed merge base.
        let tip = GitRevision::open(dir, spec)?;
        let base = merge_base(dir, spec, "HEAD")?;
        let how = if base == tip.rev {
            spec.to_string()
        } else {
            format!("merge base of {spec} and HEAD")
        };
        Ok(Self {
            old_label: format!("{} ({how})", short(&base)),
            new_label: "the working tree".to_string(),
            old: GitRevision::open(dir, &base)?,
            new: None,
        })
    }
}

fn or_head(side: &str) -> &str {
    if side.is_empty() { "HEAD" } else { side }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(12)]
}

/// The best common ancestor of `a` and `b`.
fn merge_base(dir: &Path, a: &str, b: &str) -> io::Result<String> {
    // Resolved (and so refused if they look like options) before git sees them.
    let ca = GitRevision::open(dir, a)?.rev;
    let cb = GitRevision::open(dir, b)?.rev;
    let out = git(dir, &["merge-base", &ca, &cb]).map_err(|_| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("`{a}` and `{b}` have no common ancestor (fetch more history, e.g. `fetch-depth: 0`)"),
        )
    })?;
    Ok(String::from_utf8_lossy(&out).trim().to_string())
}

impl Files for GitRevision {
    /// Reads a blob through `git cat-file` after `git ls-tree` said it is a
    /// regular file (not a symlink, whose "content" is its target, nor a
    /// submodule or tree) no larger than the policy size limit, so a huge
    /// blob is never read whole.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let spec = self.spec(path);
        let (rev, inside) = spec.split_once(':').expect("spec is REV:PATH");
        let listing = git(
            &self.dir,
            &[
                "ls-tree",
                "-l",
                "--full-tree",
                rev,
                "--",
                &self.tree_path(inside),
            ],
        )?;
        let listing = String::from_utf8_lossy(&listing);
        let mut fields = listing.split_whitespace();
        let (mode, kind, object, size) =
            (fields.next(), fields.next(), fields.next(), fields.next());
        let (Some(mode), Some("blob"), Some(object), Some(size)) = (mode, kind, object, size)
        else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("`{spec}` does not exist"),
            ));
        };
        if mode != "100644" && mode != "100755" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file at that revision (symlinks are never followed)",
            ));
        }
        if size.parse::<usize>().map_or(true, |n| n > MAX_FILE_BYTES) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("larger than {} MiB", MAX_FILE_BYTES >> 20),
            ));
        }
        git(&self.dir, &["cat-file", "blob", object])
    }

    fn identity(&self, path: &Path) -> PathBuf {
        normalize_lexically(path)
    }

    /// Lexical: a revision has no symlinks to follow (they are refused by
    /// `read`).
    fn resolve(&self, path: &Path) -> io::Result<PathBuf> {
        Ok(normalize_lexically(path))
    }
}

impl GitRevision {
    /// A path of `spec` form (`./rel` from `dir`, or top-level relative)
    /// as a path from the repository's top level, for `--full-tree`.
    fn tree_path(&self, inside: &str) -> String {
        match inside.strip_prefix("./") {
            Some(rel) => {
                let prefix = git(&self.dir, &["rev-parse", "--show-prefix"]).unwrap_or_default();
                let prefix = String::from_utf8_lossy(&prefix).trim().to_string();
                normalize_lexically(&Path::new(&prefix).join(rel))
                    .display()
                    .to_string()
            }
            None => inside.to_string(),
        }
    }
}

/// Runs git and returns its standard output; a failure becomes an I/O error
/// carrying git's message.
fn git(dir: &Path, args: &[&str]) -> io::Result<Vec<u8>> {
    let out = Command::new("git").arg("-C").arg(dir).args(args).output()?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
    let kind = if msg.contains("does not exist") || msg.contains("exists on disk, but not in") {
        io::ErrorKind::NotFound
    } else {
        io::ErrorKind::Other
    };
    Err(io::Error::new(
        kind,
        if msg.is_empty() {
            format!("git {} failed", args.join(" "))
        } else {
            msg
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.org")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.org")
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn reads_files_as_they_were_at_a_revision() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        run(root, &["init", "-q"]);
        std::fs::create_dir(root.join("inc")).unwrap();
        std::fs::write(root.join("p.kdl"), "include \"inc/a.kdl\"\n").unwrap();
        std::fs::write(root.join("inc/a.kdl"), "// one\n").unwrap();
        run(root, &["add", "."]);
        run(root, &["commit", "-q", "-m", "one"]);
        std::fs::write(root.join("inc/a.kdl"), "// two\n").unwrap();
        run(root, &["commit", "-q", "-am", "two"]);

        let head1 = GitRevision::open(root, "HEAD~1").unwrap();
        assert_eq!(head1.read(Path::new("inc/./a.kdl")).unwrap(), b"// one\n");
        assert_eq!(head1.read(&root.join("inc/a.kdl")).unwrap(), b"// one\n");
        let head = GitRevision::open(root, "HEAD").unwrap();
        assert_eq!(head.read(Path::new("x/../inc/a.kdl")).unwrap(), b"// two\n");
        let missing = head.read(Path::new("nope.kdl")).unwrap_err();
        assert_eq!(missing.kind(), io::ErrorKind::NotFound);
        assert!(GitRevision::open(root, "no-such-branch").is_err());

        // A committed symlink is never followed (its blob is the target's
        // name, and the target may be outside the tree).
        std::os::unix::fs::symlink("/etc/passwd", root.join("inc/link.kdl")).unwrap();
        run(root, &["add", "."]);
        run(root, &["commit", "-q", "-m", "link"]);
        let head = GitRevision::open(root, "HEAD").unwrap();
        let link = head.read(Path::new("inc/link.kdl")).unwrap_err();
        assert_eq!(link.kind(), io::ErrorKind::InvalidInput, "{link}");
        let tree = head.read(Path::new("inc")).unwrap_err();
        assert_eq!(tree.kind(), io::ErrorKind::NotFound, "{tree}");
        assert!(GitRevision::open(root, "--output=/tmp/x").is_err());
    }
}
