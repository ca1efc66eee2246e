//! Stage 6, diff: what a policy change does to every rendered config.
//!
//! The config diff compares two renderings file by file (unified diffs with
//! `similar`); the traffic diff ([`traffic`]) compares two IRs and lists the
//! traffic whose verdict changed, exactly. Both are shown as terminal text
//! (coloured on a terminal), Markdown for a pull-request comment, or JSON.

pub mod drift;
pub mod drift_report;
pub mod expect_check;
pub mod expect_diff;
pub mod findings;
pub mod git;
mod lines;
pub mod traffic;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use crate::render::{PackedFile, RenderedFile};
use lines::Side;
use serde::Serialize;

pub use findings::FindingDiff;
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
    fn contents(f: &RenderedFile) -> (PathBuf, &str) {
        (f.path.clone(), f.contents.as_str())
    }
    by_path(old.iter().map(contents), new.iter().map(contents))
        .into_iter()
        .filter(|(_, (a, b))| a != b)
        .map(|(path, (a, b))| file_diff(&path, a.map(Side::Text), b.map(Side::Text)))
        .collect()
}

/// [`config_diff`] from a rendering held packed (the base's, in `diff
/// --base`). Each new file is dropped once it is compared, so a target's
/// second file is compared without the first in memory.
pub fn config_diff_packed(old: &[PackedFile], new: Vec<RenderedFile>) -> Vec<FileDiff> {
    by_path(
        old.iter().map(|f| (f.path.clone(), &f.packed)),
        new.into_iter().map(|f| (f.path, f.contents)),
    )
    .into_iter()
    .filter(|(_, sides)| !matches!(sides, (Some(a), Some(b)) if a.is_text(b)))
    .map(|(path, (a, b))| file_diff(&path, a.map(Side::Packed), b.as_deref().map(Side::Text)))
    .collect()
}

/// Each path of either side with what each side has there.
fn by_path<A, B>(
    old: impl Iterator<Item = (PathBuf, A)>,
    new: impl Iterator<Item = (PathBuf, B)>,
) -> BTreeMap<PathBuf, (Option<A>, Option<B>)> {
    let mut paths: BTreeMap<PathBuf, (Option<A>, Option<B>)> = BTreeMap::new();
    for (path, a) in old {
        paths.entry(path).or_insert((None, None)).0 = Some(a);
    }
    for (path, b) in new {
        paths.entry(path).or_insert((None, None)).1 = Some(b);
    }
    paths
}

fn file_diff(path: &std::path::Path, old: Option<Side>, new: Option<Side>) -> FileDiff {
    let status = match (old, new) {
        (None, _) => FileStatus::Added,
        (_, None) => FileStatus::Removed,
        _ => FileStatus::Modified,
    };
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
    let empty = Side::Text("");
    let diff = lines::unified(
        old.unwrap_or(empty),
        new.unwrap_or(empty),
        &old_name,
        &new_name,
    );
    FileDiff {
        target: path
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default(),
        path: path.to_path_buf(),
        status,
        added: diff.added,
        removed: diff.removed,
        unified: diff.unified,
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

/// The default size of a review comment: what a GitHub comment holds.
pub const DEFAULT_BUDGET: usize = 65_536;

/// Room kept free for the lines that say what was left out.
const TRAILER_ROOM: usize = 1_024;

/// How large a Markdown report may be, and where the full diffs are.
#[derive(Clone, Debug)]
pub struct Budget {
    /// Most bytes the report may have (bytes are never fewer than the
    /// characters a forge counts, so a report within the budget fits).
    pub max: usize,
    /// Where every full diff was written (`diff --output-dir`), named in
    /// the lines that say what was left out.
    pub full_diffs: Option<String>,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max: DEFAULT_BUDGET,
            full_diffs: None,
        }
    }
}

impl Budget {
    fn where_all_is(&self) -> String {
        match &self.full_diffs {
            Some(dir) => format!("every full diff is in `{}`", dir.replace('`', "'")),
            None => "`wardwall diff --output-dir DIR` writes every full diff".to_string(),
        }
    }
}

