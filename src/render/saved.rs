//! A refused saved plan's words: why it was refused, and for a stale one what changed on
//! the host since the plan was made.

use std::fmt::{self, Write as _};

use super::change::{self, address_fields, changed_fields, describe, destination_id, ChangeView};
use crate::model::duration::Seconds;
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::compare::HostDifference;
use crate::plan::saved::{
    Inconsistency, ObservedFrom, PlanDifference, SavedPlanError, Stale, Staleness, FORMAT_VERSION, TOOL_VERSION,
};
use crate::plan::{Action, Change};

/// Why the saved plan was refused, with the hint that gets past it.
pub fn saved_plan_error(error: &SavedPlanError) -> String {
    match error {
        SavedPlanError::Io { path, action, source } => format!("{action} saved plan {}: {source}", path.display()),
        SavedPlanError::Foreign { path, reason } => format!(
            "{} is not an lvs-converge saved plan: {reason}\n  hint: saved plans are written by `lvs-converge plan -f SPEC --out FILE`",
            path.display()
        ),
        SavedPlanError::NewerFormat { path, found } => format!(
            "saved plan {} has format version {found}, newer than this lvs-converge ({TOOL_VERSION}) reads ({FORMAT_VERSION})\n  hint: apply it with the lvs-converge that wrote it, or plan again with this one",
            path.display()
        ),
        SavedPlanError::OtherToolVersion { path, found } => format!(
            "saved plan {} was made by lvs-converge {found}; this is {TOOL_VERSION}\n  hint: apply it with lvs-converge {found}, or plan again with this one",
            path.display()
        ),
        SavedPlanError::Corrupt { path, message } => {
            format!("saved plan {} is corrupt: {message}\n  hint: plan again to write a new one", path.display())
        }
        SavedPlanError::SnapshotTooNarrow { snapshot, what } => format!(
            "cannot save a plan made from snapshot {}: the snapshot does not hold {what}, which `apply` would read on the host, so the plan could never apply\n  hint: plan on the host itself (`lvs-converge plan -f SPEC --out FILE`), or drop --out to review the snapshot plan only",
            snapshot.display()
        ),
        SavedPlanError::OtherContext { path, option, planned, given } => format!(
            "saved plan {} was made with {}, but this apply has {}\n  hint: apply with the plan's {option} (or none: it is taken from the plan), or plan again",
            path.display(),
            show(option, planned),
            show(option, given)
        ),
        SavedPlanError::InvalidSpec { path, source } => format!(
            "the spec saved in plan {} is not valid (it is checked as `validate` checks a spec file):\n{source}\n  nothing was changed.\n  hint: fix the spec, then plan again: `lvs-converge plan -f SPEC --out FILE`",
            path.display()
        ),
        SavedPlanError::Inconsistent { path, difference } => format!(
            "saved plan {} is not what `lvs-converge plan` makes: {}\n  nothing was changed.\n  hint: a saved plan is applied only as `plan --out` wrote it; plan again and apply the new file",
            path.display(),
            inconsistency(difference)
        ),
    }
}

/// `--netns lb`, or `no --netns`.
fn show(option: &str, value: &Option<String>) -> String {
    value.as_deref().map_or_else(|| format!("no {option}"), |v| format!("{option} {v}"))
}

fn inconsistency(difference: &Inconsistency) -> String {
    match difference {
        Inconsistency::SpecDigest => "its spec text does not have the spec's sha256".into(),
        Inconsistency::Node { resolved, named } => format!(
            "its spec resolves for node {}, but the plan names node {}",
            resolved.as_deref().unwrap_or("(none)"),
            named.as_deref().unwrap_or("(none)")
        ),
        Inconsistency::Desired { first } => format!(
            "its desired state is not what its spec gives{}",
            first.as_ref().map(|first| format!(" (first: {})", difference_object(first))).unwrap_or_default()
        ),
        Inconsistency::Ownership => "its ownership (prune, managed files) is not what its spec gives".into(),
        Inconsistency::Origins => "its origins are not what its spec gives".into(),
        Inconsistency::RelativeRoot(root) => format!("its root {} is not an absolute path", root.display()),
        Inconsistency::Plan(difference) => plan_difference(difference),
    }
}

/// `change 2 is `…`, but its desired state gives `…` there`: where a saved plan departs.
fn plan_difference(difference: &PlanDifference) -> String {
    let named = |change: &Change| format!("{} {}", change::action_word(change.action()), change::object(change));
    match difference {
        PlanDifference::Differs { number, saved, expected } if named(saved) == named(expected) => {
            format!("change {number} ({}) holds other values than its desired state gives", named(saved))
        }
        PlanDifference::Differs { number, saved, expected } => {
            format!("change {number} is `{}`, but its desired state gives `{}` there", named(saved), named(expected))
        }
        PlanDifference::Extra { number, saved } => {
            format!("change {number} (`{}`) is not one its desired state gives", named(saved))
        }
        PlanDifference::Missing { number, expected } => {
            format!("change {number} (`{}`) that its desired state gives is missing", named(expected))
        }
        PlanDifference::Unmanaged => "its list of unmanaged objects is not what its desired state gives".into(),
        PlanDifference::Draining => "its draining real servers are not what its desired state gives".into(),
    }
}

