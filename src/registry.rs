//! The one registry of targets: for each [`Target`] its renderer (configured
//! with that target's options) and its reader. The CLI, `check`, `build`,
//! `diff` and `explain --target` find targets only through here, and each
//! function is an exhaustive `match`, so a new target must fill every
//! column before the crate compiles.

use crate::ir::Ir;
use crate::read::{self, Reader};
use crate::render::{self, Renderer};
use crate::vocab::Target;

/// Options that belong to one target each (all off by default). Only the
/// registry reads them, handing each target its own.
#[derive(Clone, Copy, Debug, Default)]
pub struct TargetOptions {
    /// nftables: match addresses only, without anti-spoofing (see
    /// [`render::nftables::Nftables::address_only`]): spoofed sources pass
    /// allow rules.
    pub nft_address_only: bool,
}

/// The renderer of `target`, configured with its options.
pub fn renderer(target: Target, options: &TargetOptions) -> Box<dyn Renderer> {
    match target {
        Target::Nftables => Box::new(render::nftables::Nftables {
            address_only: options.nft_address_only,
        }),
        Target::PfSense => Box::new(render::pfsense::PfSense),
        Target::Cisco => Box::new(render::cisco::Cisco),
        Target::Panos => Box::new(render::panos::PanosRenderer),
    }
}

/// The reader of `target`: parses the target's configuration text and
/// answers which entry decides a packet.
pub fn reader(target: Target) -> Box<dyn Reader> {
    match target {
        Target::Nftables => Box::new(read::nftables::Evaluator),
        Target::PfSense => Box::new(read::pfsense::Evaluator),
        Target::Cisco => Box::new(read::cisco::Evaluator),
        Target::Panos => Box::new(read::panos::Evaluator),
    }
}

/// Every target's renderer with default options, in [`Target::ALL`] order.
pub fn all_renderers() -> Vec<Box<dyn Renderer>> {
    Target::ALL
        .into_iter()
        .map(|t| renderer(t, &TargetOptions::default()))
        .collect()
}

/// The targets a build of `ir` renders, configured with `options`, in
/// [`Target::ALL`] order: `requested` (`-t`) wins; otherwise the policy's
/// own `targets`; otherwise every target. `build`, `diff` and `check` all
/// choose through here, so `check` validates exactly what `build` writes.
pub fn selected_renderers(
    ir: &Ir,
    requested: &[Target],
    options: &TargetOptions,
) -> Vec<Box<dyn Renderer>> {
    let chosen = |t: Target| {
        if requested.is_empty() {
            ir.targets.is_empty() || ir.targets.iter().any(|name| name == t.name())
        } else {
            requested.contains(&t)
        }
    };
    Target::ALL
        .into_iter()
        .filter(|&t| chosen(t))
        .map(|t| renderer(t, options))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_has_a_renderer_and_a_reader_that_name_it() {
        for target in Target::ALL {
            assert_eq!(renderer(target, &TargetOptions::default()).target(), target);
            assert_eq!(reader(target).target(), target);
        }
    }
}
