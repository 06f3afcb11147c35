//! IPVS: connection timeouts, services and real servers, with ipvsadm's words for their
//! settings.

use serde::Serialize;

use super::{all_fields, changed_fields, to_json, ChangeView, FieldChange, Parts};
use crate::model::duration::Seconds;
use crate::model::health::is_health_service;
use crate::model::ipvs::{
    Destination, DestinationKey, ForwardingMethod, Persistence, Scheduler, SchedulerFlag, ServiceKey, ServiceSettings,
    Timeouts, TunnelChecksum, TunnelType,
};
use crate::model::keyed::Keyed;
use crate::model::Subsystem;
use crate::plan::ipvs::{drained, Draining, IpvsChange};

/// How `change` reads, with only the `parts` a renderer asked for: at 50,000 changes the
/// text report would otherwise build every JSON side, and JSON every text field.
pub fn describe(change: &IpvsChange, parts: Parts) -> ChangeView {
    let action = change.action();
    let (kind, id) = heading(change);
    let fields = if parts.text() { fields(change) } else { Vec::new() };
    let (before, after) = if parts.json() { json_sides(change) } else { (None, None) };
    ChangeView { subsystem: Subsystem::Ipvs, action, kind, id, fields, before, after }
}

/// What the object is and which one. The services health checks travel through the tunnel
/// are named as such: nobody declared them, and their marks mean nothing to a reader.
fn heading(change: &IpvsChange) -> (&'static str, String) {
    match change {
        IpvsChange::SetTimeouts { .. } => ("ipvs connection timeouts", TIMEOUTS_ID.to_string()),
        IpvsChange::CreateService { service, .. }
        | IpvsChange::UpdateService { service, .. }
        | IpvsChange::DeleteService { service, .. } => {
            let kind = if is_health_service(service) { HEALTH_SERVICE_KIND } else { "ipvs service" };
            (kind, service.to_string())
        }
        IpvsChange::CreateDestination { service, after: destination }
        | IpvsChange::UpdateDestination { service, after: destination, .. }
        | IpvsChange::DeleteDestination { service, before: destination }
        | IpvsChange::DrainDestination { service, before: destination, .. } => {
            let kind = if is_health_service(service) { HEALTH_REAL_SERVER_KIND } else { "ipvs real server" };
            (kind, destination_id(service, &destination.key()))
        }
    }
}

/// The kind of a hidden service that health checks travel through the tunnel.
pub const HEALTH_SERVICE_KIND: &str = "ipvs health-check path service";
/// The kind of the one real server of such a service.
pub const HEALTH_REAL_SERVER_KIND: &str = "ipvs health-check path real server";

/// The fields for people: every one for creates and deletes, the changed ones for updates.
fn fields(change: &IpvsChange) -> Vec<FieldChange> {
    let action = change.action();
    match change {
        IpvsChange::SetTimeouts { before, after } => {
            changed_fields(&before.map(|t| timeout_fields(&t)).unwrap_or_default(), &timeout_fields(after))
        }
        IpvsChange::CreateService { after, .. } => all_fields(service_fields(after), action),
        IpvsChange::UpdateService { before, after, .. } => {
            changed_fields(&service_fields(before), &service_fields(after))
        }
        IpvsChange::DeleteService { before, .. } => all_fields(service_fields(before), action),
        IpvsChange::CreateDestination { after, .. } => all_fields(destination_fields(after), action),
        IpvsChange::UpdateDestination { before, after, .. } => {
            changed_fields(&destination_fields(before), &destination_fields(after))
        }
        IpvsChange::DeleteDestination { before, .. } => all_fields(destination_fields(before), action),
        IpvsChange::DrainDestination { before, timeout, .. } => {
            let mut fields = changed_fields(&destination_fields(before), &destination_fields(&drained(before)));
            fields.push(FieldChange {
                name: "then".into(),
                before: None,
                after: Some(format!("deleted once its connections end (at the latest after {})", Seconds(*timeout))),
            });
            fields
        }
    }
}

/// The object before and after the change, for machines.
fn json_sides(change: &IpvsChange) -> (Option<serde_json::Value>, Option<serde_json::Value>) {
    match change {
        IpvsChange::SetTimeouts { before, after } => (before.map(|t| to_json(&t)), Some(to_json(after))),
        IpvsChange::CreateService { service, after } => (None, Some(service_json(service, after))),
        IpvsChange::UpdateService { service, before, after } => {
            (Some(service_json(service, before)), Some(service_json(service, after)))
        }
        IpvsChange::DeleteService { service, before, .. } => (Some(service_json(service, before)), None),
        IpvsChange::CreateDestination { after, .. } => (None, Some(destination_json(after))),
        IpvsChange::UpdateDestination { before, after, .. } => {
            (Some(destination_json(before)), Some(destination_json(after)))
        }
        IpvsChange::DeleteDestination { before, .. } => (Some(destination_json(before)), None),
        IpvsChange::DrainDestination { before, .. } => {
            (Some(destination_json(before)), Some(destination_json(&drained(before))))
        }
    }
}

