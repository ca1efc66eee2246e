//! Stage 6, diff: what a policy change does to every rendered config.
//!
//! The config diff compares two renderings file by file (unified diffs with
//! `similar`); the traffic diff ([`traffic`]) compares two IRs and lists the
//! traffic whose verdict changed, exactly. Both are shown as terminal text
//! (coloured on a terminal), Markdown for a pull-request comment, or JSON.

pub mod git;
pub mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use crate::render::RenderedFile;

pub use traffic::TrafficDiff;

/// How one rendered file changes.
#[derive(Clone, Debug, Serialize)]
pub struct FileDiff {
    /// Path relative to the output directory (`nftables/<policy>.nft`).
    pub path: PathBuf,
    /// The target the file belongs to (its first path component).
    pub target: String,
    pub status: FileStatus,
    pub added: usize,
    pub removed: usize,
    /// Unified diff with `a/` and `b/` headers and 3 lines of context.
    pub unified: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Added,
    Removed,
    Modified,
}

/// The changed files between `old` and `new`, sorted by path. Files with
/// identical contents are left out.
pub fn config_diff(old: &[RenderedFile], new: &[RenderedFile]) -> Vec<FileDiff> {
    let mut by_path: BTreeMap<&PathBuf, (Option<&str>, Option<&str>)> = BTreeMap::new();
    for f in old {
        by_path.entry(&f.path).or_default().0 = Some(&f.contents);
    }
    for f in new {
        by_path.entry(&f.path).or_default().1 = Some(&f.contents);
    }
    by_path
        .into_iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(path, (a, b))| file_diff(path, a, b))
        .collect()
}

