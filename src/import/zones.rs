//! The zones of an imported policy: from the device's places (interfaces,
//! zones) and the networks its configuration puts on them, and from a
//! zones file where the configuration cannot say.
//!
//! The zones file (`--zones FILE`) is KDL, one node per zone:
//!
//! ```kdl
//! zone "icu" {
//!     interface "icu0"                 // the device's place: interface or zone name
//!     prefix "10.20.1.0/24" "fd42:1:0:120::/64"
//!     description "ICU bedside monitors"
//! }
//! zone "internet" {
//!     interface "wan0"
//!     residual #true                    // every address no other zone holds
//! }
//! ```
//!
//! A zone of the file replaces what the configuration says of its place.
//! `interface` may be left out for a zone the device never names (an
//! address-only ruleset).

use std::path::Path;

use ipnet::IpNet;
use kdl::{KdlDocument, KdlNode, KdlValue};

use crate::addrset::AddrSet;

/// One zone of the imported policy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZoneSpec {
    /// As the device or the zones file names it (made a valid name when
    /// written).
    pub name: String,
    pub description: Option<String>,
    pub prefixes: Vec<IpNet>,
    pub residual: bool,
    /// The device's place the zone is bound to.
    pub place: Option<String>,
}

/// A zones file that cannot be used: where and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZonesError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Reads a zones file's text (`file` names it in errors).
pub fn parse(text: &str) -> Result<Vec<ZoneSpec>, ZonesError> {
    let err = |offset: usize, message: String| {
        let (line, column) = crate::read::export::line_col(text, offset);
        ZonesError {
            line,
            column,
            message,
        }
    };
    let doc: KdlDocument = text.parse().map_err(|e: kdl::KdlError| {
        let d = e.diagnostics.first();
        err(
            d.map_or(0, |d| d.span.offset()),
            format!(
                "not KDL: {}",
                d.and_then(|d| d.message.clone())
                    .unwrap_or_else(|| "syntax error".into())
            ),
        )
    })?;
    let mut zones: Vec<ZoneSpec> = Vec::new();
    for node in doc.nodes() {
        let at = node.span().offset();
        if node.name().value() != "zone" {
            return Err(err(
                at,
                format!(
                    "expected `zone \"NAME\" {{ ... }}`, found `{}`",
                    node.name().value()
                ),
            ));
        }
        let name = single_string(node)
            .ok_or_else(|| err(at, "a zone needs its name: `zone \"NAME\"`".into()))?;
        let mut zone = ZoneSpec {
            name,
            description: None,
            prefixes: Vec::new(),
            residual: false,
            place: None,
        };
        for child in node.iter_children() {
            let cat = child.span().offset();
            match child.name().value() {
                "interface" => {
                    zone.place = Some(single_string(child).ok_or_else(|| {
                        err(
                            cat,
                            "expected `interface \"NAME\"` (the device's interface or zone)".into(),
                        )
                    })?)
                }
                "description" => zone.description = single_string(child),
                "residual" => {
                    zone.residual = matches!(
                        child.entries().first().map(|e| e.value()),
                        Some(KdlValue::Bool(true))
                    )
                }
                "prefix" => {
                    for e in child.entries() {
                        let KdlValue::String(s) = e.value() else {
                            return Err(err(
                                e.span().offset(),
                                "a prefix is a quoted CIDR, e.g. \"10.20.0.0/16\"".into(),
                            ));
                        };
                        let net = crate::source::ip::parse_net(s)
                            .map_err(|p| err(e.span().offset(), format!("`{s}`: {}", p.hint())))?;
                        zone.prefixes.push(net);
                    }
                }
                other => {
                    return Err(err(
                        cat,
                        format!(
                            "unknown field `{other}` (a zone takes interface, prefix, residual, description)"
                        ),
                    ));
                }
            }
        }
        if zone.residual && !zone.prefixes.is_empty() {
            return Err(err(
                at,
                format!(
                    "zone `{}` is residual and has prefixes: a residual zone holds every address no other zone holds",
                    zone.name
                ),
            ));
        }
        if !zone.residual && zone.prefixes.is_empty() {
            return Err(err(
                at,
                format!(
                    "zone `{}` has no prefix: give its networks, or `residual #true`",
                    zone.name
                ),
            ));
        }
        if zones.iter().any(|z| z.name == zone.name) {
            return Err(err(at, format!("zone `{}` is given twice", zone.name)));
        }
        zones.push(zone);
    }
    if zones.iter().filter(|z| z.residual).count() > 1 {
        return Err(err(0, "more than one zone is residual".into()));
    }
    Ok(zones)
}