/// The id of the one connection-timeouts object a network namespace has.
pub const TIMEOUTS_ID: &str = "timeouts";

/// A service's `before`/`after` in JSON: every setting, defaults included (an empty flag
/// list, `persistence: null`, `onePacket: false`), so that a consumer never has to know
/// the defaults to read one, and keyed like a real server's (its identity first).
fn service_json(service: &ServiceKey, settings: &ServiceSettings) -> serde_json::Value {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ServiceJson<'a> {
        #[serde(flatten)]
        key: &'a ServiceKey,
        scheduler: Scheduler,
        scheduler_flags: &'a [SchedulerFlag],
        persistence: Option<PersistenceJson<'a>>,
        one_packet: bool,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct PersistenceJson<'a> {
        timeout: u32,
        prefix_length: u8,
        engine: Option<&'a str>,
    }
    to_json(&ServiceJson {
        key: service,
        scheduler: settings.scheduler,
        scheduler_flags: &settings.scheduler_flags,
        persistence: settings.persistence.as_ref().map(|p| PersistenceJson {
            timeout: p.timeout,
            prefix_length: p.prefix_length,
            engine: p.engine.as_deref(),
        }),
        one_packet: settings.one_packet,
    })
}

/// A real server's `before`/`after` in JSON: every field, defaults included; `tunnel` (its
/// type, GUE port, checksum in the spec's words and its kernel flags) for `method: tunnel`, null for the
/// methods that do not encapsulate.
fn destination_json(destination: &Destination) -> serde_json::Value {
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct DestinationJson {
        address: std::net::IpAddr,
        port: u16,
        method: ForwardingMethod,
        weight: u32,
        upper_threshold: u32,
        lower_threshold: u32,
        tunnel: Option<TunnelJson>,
    }
    #[derive(Serialize)]
    struct TunnelJson {
        #[serde(rename = "type")]
        kind: TunnelType,
        /// The GUE receiver's UDP port; 0 for ipip and gre, which have none.
        port: u16,
        /// IP_VS_TUNNEL_ENCAP_FLAG_* bits, as JSON had them before `checksum`.
        flags: u16,
        checksum: TunnelChecksum,
    }
    let tunnel = &destination.tunnel;
    to_json(&DestinationJson {
        address: destination.address,
        port: destination.port,
        method: destination.method,
        weight: destination.weight,
        upper_threshold: destination.upper_threshold,
        lower_threshold: destination.lower_threshold,
        tunnel: (destination.method == ForwardingMethod::Tunnel).then(|| TunnelJson {
            kind: tunnel.kind,
            port: tunnel.port,
            flags: tunnel.flags,
            checksum: TunnelChecksum::from_flags(tunnel.flags),
        }),
    })
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::model::HostState;
    use crate::render::text::{render_plan, Style};

    /// From an empty host: the hidden service and its real server are named for what they
    /// are, with where they come from, in the text and the JSON plan alike.
    #[test]
    fn hidden_health_check_services_are_labelled_in_text_and_json() {
        let text = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n\
            \x20   - { address: 203.0.113.100, port: 80, healthCheck: { type: tcp }, realServers: [{ address: 198.51.100.11 }] }\n";
        let spec = crate::desired::parse(text, Path::new("d.yaml")).unwrap();
        let mark = *spec.health.paths.values().next().unwrap();
        let plan = crate::plan::diff(&spec.desired, &HostState::default(), &spec.ownership)
            .annotate(|object| spec.origins.get(object).cloned());
        let text = render_plan(&plan, None, Style { color: false });
        assert!(
            text.contains(&format!(
                "+ ipvs health-check path service fwmark {mark} (ipv4)\n      # will be created (from health checks through the tunnel)\n"
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "+ ipvs health-check path real server 198.51.100.11:0 of fwmark {mark} (ipv4)\n      # will be created (from health checks through the tunnel)\n"
            )),
            "{text}"
        );
        assert!(text.contains("+ ipvs service tcp 203.0.113.100:80\n"), "declared services keep their kind: {text}");
        let json: serde_json::Value =
            serde_json::from_str(&crate::render::json::render_plan(&plan, None, &[])).unwrap();
        let hidden = json["resource_changes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|change| change["id"] == format!("fwmark {mark} (ipv4)"))
            .expect("the hidden service is a change");
        assert_eq!(hidden["kind"], "ipvs health-check path service");
        assert_eq!(hidden["origin"], "health checks through the tunnel");
    }
}
