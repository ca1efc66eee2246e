//! Stage 5, renderers: one per target, behind one trait.
//!
//! A renderer turns the IR into a serialisable view model (every
//! target-specific decision — names, placement, escaping — is made in Rust,
//! where it can be tested) and renders that view model through a minijinja
//! template from `targets/<target>/`. Templates are embedded in the binary and
//! can be overridden per file with `--templates DIR` (`DIR/<target>/<name>`;
//! [`check_override_dir`] refuses a folder or file that matches no target or
//! template, which the loader would otherwise pass over in silence).
//!
//! Large outputs (tens of thousands of rules) are too slow to write one
//! template loop iteration per line, so a renderer may hand the template
//! [`Section`]s: the bulk text (one entry per rule or object), written in
//! Rust straight into the template's output when the template prints it. The
//! template keeps the frame. The root [`Context`] computes its values on
//! first use, so the structured view stays available to override templates
//! without costing the default ones anything.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use minijinja::value::{Enumerator, Object, ObjectRepr, Value};
use minijinja::{AutoEscape, Environment, Template, UndefinedBehavior, syntax::SyntaxConfig};

pub use crate::addrset::CidrBlocks;
use crate::diagnostics::Diagnostic;
use crate::ir::Ir;
use crate::packed_text::PackedText;
pub(crate) use crate::text::truncate_bytes;
use crate::vocab::Target;

pub mod cisco;
pub mod nftables;
pub(crate) mod note;
mod overrides;
pub mod panos;
pub mod pfsense;

pub use overrides::check_override_dir;

/// One output file, with its path relative to the output directory
/// (`<target>/<policy>.<ext>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// A rendered file held packed ([`PackedText`]): the base's rendering while
/// `diff --base` renders and compares the branch's.
#[derive(Clone, Debug)]
pub struct PackedFile {
    pub path: PathBuf,
    pub packed: PackedText,
}

impl From<RenderedFile> for PackedFile {
    fn from(file: RenderedFile) -> Self {
        PackedFile {
            packed: PackedText::pack(&file.contents),
            path: file.path,
        }
    }
}

/// A firewall target.
pub trait Renderer {
    /// The target this renderer writes.
    fn target(&self) -> Target;

    /// Whether the target refuses a rule that allows service `any` (so a
    /// writer of policies, such as import, spells every protocol out).
    fn refuses_allow_any(&self) -> bool {
        false
    }

    /// The built-in templates: (file name, source).
    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)];

    /// Renders the IR. What the target cannot express is an error pointing
    /// at the policy span, never a silent omission. A rule becomes entries
    /// that match only traffic between its own sources and destinations,
    /// either way round (a stateless target's return entries), so the
    /// rendering of some of the rules decides as the whole rendering does
    /// on traffic the others cannot match: `drift`'s baseline renders only
    /// the rules near the drift (`diff::drift::rules_near`; debug builds
    /// render the whole policy too and require the same).
    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>>;

    /// The file of [`Renderer::render`]'s output whose name ends in
    /// `.{extension}` (`None` if it writes none): what a reader of that
    /// form reads back. A target that writes several forms of one
    /// configuration overrides it to render only the one asked for.
    fn render_file(
        &self,
        ir: &Ir,
        templates: &Templates,
        extension: &str,
    ) -> Result<Option<RenderedFile>, Vec<Diagnostic>> {
        Ok(self
            .render(ir, templates)?
            .into_iter()
            .find(|f| f.path.extension().is_some_and(|e| e == extension)))
    }

    /// Every problem [`Renderer::render`] would report for this policy
    /// (placement and what the target cannot express), without writing the
    /// output: `check` runs it so that a pre-commit hook catches whatever
    /// `build` would refuse. A target overrides it to skip its templates;
    /// the default renders with the embedded ones and keeps only the errors.
    fn validate(&self, ir: &Ir) -> Vec<Diagnostic> {
        self.render(ir, &Templates::default())
            .err()
            .unwrap_or_default()
    }
}