fn single_string(node: &KdlNode) -> Option<String> {
    match node.entries().first().map(|e| e.value()) {
        Some(KdlValue::String(s)) => Some(s.clone()),
        _ => None,
    }
}

/// Reads a zones file; errors say FILE:LINE:COL.
pub fn read(path: &Path) -> Result<Vec<ZoneSpec>, String> {
    let shown = crate::source::display_path(path);
    let bytes = crate::source::read_regular_file(path, 1 << 20)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let text = String::from_utf8(bytes).map_err(|_| format!("{shown}: not UTF-8 text"))?;
    parse(&text).map_err(|e| format!("{shown}:{}:{}: {}", e.line, e.column, e.message))
}

/// The addresses each zone owns: by longest prefix, the residual zone
/// everything no other zone's prefixes hold.
pub(crate) fn owned(zones: &[ZoneSpec]) -> Vec<AddrSet> {
    let all: Vec<(usize, IpNet)> = zones
        .iter()
        .enumerate()
        .flat_map(|(i, z)| z.prefixes.iter().map(move |p| (i, *p)))
        .collect();
    let everything = AddrSet::from_nets(all.iter().map(|(_, p)| *p));
    zones
        .iter()
        .enumerate()
        .map(|(i, z)| {
            if z.residual {
                return everything.complement();
            }
            let mut mine = AddrSet::empty();
            for p in &z.prefixes {
                let longer = AddrSet::from_nets(
                    all.iter()
                        .filter(|(j, q)| {
                            *j != i && q.prefix_len() > p.prefix_len() && p.contains(q)
                        })
                        .map(|(_, q)| *q),
                );
                mine = mine.union(&AddrSet::from_net(*p).difference(&longer));
            }
            mine
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zones_file_reads_and_its_mistakes_have_places() {
        let z = parse("zone \"icu\" {\n interface \"icu0\"\n prefix \"10.20.1.0/24\"\n}\nzone \"wan\" { interface \"wan0\"; residual #true; }\n").unwrap();
        assert_eq!(z.len(), 2);
        assert_eq!(z[0].place.as_deref(), Some("icu0"));
        assert!(z[1].residual);
        let e = parse("zone \"a\" {\n prefix \"10.020.0.0/16\"\n}\n").unwrap_err();
        assert_eq!((e.line, e.column), (2, 9));
        let e = parse("zone \"a\" {\n colour \"red\"\n}\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(
            parse("zone \"a\" { interface \"x\" }").is_err(),
            "no prefix"
        );
    }

    #[test]
    fn nested_prefixes_belong_to_the_longest() {
        let zone = |n: &str, p: &[&str], residual| ZoneSpec {
            name: n.into(),
            description: None,
            prefixes: p.iter().map(|s| s.parse().unwrap()).collect(),
            residual,
            place: None,
        };
        let o = owned(&[
            zone("wide", &["10.0.0.0/8"], false),
            zone("icu", &["10.20.0.0/16"], false),
            zone("net", &[], true),
        ]);
        assert!(!o[0].contains("10.20.1.1".parse().unwrap()));
        assert!(o[1].contains("10.20.1.1".parse().unwrap()));
        assert!(
            o[2].contains("8.8.8.8".parse().unwrap())
                && !o[2].contains("10.1.1.1".parse().unwrap())
        );
    }
}
