//! The rtnetlink client against the real kernel, each test in a fresh network namespace of
//! its own thread, checked against what `ip -j` (iproute2) reports. Run as root:
//!
//! ```text
//! cargo test --lib netlink::route::live_tests -- --ignored --test-threads=1 --nocapture
//! ```
//!
//! Parts that need kernel modules (ipip, dummy) are skipped, with a note, where they are
//! missing; the lab has them all (tests/lab/scenarios/20_links_addresses_routes_read.sh runs these
//! tests when given the test binary).

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;

use nix::sched::{unshare, CloneFlags};
use serde_json::Value;

use super::addresses::is_ipv6_link_local;
use super::*;
use crate::model::addresses::Address;
use crate::model::keyed::Keyed;
use crate::model::links::{Link, LinkKind};
use crate::model::routes::{Route, RouteScope, RouteType, TABLE_LOCAL, TABLE_MAIN};

/// Moves this test's thread into a new, empty network namespace (lo down). False when not
/// allowed (not root): the test then says so and passes.
fn fresh_namespace() -> bool {
    match unshare(CloneFlags::CLONE_NEWNET) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("SKIPPED: cannot create a network namespace ({e}); run as root");
            false
        }
    }
}

fn try_ip(args: &str) -> Result<String, String> {
    let output = Command::new("ip").args(args.split_whitespace()).output().map_err(|e| format!("ip: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("ip {args}: {}", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

fn ip(args: &str) -> String {
    try_ip(args).unwrap_or_else(|e| panic!("{e}"))
}

fn ip_json(args: &str) -> Vec<Value> {
    serde_json::from_str(&ip(args)).unwrap_or_else(|e| panic!("ip {args}: {e}"))
}

fn has_ipip() -> bool {
    // ipip creates tunl0 in every namespace once loaded (the lab loads it beforehand;
    // modprobe is tried for hosts that have the module but have not loaded it).
    let _ = Command::new("modprobe").arg("ipip").output();
    let ok = try_ip("link show tunl0").is_ok();
    if !ok {
        eprintln!("note: no ipip in this kernel; tunnel checks skipped");
    }
    ok
}

fn str_of<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn v4_or_any(text: Option<&str>) -> Option<Ipv4Addr> {
    text.filter(|t| *t != "any").map(|t| t.parse().unwrap())
}

/// What `ip -d -j link show` says, in the model.
fn links_from_ip() -> Vec<Link> {
    let mut links: Vec<Link> = ip_json("-d -j link show")
        .iter()
        .map(|entry| {
            let name = str_of(entry, "ifname").unwrap().to_string();
            let flags: Vec<&str> = entry["flags"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
            let info = entry.get("linkinfo");
            let info_kind = info.and_then(|i| str_of(i, "info_kind"));
            let kind = match info_kind {
                Some("ipip") => {
                    let data = &info.unwrap()["info_data"];
                    LinkKind::Ipip {
                        local: v4_or_any(str_of(data, "local")),
                        remote: v4_or_any(str_of(data, "remote")),
                        ttl: data.get("ttl").and_then(Value::as_u64).unwrap_or(0) as u8,
                        pmtudisc: data.get("pmtudisc").and_then(Value::as_bool).unwrap_or(true),
                    }
                }
                Some(kind) => LinkKind::Other { kind: kind.into() },
                None => LinkKind::Other { kind: str_of(entry, "link_type").unwrap().into() },
            };
            Link { name, kind, up: Some(flags.contains(&"UP")), mtu: entry["mtu"].as_u64().map(|m| m as u32) }
        })
        .collect();
    links.sort_by(|a, b| a.name.cmp(&b.name));
    links
}

/// What `ip -j addr show` says, in the model (IPv6 link-local left out, like the reader).
fn addresses_from_ip() -> Vec<Address> {
    let mut addresses = Vec::new();
    for entry in ip_json("-j addr show") {
        let interface = str_of(&entry, "ifname").unwrap().to_string();
        for info in entry["addr_info"].as_array().unwrap() {
            let address: IpAddr = str_of(info, "local").unwrap().parse().unwrap();
            if matches!(address, IpAddr::V6(v6) if is_ipv6_link_local(&v6)) {
                continue;
            }
            let label = str_of(info, "label").filter(|l| *l != interface).map(str::to_string);
            addresses.push(Address {
                interface: interface.clone(),
                address,
                prefix_length: info["prefixlen"].as_u64().unwrap() as u8,
                label,
                deprecated: address.is_ipv6() && info["deprecated"].as_bool().unwrap_or(false),
            });
        }
    }
    addresses.sort();
    addresses
}

/// What `ip -d -j [-6] route show table all` says, in the model, filtered like the reader.
fn routes_from_ip() -> Vec<Route> {
    let mut routes = Vec::new();
    for (family, zero) in [("-4", "0.0.0.0"), ("-6", "::")] {
        for entry in ip_json(&format!("{family} -d -j route show table all")) {
            let kind = match str_of(&entry, "type").unwrap() {
                "unicast" => RouteType::Unicast,
                "local" => RouteType::Local,
                "blackhole" => RouteType::Blackhole,
                "unreachable" => RouteType::Unreachable,
                _ => continue,
            };
            let scope = match str_of(&entry, "scope").unwrap() {
                "global" => RouteScope::Universe,
                "link" => RouteScope::Link,
                "host" => RouteScope::Host,
                _ => continue,
            };
            let dst = str_of(&entry, "dst").unwrap();
            let (destination, prefix_length) = match dst {
                "default" => (zero.parse::<IpAddr>().unwrap(), 0),
                dst => match dst.split_once('/') {
                    Some((address, length)) => (address.parse().unwrap(), length.parse().unwrap()),
                    None => {
                        let address: IpAddr = dst.parse().unwrap();
                        (address, if address.is_ipv4() { 32 } else { 128 })
                    }
                },
            };
            if let IpAddr::V6(v6) = destination {
                if is_ipv6_link_local(&v6) || v6.is_multicast() {
                    continue;
                }
            }
            let table = match str_of(&entry, "table").unwrap() {
                "main" => TABLE_MAIN,
                "local" => TABLE_LOCAL,
                "default" => 253,
                number => number.parse().unwrap(),
            };
            routes.push(Route {
                table,
                kind,
                destination,
                prefix_length,
                metric: entry.get("metric").and_then(Value::as_u64).unwrap_or(0) as u32,
                // ip prints "dev" for blackhole/unreachable IPv6 routes too (they point at lo).
                device: str_of(&entry, "dev").map(str::to_string),
                gateway: str_of(&entry, "gateway").map(|g| g.parse().unwrap()),
                scope,
                source: str_of(&entry, "prefsrc").map(|s| s.parse().unwrap()),
            });
        }
    }
    routes.sort();
    routes
}

fn assert_reads_match_ip(client: &mut RouteClient) {
    assert_eq!(client.links().unwrap(), links_from_ip(), "links");
    assert_eq!(client.addresses().unwrap(), addresses_from_ip(), "addresses");
    assert_eq!(client.routes().unwrap(), routes_from_ip(), "routes");
}

fn vip(interface: &str, address: &str, prefix_length: u8, label: Option<&str>) -> Address {
    Address {
        interface: interface.into(),
        address: address.parse().unwrap(),
        prefix_length,
        label: label.map(str::to_string),
        deprecated: false,
    }
}

fn route(table: u32, kind: RouteType, destination: &str, prefix_length: u8, device: Option<&str>) -> Route {
    Route {
        table,
        kind,
        destination: destination.parse().unwrap(),
        prefix_length,
        metric: 0,
        device: device.map(str::to_string),
        gateway: None,
        scope: RouteScope::Universe,
        source: None,
    }
}

fn tunnel(name: &str, local: Option<&str>, remote: Option<&str>, ttl: u8, pmtudisc: bool) -> Link {
    Link {
        name: name.into(),
        kind: LinkKind::Ipip {
            local: local.map(|l| l.parse().unwrap()),
            remote: remote.map(|r| r.parse().unwrap()),
            ttl,
            pmtudisc,
        },
        up: None,
        mtu: None,
    }
}

fn find_link(client: &mut RouteClient, name: &str) -> Option<Link> {
    client.links().unwrap().into_iter().find(|l| l.name == name)
}

fn ifindex(name: &str) -> u64 {
    ip_json(&format!("-j link show {name}"))[0]["ifindex"].as_u64().unwrap()
}

/// State made with `ip` (tunnels, tunl0 up with an MTU, labelled and IPv6 addresses, the
/// same VIP on lo and tunl0, routes in local, main and a numbered table) reads back as `ip`
/// shows it.
#[test]
#[ignore = "needs root and a real kernel; see the module doc"]
fn live_reads_match_ip() {
    if !fresh_namespace() {
        return;
    }
    let ipip = has_ipip();
    ip("link set lo up");
    ip("addr add 203.0.113.100/32 dev lo");
    ip("addr add 203.0.113.101/32 dev lo label lo:vip");
    ip("-6 addr add 2001:db8::100/128 dev lo nodad");
    ip("route add local 203.0.113.102/32 dev lo table local");
    ip("route add blackhole 10.99.0.0/16 table 1000 metric 7");
    ip("route add unreachable 10.98.0.0/16");
    ip("-6 route add unreachable 2001:db8:1::/48 table 1000");
    ip("route add 198.51.100.0/24 dev lo table 100 src 203.0.113.100 scope link");
    if try_ip("link add dummy0 type dummy").is_ok() {
        ip("link set dummy0 up mtu 1400");
        ip("addr add 192.0.2.10/24 dev dummy0");
        ip("addr add 192.0.2.11/24 dev dummy0 label dummy0:1");
        ip("route add 198.51.100.0/24 via 192.0.2.1 metric 5");
    } else {
        eprintln!("note: no dummy interfaces in this kernel; ethernet checks skipped");
    }
    if ipip {
        ip("link add tun1 type ipip local 203.0.113.100 remote 198.51.100.22 ttl 64");
        ip("link add tun2 type ipip remote 198.51.100.33 nopmtudisc");
        ip("link add tun3 type ipip local 203.0.113.101");
        ip("link set tunl0 up mtu 1400");
        ip("link set tun1 up");
        ip("addr add 203.0.113.100/32 dev tunl0");
        ip("addr add 10.9.0.1/30 dev tun1");
    }
    let mut client = RouteClient::connect().unwrap();
    assert_reads_match_ip(&mut client);
    if ipip {
        assert_eq!(
            find_link(&mut client, "tunl0").unwrap(),
            Link { up: Some(true), mtu: Some(1400), ..tunnel("tunl0", None, None, 0, false) }
        );
        let tun1 = find_link(&mut client, "tun1").unwrap();
        assert_eq!(tun1.kind, tunnel("tun1", Some("203.0.113.100"), Some("198.51.100.22"), 64, true).kind);
        assert_eq!(tun1.up, Some(true));
        assert_eq!(
            find_link(&mut client, "tun2").unwrap().kind,
            tunnel("", None, Some("198.51.100.33"), 0, false).kind
        );
        assert_eq!(find_link(&mut client, "tun3").unwrap().kind, tunnel("", Some("203.0.113.101"), None, 0, true).kind);
    }
    let addresses = client.addresses().unwrap();
    assert!(addresses.contains(&vip("lo", "203.0.113.100", 32, None)));
    assert!(addresses.contains(&vip("lo", "203.0.113.101", 32, Some("lo:vip"))));
    assert!(addresses.contains(&vip("lo", "2001:db8::100", 128, None)));
    let routes = client.routes().unwrap();
    assert!(routes.contains(&Route {
        scope: RouteScope::Host,
        ..route(TABLE_LOCAL, RouteType::Local, "203.0.113.102", 32, Some("lo"))
    }));
    assert!(routes.contains(&Route { metric: 7, ..route(1000, RouteType::Blackhole, "10.99.0.0", 16, None) }));
    assert!(routes.iter().any(|r| r.table == 1000 && r.destination == "2001:db8:1::".parse::<IpAddr>().unwrap()));
    assert!(!routes.iter().any(|r| matches!(r.destination, IpAddr::V6(v6) if is_ipv6_link_local(&v6))));
}

/// A deprecated IPv6 address is added and changed in place like `ip addr add|change …
/// preferred_lft 0|forever`: the kernel flags it deprecated, reads back equal, and no longer
/// picks it as a source while it stays on the interface.
#[test]
#[ignore = "needs root and a real kernel; see the module doc"]
fn live_deprecated_address_is_no_source_and_changes_in_place() {
    if !fresh_namespace() {
        return;
    }
    if try_ip("link add eth0 type veth peer name peer0").is_err() {
        eprintln!("SKIPPED: no veth interfaces in this kernel");
        return;
    }
    ip("link set peer0 up");
    ip("link set eth0 up");
    let mut client = RouteClient::connect().unwrap();
    let own = vip("eth0", "2001:db8:1::10", 64, None);
    client.add_address(&own).unwrap();
    let mut vip_address = vip("eth0", "2001:db8:1::100", 128, None);
    vip_address.deprecated = true;
    client.add_address(&vip_address).unwrap();
    assert!(client.addresses().unwrap().contains(&vip_address));
    assert_reads_match_ip(&mut client);
    let shown = ip("-6 addr show dev eth0 to 2001:db8:1::100/128");
    assert!(shown.contains("deprecated") && !shown.contains("tentative"), "{shown}");
    let source = || ip("-6 route get 2001:db8:1::11");
    assert!(source().contains("src 2001:db8:1::10 "), "{}", source());

    let preferred = Address { deprecated: false, ..vip_address.clone() };
    client.change_address(&preferred).unwrap();
    let read = client.addresses().unwrap();
    assert!(read.contains(&preferred), "{read:?}");
    assert!(!ip("-6 addr show dev eth0 to 2001:db8:1::100/128").contains("deprecated"));
    assert!(source().contains("src 2001:db8:1::100 "), "a preferred VIP is the source again: {}", source());
    client.change_address(&vip_address).unwrap();
    assert!(client.addresses().unwrap().contains(&vip_address));
    assert!(source().contains("src 2001:db8:1::10 "), "{}", source());
}

/// Every write reaches the kernel as `ip` would make it, and what the client writes reads
/// back equal; refusals are specific.
#[test]
#[ignore = "needs root and a real kernel; see the module doc"]
fn live_writes_take_effect() {
    if !fresh_namespace() {
        return;
    }
    let ipip = has_ipip();
    let mut client = RouteClient::connect().unwrap();

    // lo: admin state and MTU
    client.set_up("lo", true).unwrap();
    client.set_mtu("lo", 16384).unwrap();
    let lo = find_link(&mut client, "lo").unwrap();
    assert_eq!((lo.up, lo.mtu), (Some(true), Some(16384)));
    let before = lo.clone();
    client.update_link(&before, &Link { up: None, mtu: Some(65536), ..before.clone() }).unwrap();
    assert_eq!(find_link(&mut client, "lo").unwrap().mtu, Some(65536));

    // addresses
    let v4 = vip("lo", "203.0.113.100", 32, None);
    let labelled = vip("lo", "203.0.113.101", 32, Some("lo:vip"));
    let v6 = vip("lo", "2001:db8::100", 128, None);
    for address in [&v4, &labelled, &v6] {
        client.add_address(address).unwrap();
    }
    let read = client.addresses().unwrap();
    for address in [&v4, &labelled, &v6] {
        assert!(read.contains(address), "{address:?} in {read:?}");
    }
    let text = ip("-6 addr show dev lo");
    assert!(!text.contains("tentative"), "nodad: usable at once\n{text}");
    assert!(ip("-4 addr show dev lo").contains("lo:vip"));
    let again = client.add_address(&v4).unwrap_err();
    eprintln!("refused as expected: {again}");
    assert_eq!(again.errno(), Some(errno::EEXIST), "{again}");
    assert!(again.to_string().starts_with("adding 203.0.113.100/32 to lo: File exists (EEXIST)"), "{again}");
    let nowhere = client.add_address(&vip("eth7", "192.0.2.1", 24, None)).unwrap_err();
    eprintln!("refused as expected: {nowhere}");
    assert!(matches!(nowhere, RouteNetlinkError::NoSuchInterface { .. }), "{nowhere}");
    assert!(nowhere.to_string().contains("does interface eth7 exist?"), "{nowhere}");
    client.delete_address(&labelled).unwrap();
    assert!(!client.addresses().unwrap().contains(&labelled));
    let gone = client.delete_address(&labelled).unwrap_err();
    eprintln!("refused as expected: {gone}");
    assert_eq!(gone.errno(), Some(errno::EADDRNOTAVAIL), "{gone}");

    // routes
    let local =
        Route { scope: RouteScope::Host, ..route(TABLE_LOCAL, RouteType::Local, "203.0.113.102", 32, Some("lo")) };
    let blackhole = Route { metric: 7, ..route(1000, RouteType::Blackhole, "10.99.0.0", 16, None) };
    let v6_unreachable = route(1000, RouteType::Unreachable, "2001:db8:1::", 48, None);
    let sourced = Route {
        scope: RouteScope::Link,
        source: Some("203.0.113.100".parse().unwrap()),
        ..route(100, RouteType::Unicast, "198.51.100.0", 24, Some("lo"))
    };
    for r in [&local, &blackhole, &sourced] {
        client.add_route(r).unwrap();
    }
    // An IPv6 route always has a metric: the kernel makes 0 into 1024.
    client.add_route(&Route { metric: 1024, ..v6_unreachable.clone() }).unwrap();
    let routes = client.routes().unwrap();
    for r in [&local, &blackhole, &sourced] {
        assert!(routes.contains(r), "{r:?} in {routes:?}");
    }
    assert!(
        routes.iter().any(|r| r.table == 1000 && r.kind == RouteType::Unreachable && r.metric == 1024),
        "{routes:?}"
    );
    let proto = ip_json("-d -j route show table local 203.0.113.102");
    assert_eq!(str_of(&proto[0], "protocol"), Some("static"));
    assert!(ip("route show table 1000").contains("blackhole 10.99.0.0/16 proto static metric 7"));
    let twice = client.add_route(&blackhole).unwrap_err();
    eprintln!("refused as expected: {twice}");
    assert_eq!(twice.errno(), Some(errno::EEXIST), "{twice}");
    // replace: same key, new scope and no source
    let replaced = Route { scope: RouteScope::Universe, source: None, ..sourced.clone() };
    client.replace_route(&replaced).unwrap();
    let routes = client.routes().unwrap();
    assert!(routes.contains(&replaced) && !routes.contains(&sourced), "{routes:?}");
    assert_eq!(routes.iter().filter(|r| r.key() == replaced.key()).count(), 1, "replaced, not added");
    for r in [&local, &blackhole, &replaced] {
        client.delete_route(r).unwrap();
    }
    let routes = client.routes().unwrap();
    assert!(!routes.iter().any(|r| [&local, &blackhole, &replaced].iter().any(|d| d.key() == r.key())), "{routes:?}");
    let missing = client.delete_route(&blackhole).unwrap_err();
    eprintln!("refused as expected: {missing}");
    assert_eq!(missing.errno(), Some(errno::ESRCH), "{missing}");
    assert!(
        missing.to_string().starts_with("deleting route blackhole 10.99.0.0/16 table 1000 metric 7: "),
        "{missing}"
    );

    if !ipip {
        return;
    }
    // tunnels: create with MTU and admin state
    let tun1 = Link {
        up: Some(true),
        mtu: Some(1400),
        ..tunnel("tun1", Some("203.0.113.100"), Some("198.51.100.22"), 64, true)
    };
    client.create_tunnel(&tun1).unwrap();
    assert_eq!(find_link(&mut client, "tun1").unwrap(), tun1);
    assert_reads_match_ip(&mut client);

    // a second any/any ipip device is tunl0's twin
    let twin = client.create_tunnel(&tunnel("tun9", None, None, 0, true)).unwrap_err();
    eprintln!("refused as expected: {twin}");
    assert_eq!(twin.errno(), Some(errno::EEXIST), "{twin}");
    assert!(twin.to_string().contains("configure tunl0 instead or give the tunnel a local/remote address"), "{twin}");
    // the same endpoints twice
    let same =
        client.create_tunnel(&tunnel("tun8", Some("203.0.113.100"), Some("198.51.100.22"), 0, true)).unwrap_err();
    eprintln!("refused as expected: {same}");
    assert_eq!(same.errno(), Some(errno::EEXIST), "{same}");

    // in place: new remote, TTL and PMTU discovery, same device
    let index = ifindex("tun1");
    client.add_address(&vip("tun1", "10.9.0.1", 30, None)).unwrap();
    let changed =
        Link { up: None, mtu: None, ..tunnel("tun1", Some("203.0.113.100"), Some("198.51.100.33"), 0, false) };
    client.update_link(&tun1, &changed).unwrap();
    let now = find_link(&mut client, "tun1").unwrap();
    assert_eq!(now.kind, changed.kind);
    assert_eq!((now.up, now.mtu), (Some(true), Some(1400)), "MTU and state untouched");
    assert_eq!(ifindex("tun1"), index, "changed in place");
    assert!(ip("-d link show tun1").contains("remote 198.51.100.33"));

    // fixed remote -> any remote: recreated, with its address and static route put back
    let on_tunnel =
        Route { scope: RouteScope::Link, ..route(TABLE_MAIN, RouteType::Unicast, "198.51.100.128", 25, Some("tun1")) };
    client.add_route(&on_tunnel).unwrap();
    let any_remote = Link { up: None, mtu: None, ..tunnel("tun1", Some("203.0.113.100"), None, 0, true) };
    client.update_link(&now, &any_remote).unwrap();
    let recreated = find_link(&mut client, "tun1").unwrap();
    assert_eq!(recreated.kind, any_remote.kind);
    assert_eq!((recreated.up, recreated.mtu), (Some(true), Some(1400)));
    assert_ne!(ifindex("tun1"), index, "a new device");
    assert!(client.addresses().unwrap().contains(&vip("tun1", "10.9.0.1", 30, None)));
    assert!(client.routes().unwrap().contains(&on_tunnel), "static route put back");

    // tunl0: MTU and state only
    let tunl0 = find_link(&mut client, "tunl0").unwrap();
    client.update_link(&tunl0, &Link { up: Some(true), mtu: Some(1300), ..tunl0.clone() }).unwrap();
    let tunl0_now = find_link(&mut client, "tunl0").unwrap();
    assert_eq!((tunl0_now.up, tunl0_now.mtu), (Some(true), Some(1300)));
    let endpoints = client.update_link(&tunl0, &tunnel("tunl0", None, Some("192.0.2.1"), 0, true)).unwrap_err();
    eprintln!("refused as expected: {endpoints}");
    assert!(endpoints.to_string().contains("cannot be changed"), "{endpoints}");
    let delete_tunl0 = client.delete_link("tunl0").unwrap_err();
    eprintln!("refused as expected: {delete_tunl0}");
    assert!(delete_tunl0.to_string().contains("cannot be deleted"), "{delete_tunl0}");

    // MTU out of range
    let huge = client.set_mtu("tun1", 70000).unwrap_err();
    eprintln!("refused as expected: {huge}");
    assert_eq!(huge.errno(), Some(errno::EINVAL), "{huge}");

    client.delete_link("tun1").unwrap();
    assert!(find_link(&mut client, "tun1").is_none());
    let twice = client.delete_link("tun1").unwrap_err();
    eprintln!("refused as expected: {twice}");
    assert!(matches!(twice, RouteNetlinkError::NoSuchInterface { .. }), "{twice}");
    assert_reads_match_ip(&mut client);
}

/// The namespace the test runs in, as it is (a host's or VM's real interfaces and routes),
/// reads as `ip` shows it. Changes nothing.
#[test]
#[ignore = "needs a real kernel; see the module doc"]
fn live_reads_match_ip_in_this_namespace() {
    let mut client = RouteClient::connect().unwrap();
    assert_reads_match_ip(&mut client);
}

/// A link change made of several requests that fails halfway puts the interface back as it
/// was; if that fails too, the error says the interface is left changed. Faults are injected
/// at the later request (LVS_CONVERGE_FAULT), the kernel does the rest.
#[test]
#[ignore = "needs a real kernel; see the module doc"]
fn live_failed_link_changes_put_the_interface_back() {
    if !fresh_namespace() || !has_ipip() {
        return;
    }
    let mut client = RouteClient::connect().unwrap();
    let fixed = Link {
        up: Some(true),
        mtu: Some(1400),
        ..tunnel("tun1", Some("203.0.113.100"), Some("198.51.100.22"), 0, true)
    };
    client.create_tunnel(&fixed).unwrap();
    client.add_address(&vip("tun1", "10.9.0.1", 30, None)).unwrap();
    let on_tunnel =
        Route { scope: RouteScope::Link, ..route(TABLE_MAIN, RouteType::Unicast, "198.51.100.128", 25, Some("tun1")) };
    client.add_route(&on_tunnel).unwrap();
    let fixed = find_link(&mut client, "tun1").unwrap();
    // A rebuilt device has a new index; everything else is as it was.
    let addresses_of_tun1 =
        || ip("-o addr show dev tun1").lines().map(|l| l.split_once(':').unwrap().1.to_string()).collect::<Vec<_>>();
    let start = addresses_of_tun1();

    // fixed remote -> any remote is a delete and a create: the create is refused
    let any_remote = Link { up: None, mtu: None, ..tunnel("tun1", Some("203.0.113.100"), None, 0, true) };
    std::env::set_var("LVS_CONVERGE_FAULT", "fail-at:tunnel-create");
    let refused = client.update_link(&fixed, &any_remote).unwrap_err();
    eprintln!("refused as expected: {refused}");
    assert!(!refused.may_have_changed_the_host(), "{refused}");
    assert_eq!(find_link(&mut client, "tun1").as_ref(), Some(&fixed), "the old tunnel is back");
    assert_eq!(addresses_of_tun1(), start, "with its address");
    assert!(client.routes().unwrap().contains(&on_tunnel), "and its route");

    // and putting it back is refused as well: the error says the tunnel is left changed
    std::env::set_var("LVS_CONVERGE_FAULT", "fail-always-at:tunnel-create");
    let lost = client.update_link(&fixed, &any_remote).unwrap_err();
    eprintln!("refused as expected: {lost}");
    assert!(lost.may_have_changed_the_host(), "{lost}");
    assert!(lost.to_string().contains("tun1 is left changed"), "{lost}");
    assert!(find_link(&mut client, "tun1").is_none(), "the report matches the kernel: tun1 is gone");

    // in place: the new endpoint is taken, the MTU refused: the endpoint is set back
    client.create_tunnel(&fixed).unwrap();
    let fixed = find_link(&mut client, "tun1").unwrap();
    let moved = Link { mtu: Some(1300), ..tunnel("tun1", Some("203.0.113.100"), Some("198.51.100.33"), 0, true) };
    std::env::set_var("LVS_CONVERGE_FAULT", "fail-at:link-set-mtu");
    let refused = client.update_link(&fixed, &moved).unwrap_err();
    eprintln!("refused as expected: {refused}");
    assert!(!refused.may_have_changed_the_host(), "{refused}");
    assert_eq!(find_link(&mut client, "tun1").as_ref(), Some(&fixed), "endpoint set back");
    std::env::remove_var("LVS_CONVERGE_FAULT");
}