/// A Markdown report for a pull-request comment, always within
/// `budget.max`: the summary table, the traffic changes (`None`: not
/// available, the old side is not a policy) with the ones that need
/// attention first, then each file's diff in a collapsible block as far as
/// they fit. Whatever does not fit is counted in a line that says where it
/// is; no traffic change is left out without being counted.
pub fn to_markdown(
    diffs: &[FileDiff],
    traffic: Option<&TrafficDiff>,
    sides: Option<&Sides>,
    budget: &Budget,
) -> String {
    to_markdown_review(diffs, traffic, None, sides, budget)
}

/// [`to_markdown`] with the analysis findings the change introduces and
/// resolves (`None`: not compared). The findings section has at most an
/// eighth of the budget, written before the traffic list takes the rest.
pub fn to_markdown_review(
    diffs: &[FileDiff],
    traffic: Option<&TrafficDiff>,
    findings: Option<&FindingDiff>,
    sides: Option<&Sides>,
    budget: &Budget,
) -> String {
    let mut out = String::from("## wardwall: policy change review\n\n");
    if let Some(sides) = sides {
        out.push_str(&format!(
            "Compared {} with {}.\n\n",
            markdown_code(&sides.old),
            markdown_code(&sides.new)
        ));
    }
    let findings = findings.filter(|f| !f.is_empty());
    if diffs.is_empty() && traffic.is_none_or(TrafficDiff::is_empty) && findings.is_none() {
        out.push_str(if traffic.is_some() {
            "No rendered configuration changes and no traffic changes.\n"
        } else {
            "No rendered configuration changes.\n"
        });
        return out;
    }
    summary_table(&mut out, diffs, traffic);
    // Capped sections first, so that the traffic list can take the rest.
    let mut extra = String::new();
    if let Some(f) = findings {
        findings_markdown(&mut extra, f, budget.max / 8);
    }
    let rest = Budget {
        max: budget.max.saturating_sub(extra.len()),
        full_diffs: budget.full_diffs.clone(),
    };
    out.push_str("\n### Traffic changes\n\n");
    match traffic {
        None => out.push_str(
            "Not available: the comparison is with rendered files (`--against`), not with a \
             policy. Run `wardwall diff --base GITREF` to see which traffic changes verdict.\n",
        ),
        Some(t) if t.is_empty() => {
            out.push_str("No traffic changes: every packet keeps its verdict and logging.\n")
        }
        Some(t) => traffic_markdown(&mut out, t, &rest),
    }
    out.push_str(&extra);
    config_markdown(&mut out, diffs, budget);
    out
}

/// New and resolved findings within `cap` bytes; what does not fit is
/// counted.
fn findings_markdown(out: &mut String, f: &FindingDiff, cap: usize) {
    let head = format!(
        "\n### Analysis findings\n\n**findings: {} new, {} resolved**\n",
        f.new.len(),
        f.resolved.len()
    );
    let total = f.new.len() + f.resolved.len();
    let count_line = |n: usize| {
        format!(
            "- … and {n} more {} not shown to fit the comment (`wardwall diff --format json` \
             lists every finding)\n",
            if n == 1 { "finding" } else { "findings" }
        )
    };
    // Room for the heading and the count line, whatever is shown.
    let reserved = head.len() + count_line(total).len() + 80;
    if reserved > cap {
        return;
    }
    let mut body = String::new();
    let mut shown = 0;
    for (title, mark, list) in [
        ("New findings (`wardwall check` shows where)", "⚠️", &f.new),
        ("Resolved findings", "✅", &f.resolved),
    ] {
        if list.is_empty() {
            continue;
        }
        let title = format!("\n{title}:\n\n");
        if reserved + body.len() + title.len() > cap {
            break;
        }
        body.push_str(&title);
        for item in list {
            let line = format!(
                "- {mark} <code>{}</code>{} {}\n",
                item.code,
                if item.acknowledged {
                    " (acknowledged)"
                } else {
                    ""
                },
                html_text(&item.message)
            );
            if reserved + body.len() + line.len() > cap {
                break;
            }
            body.push_str(&line);
            shown += 1;
        }
    }
    out.push_str(&head);
    out.push_str(&body);
    if shown < total {
        out.push_str(&count_line(total - shown));
    }
}

fn summary_table(out: &mut String, diffs: &[FileDiff], traffic: Option<&TrafficDiff>) {
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
}

