//! Stage 5, renderers: one per target, behind one trait.
//!
//! A renderer turns the IR into a serialisable view model (every
//! target-specific decision — names, placement, escaping — is made in Rust,
//! where it can be tested) and renders that view model through a minijinja
//! template from `targets/<target>/`. Templates are embedded in the binary and
//! can be overridden per file with `--templates DIR` (`DIR/<target>/<name>`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, syntax::SyntaxConfig};

use crate::diagnostics::Diagnostic;
use crate::ir::Ir;

pub mod cisco;
pub mod nftables;
pub mod panos;
pub mod pfsense;

/// One output file, with its path relative to the output directory
/// (`<target>/<policy>.<ext>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedFile {
    pub path: PathBuf,
    pub contents: String,
}

/// A firewall target.
pub trait Renderer {
    /// The target's name: the `-t` value, the template folder and the
    /// output subfolder.
    fn target(&self) -> &'static str;

    /// The built-in templates: (file name, source).
    fn embedded_templates(&self) -> &'static [(&'static str, &'static str)];

    /// Renders the IR. What the target cannot express is an error pointing
    /// at the policy span, never a silent omission.
    fn render(&self, ir: &Ir, templates: &Templates) -> Result<Vec<RenderedFile>, Vec<Diagnostic>>;
}

/// Where templates come from: the embedded defaults, or an override
/// directory searched first.
#[derive(Clone, Debug, Default)]
pub struct Templates {
    pub override_dir: Option<PathBuf>,
}

/// A template could not be loaded or rendered.
pub fn template_error(target: &str, err: &minijinja::Error) -> Diagnostic {
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
    pub fn environment(&self, renderer: &dyn Renderer) -> Environment<'static> {
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
            if matches!(state.auto_escape(), AutoEscape::Custom(name) if name == "xml")
                && !value.is_safe()
            {
                let text = value.to_string();
                out.write_str(&xml_escape(&text))?;
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        let embedded: Arc<[(&'static str, &'static str)]> = renderer.embedded_templates().into();
        let dir = self
            .override_dir
            .as_ref()
            .map(|d| d.join(renderer.target()));
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
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Cuts `text` to at most `max` bytes on a character boundary.
pub fn truncate_bytes(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Target-specific rendering options (all off by default).
#[derive(Clone, Copy, Debug, Default)]
pub struct RenderOptions {
    /// nftables: also match `iifname`/`oifname` from the zones' interface
    /// bindings on allow rules (see [`nftables::Nftables::match_interfaces`]).
    pub nft_match_interfaces: bool,
}

/// Every target wardwall can render, in a fixed order.
pub fn all_renderers() -> Vec<Box<dyn Renderer>> {
    renderers(&RenderOptions::default())
}

/// Every target, configured with `options`, in a fixed order.
pub fn renderers(options: &RenderOptions) -> Vec<Box<dyn Renderer>> {
    vec![
        Box::new(nftables::Nftables {
            match_interfaces: options.nft_match_interfaces,
        }),
        Box::new(pfsense::PfSense),
        Box::new(cisco::Cisco),
        Box::new(panos::PanosRenderer),
    ]
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
    fn truncation_respects_utf8() {
        assert_eq!(truncate_bytes("ééé", 5), "éé");
        assert_eq!(truncate_bytes("abc", 5), "abc");
    }
}
