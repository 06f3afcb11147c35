//! Interfaces: tunnels with their endpoints, as `ip -d link` names them; any interface's
//! state and MTU.

use super::{all_fields, changed_fields, to_json, ChangeView};
use crate::model::links::{Link, LinkKind};
use crate::model::Subsystem;
use crate::plan::{Action, LinkChange};

fn any<T: ToString>(address: &Option<T>) -> String {
    address.as_ref().map_or_else(|| "any".to_string(), T::to_string)
}

fn inherit(ttl: u8) -> String {
    if ttl == 0 {
        "inherit".to_string()
    } else {
        ttl.to_string()
    }
}

fn on_off(on: bool) -> String {
    if on { "on" } else { "off" }.to_string()
}

/// The tunnel parameters lvs-converge manages, in `ip -d link` words. A fallback device's
/// are the kernel's, except ip6tnl0's mode and gre0's icsum.
fn tunnel_fields(link: &Link) -> Vec<(&'static str, String)> {
    let fallback = link.is_fallback_tunnel();
    match &link.kind {
        LinkKind::Ip6tnl { mode, .. } if fallback => vec![("mode", mode.to_string())],
        LinkKind::Gre { require_checksum, .. } if fallback => vec![("icsum", on_off(*require_checksum))],
        _ if fallback => vec![],
        LinkKind::Gre { local, remote, ttl, pmtudisc, require_checksum } => vec![
            ("local", any(local)),
            ("remote", any(remote)),
            ("ttl", inherit(*ttl)),
            ("pmtudisc", on_off(*pmtudisc)),
            ("icsum", on_off(*require_checksum)),
        ],
        LinkKind::Ipip { local, remote, ttl, pmtudisc } | LinkKind::Sit { local, remote, ttl, pmtudisc } => vec![
            ("local", any(local)),
            ("remote", any(remote)),
            ("ttl", inherit(*ttl)),
            ("pmtudisc", on_off(*pmtudisc)),
        ],
        LinkKind::Ip6tnl { local, remote, hop_limit, mode } => vec![
            ("mode", mode.to_string()),
            ("local", any(local)),
            ("remote", any(remote)),
            ("hoplimit", inherit(*hop_limit)),
        ],
        LinkKind::Ip6gre { local, remote, hop_limit } => {
            vec![("local", any(local)), ("remote", any(remote)), ("hoplimit", inherit(*hop_limit))]
        }
        LinkKind::Other { .. } => vec![],
    }
}

fn link_fields(link: &Link) -> Vec<(&'static str, String)> {
    let mut fields = tunnel_fields(link);
    if let Some(up) = link.up {
        fields.push(("state", if up { "up" } else { "down" }.to_string()));
    }
    if let Some(mtu) = link.mtu {
        fields.push(("mtu", mtu.to_string()));
    }
    fields
}

/// What a link is, for people: its kind as `ip -d link` names it.
pub fn kind(link: &Link) -> &'static str {
    match link.kind {
        LinkKind::Ipip { .. } => "ipip tunnel",
        LinkKind::Gre { .. } => "gre tunnel",
        LinkKind::Sit { .. } => "sit tunnel",
        LinkKind::Ip6tnl { .. } => "ip6tnl tunnel",
        LinkKind::Ip6gre { .. } => "ip6gre tunnel",
        LinkKind::Other { .. } => "interface",
    }
}