/// Bytes left for content in `out`, keeping room for the trailer lines.
fn room(out: &str, budget: &Budget) -> usize {
    budget
        .max
        .saturating_sub(TRAILER_ROOM)
        .saturating_sub(out.len())
}

fn traffic_markdown(out: &mut String, t: &TrafficDiff, budget: &Budget) {
    let _ = writeln!(out, "**{}**", html_text(&traffic::summary_line(t)));
    matrix_markdown(out, &t.matrix, room(out, budget) / 8);
    let all: Vec<&traffic::Change> = t.changes.iter().chain(&t.log_changes).collect();
    let flagged: Vec<&&traffic::Change> = all.iter().filter(|c| !c.highlights.is_empty()).collect();
    // The changes that need attention come first and get at most half of
    // the budget; the full list gets what is left.
    if !flagged.is_empty() {
        out.push_str("\n#### ⚠️ Needs attention (worst first)\n\n");
        let limit = out.len() + room(out, budget) / 2;
        let mut shown = 0;
        for c in &flagged {
            let notes: Vec<String> = c
                .highlights
                .iter()
                .map(|h| {
                    format!(
                        "**{}** <code>{}</code> {}",
                        h.severity,
                        h.code.code(),
                        html_text(&h.text)
                    )
                })
                .collect();
            let item = format!(
                "- <code>{}</code><br>⚠️ {}\n",
                html_text(&c.line()),
                notes.join("; ")
            );
            if out.len() + item.len() > limit {
                break;
            }
            out.push_str(&item);
            shown += 1;
        }
        if shown < flagged.len() {
            let _ = writeln!(
                out,
                "- … and {} more that need attention, not shown to fit the comment \
                 (`wardwall diff --format json` lists every change)",
                flagged.len() - shown
            );
        }
    }
    let mut block = String::new();
    let limit = room(out, budget).saturating_sub(16);
    let mut shown = 0;
    for c in &all {
        let mut item = format!("{}\n", c.line());
        for h in &c.highlights {
            let _ = writeln!(item, "!     {}", h.tagged());
        }
        if block.len() + item.len() > limit {
            break;
        }
        block.push_str(&item);
        shown += 1;
    }
    if !block.is_empty() {
        let fence = fence_for(&block);
        let _ = write!(out, "\n{fence}diff\n{block}{fence}\n");
    }
    if shown < all.len() {
        let _ = writeln!(
            out,
            "\n… and {} more traffic {} not shown to fit the comment \
             (`wardwall diff --format json` lists every change; {}).",
            all.len() - shown,
            if all.len() - shown == 1 {
                "change"
            } else {
                "changes"
            },
            budget.where_all_is()
        );
    }
}

/// Most rows of the zone matrix in a review; the rest are counted.
const MATRIX_ROWS: usize = 20;

/// The zone pairs that gain or lose allowed traffic, as a table of at most
/// [`MATRIX_ROWS`] rows and `cap` bytes; rows left out are counted.
fn matrix_markdown(out: &mut String, rows: &[traffic::ZonePair], cap: usize) {
    if rows.is_empty() {
        return;
    }
    let head = "\n#### Zone-to-zone reachability\n\n\
                | from | to | newly allowed | newly denied |\n|---|---|---|---|\n";
    let count_line = |n: usize| {
        format!(
            "\n… and {n} more zone {} not shown (`wardwall diff --format json` lists every pair).\n",
            if n == 1 { "pair" } else { "pairs" }
        )
    };
    let reserved = head.len() + count_line(rows.len()).len();
    if reserved > cap {
        // Only the count, and only if even that fits the share.
        let line = format!(
            "\n{} zone pairs gain or lose allowed traffic (`wardwall diff --format json` lists them).\n",
            rows.len()
        );
        if line.len() <= cap {
            out.push_str(&line);
        }
        return;
    }
    let cell = |s: &Option<String>| s.as_deref().map_or("—".to_string(), markdown_cell);
    let mut table = String::new();
    let mut shown = 0;
    for z in rows.iter().take(MATRIX_ROWS) {
        let row = format!(
            "| {} | {} | {} | {} |\n",
            markdown_cell(&z.from),
            markdown_cell(&z.to),
            cell(&z.gained),
            cell(&z.lost)
        );
        if reserved + table.len() + row.len() > cap {
            break;
        }
        table.push_str(&row);
        shown += 1;
    }
    out.push_str(head);
    out.push_str(&table);
    if shown < rows.len() {
        out.push_str(&count_line(rows.len() - shown));
    }
}