fn file_diff(path: &std::path::Path, old: Option<&str>, new: Option<&str>) -> FileDiff {
    let status = match (old, new) {
        (None, _) => FileStatus::Added,
        (_, None) => FileStatus::Removed,
        _ => FileStatus::Modified,
    };
    let (a, b) = (old.unwrap_or(""), new.unwrap_or(""));
    let diff = TextDiff::from_lines(a, b);
    let (mut added, mut removed) = (0, 0);
    for change in diff.iter_all_changes() {
        match change.tag() {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let shown = path.display().to_string();
    let old_name = if old.is_some() {
        format!("a/{shown}")
    } else {
        "/dev/null".to_string()
    };
    let new_name = if new.is_some() {
        format!("b/{shown}")
    } else {
        "/dev/null".to_string()
    };
    let unified = diff
        .unified_diff()
        .context_radius(3)
        .missing_newline_hint(true)
        .header(&old_name, &new_name)
        .to_string();
    FileDiff {
        target: path
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        status,
        added,
        removed,
        unified,
    }
}

/// Plain or coloured unified diffs, one after the other.
pub fn to_text(diffs: &[FileDiff], colour: bool) -> String {
    let mut out = String::new();
    for d in diffs {
        for line in d.unified.lines() {
            let style = colour.then(|| line_style(line)).flatten();
            match style {
                Some(code) => {
                    let _ = writeln!(out, "\x1b[{code}m{line}\x1b[0m");
                }
                None => {
                    let _ = writeln!(out, "{line}");
                }
            }
        }
    }
    out
}

fn line_style(line: &str) -> Option<&'static str> {
    if line.starts_with("+++") || line.starts_with("---") {
        Some("1")
    } else if line.starts_with('+') {
        Some("32")
    } else if line.starts_with('-') {
        Some("31")
    } else if line.starts_with("@@") {
        Some("36")
    } else {
        None
    }
}

/// Lines of changed traffic shown in a Markdown report; the rest is counted
/// (JSON has everything). Keeps a comment under the forges' size limits.
const MARKDOWN_TRAFFIC_LINES: usize = 200;
/// Highlighted changes listed under "Needs attention".
const MARKDOWN_ATTENTION: usize = 50;

/// A Markdown report for a pull-request comment: a summary table per
/// target, the traffic changes (`None`: not available, the old side is not
/// a policy), then each file's diff in a collapsible block.
pub fn to_markdown(
    diffs: &[FileDiff],
    traffic: Option<&TrafficDiff>,
    sides: Option<&Sides>,
) -> String {
    let mut out = String::from("## wardwall: policy change review\n\n");
    if let Some(sides) = sides {
        out.push_str(&format!(
            "Compared {} with {}.\n\n",
            markdown_code(&sides.old),
            markdown_code(&sides.new)
        ));
    }
    if diffs.is_empty() && traffic.is_none_or(TrafficDiff::is_empty) {
        out.push_str(if traffic.is_some() {
            "No rendered configuration changes and no traffic changes.\n"
        } else {
            "No rendered configuration changes.\n"
        });
        return out;
    }
    let mut per_target: BTreeMap<&str, (usize, usize, usize)> = BTreeMap::new();
    for d in diffs {
        let e = per_target.entry(&d.target).or_default();
        e.0 += 1;
        e.1 += d.added;
        e.2 += d.removed;
    }
    let (allowed, denied) = match traffic {
        Some(t) => (
            t.summary.newly_allowed.to_string(),
            t.summary.newly_denied.to_string(),
        ),
        None => ("n/a".to_string(), "n/a".to_string()),
    };
    out.push_str(
        "| target | files changed | lines added | lines removed | traffic newly allowed | traffic newly denied |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    if per_target.is_empty() {
        let _ = writeln!(
            out,
            "| (no rendered changes) | 0 | +0 | -0 | {allowed} | {denied} |"
        );
    }
    for (target, (files, added, removed)) in &per_target {
        let _ = writeln!(
            out,
            "| {} | {files} | +{added} | -{removed} | {allowed} | {denied} |",
            markdown_cell(target)
        );
    }
    out.push_str(
        "\nTraffic columns count lines of changed traffic below: every target implements \
         the policy's first-match verdicts, so they are the same for each target.\n",
    );
    out.push_str("\n### Traffic changes\n\n");
    match traffic {
        None => out.push_str(
            "Not available: the comparison is with rendered files (`--against`), not with a \
             policy. Run `wardwall diff --base GITREF` to see which traffic changes verdict.\n",
        ),
        Some(t) if t.is_empty() => {
            out.push_str("No traffic changes: every packet keeps its verdict and logging.\n")
        }
        Some(t) => traffic_markdown(&mut out, t),
    }
    if !diffs.is_empty() {
        out.push_str("\n### Rendered configs\n");
    }
    for d in diffs {
        let fence = fence_for(&d.unified);
        let _ = write!(
            out,
            "\n<details><summary>{} (+{} -{})</summary>\n\n{fence}diff\n{}{fence}\n\n</details>\n",
            html_text(&d.path.display().to_string()),
            d.added,
            d.removed,
            d.unified
        );
    }
    out
}

fn traffic_markdown(out: &mut String, t: &TrafficDiff) {
    let _ = writeln!(out, "**{}**", html_text(&traffic::summary_line(t)));
    let all: Vec<&traffic::Change> = t.changes.iter().chain(&t.log_changes).collect();
    let flagged: Vec<&&traffic::Change> = all.iter().filter(|c| !c.highlights.is_empty()).collect();
    if !flagged.is_empty() {
        out.push_str("\n#### ⚠️ Needs attention\n\n");
        for c in flagged.iter().take(MARKDOWN_ATTENTION) {
            let notes: Vec<String> = c.highlights.iter().map(|h| html_text(&h.text)).collect();
            let _ = writeln!(
                out,
                "- <code>{}</code><br>⚠️ {}",
                html_text(&c.line()),
                notes.join("; ")
            );
        }
        if flagged.len() > MARKDOWN_ATTENTION {
            let _ = writeln!(
                out,
                "- … and {} more (`wardwall diff --format json` lists every change)",
                flagged.len() - MARKDOWN_ATTENTION
            );
        }
    }
    let mut block = String::new();
    for c in all.iter().take(MARKDOWN_TRAFFIC_LINES) {
        let _ = writeln!(block, "{}", c.line());
        for h in &c.highlights {
            let _ = writeln!(block, "!     {}", h.text);
        }
    }
    let fence = fence_for(&block);
    let _ = write!(out, "\n{fence}diff\n{block}{fence}\n");
    if all.len() > MARKDOWN_TRAFFIC_LINES {
        let _ = writeln!(
            out,
            "\n… and {} more lines (`wardwall diff --format json` lists every change).",
            all.len() - MARKDOWN_TRAFFIC_LINES
        );
    }
}

/// Which two versions a diff compares, as the reader should see them
/// (`3f2a9c1e0b7d (merge base of main and HEAD)`, `the working tree`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct Sides {
    pub old: String,
    pub new: String,
}