/// Where templates come from: the embedded defaults, or an override
/// directory searched first.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    pub override_dir: Option<PathBuf>,
    /// The previous build's outputs, which a renderer reads to keep what a
    /// change must not move (the Cisco sequence numbers).
    pub previous: PreviousTree,
}

/// The outputs of the previous build: none, a directory (`build`, `diff
/// --against`), or files in memory (`diff --base`: the base's rendering,
/// packed).
#[derive(Clone, Debug, Default)]
pub enum PreviousTree {
    #[default]
    None,
    Dir(PathBuf),
    Packed(std::sync::Arc<Vec<PackedFile>>),
}

impl PreviousTree {
    /// The previous text of `path` (relative to the output directory), if
    /// there is one and it is UTF-8. Renderers take numbers from it, never
    /// text, so a hand-edited file cannot inject anything.
    pub fn read(&self, path: &Path) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            PreviousTree::None => None,
            PreviousTree::Dir(dir) => std::fs::read_to_string(dir.join(path))
                .ok()
                .map(std::borrow::Cow::Owned),
            PreviousTree::Packed(files) => files
                .iter()
                .find(|f| f.path == path)
                .map(|f| std::borrow::Cow::Owned(f.packed.unpack())),
        }
    }
}

/// A template could not be loaded or rendered.
pub(crate) fn template_error(target: &str, err: &minijinja::Error) -> Diagnostic {
    let mut text = format!("{err}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    Diagnostic::error(
        "template-error",
        format!("{target} template failed: {text}"),
    )
    .help("check the template (or the --templates override) for this target")
}

impl Templates {
    /// The minijinja environment for one target: strict undefined variables,
    /// block-tag whitespace trimming, and XML escaping for `.xml` templates.
    pub(crate) fn environment(&self, renderer: &dyn Renderer) -> Environment<'static> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("default delimiters are valid"),
        );
        // minijinja's HTML escaping writes `/` as `&#x2f;`, which would turn
        // every CIDR in an XML config into `10.0.0.0&#x2f;8`. XML needs only
        // the five predefined entities.
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".xml") || name.ends_with(".xml.j2") {
                AutoEscape::Custom("xml".into())
            } else {
                AutoEscape::None
            }
        });
        env.set_formatter(|out, state, value| {
            let xml = matches!(state.auto_escape(), AutoEscape::Custom(name) if name == "xml");
            if let Some(section) = value.downcast_object_ref::<Section>() {
                section.write_to(out, xml)?;
                Ok(())
            } else if xml && !value.is_safe() {
                fmt::Write::write_fmt(&mut XmlEscaping(out), format_args!("{value}"))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let embedded: Arc<[(&'static str, &'static str)]> = renderer.embedded_templates().into();
        let dir = self
            .override_dir
            .as_ref()
            .map(|d| d.join(renderer.target().name()));
        env.set_loader(move |name| {
            if let Some(dir) = &dir
                && let Some(text) = read_override(dir, name)?
            {
                return Ok(Some(text));
            }
            Ok(embedded
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, src)| src.to_string()))
        });
        env
    }
}

fn read_override(dir: &Path, name: &str) -> Result<Option<String>, minijinja::Error> {
    // Template names are fixed by the renderers, but a template can include
    // another by name; refuse anything that would leave the directory.
    if name.contains("..") || name.starts_with('/') {
        return Ok(None);
    }
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(minijinja::Error::new(
            minijinja::ErrorKind::TemplateNotFound,
            format!("cannot read {}: {e}", path.display()),
        )),
    }
}

/// Escapes text for XML character data and attribute values.
pub(crate) fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    xml_escape_into(&mut out, text);
    out
}

/// [`xml_escape`], appended to `out` without allocating.
pub(crate) fn xml_escape_into(out: &mut String, text: &str) {
    // Writing to a String cannot fail.
    let _ = write_xml_escaped(out, text);
}