/// How one difference reads: the object, and for changes the fields that differ.
pub fn describe_difference(difference: &HostDifference) -> ChangeView {
    match difference {
        HostDifference::Changed(change) => describe(change),
        HostDifference::ModuleUnloaded(name) => {
            ChangeView::bare(Subsystem::Modules, Action::Delete, "kernel module", name.clone())
        }
        HostDifference::SysctlGone(key) => ChangeView::bare(Subsystem::Sysctl, Action::Delete, "sysctl", key.clone()),
        HostDifference::AddressRelabeled { before, after } => ChangeView {
            fields: changed_fields(&address_fields(before), &address_fields(after)),
            ..ChangeView::bare(Subsystem::Addresses, Action::Update, "address", after.key().to_string())
        },
        HostDifference::IpvsTimeoutsGone => ChangeView::bare(
            Subsystem::Ipvs,
            Action::Delete,
            "ipvs connection timeouts",
            super::change::TIMEOUTS_ID.to_string(),
        ),
        HostDifference::Drain { service, destination, before, after } => {
            let since = |value: &Option<u64>| value.iter().map(|s| ("since", s.to_string())).collect::<Vec<_>>();
            ChangeView {
                fields: changed_fields(&since(before), &since(after)),
                ..ChangeView::bare(
                    Subsystem::Ipvs,
                    difference.action(),
                    "ipvs drain of real server",
                    destination_id(service, destination),
                )
            }
        }
    }
}

/// `kind id`: the object that differs.
pub fn difference_object(difference: &HostDifference) -> String {
    describe_difference(difference).object()
}

/// Why a saved plan no longer fits the host, what changed, and how to plan again.
pub fn stale(stale: &Stale) -> String {
    let mut text = String::new();
    write_stale(&mut text, stale).expect("writing to a String");
    text
}

fn write_stale(f: &mut String, stale: &Stale) -> fmt::Result {
    let file = stale.plan_file.display();
    let age = Seconds(u32::try_from(stale.age).unwrap_or(u32::MAX));
    match (&stale.why, &stale.made.observed_from) {
        (Staleness::PlanDiffers(difference), _) => {
            write!(f, "saved plan {file} does not fit this host: {}", plan_difference(difference))?
        }
        (Staleness::HostNetworkdChanged, _) => write!(
            f,
            "saved plan {file} is stale: the host's own systemd-networkd files changed since the plan was made \
             {age} ago, and now call for other network files (a drop-in of the host's file, or a file of \
             lvs-converge's own)"
        )?,
        (Staleness::HostChanged(_), ObservedFrom::Live) => {
            write!(f, "saved plan {file} is stale: the host changed since the plan was made {age} ago:")?
        }
        (Staleness::HostChanged(_), ObservedFrom::Snapshot { path }) => write!(
            f,
            "saved plan {file} is stale: this host differs from snapshot {} that the plan was made from {age} ago:",
            path.display()
        )?,
    }
    if let Staleness::HostChanged(changed) = &stale.why {
        write_changed(f, changed)?;
    }
    let node = stale.made.node.as_ref().map(|n| format!(" --node {n}")).unwrap_or_default();
    write!(
        f,
        "\n  nothing was changed.\n  hint: run `lvs-converge plan -f {}{node} --out {file}` again, review it, and apply the new plan",
        stale.made.spec.path.display()
    )
}

/// What appeared, changed or went away, one object a line.
fn write_changed(f: &mut String, changed: &[HostDifference]) -> fmt::Result {
    for difference in changed {
        write!(f, "\n    {}", changed_line(difference))?;
    }
    if changed.is_empty() {
        f.write_str("\n    (its state differs, but no object does: connection timeouts or drain records)")?;
    }
    Ok(())
}