/// The review comment for a policy that does not compile: the errors, so
/// that a pipeline posting the comment shows why there is nothing to
/// compare instead of an empty review.
pub fn errors_to_markdown(report: &str, errors: usize) -> String {
    let fence = fence_for(report);
    format!(
        "## wardwall: policy change review\n\n\
         **The policy does not compile ({errors} {}), so nothing was compared.** \
         `wardwall check` shows the same report.\n\n{fence}text\n{}\n{fence}\n",
        if errors == 1 { "error" } else { "errors" },
        report.trim_end()
    )
}

/// Inline code that `text` (a git ref name may hold backticks) cannot close.
fn markdown_code(text: &str) -> String {
    let longest = longest_backtick_run(text);
    if longest == 0 {
        return format!("`{text}`");
    }
    let fence = "`".repeat(longest + 1);
    format!("{fence} {text} {fence}")
}

fn longest_backtick_run(text: &str) -> usize {
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// A code fence longer than any run of backticks in `text`, so text from
/// the policy (a description with ``` in it) cannot close the block.
fn fence_for(text: &str) -> String {
    "`".repeat((longest_backtick_run(text) + 1).max(3))
}

fn markdown_cell(text: &str) -> String {
    html_text(text).replace('|', "\\|")
}

fn html_text(text: &str) -> String {
    crate::render::xml_escape(text)
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
    fn only_changed_files_with_counts() {
        let old = [
            file("nftables/p.nft", "a\nb\nc\n"),
            file("cisco/p.ios", "x\n"),
            file("panos/p.xml", "same\n"),
        ];
        let new = [
            file("nftables/p.nft", "a\nB\nc\nd\n"),
            file("panos/p.xml", "same\n"),
            file("pfsense/p.xml", "new\n"),
        ];
        let diffs = config_diff(&old, &new);
        let summary: Vec<_> = diffs
            .iter()
            .map(|d| (d.path.display().to_string(), d.status, d.added, d.removed))
            .collect();
        assert_eq!(
            summary,
            [
                ("cisco/p.ios".to_string(), FileStatus::Removed, 0, 1),
                ("nftables/p.nft".to_string(), FileStatus::Modified, 2, 1),
                ("pfsense/p.xml".to_string(), FileStatus::Added, 1, 0),
            ]
        );
        assert!(
            diffs[1]
                .unified
                .starts_with("--- a/nftables/p.nft\n+++ b/nftables/p.nft\n")
        );
        assert!(diffs[1].unified.contains("-b\n+B\n"));
        assert!(diffs[2].unified.starts_with("--- /dev/null\n"));
        assert_eq!(diffs[1].target, "nftables");
    }

    #[test]
    fn markdown_fences_cannot_be_broken_by_policy_text() {
        let diffs = config_diff(
            &[file("nftables/p.nft", "x\n")],
            &[file("nftables/p.nft", "comment \"```` </details> |\"\n")],
        );
        let md = to_markdown(&diffs, None, None);
        assert!(md.contains("`````diff\n"), "{md}");
        assert_eq!(
            md.matches("</details>").count(),
            2,
            "one real close plus the quoted one"
        );
        assert!(
            md.contains("| nftables | 1 | +1 | -1 | n/a | n/a |"),
            "{md}"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let diffs = config_diff(&[file("a/f", "1\n")], &[file("a/f", "2\n")]);
        assert!(!to_text(&diffs, false).contains('\x1b'));
        assert!(to_text(&diffs, true).contains("\x1b[32m+2\x1b[0m"));
    }
}
