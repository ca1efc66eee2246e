//! The nftables inventory for `import`, from the same ruleset the reader
//! reads: its named address sets (`set NAME { type ipv4_addr; ... }` or
//! `ipv6_addr`, `typeof ip saddr` and the like; interval or not; the set's
//! `comment` as description), so that a rule matching `@NAME` is written
//! with the class of the same name. nft(8) "SETS" and libnftables-json(5)
//! "SET"; the tests load hand-written rulesets into the kernel and import
//! its dumps. A map, a set whose elements change at run time (`flags
//! dynamic`, `timeout`: the reader takes a lookup in it as undecidable),
//! a set of another type and one with an element that is not an address
//! are not address objects. A ruleset names no places with addresses: its
//! zones come from a zones file.

use super::lower::addr_of;
use super::{NamedSet, Ruleset};
use crate::addrset::AddrSet;
use crate::read::export::inventory::{Inventory, NamedAddresses};
use crate::vocab::Family;

/// The inventory of a ruleset: one address object per named address set,
/// in table order (sets by name, as the kernel prints them).
pub(super) fn of(ruleset: &Ruleset) -> Inventory {
    let mut inv = Inventory::default();
    for table in &ruleset.tables {
        for (name, set) in &table.sets {
            let Some(own) = addresses(set) else {
                continue;
            };
            // Sets are per table: a name another table already gave to
            // other addresses is qualified by its table.
            let taken = inv.addresses.iter().find(|a| &a.name == name);
            let name = match taken {
                Some(a) if a.own == own => continue,
                Some(_) => format!("{}-{}-{name}", table.family, table.name),
                None => name.clone(),
            };
            inv.addresses.push(NamedAddresses {
                name,
                description: set.comment.clone(),
                own,
                members: Vec::new(),
            });
        }
    }
    inv
}

/// The addresses a named set holds, when it is a fixed set of addresses.
fn addresses(set: &NamedSet) -> Option<AddrSet> {
    if set.is_map || set.dynamic {
        return None;
    }
    let family = family_of(&set.key_type)?;
    let mut all = AddrSet::empty();
    for e in &set.elements {
        all = all.union(&addr_of(e, family).ok()?);
    }
    Some(all)
}

/// The family of an address key type, `None` for any other type.
fn family_of(key_type: &str) -> Option<Family> {
    match key_type {
        "ipv4_addr" => Some(Family::V4),
        "ipv6_addr" => Some(Family::V6),
        t => match t.strip_prefix("typeof ")? {
            "ip saddr" | "ip daddr" => Some(Family::V4),
            "ip6 saddr" | "ip6 daddr" => Some(Family::V6),
            _ => None,
        },
    }
}
