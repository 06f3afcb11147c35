//! Routes: reading every table, adding, replacing and deleting like `ip route`.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteProtocol, RouteScope as RtScope,
    RouteType as RtType, RouteVia,
};
use rtnetlink::packet_route::{AddressFamily, RouteNetlinkMessage};

use crate::model::routes::{Route, RouteScope, RouteType};

use super::addresses::is_ipv6_link_local;
use super::client::RouteClient;
use super::errno;
use super::error::{Op, RouteNetlinkError};
use super::links::interface_name;

impl RouteClient {
    /// Every IPv4 and IPv6 route of every table, except what the model does not manage:
    /// broadcast, multicast, anycast and other special route types, routes with a scope
    /// other than universe/link/host, cached clones, and IPv6 link-local and multicast
    /// destinations (fe80::/10, ff00::/8) that the kernel adds per interface.
    pub fn routes(&mut self) -> Result<Vec<Route>, RouteNetlinkError> {
        let names = self.interface_names()?;
        let mut routes = Vec::new();
        for family in [AddressFamily::Inet, AddressFamily::Inet6] {
            let mut message = RouteMessage::default();
            message.header.address_family = family;
            let what = if family == AddressFamily::Inet { "IPv4" } else { "IPv6" };
            let messages = self.dump(RouteNetlinkMessage::GetRoute(message), &format!("reading the {what} routes"));
            let messages = match messages {
                Ok(messages) => messages,
                // A kernel without IPv6 has no IPv6 routes.
                Err(e) if family == AddressFamily::Inet6 && e.errno() == Some(errno::EAFNOSUPPORT) => continue,
                Err(e) => return Err(e),
            };
            routes.extend(
                messages
                    .iter()
                    .filter_map(|m| if let RouteNetlinkMessage::NewRoute(route) = m { Some(route) } else { None })
                    // Without a handler for a family the kernel answers with all of them.
                    .filter(|m| m.header.address_family == family)
                    .filter_map(|m| route_from_message(m, &names)),
            );
        }
        routes.sort();
        Ok(routes)
    }

    fn route_request_message(&mut self, route: &Route, action: &str) -> Result<RouteMessage, RouteNetlinkError> {
        let index = match &route.device {
            Some(device) => Some(self.index_of(device, action)?),
            None => None,
        };
        route_message(route, index)
            .map_err(|detail| RouteNetlinkError::InvalidRequest { action: action.into(), detail })
    }

    /// `ip route add TYPE DEST/LEN [via GW] [dev DEV] table T metric M scope S [src SRC]
    /// proto static`.
    pub fn add_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("adding route {route}");
        let message = self.route_request_message(route, &action)?;
        let request = self.handle.route().add(message).execute();
        self.wait(action, Op::AddRoute(route), request)
    }

    /// `ip route replace …`: the route with the same table, type, destination and metric
    /// takes the new device, gateway, scope and source (created if missing).
    pub fn replace_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("replacing route {route}");
        let message = self.route_request_message(route, &action)?;
        let request = self.handle.route().add(message).replace().execute();
        self.wait(action, Op::ReplaceRoute(route), request)
    }

    /// `ip route del …`, matching the device, gateway, scope and source as given so that
    /// only this route goes when several share a destination.
    pub fn delete_route(&mut self, route: &Route) -> Result<(), RouteNetlinkError> {
        let action = format!("deleting route {route}");
        let mut message = self.route_request_message(route, &action)?;
        // Match routes of any origin (kernel, boot, static …).
        message.header.protocol = RouteProtocol::Unspec;
        let request = self.handle.route().del(message).execute();
        self.wait(action, Op::DeleteRoute, request)
    }
}

fn route_ip(address: &RouteAddress) -> Option<IpAddr> {
    match address {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    }
}