/// Writes `text` to `out` with the five XML special characters as entities.
fn write_xml_escaped<W: fmt::Write + ?Sized>(out: &mut W, text: &str) -> fmt::Result {
    // Most text has nothing to escape: one branch-free pass (it vectorises)
    // tells, and the text is written whole.
    let special = |b: u8| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'');
    if !text.bytes().fold(false, |found, b| found | special(b)) {
        return out.write_str(text);
    }
    let mut plain = 0;
    for (i, b) in text.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        // The five are ASCII, never part of a multi-byte character, so `i`
        // is a character boundary.
        out.write_str(&text[plain..i])?;
        out.write_str(entity)?;
        plain = i + 1;
    }
    out.write_str(&text[plain..])
}

/// A writer that XML-escapes everything written through it.
pub(crate) struct XmlEscaping<'a, W: fmt::Write + ?Sized>(pub &'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for XmlEscaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        write_xml_escaped(self.0, s)
    }
}

/// What a [`Section`]'s text already is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SectionText {
    /// XML-escaped by the renderer: written as is into an XML template.
    Xml,
    /// Plain text: an XML template escapes it like any other value.
    Plain,
}

type WriteFn = dyn Fn(&mut dyn fmt::Write) -> fmt::Result + Send + Sync;

/// Bulk text of one output file (e.g. every rule entry), written by the
/// renderer in Rust when the template prints the section (`{{ name }}`),
/// straight into the template's output: no per-line template evaluation and
/// no intermediate copy of the text. A section is true in `{% if %}` when
/// it has any text.
pub(crate) struct Section {
    text: SectionText,
    empty: bool,
    write: Box<WriteFn>,
}

impl Section {
    /// The template value of a section whose text `write` produces
    /// (already XML-escaped when `text` is [`SectionText::Xml`]); `empty`
    /// says it writes nothing.
    pub(crate) fn value(
        text: SectionText,
        empty: bool,
        write: impl Fn(&mut dyn fmt::Write) -> fmt::Result + Send + Sync + 'static,
    ) -> Value {
        Value::from_object(Section {
            text,
            empty,
            write: Box::new(write),
        })
    }

    /// Writes the text into a template's output; an XML template gets plain
    /// text escaped.
    fn write_to(&self, out: &mut dyn fmt::Write, xml_template: bool) -> fmt::Result {
        if xml_template && self.text == SectionText::Plain {
            (self.write)(&mut XmlEscaping(out))
        } else {
            (self.write)(out)
        }
    }
}

impl fmt::Debug for Section {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Section")
            .field("text", &self.text)
            .field("empty", &self.empty)
            .finish_non_exhaustive()
    }
}

impl Object for Section {
    fn repr(self: &Arc<Self>) -> ObjectRepr {
        ObjectRepr::Plain
    }

    fn is_true(self: &Arc<Self>) -> bool {
        !self.empty
    }

    /// The text as it is (filters see this; it is not marked safe, so an
    /// XML template escapes it again unless told `|safe`).
    fn render(self: &Arc<Self>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (self.write)(f)
    }
}

type MakeFn = dyn Fn() -> Value + Send + Sync;

/// A template's root context: named values, each computed on first use and
/// kept. Default templates print a few [`Section`]s; the structured view a
/// target also offers (for override templates) is only converted to
/// template values if a template looks at it.
#[derive(Default)]
pub struct Context {
    fields: Vec<(&'static str, OnceLock<Value>, Box<MakeFn>)>,
}

impl Context {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds the value `name`, computed by `make` when first looked up.
    pub(crate) fn with(
        mut self,
        name: &'static str,
        make: impl Fn() -> Value + Send + Sync + 'static,
    ) -> Self {
        self.fields.push((name, OnceLock::new(), Box::new(make)));
        self
    }

    pub(crate) fn into_value(self) -> Value {
        Value::from_object(self)
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.fields.iter().map(|(name, ..)| name))
            .finish()
    }
}

