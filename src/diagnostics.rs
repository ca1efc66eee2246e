//! Diagnostics: every error and warning wardwall reports about a policy.
//!
//! Stages collect [`Diagnostic`]s (never stopping at the first) and this
//! module renders them in one place, with miette: file, line and column, a
//! source snippet with the offending span underlined, and a hint.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use serde::Serialize;

/// Index of a file in a [`SourceMap`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId(pub u32);

/// A byte range in one source file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Span {
    pub file: FileId,
    pub offset: usize,
    pub len: usize,
}

impl Span {
    pub(crate) fn new(file: FileId, span: SourceSpan) -> Self {
        Self {
            file,
            offset: span.offset(),
            len: span.len(),
        }
    }
}

/// One loaded policy file.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (or as an include resolved it), for messages.
    pub name: String,
    pub text: Arc<String>,
    /// Byte offsets where lines start, computed on first use: locating many
    /// diagnostics in a large file must not rescan it each time.
    line_starts: std::sync::OnceLock<Vec<usize>>,
    /// Whether the file is perhaps not a policy at all (it is not UTF-8 or
    /// not KDL): its diagnostics then show only the offending line, cut
    /// short, never the lines around it.
    excerpt_only: bool,
    /// Whether the text has a carriage return not followed by a newline
    /// (miette counts it as a line break; `line_starts` does not).
    lone_cr: std::sync::OnceLock<bool>,
}

impl SourceFile {
    /// Byte offsets where lines (ended by `\n`) start.
    fn line_starts(&self) -> &[usize] {
        self.line_starts.get_or_init(|| {
            std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect()
        })
    }

    /// [`SourceFile::line_starts`] when it agrees with miette's idea of
    /// lines (no lone `\r`).
    fn miette_line_starts(&self) -> Option<&[usize]> {
        let lone_cr = *self.lone_cr.get_or_init(|| {
            let b = self.text.as_bytes();
            b.iter()
                .enumerate()
                .any(|(i, &c)| c == b'\r' && b.get(i + 1) != Some(&b'\n'))
        });
        (!lone_cr).then(|| self.line_starts())
    }
}

/// All files a policy was read from, so a span can be shown with its source.
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn add(&mut self, name: String, text: String) -> FileId {
        self.files.push(SourceFile {
            name,
            text: Arc::new(text),
            line_starts: std::sync::OnceLock::new(),
            lone_cr: std::sync::OnceLock::new(),
            excerpt_only: false,
        });
        FileId((self.files.len() - 1) as u32)
    }

    /// Marks a file whose content may be anything (see
    /// [`SourceFile::excerpt_only`]).
    pub fn excerpt_only(&mut self, id: FileId) {
        self.files[id.0 as usize].excerpt_only = true;
    }

    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// 1-based line and column (in characters) of a span's start.
    pub fn line_col(&self, span: Span) -> (usize, usize) {
        let file = self.file(span.file);
        let text = &file.text;
        let offset = floor_char_boundary(text, span.offset.min(text.len()));
        let starts = file.line_starts();
        // The last line start at or before the offset.
        let line = starts.partition_point(|&s| s <= offset);
        let line_start = starts[line - 1];
        let col = text[line_start..offset].chars().count() + 1;
        (line, col)
    }

    /// `file:line:col` of a span.
    pub fn location(&self, span: Span) -> String {
        let (line, col) = self.line_col(span);
        format!("{}:{line}:{col}", self.file(span.file).name)
    }
}

/// Whether a character may not appear in free text or in a message
/// unescaped: control characters (C0, DEL, C1, tab and line breaks
/// included), noncharacters (U+FDD0..U+FDEF and U+xFFFE/U+xFFFF in every
/// plane), the line and paragraph separators U+2028/U+2029, and the bidi
/// controls (U+061C, U+200E/U+200F, U+202A..U+202E, U+2066..U+2069) that
/// can make text read differently from what it is ("Trojan Source").
pub fn is_unsafe_char(c: char) -> bool {
    let n = u32::from(c);
    c.is_control()
        || (0xFDD0..=0xFDEF).contains(&n)
        || n & 0xFFFE == 0xFFFE
        || matches!(
            n,
            0x2028 | 0x2029 | 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069
        )
}

