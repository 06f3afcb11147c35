//! Addresses: reading them, adding and removing them like `ip addr`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::model::addresses::Address;

use super::client::RouteClient;
use super::error::{Op, RouteNetlinkError};
use super::links::interface_name;

impl RouteClient {
    /// Every IPv4 and IPv6 address, except IPv6 link-local ones (fe80::/10), which the
    /// kernel manages by itself.
    pub fn addresses(&mut self) -> Result<Vec<Address>, RouteNetlinkError> {
        let names = self.interface_names()?;
        let messages =
            self.dump(RouteNetlinkMessage::GetAddress(AddressMessage::default()), "reading the addresses")?;
        let mut addresses: Vec<Address> = messages
            .iter()
            .filter_map(
                |m| if let RouteNetlinkMessage::NewAddress(a) = m { address_from_message(a, &names) } else { None },
            )
            .collect();
        addresses.sort();
        Ok(addresses)
    }

    /// `ip addr add ADDRESS/PREFIX dev IFACE [label LABEL]` (IPv6: also `nodad`, so that a
    /// VIP is usable at once instead of after duplicate address detection; deprecated:
    /// `preferred_lft 0`).
    pub fn add_address(&mut self, address: &Address) -> Result<(), RouteNetlinkError> {
        let action = describe_address_action("adding", address);
        let index = self.index_of(&address.interface, &action)?;
        let message = address_message(address, index, true)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let mut request = self.handle.address().add(index, address.address, address.prefix_length);
        *request.message_mut() = message;
        self.wait(action, Op::AddAddress(address), request.execute())
    }

    /// `ip addr change ADDRESS/PREFIX dev IFACE [nodad] preferred_lft 0|forever`: the
    /// address stays, with the routes through it and the connections to it; only its
    /// lifetimes (deprecated or not) are set.
    pub fn change_address(&mut self, address: &Address) -> Result<(), RouteNetlinkError> {
        let action = describe_address_action("changing", address);
        let index = self.index_of(&address.interface, &action)?;
        let message = address_change_message(address, index)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let mut request = self.handle.address().add(index, address.address, address.prefix_length).replace();
        *request.message_mut() = message;
        self.wait(action, Op::ChangeAddress(address), request.execute())
    }

    /// `ip addr del ADDRESS/PREFIX dev IFACE [label LABEL]`.
    pub fn delete_address(&mut self, address: &Address) -> Result<(), RouteNetlinkError> {
        let action = describe_address_action("removing", address);
        let index = self.index_of(&address.interface, &action)?;
        let message = address_message(address, index, false)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.clone(), detail })?;
        let request = self.handle.address().del(message).execute();
        self.wait(action, Op::DeleteAddress(address), request)
    }
}