impl Object for Context {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let (_, value, make) = self.fields.iter().find(|(name, ..)| *name == key)?;
        Some(value.get_or_init(make).clone())
    }

    fn enumerate(self: &Arc<Self>) -> Enumerator {
        Enumerator::Values(
            self.fields
                .iter()
                .map(|(name, ..)| Value::from(*name))
                .collect(),
        )
    }
}

/// Writes one entry per item to `out` (a template's output): `entry`
/// appends an item's text to a buffer, which goes to `out` in 64 KiB chunks
/// (few calls through `dyn Write`, little memory).
pub(crate) fn write_entries<T>(
    out: &mut dyn fmt::Write,
    items: impl IntoIterator<Item = T>,
    mut entry: impl FnMut(&mut String, T),
) -> fmt::Result {
    const CHUNK: usize = 64 * 1024;
    let mut buf = String::with_capacity(CHUNK + CHUNK / 4);
    for item in items {
        entry(&mut buf, item);
        if buf.len() >= CHUNK {
            out.write_str(&buf)?;
            buf.clear();
        }
    }
    out.write_str(&buf)
}

/// Renders `template` into a buffer of `capacity` bytes (the renderer's
/// estimate of the file size), so a large file is not copied while it grows.
pub(crate) fn render_sized(
    template: &Template<'_, '_>,
    context: Value,
    capacity: usize,
) -> Result<String, minijinja::Error> {
    let mut out = Vec::with_capacity(capacity);
    template.render_captured_to(context, &mut out)?;
    String::from_utf8(out).map_err(|e| {
        minijinja::Error::new(
            minijinja::ErrorKind::InvalidOperation,
            format!("template output is not UTF-8: {e}"),
        )
    })
}

/// 64-bit FNV-1a, for names and versions written into rendered configs
/// (object-group, set and tracker names, the Cisco ACL version): stable
/// across platforms and releases, unlike std's hasher, so the same policy
/// always renders the same names. Streaming, for text that comes in pieces.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Fnv1a(u64);

impl Fnv1a {
    pub(crate) const PRIME: u64 = 0x0000_0100_0000_01b3;
    pub(crate) const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

    pub(crate) fn new() -> Self {
        Self(Self::OFFSET)
    }

    pub(crate) fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(Self::PRIME);
        }
    }

    pub(crate) fn write_str(&mut self, s: &str) {
        self.write(s.as_bytes());
    }

    pub(crate) fn finish(self) -> u64 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Self {
        Self::new()
    }
}

/// [`Fnv1a`] of `bytes` in one go.
pub(crate) fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h = Fnv1a::new();
    h.write(bytes);
    h.finish()
}

