//! A stale saved plan's words: what changed on the host since the plan was made.

use std::fmt;

use super::change::{address_fields, changed_fields, describe, destination_id, ChangeView};
use crate::model::duration::Seconds;
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::compare::HostDifference;
use crate::plan::saved::{ObservedFrom, Stale, Staleness};
use crate::plan::Action;

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
        HostDifference::IpvsTimeoutsGone => {
            ChangeView::bare(Subsystem::Ipvs, Action::Delete, "ipvs connection timeouts", String::new())
        }
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
impl fmt::Display for HostDifference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&describe_difference(self).object())
    }
}

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.plan_file.display();
        let age = Seconds(u32::try_from(self.age).unwrap_or(u32::MAX));
        match (&self.why, &self.made.observed_from) {
            (Staleness::PlanDiffers(difference), _) => {
                write!(f, "saved plan {file} does not fit this host: {difference}")?
            }
            (Staleness::HostChanged(_), ObservedFrom::Live) => {
                write!(f, "saved plan {file} is stale: the host changed since the plan was made {age} ago:")?
            }
            (Staleness::HostChanged(_), ObservedFrom::Snapshot { path }) => write!(
                f,
                "saved plan {file} is stale: this host differs from snapshot {} that the plan was made from {age} ago:",
                path.display()
            )?,
        }
        if let Staleness::HostChanged(changed) = &self.why {
            write_changed(f, changed)?;
        }
        let node = self.made.node.as_ref().map(|n| format!(" --node {n}")).unwrap_or_default();
        write!(
            f,
            "\n  nothing was changed.\n  hint: run `lvs-converge plan -f {}{node} --out {file}` again, review it, and apply the new plan",
            self.made.spec.path.display()
        )
    }
}

/// What appeared, changed or went away, one object a line.
fn write_changed(f: &mut fmt::Formatter<'_>, changed: &[HostDifference]) -> fmt::Result {
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
    use crate::plan::{Change, ModuleChange};

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
}
