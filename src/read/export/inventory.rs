//! What a device's configuration names beyond what it decides: its named
//! address and service objects, its places' addresses, descriptions. The
//! [`crate::read::device::Device`] model keeps only decisions; `import`
//! needs these too, to write a readable policy that keeps the device's
//! names. Each reader that can say more fills an [`Inventory`] from the
//! same text; nothing here changes what a device decides.

use crate::addrset::AddrSet;
use crate::read::device::{Device, DeviceError};
use crate::vocab::ServiceSet;

/// The named things of one configuration, in the order it defines them.
#[derive(Clone, Debug, Default)]
pub struct Inventory {
    pub addresses: Vec<NamedAddresses>,
    pub services: Vec<NamedService>,
    pub places: Vec<PlaceInfo>,
    /// Remarks and comments the configuration attaches to the entry at
    /// a line (1-based): (line, text).
    pub comments: Vec<(usize, String)>,
    /// The entries the device has but does not apply (PAN-OS
    /// `<disabled>yes</disabled>`, pfSense `<disabled/>`), in its order.
    pub disabled: Vec<DisabledRule>,
}

/// One disabled entry, and what the device would decide were it enabled.
///
/// Where a rule's entries land depends on the reader's own placement
/// (pfSense floating, group and last-match rules), so the reader itself
/// reads the configuration again with just this rule enabled: the same
/// code decodes and places it as it would an enabled one.
#[derive(Clone, Debug)]
pub struct DisabledRule {
    /// Where the rule starts (1-based): its entries' [`crate::read::device::Origin`].
    pub line: usize,
    pub column: usize,
    /// The rule as the device names it (`security rule NAME`) or prints it.
    pub text: String,
    /// The device with this one rule enabled, or why the reader refuses
    /// the configuration so.
    pub enabled: Result<Device, DeviceError>,
}

/// A named address object, alias, object group or set.
#[derive(Clone, Debug)]
pub struct NamedAddresses {
    /// As the device spells it.
    pub name: String,
    pub description: Option<String>,
    /// Its own addresses (hosts, networks, ranges), members not included.
    pub own: AddrSet,
    /// Named objects it includes (`group-object`, nested aliases).
    pub members: Vec<String>,
}

/// A named service object, port alias or service group, when it is one
/// exact set (a member the model cannot decide leaves the object out).
#[derive(Clone, Debug)]
pub struct NamedService {
    pub name: String,
    pub description: Option<String>,
    pub service: ServiceSet,
}

/// One place (interface, zone) and what the configuration says of it.
#[derive(Clone, Debug, Default)]
pub struct PlaceInfo {
    /// The device's place name, as the [`crate::read::device::Guard`]s
    /// name it.
    pub name: String,
    pub description: Option<String>,
    /// The networks the configuration puts on it (interface addresses,
    /// masked to their networks).
    pub networks: Vec<ipnet::IpNet>,
    /// The default route leaves by it: everything no other place holds
    /// lies behind it.
    pub default_route: bool,
    /// Why it is not a place of the forwarding the device model describes
    /// (another VRF, shut down, no address), when it is not.
    pub unused: Option<String>,
}

impl Inventory {
    /// The place named `name`, if the configuration describes it.
    pub(crate) fn place(&self, name: &str) -> Option<&PlaceInfo> {
        self.places.iter().find(|p| p.name == name)
    }

    /// The addresses of `name` with its members, nested to any depth
    /// (a cycle is cut where it closes; the readers refuse cycles).
    pub(crate) fn resolved(&self, name: &str) -> Option<AddrSet> {
        let mut seen = Vec::new();
        self.resolve(name, &mut seen)
    }

    fn resolve<'a>(&'a self, name: &'a str, seen: &mut Vec<&'a str>) -> Option<AddrSet> {
        if seen.contains(&name) {
            return Some(AddrSet::empty());
        }
        let object = self.addresses.iter().find(|a| a.name == name)?;
        seen.push(name);
        let mut all = object.own.clone();
        for m in &object.members {
            all = all.union(&self.resolve(m, seen)?);
        }
        seen.pop();
        Some(all)
    }
}