/// `text` with every [`is_unsafe_char`] written as `\u{XXXX}`.
pub fn escape_unsafe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe_char(c) {
            out.push_str(&format!("\\u{{{:04X}}}", u32::from(c)));
        } else {
            out.push(c);
        }
    }
    out
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// A span with a short label.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// An error or warning about the policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    /// Stable kebab-case code, e.g. `unknown-reference`.
    pub code: &'static str,
    pub message: String,
    /// Where the problem is; `None` for problems with no place in a file
    /// (an unreadable root file).
    pub primary: Option<Label>,
    /// Related places (the earlier definition of a duplicate, ...).
    pub secondary: Vec<Label>,
    pub help: Option<String>,
    /// A warning the policy acknowledges (`accept`): reported as
    /// acknowledged, not counted as a warning.
    pub acknowledged: Option<Box<Acknowledged>>,
}

/// Who acknowledged a warning, why, and until when (the policy's `accept`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acknowledged {
    pub reason: String,
    pub owner: String,
    pub ticket: Option<String>,
    pub expires: Option<jiff::civil::Date>,
    /// The `accept` node.
    pub span: Span,
}

impl Diagnostic {
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            primary: None,
            secondary: Vec::new(),
            help: None,
            acknowledged: None,
        }
    }

    pub(crate) fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, message)
        }
    }

    pub fn at(mut self, span: Span, label: impl Into<String>) -> Self {
        self.primary = Some(Label {
            span,
            text: label.into(),
        });
        self
    }

    pub(crate) fn also(mut self, span: Span, label: impl Into<String>) -> Self {
        self.secondary.push(Label {
            span,
            text: label.into(),
        });
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    pub(crate) fn is_acknowledged(&self) -> bool {
        self.acknowledged.is_some()
    }
}

/// A collection of diagnostics, in the order they were found.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.items.push(d);
    }

    pub fn extend(&mut self, other: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(other);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub(crate) fn error_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// Warnings not acknowledged by the policy.
    pub fn warning_count(&self) -> usize {
        self.items.len() - self.error_count() - self.acknowledged_count()
    }

    pub fn acknowledged_count(&self) -> usize {
        self.items.iter().filter(|d| d.is_acknowledged()).count()
    }

    /// Sorts by file and position so output does not depend on which stage
    /// found a problem first.
    pub fn sort(&mut self) {
        self.items.sort_by_key(|d| {
            (
                d.primary.as_ref().map(|l| (l.span.file, l.span.offset)),
                d.severity == Severity::Warning,
            )
        });
    }
}

/// How to draw diagnostics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// Colour, for a terminal.
    Colour,
    /// Unicode without colour: pipes, files, snapshots.
    Plain,
}