/// Each file's diff in a collapsible block, as far as the budget goes: a
/// diff that does not fit whole is cut at a line, with a line saying how
/// much is left out; files with no room at all are listed by name.
fn config_markdown(out: &mut String, diffs: &[FileDiff], budget: &Budget) {
    if diffs.is_empty() {
        return;
    }
    out.push_str("\n### Rendered configs\n");
    let mut left_out: Vec<&FileDiff> = Vec::new();
    for d in diffs {
        let title = format!(
            "{} (+{} -{})",
            html_text(&d.path.display().to_string()),
            d.added,
            d.removed
        );
        // The frame: summary, fences, and a possible "cut" line.
        let frame = title.len() + 2 * (fence_for(&d.unified).len() + 8) + 300;
        let room = room(out, budget).saturating_sub(32 * left_out.len());
        if !left_out.is_empty() || room < frame + 256 {
            left_out.push(d);
            continue;
        }
        let (shown, cut) = cut_at_line(&d.unified, room - frame);
        let fence = fence_for(shown);
        let _ = write!(
            out,
            "\n<details><summary>{title}</summary>\n\n{fence}diff\n{shown}{fence}\n"
        );
        if cut > 0 {
            let _ = writeln!(
                out,
                "\n… {cut} more {} of this diff not shown to fit the comment ({}).",
                if cut == 1 { "line" } else { "lines" },
                budget.where_all_is()
            );
        }
        out.push_str("\n</details>\n");
    }
    if !left_out.is_empty() {
        let names: Vec<String> = left_out
            .iter()
            .map(|d| html_text(&d.path.display().to_string()))
            .collect();
        let mut line = format!(
            "\n{} more changed {} not shown to fit the comment ({}): {}\n",
            left_out.len(),
            if left_out.len() == 1 { "file" } else { "files" },
            budget.where_all_is(),
            names.join(", ")
        );
        // Even the names may not fit; the count always does.
        let end = budget.max.saturating_sub(out.len());
        if line.len() > end {
            line = format!(
                "\n{} more changed files not shown ({}).\n",
                left_out.len(),
                budget.where_all_is()
            );
        }
        out.push_str(&line);
    }
}

/// The longest prefix of `text` of whole lines within `max` bytes, and how
/// many lines are left out.
fn cut_at_line(text: &str, max: usize) -> (&str, usize) {
    if text.len() <= max {
        return (text, 0);
    }
    let end = text.as_bytes()[..max]
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let (shown, rest) = text.split_at(end);
    (shown, rest.lines().count())
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
        let md = to_markdown(&diffs, None, None, &Budget::default());
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
    fn the_zone_matrix_is_capped_and_counts_the_rest() {
        let rows: Vec<traffic::ZonePair> = (0..30)
            .map(|i| traffic::ZonePair {
                from: format!("z{i}"),
                to: "internet".to_string(),
                gained: Some("tcp/443".to_string()),
                lost: None,
            })
            .collect();
        let mut out = String::new();
        matrix_markdown(&mut out, &rows, 10_000);
        assert_eq!(
            out.matches("| internet | tcp/443 | — |").count(),
            MATRIX_ROWS
        );
        assert!(out.contains("… and 10 more zone pairs not shown"), "{out}");
        // A share too small for the table still stays within it.
        let mut small = String::new();
        matrix_markdown(&mut small, &rows, 300);
        assert!(small.len() <= 300, "{small}");
        let shown = small.matches("| internet |").count();
        assert!(
            small.contains(&format!("… and {} more", 30 - shown)),
            "{small}"
        );
    }

    #[test]
    fn colour_only_when_asked() {
        let diffs = config_diff(&[file("a/f", "1\n")], &[file("a/f", "2\n")]);
        assert!(!to_text(&diffs, false).contains('\x1b'));
        assert!(to_text(&diffs, true).contains("\x1b[32m+2\x1b[0m"));
    }
}
