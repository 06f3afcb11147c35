//! IPVS: connection timeouts, services and real servers, with ipvsadm's words for their
//! settings.

use super::{all_fields, changed_fields, to_json, ChangeView, FieldChange};
use crate::model::duration::Seconds;
use crate::model::ipvs::{
    Destination, DestinationKey, ForwardingMethod, Persistence, ServiceKey, ServiceSettings, Timeouts, TunnelChecksum,
};
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::ipvs::{drained, Draining, IpvsChange};

pub fn describe(change: &IpvsChange) -> ChangeView {
    let action = change.action();
    let (kind, id, fields, before, after) = match change {
        IpvsChange::SetTimeouts { before, after } => (
            "ipvs connection timeouts",
            String::new(),
            changed_fields(&before.map(|t| timeout_fields(&t)).unwrap_or_default(), &timeout_fields(after)),
            before.map(|t| to_json(&t)),
            Some(to_json(after)),
        ),
        IpvsChange::CreateService { service, after } => {
            ("ipvs service", service.to_string(), all_fields(service_fields(after), action), None, Some(to_json(after)))
        }
        IpvsChange::UpdateService { service, before, after } => (
            "ipvs service",
            service.to_string(),
            changed_fields(&service_fields(before), &service_fields(after)),
            Some(to_json(before)),
            Some(to_json(after)),
        ),
        IpvsChange::DeleteService { service, before, .. } => (
            "ipvs service",
            service.to_string(),
            all_fields(service_fields(before), action),
            Some(to_json(before)),
            None,
        ),
        IpvsChange::CreateDestination { service, after } => (
            "ipvs real server",
            destination_id(service, &after.key()),
            all_fields(destination_fields(after), action),
            None,
            Some(to_json(after)),
        ),
        IpvsChange::UpdateDestination { service, before, after } => (
            "ipvs real server",
            destination_id(service, &after.key()),
            changed_fields(&destination_fields(before), &destination_fields(after)),
            Some(to_json(before)),
            Some(to_json(after)),
        ),
        IpvsChange::DeleteDestination { service, before } => (
            "ipvs real server",
            destination_id(service, &before.key()),
            all_fields(destination_fields(before), action),
            Some(to_json(before)),
            None,
        ),
        IpvsChange::DrainDestination { service, before, timeout } => {
            let after = drained(before);
            let mut fields = changed_fields(&destination_fields(before), &destination_fields(&after));
            fields.push(FieldChange {
                name: "then".into(),
                before: None,
                after: Some(format!("deleted once its connections end (at the latest after {})", Seconds(*timeout))),
            });
            (
                "ipvs real server",
                destination_id(service, &before.key()),
                fields,
                Some(to_json(before)),
                Some(to_json(&after)),
            )
        }
    };
    ChangeView { subsystem: Subsystem::Ipvs, action, kind, id, fields, before, after }
}

/// `real server … of …: draining, 2 connection(s) left; …`, as of `now` (Unix seconds).
pub fn describe_draining(draining: &Draining, now: u64) -> String {
    format!(
        "real server {} of {}: draining, {} connection(s) left; deleted when they end, at the latest in {}",
        draining.destination,
        draining.service,
        draining.connections,
        Seconds(u32::try_from(draining.deadline.saturating_sub(now)).unwrap_or(u32::MAX))
    )
}

/// `192.0.2.11:80 of tcp 203.0.113.100:80`.
pub fn destination_id(service: &ServiceKey, destination: &DestinationKey) -> String {
    format!("{destination} of {service}")
}

fn timeout_fields(timeouts: &Timeouts) -> Vec<(&'static str, String)> {
    vec![
        ("tcp", Seconds(timeouts.tcp).to_string()),
        ("tcpFin", Seconds(timeouts.tcp_fin).to_string()),
        ("udp", Seconds(timeouts.udp).to_string()),
    ]
}

fn service_fields(settings: &ServiceSettings) -> Vec<(&'static str, String)> {
    let flags: Vec<&str> = settings.scheduler_flags.iter().map(|f| f.name()).collect();
    vec![
        ("scheduler", settings.scheduler.name().to_string()),
        ("schedulerFlags", if flags.is_empty() { "none".to_string() } else { flags.join(",") }),
        ("persistence", settings.persistence.as_ref().map_or_else(|| "off".to_string(), persistence_text)),
        ("onePacket", on_off(settings.one_packet).to_string()),
    ]
}

fn on_off(value: bool) -> &'static str {
    if value {
        "on"
    } else {
        "off"
    }
}

fn persistence_text(persistence: &Persistence) -> String {
    let mut text = format!("{} per /{}", Seconds(persistence.timeout), persistence.prefix_length);
    if let Some(engine) = &persistence.engine {
        text.push_str(&format!(" (engine {engine})"));
    }
    text
}

/// 0 means "no limit" to the kernel.
fn threshold_text(value: u32) -> String {
    if value == 0 {
        "none".to_string()
    } else {
        value.to_string()
    }
}

fn destination_fields(dest: &Destination) -> Vec<(&'static str, String)> {
    let mut method = dest.method.name().to_string();
    if dest.method == ForwardingMethod::Tunnel {
        method.push_str(&format!(" ({})", dest.tunnel.kind.name()));
        if dest.tunnel.port != 0 {
            method.push_str(&format!(" port {}", dest.tunnel.port));
        }
        let checksum = TunnelChecksum::from_flags(dest.tunnel.flags);
        if checksum != TunnelChecksum::None {
            method.push_str(&format!(" checksum {}", checksum.name()));
        }
    }
    vec![
        ("method", method),
        ("weight", dest.weight.to_string()),
        ("upperThreshold", threshold_text(dest.upper_threshold)),
        ("lowerThreshold", threshold_text(dest.lower_threshold)),
    ]
}