/// Renders one diagnostic with its source snippet.
pub fn render(sources: &SourceMap, diag: &Diagnostic, style: Style) -> String {
    let theme = match style {
        Style::Colour => GraphicalTheme::unicode(),
        Style::Plain => GraphicalTheme::unicode_nocolor(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(100)
        .with_links(false);
    let mut out = String::new();
    let report = MietteDiagnostic::new(sources, diag);
    if handler.render_report(&mut out, &report).is_err() {
        // Rendering into a String cannot fail short of a bug in miette; fall
        // back to a one-line form rather than lose the message.
        out = format!("{}: {}\n", diag.code, diag.message);
    }
    out
}

/// Renders every diagnostic, then the acknowledged warnings (a short entry
/// each), then a one-line summary.
pub fn render_all(sources: &SourceMap, diags: &Diagnostics, style: Style) -> String {
    let mut out = String::new();
    for d in diags.items.iter().filter(|d| !d.is_acknowledged()) {
        out.push_str(&render(sources, d, style));
        out.push('\n');
    }
    for d in &diags.items {
        if let Some(ack) = &d.acknowledged {
            out.push_str(&render_acknowledged(sources, d, ack));
        }
    }
    let (e, w, a) = (
        diags.error_count(),
        diags.warning_count(),
        diags.acknowledged_count(),
    );
    if e + w + a > 0 {
        out.push_str(&format!(
            "{} {}, {} {}",
            e,
            plural(e, "error", "errors"),
            w,
            plural(w, "warning", "warnings")
        ));
        if a > 0 {
            out.push_str(&format!(", {a} acknowledged"));
        }
        out.push('\n');
    }
    out
}

/// `acknowledged wardwall::CODE at FILE:LINE:COL`, the message, and who
/// accepted it, why and until when: a reviewer sees what was accepted
/// without the full report of a warning.
fn render_acknowledged(sources: &SourceMap, d: &Diagnostic, ack: &Acknowledged) -> String {
    let place = d
        .primary
        .as_ref()
        .map(|l| format!(" at {}", sources.location(l.span)))
        .unwrap_or_default();
    let ticket = ack
        .ticket
        .as_ref()
        .map(|t| format!(", ticket {}", escape_unsafe(t)))
        .unwrap_or_default();
    let until = ack
        .expires
        .map(|e| format!(", until {e}"))
        .unwrap_or_default();
    format!(
        "acknowledged wardwall::{}{place}\n  {}\n  accepted at {} by {}{ticket}{until}\n  reason: {}\n\n",
        d.code,
        escape_unsafe(&d.message),
        sources.location(ack.span),
        escape_unsafe(&ack.owner),
        escape_unsafe(&ack.reason),
    )
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// A diagnostic as JSON, with resolved locations.
#[derive(Serialize)]
pub struct JsonDiagnostic {
    /// `error`, `warning`, or `acknowledged` (a warning the policy accepts).
    pub severity: &'static str,
    pub code: &'static str,
    pub message: String,
    pub file: Option<String>,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub label: Option<String>,
    pub help: Option<String>,
    /// The secondary labels (e.g. the earlier rules that shadow a rule).
    pub related: Vec<JsonLabel>,
    /// Who accepted an acknowledged warning, why and until when.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged: Option<JsonAcknowledged>,
}

/// An acknowledgement with the place of its `accept`.
#[derive(Serialize)]
pub struct JsonAcknowledged {
    pub reason: String,
    pub owner: String,
    pub ticket: Option<String>,
    pub expires: Option<String>,
    pub file: String,
    pub line: usize,
    pub column: usize,
}

/// A secondary label with its resolved location.
#[derive(Serialize)]
pub struct JsonLabel {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub label: String,
}

pub fn to_json(sources: &SourceMap, d: &Diagnostic) -> JsonDiagnostic {
    let place = d.primary.as_ref().map(|l| {
        let (line, col) = sources.line_col(l.span);
        (
            sources.file(l.span.file).name.clone(),
            line,
            col,
            l.text.clone(),
        )
    });
    JsonDiagnostic {
        severity: match (d.severity, d.is_acknowledged()) {
            (Severity::Error, _) => "error",
            (Severity::Warning, false) => "warning",
            (Severity::Warning, true) => "acknowledged",
        },
        code: d.code,
        message: d.message.clone(),
        file: place.as_ref().map(|p| p.0.clone()),
        line: place.as_ref().map(|p| p.1),
        column: place.as_ref().map(|p| p.2),
        label: place.map(|p| p.3),
        help: d.help.clone(),
        related: d
            .secondary
            .iter()
            .map(|l| {
                let (line, column) = sources.line_col(l.span);
                JsonLabel {
                    file: sources.file(l.span.file).name.clone(),
                    line,
                    column,
                    label: l.text.clone(),
                }
            })
            .collect(),
        acknowledged: d.acknowledged.as_ref().map(|a| {
            let (line, column) = sources.line_col(a.span);
            JsonAcknowledged {
                reason: a.reason.clone(),
                owner: a.owner.clone(),
                ticket: a.ticket.clone(),
                expires: a.expires.map(|e| e.to_string()),
                file: sources.file(a.span.file).name.clone(),
                line,
                column,
            }
        }),
    }
}

/// Related labels at most this many lines from the primary label share its
/// snippet; farther ones are listed as locations.
const MAX_SNIPPET_DISTANCE: usize = 24;

/// Adapter from our diagnostic to miette's trait, bound to the primary file.
struct MietteDiagnostic<'a> {
    diag: &'a Diagnostic,
    source: Option<Source<'a>>,
    labels: Vec<LabeledSpan>,
    /// Secondary labels in other files, shown as text.
    notes: Vec<String>,
}

impl<'a> MietteDiagnostic<'a> {
    fn new(sources: &'a SourceMap, diag: &'a Diagnostic) -> Self {
        let Some(primary) = &diag.primary else {
            return Self {
                diag,
                source: None,
                labels: Vec::new(),
                notes: Vec::new(),
            };
        };
        let file = sources.file(primary.span.file);
        if file.excerpt_only {
            return Self::excerpt(sources, diag, primary);
        }
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            Some(primary.text.clone()),
            clamp(primary.span, &file.text),
        )];
        let mut notes = Vec::new();
        // miette draws one snippet from the first to the last label: a
        // related place far from the primary one (two rules thousands of
        // lines apart) would print everything in between, so it becomes a
        // `file:line:col` note instead.
        let primary_line = sources.line_col(primary.span).0;
        let near = |span: Span| {
            span.file == primary.span.file
                && sources.line_col(span).0.abs_diff(primary_line) <= MAX_SNIPPET_DISTANCE
        };
        for label in &diag.secondary {
            if near(label.span) {
                labels.push(LabeledSpan::new_with_span(
                    Some(label.text.clone()),
                    clamp(label.span, &file.text),
                ));
            } else {
                notes.push(format!("{}: {}", sources.location(label.span), label.text));
            }
        }
        Self {
            diag,
            source: Some(Source::File(IndexedSource { file })),
            labels,
            notes,
        }
    }
}