/// A route as the model sees it; None for kinds of route the model does not manage.
pub(crate) fn route_from_message(message: &RouteMessage, names: &BTreeMap<u32, String>) -> Option<Route> {
    let header = &message.header;
    let unspecified = match header.address_family {
        AddressFamily::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        AddressFamily::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        _ => return None,
    };
    if header.flags.contains(RouteFlags::Cloned) {
        return None;
    }
    let kind = match header.kind {
        RtType::Unicast => RouteType::Unicast,
        RtType::Local => RouteType::Local,
        RtType::BlackHole => RouteType::Blackhole,
        RtType::Unreachable => RouteType::Unreachable,
        _ => return None,
    };
    let scope = match header.scope {
        RtScope::Universe => RouteScope::Universe,
        RtScope::Link => RouteScope::Link,
        RtScope::Host => RouteScope::Host,
        _ => return None,
    };
    let mut route = Route {
        table: u32::from(header.table),
        kind,
        destination: unspecified,
        prefix_length: header.destination_prefix_length,
        metric: 0,
        device: None,
        gateway: None,
        scope,
        source: None,
    };
    for attribute in &message.attributes {
        match attribute {
            RouteAttribute::Table(table) => route.table = *table,
            RouteAttribute::Destination(address) => route.destination = route_ip(address)?,
            RouteAttribute::Priority(metric) => route.metric = *metric,
            RouteAttribute::Oif(index) => route.device = Some(interface_name(names, *index)),
            RouteAttribute::Gateway(address) => route.gateway = route_ip(address),
            RouteAttribute::Via(RouteVia::Inet(v4)) => route.gateway = Some(IpAddr::V4(*v4)),
            RouteAttribute::Via(RouteVia::Inet6(v6)) => route.gateway = Some(IpAddr::V6(*v6)),
            RouteAttribute::PrefSource(address) => route.source = route_ip(address),
            _ => {}
        }
    }
    if let IpAddr::V6(v6) = route.destination {
        // Per-interface link-local and multicast routes the kernel maintains.
        if is_ipv6_link_local(&v6) || v6.is_multicast() {
            return None;
        }
    }
    Some(route)
}

fn model_scope(scope: RouteScope) -> RtScope {
    match scope {
        RouteScope::Universe => RtScope::Universe,
        RouteScope::Link => RtScope::Link,
        RouteScope::Host => RtScope::Host,
    }
}

/// RTM_NEWROUTE / RTM_DELROUTE message as `ip route` sends it: the table in the header
/// when it fits in 8 bits, else RT_TABLE_UNSPEC there and RTA_TABLE; `proto static`.
pub(crate) fn route_message(route: &Route, device_index: Option<u32>) -> Result<RouteMessage, String> {
    let family = match route.destination {
        IpAddr::V4(_) => AddressFamily::Inet,
        IpAddr::V6(_) => AddressFamily::Inet6,
    };
    let max_prefix = crate::model::addresses::host_prefix_length(&route.destination);
    if route.prefix_length > max_prefix {
        return Err(format!("prefix length {} is longer than {max_prefix}", route.prefix_length));
    }
    if route.table == 0 {
        return Err("table 0 (unspec) is not a routing table".into());
    }
    if let Some(source) = route.source {
        if source.is_ipv4() != route.destination.is_ipv4() {
            return Err(format!("source {source} is not of the destination's address family"));
        }
    }
    if let Some(gateway) = route.gateway {
        // An IPv6 gateway for IPv4 (RTA_VIA) is fine; an IPv4 one for IPv6 is not.
        if gateway.is_ipv4() && route.destination.is_ipv6() {
            return Err(format!("an IPv4 gateway ({gateway}) cannot serve an IPv6 route"));
        }
    }
    let mut message = RouteMessage::default();
    let header: &mut RouteHeader = &mut message.header;
    header.address_family = family;
    header.destination_prefix_length = route.prefix_length;
    header.protocol = RouteProtocol::Static;
    header.scope = model_scope(route.scope);
    header.kind = match route.kind {
        RouteType::Unicast => RtType::Unicast,
        RouteType::Local => RtType::Local,
        RouteType::Blackhole => RtType::BlackHole,
        RouteType::Unreachable => RtType::Unreachable,
    };
    if route.table < 256 {
        header.table = route.table as u8;
    } else {
        header.table = RouteHeader::RT_TABLE_UNSPEC;
        message.attributes.push(RouteAttribute::Table(route.table));
    }
    if route.prefix_length > 0 || !route.destination.is_unspecified() {
        message.attributes.push(RouteAttribute::Destination(route.destination.into()));
    }
    if let Some(gateway) = route.gateway {
        message.attributes.push(match (route.destination, gateway) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => RouteAttribute::Via(RouteVia::Inet6(v6)),
            _ => RouteAttribute::Gateway(gateway.into()),
        });
    }
    if let Some(index) = device_index {
        message.attributes.push(RouteAttribute::Oif(index));
    }
    if route.metric != 0 {
        message.attributes.push(RouteAttribute::Priority(route.metric));
    }
    if let Some(source) = route.source {
        message.attributes.push(RouteAttribute::PrefSource(source.into()));
    }
    Ok(message)
}
