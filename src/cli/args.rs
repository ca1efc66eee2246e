//! Argument groups several commands share, and value parsers.

use std::io::IsTerminal;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use jiff::civil::Date;

use super::project::{PolicySettings, Project};
use wardwall::analysis::selection::Selection;
use wardwall::diagnostics::{self, Severity, Style};
use wardwall::registry::{self, TargetOptions};
use wardwall::render::RenderedFile;
use wardwall::vocab::Target;

/// Options every command takes, before or after the subcommand
/// (`wardwall --color never check` is `wardwall check --color never`).
#[derive(Args, Debug, Default)]
pub(super) struct Common {
    /// Evaluation date for rule expiry (YYYY-MM-DD); defaults to today in
    /// UTC (never the local time zone, so every machine agrees).
    #[arg(long, global = true, value_name = "YYYY-MM-DD", value_parser = parse_date)]
    pub(super) date: Option<Date>,
    /// When to colour output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub(super) color: ColorChoice,
    /// The project file (default: the nearest wardwall.toml from the
    /// working directory up to the repository root).
    #[arg(long, global = true, value_name = "FILE")]
    pub(super) config: Option<PathBuf>,
    /// Print only findings and errors: no progress or summary lines
    /// (`check`'s "ok", `build`'s "wrote", `diff`'s "comparing", ...).
    #[arg(short = 'q', long, global = true)]
    pub(super) quiet: bool,
    /// The project file's settings (loaded before the command runs).
    #[arg(skip)]
    pub(super) project: Project,
}

#[derive(Clone, Copy, Debug, Default, ValueEnum)]
pub(super) enum ColorChoice {
    #[default]
    Auto,
    Always,
    Never,
}

/// `check`'s lint selection, on top of the project file's `[lint]`.
#[derive(Args, Debug)]
pub(super) struct LintArgs {
    /// Report only these lints (repeatable or comma-separated; replaces
    /// the project file's `select`).
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = parse_lint_code)]
    select: Vec<&'static str>,
    /// Never report these lints (repeatable or comma-separated; added to
    /// the project file's `ignore`).
    #[arg(long, value_name = "CODE", value_delimiter = ',', value_parser = parse_lint_code)]
    ignore: Vec<&'static str>,
    /// Report a lint as `error` or `warning` (repeatable), e.g.
    /// `--severity rule-conflict=error`.
    #[arg(long, value_name = "CODE=LEVEL", value_parser = parse_code_level)]
    severity: Vec<(&'static str, Severity)>,
}

impl LintArgs {
    /// The project file's selection with these flags on top.
    pub(super) fn selection(&self, project: &Selection) -> Selection {
        project.clone().then(Selection {
            select: (!self.select.is_empty()).then(|| self.select.iter().copied().collect()),
            ignore: self.ignore.iter().copied().collect(),
            severity: self.severity.iter().copied().collect(),
        })
    }
}

fn parse_lint_code(s: &str) -> Result<&'static str, String> {
    wardwall::analysis::selection::lint_code(s)
}

/// `error` or `warning`.
pub(super) fn parse_level(s: &str) -> Result<Severity, String> {
    match s {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        _ => Err(format!(
            "unknown severity `{}`; {}",
            wardwall::diagnostics::escape_unsafe(s),
            wardwall::diagnostics::did_you_mean(s, ["error", "warning"])
                .unwrap_or_else(|| "use `error` or `warning`".to_string())
        )),
    }
}

fn parse_code_level(s: &str) -> Result<(&'static str, Severity), String> {
    let Some((code, level)) = s.split_once('=') else {
        return Err(format!(
            "expected CODE=LEVEL (e.g. rule-conflict=error), got `{s}`"
        ));
    };
    Ok((parse_lint_code(code)?, parse_level(level)?))
}