/// `changed  ipvs real server …: weight 1 → 5`.
fn changed_line(difference: &HostDifference) -> String {
    let view = describe_difference(difference);
    let what = match view.action {
        Action::Create => "appeared",
        Action::Update => "changed ",
        Action::Delete => "gone    ",
    };
    let mut line = format!("{what} {}", view.object());
    let fields: Vec<String> = view
        .fields
        .iter()
        .filter(|_| view.action == Action::Update)
        .map(|field| {
            let side = |value: &Option<String>| value.clone().unwrap_or_else(|| "(none)".into());
            format!("{} {} → {}", field.name, side(&field.before), side(&field.after))
        })
        .collect();
    if !fields.is_empty() {
        line.push_str(&format!(": {}", fields.join(", ")));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::addresses::Address;
    use crate::model::ipvs::{DestinationKey, Protocol, ServiceKey};
    use crate::plan::{Change, ModuleChange, SysctlChange};

    /// The variant's name. No wildcard: a new kind of difference does not compile until it
    /// is named here, and then the table below must describe it.
    fn variant(difference: &HostDifference) -> &'static str {
        match difference {
            HostDifference::Changed(_) => "Changed",
            HostDifference::ModuleUnloaded(_) => "ModuleUnloaded",
            HostDifference::SysctlGone(_) => "SysctlGone",
            HostDifference::AddressRelabeled { .. } => "AddressRelabeled",
            HostDifference::IpvsTimeoutsGone => "IpvsTimeoutsGone",
            HostDifference::Drain { .. } => "Drain",
        }
    }

    #[test]
    fn every_difference_reads_as_one_line() {
        let address = |label: &str| Address {
            interface: "lo".into(),
            address: "203.0.113.100".parse().unwrap(),
            prefix_length: 32,
            label: Some(label.into()),
            deprecated: false,
        };
        let service =
            ServiceKey::Address { protocol: Protocol::Tcp, address: "203.0.113.100".parse().unwrap(), port: 80 };
        let destination = DestinationKey { address: "192.0.2.11".parse().unwrap(), port: 80 };
        let drain = |before, after| HostDifference::Drain { service, destination, before, after };
        let table = [
            (
                HostDifference::Changed(Change::Module(ModuleChange::Load { name: "ipip".into() })),
                "appeared kernel module ipip",
            ),
            (HostDifference::ModuleUnloaded("ip_vs_wlc".into()), "gone     kernel module ip_vs_wlc"),
            (
                HostDifference::SysctlGone("net.ipv4.conf.tun1.rp_filter".into()),
                "gone     sysctl net.ipv4.conf.tun1.rp_filter",
            ),
            (
                HostDifference::AddressRelabeled { before: address("lo:a"), after: address("lo:b") },
                "changed  address 203.0.113.100/32 on lo: label lo:a → lo:b",
            ),
            (HostDifference::IpvsTimeoutsGone, "gone     ipvs connection timeouts"),
            (drain(None, Some(100)), "appeared ipvs drain of real server 192.0.2.11:80 of tcp 203.0.113.100:80"),
            (
                drain(Some(100), Some(200)),
                "changed  ipvs drain of real server 192.0.2.11:80 of tcp 203.0.113.100:80: since 100 → 200",
            ),
            (drain(Some(100), None), "gone     ipvs drain of real server 192.0.2.11:80 of tcp 203.0.113.100:80"),
        ];
        let named: std::collections::BTreeSet<&str> = table.iter().map(|(difference, _)| variant(difference)).collect();
        assert_eq!(named.len(), 6, "every kind of difference in the table: {named:?}");
        for (difference, line) in &table {
            assert_eq!(changed_line(difference), *line);
        }
    }

    /// A saved plan's change that names the same object and action as the recomputed one
    /// holds other values; one that names another is quoted beside it. render decides
    /// which by the words, as the plan check did when it made the text itself.
    #[test]
    fn a_departing_change_reads_by_whether_its_name_differs() {
        let set = |key: &str, after: &str| {
            Change::Sysctl(SysctlChange::Set { key: key.into(), before: Some("0".into()), after: after.into() })
        };
        let differs = |saved, expected| PlanDifference::Differs { number: 2, saved, expected };
        assert_eq!(
            plan_difference(&differs(set("net.ipv4.ip_forward", "2"), set("net.ipv4.ip_forward", "1"))),
            "change 2 (update sysctl net.ipv4.ip_forward) holds other values than its desired state gives"
        );
        assert_eq!(
            plan_difference(&differs(set("net.ipv4.ip_forward", "1"), set("net.ipv4.conf.all.arp_ignore", "1"))),
            "change 2 is `update sysctl net.ipv4.ip_forward`, but its desired state gives `update sysctl net.ipv4.conf.all.arp_ignore` there"
        );
        let missing = PlanDifference::Missing { number: 3, expected: set("net.ipv4.ip_forward", "1") };
        assert_eq!(
            plan_difference(&missing),
            "change 3 (`update sysctl net.ipv4.ip_forward`) that its desired state gives is missing"
        );
    }

    #[test]
    fn an_inconsistent_plan_names_the_file_the_difference_and_the_way_out() {
        let error =
            |difference| SavedPlanError::Inconsistent { path: "/tmp/p.json".into(), difference: Box::new(difference) };
        let first = HostDifference::ModuleUnloaded("ip_vs_wlc".into());
        assert_eq!(
            saved_plan_error(&error(Inconsistency::Desired { first: Some(first) })),
            "saved plan /tmp/p.json is not what `lvs-converge plan` makes: its desired state is not what its spec gives (first: kernel module ip_vs_wlc)\n  nothing was changed.\n  hint: a saved plan is applied only as `plan --out` wrote it; plan again and apply the new file"
        );
        assert!(saved_plan_error(&error(Inconsistency::Node { resolved: None, named: Some("lb1".into()) }))
            .contains(": its spec resolves for node (none), but the plan names node lb1\n"));
    }
}
