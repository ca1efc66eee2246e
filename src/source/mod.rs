//! Stage 1, source: read the policy files (following includes), parse KDL and
//! decode it strictly into a syntax tree that keeps a span for everything.
//!
//! This stage checks shape and literal values: node and property names, value
//! types, argument counts, CIDRs, ports, dates. Names are not resolved here;
//! that is the model stage's job.

mod accept;
mod decode;
mod doc;
mod expect;
mod fastkdl;
mod format;
mod format_lex;
mod format_tree;
pub(crate) mod ip;
mod literal;
mod load;
mod tree;

pub use format::{FormatError, FormatErrorKind, format_text};
pub use load::*;
pub use tree::*;

use std::collections::BTreeSet;
use std::path::Path;

use crate::catalogue;
use crate::diagnostics::{Diagnostics, SourceMap, Span};

/// Reads `root` and everything it includes from the filesystem. Policy
/// problems go to `diags`; only an unreadable root file is an `Err`.
#[cfg(test)]
pub(crate) fn load(
    root: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<SyntaxTree, ReadError> {
    load_from(&Disk, root, sources, diags)
}

/// [`load`], reading through `files`.
pub fn load_from(
    files: &dyn Files,
    root: &Path,
    sources: &mut SourceMap,
    diags: &mut Diagnostics,
) -> Result<SyntaxTree, ReadError> {
    let mut tree = SyntaxTree::default();
    let builtin = sources.add(
        catalogue::SERVICES_FILE.to_string(),
        catalogue::SERVICES_KDL.to_string(),
    );
    let read_error = |source| ReadError {
        path: display_path(root),
        source,
    };
    let tree_root = policy_tree(files, root).map_err(read_error)?;
    let bytes = files.read(root).map_err(read_error)?;
    let mut loader = Loader {
        root_file: None,
        files,
        sources,
        diags,
        tree: &mut tree,
        stack: Vec::new(),
        seen: BTreeSet::new(),
        tree_root,
        given: Default::default(),
    };
    loader.decode_text(builtin, FileRole::Catalogue);
    loader.load_file(root, bytes, None);
    let root_file = loader.root_file;
    if let Some(file) = root_file {
        tree.root_span = Span {
            file,
            offset: 0,
            len: 0,
        };
        name_from_file(root, &mut tree, diags);
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::{Diagnostics, SourceMap};

    #[test]
    fn catalogue_decodes_cleanly() {
        let mut sources = SourceMap::default();
        let mut diags = Diagnostics::default();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p.kdl");
        std::fs::write(&root, "").unwrap();
        let tree = load(&root, &mut sources, &mut diags).unwrap();
        assert!(diags.items.is_empty(), "{diags:?}");
        let names: Vec<&str> = tree
            .services
            .iter()
            .map(|s| s.name.value.as_str())
            .collect();
        for expected in [
            "dns",
            "ntp",
            "syslog",
            "snmp",
            "https",
            "ssh",
            "rdp",
            "hl7-mllp",
            "dicom",
            "dicom-tls",
        ] {
            assert!(names.contains(&expected), "catalogue lacks {expected}");
        }
        let dicom = tree
            .services
            .iter()
            .find(|s| s.name.value == "dicom")
            .unwrap();
        assert_eq!(dicom.set.tcp.ranges(), &[(104, 104), (11112, 11112)]);
        let ping = tree
            .services
            .iter()
            .find(|s| s.name.value == "ping")
            .unwrap();
        assert_eq!(ping.set.icmp4.ranges(), &[(8, 8)]);
        assert_eq!(ping.set.icmp6.ranges(), &[(128, 128)]);
    }
}