/// Which targets and with which target options: shared by `check`,
/// `build` and `diff`, so `check` validates exactly what `build` renders.
#[derive(Args, Clone, Debug)]
pub(super) struct TargetArgs {
    /// Target to render (repeatable; default: the policy's `targets` in the
    /// project file, else in the policy, else every target).
    #[arg(short = 't', long = "target", value_name = "TARGET", value_parser = parse_target)]
    pub(super) targets: Vec<Target>,
    /// nftables: match addresses only, without anti-spoofing: a packet with
    /// another zone's source address then passes that zone's allow rules.
    #[arg(long)]
    pub(super) nft_address_only: bool,
    /// Accepted and ignored: anti-spoofing (interface matching) is the
    /// default now.
    #[arg(long, hide = true, conflicts_with = "nft_address_only")]
    pub(super) nft_match_interfaces: bool,
}

impl TargetArgs {
    /// These flags over a policy's project-file settings: `-t` replaces
    /// its targets, `--nft-address-only` adds to its own.
    pub(super) fn configured(&self, settings: &PolicySettings) -> TargetArgs {
        TargetArgs {
            targets: if self.targets.is_empty() {
                settings.targets.clone()
            } else {
                self.targets.clone()
            },
            nft_address_only: self.nft_address_only || settings.nft_address_only,
            nft_match_interfaces: self.nft_match_interfaces,
        }
    }

    pub(super) fn options(&self) -> TargetOptions {
        TargetOptions {
            nft_address_only: self.nft_address_only,
        }
    }

    /// The loud warning an explicit weakening deserves, once per run.
    pub(super) fn warn_weakened(&self, renderer: &dyn wardwall::render::Renderer) {
        if self.nft_address_only && renderer.target() == Target::Nftables {
            eprintln!(
                "warning: --nft-address-only: the nftables ruleset matches addresses only; \
                 a packet with a spoofed source address (another zone's, sent from the wrong \
                 interface) passes that zone's allow rules"
            );
        }
    }

    /// Every problem `build` would report for `ir` on these targets.
    pub(super) fn validate(&self, ir: &wardwall::ir::Ir) -> Vec<diagnostics::Diagnostic> {
        let renderers = registry::selected_renderers(ir, &self.targets, &self.options());
        renderers
            .iter()
            .for_each(|r| self.warn_weakened(r.as_ref()));
        renderers.iter().flat_map(|r| r.validate(ir)).collect()
    }
}

/// What to render and how: shared by `build` and `diff`.
#[derive(Args, Clone, Debug)]
pub(super) struct RenderArgs {
    #[command(flatten)]
    pub(super) select: TargetArgs,
    /// Directory of template overrides (DIR/<target>/<file>; default: the
    /// policy's `templates` in the project file); a folder or file in it
    /// that matches no target or template is an error.
    #[arg(long, value_name = "DIR", value_parser = super::templates::parse_templates_dir)]
    pub(super) templates: Option<PathBuf>,
    /// The previous outputs renderers keep numbering from (set by the
    /// command, not an option).
    #[arg(skip)]
    pub(super) previous: wardwall::render::PreviousTree,
}

/// Why rendering stopped: a target could not express the policy (every
/// target's failures, collected), or the sink could not take a target's files.
pub(super) enum RenderFailure {
    Policy(diagnostics::Diagnostics),
    Io(std::io::Error),
}

impl RenderArgs {
    /// These flags over a policy's project-file settings (`--templates`
    /// replaces its templates).
    pub(super) fn configured(&self, settings: &PolicySettings) -> RenderArgs {
        RenderArgs {
            select: self.select.configured(settings),
            templates: self
                .templates
                .clone()
                .or_else(|| settings.templates.clone()),
            previous: self.previous.clone(),
        }
    }

    /// The renderers of the selected targets, in [`Target::ALL`] order.
    pub(super) fn renderers(
        &self,
        ir: &wardwall::ir::Ir,
    ) -> Vec<Box<dyn wardwall::render::Renderer>> {
        registry::selected_renderers(ir, &self.select.targets, &self.select.options())
    }

    /// The templates to render with, numbering kept from `previous`.
    pub(super) fn templates(
        &self,
        previous: wardwall::render::PreviousTree,
    ) -> wardwall::render::Templates {
        wardwall::render::Templates {
            override_dir: self.templates.clone(),
            previous,
        }
    }