pub fn describe(change: &LinkChange) -> ChangeView {
    let (action, fields, before, after) = match change {
        LinkChange::Create { after } => {
            (Action::Create, all_fields(link_fields(after), Action::Create), None, Some(after))
        }
        LinkChange::Update { before, after } => {
            // Only the fields the spec manages: an unmanaged MTU is not a change.
            let managed: Vec<_> = link_fields(after).into_iter().map(|(name, _)| name).collect();
            let old: Vec<_> = link_fields(before).into_iter().filter(|(name, _)| managed.contains(name)).collect();
            (Action::Update, changed_fields(&old, &link_fields(after)), Some(before), Some(after))
        }
        LinkChange::Delete { before } => {
            (Action::Delete, all_fields(link_fields(before), Action::Delete), Some(before), None)
        }
    };
    let link = change.link();
    ChangeView {
        subsystem: Subsystem::Links,
        action,
        kind: kind(link),
        id: link.name.clone(),
        fields,
        before: before.map(to_json),
        after: after.map(to_json),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(yaml: &str) -> ChangeView {
        describe(&LinkChange::Create { after: serde_yaml::from_str(yaml).unwrap() })
    }

    fn fields(view: &ChangeView) -> Vec<(String, String)> {
        view.fields.iter().map(|f| (f.name.clone(), f.after.clone().unwrap_or_default())).collect()
    }

    #[test]
    fn each_tunnel_kind_reads_as_ip_link_names_it() {
        let gre = view("{ name: gre1, type: gre, remote: 192.0.2.1, ttl: 64 }");
        assert_eq!(gre.object(), "gre tunnel gre1");
        let words = |v: &[(&str, &str)]| v.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>();
        assert_eq!(
            fields(&gre),
            words(&[("local", "any"), ("remote", "192.0.2.1"), ("ttl", "64"), ("pmtudisc", "on"), ("icsum", "off")])
        );
        assert_eq!(view("{ name: sit1, type: sit }").object(), "sit tunnel sit1");
        let ip6tnl = view("{ name: t6, type: ip6tnl, local: '2001:db8::1', mode: ipip6, up: true }");
        assert_eq!(ip6tnl.object(), "ip6tnl tunnel t6");
        assert_eq!(
            fields(&ip6tnl),
            words(&[
                ("mode", "ipip6"),
                ("local", "2001:db8::1"),
                ("remote", "any"),
                ("hoplimit", "64"),
                ("state", "up")
            ])
        );
        let ip6gre = view("{ name: g6, type: ip6gre, hopLimit: 0 }");
        assert_eq!(ip6gre.object(), "ip6gre tunnel g6");
        assert_eq!(fields(&ip6gre), words(&[("local", "any"), ("remote", "any"), ("hoplimit", "inherit")]));
        assert_eq!(ip6gre.after.unwrap()["type"], "ip6gre");
    }

    #[test]
    fn a_fallback_shows_only_what_is_managed_ip6tnl0_its_mode_and_gre0_its_icsum() {
        let gre0 = view("{ name: gre0, type: gre, up: true }");
        assert_eq!(fields(&gre0), [("icsum".to_string(), "off".to_string()), ("state".to_string(), "up".to_string())]);
        let sit0 = view("{ name: sit0, type: sit, up: true }");
        assert_eq!(fields(&sit0), [("state".to_string(), "up".to_string())]);
        let before: Link = serde_yaml::from_str("{ name: gre0, type: gre, pmtudisc: false }").unwrap();
        let after = Link {
            kind: before
                .kind
                .configured_fallback(&serde_yaml::from_str("{ type: gre, requireChecksum: true }").unwrap()),
            ..before.clone()
        };
        let update = describe(&LinkChange::Update { before, after });
        assert_eq!(update.fields.len(), 1, "{:?}", update.fields);
        assert_eq!(
            (update.fields[0].name.as_ref(), update.fields[0].before.as_deref(), update.fields[0].after.as_deref()),
            ("icsum", Some("off"), Some("on"))
        );
        let before: Link = serde_yaml::from_str("{ name: ip6tnl0, type: ip6tnl, hopLimit: 0, mode: ip6ip6 }").unwrap();
        let after = Link {
            kind: before.kind.configured_fallback(&serde_yaml::from_str("{ type: ip6tnl, mode: any }").unwrap()),
            ..before.clone()
        };
        let update = describe(&LinkChange::Update { before, after });
        assert_eq!(update.fields.len(), 1, "{:?}", update.fields);
        assert_eq!(update.fields[0].name, "mode");
        assert_eq!(
            (update.fields[0].before.as_deref(), update.fields[0].after.as_deref()),
            (Some("ip6ip6"), Some("any"))
        );
    }
}
