//! wardwall: a policy-as-code firewall compiler for segmented hospital
//! networks.
//!
//! The pipeline, one module per stage:
//! [`source`] (KDL with spans) → [`model`] (validated policy) →
//! [`ir`] (ordered rules over resolved sets, and the reference evaluator)
//! → [`place`] (which target binding receives what) → [`render`] and
//! [`read`] (one pair per target, found through [`registry`]) → [`diff`].
//! [`diagnostics`] renders every problem in one place.

pub mod addrset;
pub mod analysis;
pub(crate) mod catalogue;
pub mod diagnostics;
pub mod diff;
pub mod import;
pub mod ir;
pub mod model;
pub mod output;
pub mod packed_text;
pub(crate) mod place;
pub mod read;
pub mod registry;
pub mod render;
pub mod sarif;
pub mod source;
pub mod synth;
pub(crate) mod text;
pub mod vocab;

use std::path::Path;

use jiff::civil::Date;

use diagnostics::{Diagnostics, SourceMap};
use ir::Ir;

/// The shipped example policy, the default input of every command.
pub const DEFAULT_POLICY: &str = "policies/hospital.kdl";

/// The result of reading, validating and lowering a policy.
#[derive(Debug)]
pub struct Compiled {
    pub sources: SourceMap,
    pub diagnostics: Diagnostics,
    /// The validated policy: present when the policy has no errors.
    pub policy: Option<model::Policy>,
    /// Present when the policy has no errors (warnings are allowed).
    pub ir: Option<Ir>,
}

impl Compiled {
    /// Runs the analysis stage ([`analysis::analyze`]: shadowed, redundant
    /// and conflicting rules, medical-device lints) and adds its warnings to
    /// [`Compiled::diagnostics`]. Does nothing when the policy has errors.
    pub fn analyze(&mut self) {
        if let (Some(policy), Some(ir)) = (&self.policy, &self.ir) {
            let found = analysis::analyze(policy, ir);
            self.diagnostics.extend(found);
            self.diagnostics.sort();
        }
    }
}

impl Compiled {
    /// Checks the policy's expectations ([`analysis::expect`]) as of
    /// `date` and adds their findings (an error per broken promise) to
    /// [`Compiled::diagnostics`]. `check` and `build` both run it, so a
    /// policy that breaks a promise is never built. Does nothing when the
    /// policy has errors.
    pub fn check_expectations(&mut self, date: Date) {
        if let (Some(policy), Some(ir)) = (&self.policy, &self.ir) {
            let found = analysis::expect::diagnostics(policy, ir, date);
            if !found.is_empty() {
                self.diagnostics.extend(found);
                self.diagnostics.sort();
            }
        }
    }
}

impl Compiled {
    /// Matches the policy's acknowledgements (`accept`) to every finding
    /// reported so far ([`analysis::ack`]), as of `date`: run it last,
    /// after the analysis, the expectations and the target checks. Does
    /// nothing when the policy has errors. An `accept` of a lint
    /// `selection` does not report is left alone.
    pub fn acknowledge(&mut self, date: Date, selection: &analysis::selection::Selection) {
        if let Some(policy) = &self.policy {
            analysis::ack::acknowledge(
                policy,
                date,
                analysis::ack::Scope::All,
                selection,
                &mut self.diagnostics,
            );
        }
    }
}

/// Runs the front of the pipeline: source → model → IR, as of `date`.
///
/// Policy problems (including a missing include) are diagnostics; only an
/// unreadable root file is an `Err`.
pub fn compile(root: &Path, date: Date) -> Result<Compiled, source::ReadError> {
    compile_from(&source::Disk, root, date)
}

/// [`compile`], reading the policy files through `files` (e.g. from a git
/// revision).
pub fn compile_from(
    files: &dyn source::Files,
    root: &Path,
    date: Date,
) -> Result<Compiled, source::ReadError> {
    let mut sources = SourceMap::default();
    let mut diagnostics = Diagnostics::default();
    let tree = source::load_from(files, root, &mut sources, &mut diagnostics)?;
    let policy = if diagnostics.has_errors() {
        // Syntax errors make name resolution noisy; report what was found so
        // far, then stop. Decoding already collected every shape error.
        None
    } else {
        model::build(tree, &mut diagnostics)
    };
    let ir = policy
        .as_ref()
        .map(|p| ir::lower::lower(p, date, &mut diagnostics));
    diagnostics.sort();
    Ok(Compiled {
        sources,
        diagnostics,
        policy,
        ir,
    })
}