/// Writes an IPv4 address in dotted decimal, as `Ipv4Addr`'s `Display`
/// does, without the formatting machinery (addresses are most of the text
/// of a large configuration).
pub(crate) fn push_ipv4(out: &mut String, addr: u32) {
    for (i, octet) in addr.to_be_bytes().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// Writes `n` in decimal, without the formatting machinery (a measurable
/// share of rendering large policies).
pub(crate) fn push_decimal(out: &mut String, mut n: u32) {
    let mut digits = [0u8; 10];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.push_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escape_covers_the_five_entities_and_keeps_slashes() {
        assert_eq!(
            xml_escape("a<b>&\"c'/24"),
            "a&lt;b&gt;&amp;&quot;c&apos;/24"
        );
    }

    #[test]
    fn xml_escape_into_appends_and_keeps_other_text() {
        let mut out = String::from("x");
        xml_escape_into(&mut out, "é<&>\"'ü");
        assert_eq!(out, "xé&lt;&amp;&gt;&quot;&apos;ü");
        xml_escape_into(&mut out, "");
        assert_eq!(out, "xé&lt;&amp;&gt;&quot;&apos;ü");
    }

    /// A template that prints sections and a lazily computed value.
    fn render_text(name: &str, source: &str, context: Context) -> String {
        struct Fixed;
        impl Renderer for Fixed {
            fn target(&self) -> Target {
                Target::Nftables
            }
            fn embedded_templates(&self) -> &'static [(&'static str, &'static str)] {
                &[]
            }
            fn render(&self, _: &Ir, _: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>> {
                unreachable!()
            }
        }
        let mut env = Templates::default().environment(&Fixed);
        env.add_template_owned(name.to_string(), source.to_string())
            .unwrap();
        let t = env.get_template(name).unwrap();
        render_sized(&t, context.into_value(), 4).unwrap()
    }

    #[test]
    fn sections_are_escaped_once_in_xml_templates_and_never_elsewhere() {
        let context = || {
            Context::new()
                .with("xml", || {
                    Section::value(SectionText::Xml, false, |out| out.write_str("<a>&amp;</a>"))
                })
                .with("plain", || {
                    Section::value(SectionText::Plain, false, |out| out.write_str("<b> & \""))
                })
                .with("none", || {
                    Section::value(SectionText::Xml, true, |_| Ok(()))
                })
                .with("text", || Value::from("<c>"))
        };
        assert_eq!(
            render_text(
                "t.xml",
                "{{ xml }}|{{ plain }}|{{ text }}|{{ plain|upper }}{% if none %}!{% endif %}",
                context()
            ),
            "<a>&amp;</a>|&lt;b&gt; &amp; &quot;|&lt;c&gt;|&lt;B&gt; &amp; &quot;"
        );
        assert_eq!(
            render_text("t.txt", "{{ xml }}|{{ plain }}|{{ text }}", context()),
            "<a>&amp;</a>|<b> & \"|<c>"
        );
    }

    #[test]
    fn context_values_are_computed_once_on_first_use() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static MADE: AtomicUsize = AtomicUsize::new(0);
        let context = Context::new()
            .with("used", || {
                MADE.fetch_add(1, Ordering::SeqCst);
                Value::from(vec![1, 2])
            })
            .with("unused", || panic!("never looked up"));
        assert_eq!(
            render_text("c.txt", "{{ used|length }}{{ used[1] }}", context),
            "22"
        );
        assert_eq!(MADE.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn fnv1a_matches_the_published_test_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let mut pieces = Fnv1a::new();
        pieces.write_str("foo");
        pieces.write(b"bar");
        assert_eq!(pieces.finish(), fnv1a(b"foobar"));
    }

    #[test]
    fn decimal_ipv4_and_cidr_blocks() {
        let mut out = String::new();
        for a in ["0.0.0.0", "10.0.9.255", "192.168.100.1", "255.255.255.255"] {
            let addr: std::net::Ipv4Addr = a.parse().unwrap();
            push_ipv4(&mut out, addr.into());
            out.push(' ');
        }
        assert_eq!(out, "0.0.0.0 10.0.9.255 192.168.100.1 255.255.255.255 ");
        out.clear();
        for n in [0, 7, 10, 65535, u32::MAX] {
            push_decimal(&mut out, n);
            out.push(' ');
        }
        assert_eq!(out, "0 7 10 65535 4294967295 ");
        // 10.0.0.1-10.0.0.6 is .1/32, .2/31, .4/31, .6/32.
        let blocks: Vec<_> = CidrBlocks::new(0x0a00_0001, 0x0a00_0006, 32).collect();
        assert_eq!(
            blocks,
            [
                (0x0a00_0001, 32),
                (0x0a00_0002, 31),
                (0x0a00_0004, 31),
                (0x0a00_0006, 32)
            ]
        );
        assert_eq!(
            CidrBlocks::new(0, u128::MAX, 128).collect::<Vec<_>>(),
            [(0, 0)]
        );
        assert_eq!(
            CidrBlocks::new(0, u32::MAX.into(), 32).collect::<Vec<_>>(),
            [(0, 0)]
        );
    }
}