impl<'a> MietteDiagnostic<'a> {
    /// For a file that may not be a policy: only the primary label, on an
    /// excerpt of its line (see [`Excerpt`]); related places are listed.
    fn excerpt(sources: &'a SourceMap, diag: &'a Diagnostic, primary: &Label) -> Self {
        let file = sources.file(primary.span.file);
        let (line, column) = sources.line_col(primary.span);
        let excerpt = Excerpt::new(file, primary.span, line, column);
        let labels = vec![LabeledSpan::new_primary_with_span(
            Some(primary.text.clone()),
            excerpt.label,
        )];
        let notes = diag
            .secondary
            .iter()
            .map(|l| format!("{}: {}", sources.location(l.span), l.text))
            .collect();
        Self {
            diag,
            source: Some(Source::Excerpt(excerpt)),
            labels,
            notes,
        }
    }
}

/// Longest excerpt of a line shown for a file that may not be a policy, in
/// characters (a line of `/proc/self/environ` is the whole environment).
const EXCERPT_CHARS: usize = 60;

/// At most [`EXCERPT_CHARS`] characters of the offending line around the
/// span's start, with unsafe characters replaced by U+FFFD, presented to
/// miette as a one-line file at the right line and column.
struct Excerpt {
    name: String,
    text: String,
    line: usize,
    column: usize,
    /// The label's span within `text`.
    label: SourceSpan,
}

impl Excerpt {
    fn new(file: &SourceFile, span: Span, line: usize, column: usize) -> Self {
        let text = &file.text;
        let offset = floor_char_boundary(text, span.offset.min(text.len()));
        let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
        let before: Vec<char> = text[line_start..offset].chars().collect();
        let keep_before = before.len().min(EXCERPT_CHARS / 3);
        let mut out = String::new();
        for &c in &before[before.len() - keep_before..] {
            out.push(safe_char(c));
        }
        let label_start = out.len();
        let mut label_end = label_start;
        let mut consumed = 0;
        for c in text[offset..]
            .chars()
            .take_while(|&c| c != '\n')
            .take(EXCERPT_CHARS - keep_before)
        {
            out.push(safe_char(c));
            consumed += c.len_utf8();
            if consumed <= span.len.max(1) || label_end == label_start {
                label_end = out.len();
            }
        }
        Self {
            name: file.name.clone(),
            text: out,
            line: line - 1,
            column: column - 1,
            label: SourceSpan::new(label_start.into(), label_end - label_start),
        }
    }
}

fn safe_char(c: char) -> char {
    if is_unsafe_char(c) { '\u{FFFD}' } else { c }
}

impl miette::SourceCode for Excerpt {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        _before: usize,
        _after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        // The whole excerpt, whatever context is asked for; the column is
        // the span's (miette prints it in the `[file:line:col]` header).
        let column = self.column
            + self.text[..span.offset().min(self.text.len())]
                .chars()
                .count()
            - self.text[..self.label.offset()].chars().count();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.name.clone(),
            self.text.as_bytes(),
            SourceSpan::new(0.into(), self.text.len()),
            self.line,
            column,
            1,
        )))
    }
}