    /// Renders every selected target in memory; any failure is returned as
    /// diagnostics and nothing is produced.
    pub(super) fn render(
        &self,
        ir: &wardwall::ir::Ir,
    ) -> Result<Vec<RenderedFile>, diagnostics::Diagnostics> {
        let mut files = Vec::new();
        let result = self.render_each(ir, |mut f| {
            files.append(&mut f);
            Ok(())
        });
        match result {
            Ok(()) => Ok(files),
            Err(RenderFailure::Policy(failures)) => Err(failures),
            Err(RenderFailure::Io(_)) => unreachable!("collecting in memory cannot fail"),
        }
    }

    /// Renders the selected targets one at a time and hands each target's
    /// files to `sink` as soon as they are rendered, so only one target's
    /// text is in memory at once. After a target fails, the others are
    /// still rendered (every failure is reported) but no longer handed over;
    /// an error from `sink` stops at once.
    pub(super) fn render_each(
        &self,
        ir: &wardwall::ir::Ir,
        mut sink: impl FnMut(Vec<RenderedFile>) -> std::io::Result<()>,
    ) -> Result<(), RenderFailure> {
        let templates = self.templates(self.previous.clone());
        let mut failures = diagnostics::Diagnostics::default();
        for renderer in self.renderers(ir) {
            self.select.warn_weakened(renderer.as_ref());
            match renderer.render(ir, &templates) {
                Ok(files) if failures.items.is_empty() => {
                    sink(files).map_err(RenderFailure::Io)?;
                }
                Ok(_) => {}
                Err(diags) => failures.extend(diags),
            }
        }
        if failures.items.is_empty() {
            Ok(())
        } else {
            failures.sort();
            Err(RenderFailure::Policy(failures))
        }
    }
}

pub(super) fn parse_target(s: &str) -> Result<Target, String> {
    match Target::from_name(s) {
        Some(t) => Ok(t),
        None => Err(format!(
            "unknown target `{}` (known: {}){}",
            wardwall::diagnostics::escape_unsafe(s),
            Target::names().collect::<Vec<_>>().join(", "),
            wardwall::diagnostics::did_you_mean(s, Target::names())
                .map(|hint| format!("; {hint}"))
                .unwrap_or_default()
        )),
    }
}

pub(super) fn parse_date(s: &str) -> Result<Date, String> {
    if s.len() != 10 {
        return Err(format!("`{s}` is not a date (YYYY-MM-DD)"));
    }
    s.parse::<Date>()
        .map_err(|e| format!("`{s}` is not a date (YYYY-MM-DD): {e}"))
}

/// The UTC calendar date of `instant`: the default evaluation date. Not the
/// local date, which differs between CI runners in different time zones
/// and would make them disagree about which rules have expired.
fn utc_date(instant: jiff::Timestamp) -> Date {
    instant.to_zoned_datetime(jiff::tz::TimeZone::UTC).date()
}

impl Common {
    pub(super) fn date(&self) -> Date {
        self.date
            .unwrap_or_else(|| utc_date(jiff::Timestamp::now()))
    }

    pub(super) fn style(&self) -> Style {
        let colour = match self.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stderr().is_terminal()
            }
        };
        if colour { Style::Colour } else { Style::Plain }
    }
}

/// Colour for standard output: only on a terminal, never with NO_COLOR.
pub(super) fn stdout_colour(common: &Common) -> bool {
    match common.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::io::stdout().is_terminal()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_date_is_the_utc_date() {
        // 23:30 UTC is already the next day east of UTC+1 and still the
        // same day everywhere west: the UTC date, whatever TZ says.
        let late: jiff::Timestamp = "2026-12-01T23:30:00Z".parse().unwrap();
        assert_eq!(utc_date(late), jiff::civil::date(2026, 12, 1));
        let early: jiff::Timestamp = "2026-12-02T00:10:00Z".parse().unwrap();
        assert_eq!(utc_date(early), jiff::civil::date(2026, 12, 2));
    }
}