pub(super) fn is_ipv6_link_local(ip: &Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// An address as the model sees it; None for what is not reported (IPv6 link-local).
pub(crate) fn address_from_message(message: &AddressMessage, names: &BTreeMap<u32, String>) -> Option<Address> {
    let mut local = None;
    let mut address = None;
    let mut label = None;
    // IFA_FLAGS (32 bits) supersedes the header's 8 when present; deprecated fits in both.
    let mut deprecated = message.header.flags.contains(AddressHeaderFlags::Deprecated);
    for attribute in &message.attributes {
        match attribute {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => address = Some(*ip),
            AddressAttribute::Label(text) => label = Some(text.clone()),
            AddressAttribute::Flags(flags) => deprecated = flags.contains(AddressFlags::Deprecated),
            _ => {}
        }
    }
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer on
    // point-to-point links (and the only one IPv6 sends).
    let ip = local.or(address)?;
    let family_ok = match (message.header.family, ip) {
        (AddressFamily::Inet, IpAddr::V4(_)) => true,
        (AddressFamily::Inet6, IpAddr::V6(v6)) => !is_ipv6_link_local(&v6),
        _ => false,
    };
    if !family_ok {
        return None;
    }
    let interface = interface_name(names, message.header.index);
    Some(Address {
        label: normalise_label(ip, label, &interface),
        interface,
        address: ip,
        prefix_length: message.header.prefix_len,
        // The model's `deprecated` is the IPv6 source-selection switch; IPv4 lifetimes are not
        // managed (IPv4 picks sources without looking at them).
        deprecated: deprecated && ip.is_ipv6(),
    })
}

/// The kernel reports the interface's name as the label of an address given none; the
/// model says None for that. IPv6 addresses have no labels.
pub(crate) fn normalise_label(ip: IpAddr, label: Option<String>, interface: &str) -> Option<String> {
    match ip {
        IpAddr::V6(_) => None,
        IpAddr::V4(_) => label.filter(|label| label != interface && !label.is_empty()),
    }
}

/// RTM_NEWADDR / RTM_DELADDR message as `ip addr add|del` sends it: IFA_LOCAL and
/// IFA_ADDRESS both the address (no peer, no broadcast), IFA_LABEL when given, for new
/// IPv6 addresses IFA_F_NODAD, and for deprecated ones IFA_CACHEINFO with preferred 0.
pub(crate) fn address_message(address: &Address, index: u32, create: bool) -> Result<AddressMessage, String> {
    let mut message = AddressMessage::default();
    message.header.index = index;
    message.header.prefix_len = address.prefix_length;
    match address.address {
        IpAddr::V4(v4) => {
            if address.prefix_length > 32 {
                return Err(format!("prefix length {} is longer than 32", address.prefix_length));
            }
            if address.deprecated {
                return Err("only IPv6 addresses are held deprecated (IPv4 ignores lifetimes choosing a source)".into());
            }
            message.header.family = AddressFamily::Inet;
            // As `ip` does: loopback addresses are host scope, the rest global.
            message.header.scope = if v4.is_loopback() { AddressScope::Host } else { AddressScope::Universe };
            message.attributes.push(AddressAttribute::Local(address.address));
            message.attributes.push(AddressAttribute::Address(address.address));
            if let Some(label) = &address.label {
                if label.is_empty() || label.len() > 15 {
                    return Err(format!("label `{label}` must be 1–15 characters long"));
                }
                message.attributes.push(AddressAttribute::Label(label.clone()));
            }
        }
        IpAddr::V6(_) => {
            if address.prefix_length > 128 {
                return Err(format!("prefix length {} is longer than 128", address.prefix_length));
            }
            if let Some(label) = &address.label {
                return Err(format!("label `{label}`: only IPv4 addresses have labels"));
            }
            message.header.family = AddressFamily::Inet6;
            message.attributes.push(AddressAttribute::Address(address.address));
            if create {
                message.header.flags = AddressHeaderFlags::Nodad;
                message.attributes.push(AddressAttribute::Flags(AddressFlags::Nodad));
                if address.deprecated {
                    message.attributes.push(AddressAttribute::CacheInfo(lifetimes(true)));
                }
            }
        }
    }
    Ok(message)
}

/// RTM_NEWADDR for `ip addr change`: as for adding (so IPv6 keeps `nodad`), with the
/// lifetimes said in both directions — without them the kernel would make both forever.
pub(crate) fn address_change_message(address: &Address, index: u32) -> Result<AddressMessage, String> {
    let mut message = address_message(address, index, true)?;
    message.attributes.retain(|attribute| !matches!(attribute, AddressAttribute::CacheInfo(_)));
    message.attributes.push(AddressAttribute::CacheInfo(lifetimes(address.deprecated)));
    Ok(message)
}

/// IFA_CACHEINFO as `ip addr … preferred_lft 0|forever valid_lft forever` sends it. The kernel
/// sets IFA_F_DEPRECATED itself when the preferred lifetime is 0 (the flag cannot be sent).
fn lifetimes(deprecated: bool) -> CacheInfo {
    const FOREVER: u32 = u32::MAX;
    let mut lifetimes = CacheInfo::default();
    lifetimes.ifa_preferred = if deprecated { 0 } else { FOREVER };
    lifetimes.ifa_valid = FOREVER;
    lifetimes
}

pub(super) fn describe_address_action(verb: &str, address: &Address) -> String {
    let preposition = if verb == "adding" { "to" } else { "from" };
    let mut text = format!("{verb} {}/{} {preposition} {}", address.address, address.prefix_length, address.interface);
    if let Some(label) = &address.label {
        text += &format!(" (label {label})");
    }
    text
}