/// What a diagnostic's snippet is drawn from.
enum Source<'a> {
    File(IndexedSource<'a>),
    Excerpt(Excerpt),
}

impl miette::SourceCode for Source<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        before: usize,
        after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        match self {
            Source::File(s) => s.read_span(span, before, after),
            Source::Excerpt(s) => s.read_span(span, before, after),
        }
    }
}

/// A source file for miette that reads a span's context starting a few lines
/// before it (found with the file's line index), not from the start of the
/// file: miette's own `[u8]` source scans from offset 0 on every read, which
/// made rendering N diagnostics in a large file O(N × file size). The result
/// is the same as miette's: same snippet, line, column and line count.
struct IndexedSource<'a> {
    file: &'a SourceFile,
}

impl miette::SourceCode for IndexedSource<'_> {
    fn read_span<'b>(
        &'b self,
        span: &SourceSpan,
        context_lines_before: usize,
        context_lines_after: usize,
    ) -> Result<Box<dyn miette::SpanContents<'b> + 'b>, miette::MietteError> {
        let text = self.file.text.as_bytes();
        // Start one line earlier than the context needs, so miette sees the
        // line break that ends the line before the context.
        let (base, base_line) = match self.file.miette_line_starts() {
            Some(starts) if span.offset() <= text.len() => {
                let line = starts.partition_point(|&s| s <= span.offset()) - 1;
                let first = line.saturating_sub(context_lines_before + 1);
                (starts[first], first)
            }
            _ => (0, 0),
        };
        let shifted = SourceSpan::new((span.offset() - base).into(), span.len());
        let inner = <[u8] as miette::SourceCode>::read_span(
            &text[base..],
            &shifted,
            context_lines_before,
            context_lines_after,
        )?;
        let s = inner.span();
        Ok(Box::new(miette::MietteSpanContents::new_named(
            self.file.name.clone(),
            inner.data(),
            SourceSpan::new((s.offset() + base).into(), s.len()),
            inner.line() + base_line,
            inner.column(),
            inner.line_count() + base_line,
        )))
    }
}

fn clamp(span: Span, text: &str) -> SourceSpan {
    let start = span.offset.min(text.len());
    let len = span.len.min(text.len() - start);
    SourceSpan::new(start.into(), len)
}

impl fmt::Debug for MietteDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.diag.fmt(f)
    }
}

impl fmt::Display for MietteDiagnostic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diag.message)
    }
}

impl std::error::Error for MietteDiagnostic<'_> {}

impl miette::Diagnostic for MietteDiagnostic<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        Some(Box::new(format!("wardwall::{}", self.diag.code)))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diag.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        let mut parts: Vec<String> = self.notes.clone();
        parts.extend(self.diag.help.clone());
        (!parts.is_empty()).then(|| Box::new(parts.join("\n")) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.source.as_ref().map(|s| s as &dyn miette::SourceCode)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        (!self.labels.is_empty()).then(|| Box::new(self.labels.iter().cloned()) as Box<_>)
    }
}

/// "Did you mean `x`?" for a misspelled name among `candidates`.
pub fn did_you_mean<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(name, c), c))
        .filter(|&(d, c)| d <= 2.max(name.len() / 3) && d < c.len().max(name.len()))
        .min_by_key(|&(d, c)| (d, c.to_string()))
        .map(|(_, c)| format!("did you mean `{c}`?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based_and_count_characters() {
        let mut sources = SourceMap::default();
        let f = sources.add("f".into(), "ab\nçd x\n\nz".into());
        let at = |offset| {
            sources.line_col(Span {
                file: f,
                offset,
                len: 1,
            })
        };
        assert_eq!(at(0), (1, 1));
        assert_eq!(at(2), (1, 3));
        assert_eq!(at(3), (2, 1));
        assert_eq!(at(7), (2, 4), "ç is one character, two bytes");
        assert_eq!(at(9), (3, 1), "an empty line");
        assert_eq!(at(10), (4, 1));
        assert_eq!(at(99), (4, 2), "past the end clamps to the end");
    }
}
