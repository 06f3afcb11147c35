//! Health checks in the spec: a service's `healthCheck`, a real server's override of it (or
//! `healthCheck: false`), `quorum` and `startDrained`, checked and resolved into the model's
//! [`ServiceHealth`] with every default filled in.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::IpAddr;

use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ipvs::RealServerSpec;
use super::Problems;
use crate::model::duration::Millis;
use crate::model::health::{CheckKind, CheckVia, HealthCheck, OnFailure, Quorum, ServiceHealth};
use crate::model::ipvs::{Destination, Family, ForwardingMethod};
use crate::model::keyed::Keyed;

/// Checks run every 5 s unless told otherwise (the converge loop's 30 s is far too slow to
/// notice a dead real server).
pub const DEFAULT_INTERVAL: Millis = Millis(5000);
/// A check's timeout unless told otherwise; never more than half the interval.
pub const DEFAULT_TIMEOUT: Millis = Millis(2000);
/// The shortest interval: its default timeout (half of it) is then 50ms, still a round trip
/// on a LAN; shorter, checks would mostly measure the checker.
pub const MIN_INTERVAL: Millis = Millis(100);
pub const DEFAULT_RISE: u32 = 2;
pub const DEFAULT_FALL: u32 = 3;
/// keepalived's and most load balancers' idea of a healthy HTTP answer.
pub const DEFAULT_STATUS: (u16, u16) = (200, 399);
pub const DEFAULT_HTTP_PATH: &str = "/";

/// What a check does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum CheckType {
    /// A TCP connect.
    Tcp,
    /// An HTTP GET.
    Http,
    /// A command: exit 0 is healthy.
    Exec,
}

impl CheckType {
    fn name(self) -> &'static str {
        match self {
            CheckType::Tcp => "tcp",
            CheckType::Http => "http",
            CheckType::Exec => "exec",
        }
    }
}

/// A health check as written: every field optional, so that a real server's entry can
/// override some of its service's.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(transform = super::schema::health_check_rules)]
pub struct HealthCheckSpec {
    /// `tcp` (connect), `http` (GET) or `exec` (a command).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<CheckType>,
    /// The port checked. Default: the real server's port (required when that is 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<i64>,
    /// http: the path requested (default `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// http: the expected status, `200` or a range `200-399` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StatusSpec>,
    /// http: a text the body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// http: the Host header (default: the VIP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// exec: the command and its arguments (no shell). It gets LVS_REAL_SERVER,
    /// LVS_REAL_SERVER_PORT, LVS_VIP and LVS_VIP_PORT in its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// exec: exit 2-255 means healthy with weight exit-2 (keepalived's misc_dynamic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic_weight: Option<bool>,
    /// Time between checks (default 5s); `500ms`, `2s`, `1m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<Millis>,
    /// How long a check may take, below `interval` (default 2s, at most half the interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Millis>,
    /// Passes in a row that make a real server healthy (default 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub rise: Option<i64>,
    /// Failures in a row that make it unhealthy (default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub fall: Option<i64>,
    /// `drain` (weight 0, the default) or `remove`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// `tunnel`: to the VIP, encapsulated like client traffic (the default for tunnel real
    /// servers and tcp/http checks); `direct`: to the real server's own address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub via: Option<CheckVia>,
}

impl HealthCheckSpec {
    /// This check with the fields `over` sets replaced. A different `type` starts afresh
    /// but for the fields every type has (port, timing, rise/fall, onFailure, via).
    fn overridden_by(&self, over: &HealthCheckSpec) -> HealthCheckSpec {
        let same_type = over.kind.is_none() || over.kind == self.kind;
        fn kept<T: Clone>(same_type: bool, mine: &Option<T>) -> Option<T> {
            mine.clone().filter(|_| same_type)
        }
        HealthCheckSpec {
            kind: over.kind.or(self.kind),
            port: over.port.or(self.port),
            path: over.path.clone().or_else(|| kept(same_type, &self.path)),
            status: over.status.clone().or_else(|| kept(same_type, &self.status)),
            body: over.body.clone().or_else(|| kept(same_type, &self.body)),
            host: over.host.clone().or_else(|| kept(same_type, &self.host)),
            command: over.command.clone().or_else(|| kept(same_type, &self.command)),
            dynamic_weight: over.dynamic_weight.or(kept(same_type, &self.dynamic_weight)),
            interval: over.interval.or(self.interval),
            timeout: over.timeout.or(self.timeout),
            rise: over.rise.or(self.rise),
            fall: over.fall.or(self.fall),
            on_failure: over.on_failure.or(self.on_failure),
            via: over.via.or(self.via),
        }
    }
}

/// A real server's `healthCheck`: `false` (not checked), `true` (the service's check) or
/// fields that override the service's.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RealServerHealthSpec {
    Enabled(bool),
    Override(HealthCheckSpec),
}

impl<'de> Deserialize<'de> for RealServerHealthSpec {
    /// By hand rather than untagged: a mistake inside the mapping (an unknown field) is then
    /// reported as itself, not as "no variant matched".
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HealthVisitor;
        impl<'de> Visitor<'de> for HealthVisitor {
            type Value = RealServerHealthSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("`false`, `true` or health-check fields such as `{ path: /healthz }`")
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Self::Value, E> {
                Ok(RealServerHealthSpec::Enabled(value))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                HealthCheckSpec::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RealServerHealthSpec::Override)
            }
        }
        deserializer.deserialize_any(HealthVisitor)
    }
}

/// An HTTP status or range as written: `200`, `"200-399"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSpec(pub String);

impl StatusSpec {
    /// The inclusive range, or why the text is not one.
    fn range(&self) -> Result<(u16, u16), String> {
        let text = self.0.trim();
        let (low, high) = text.split_once('-').unwrap_or((text, text));
        let code = |part: &str| {
            part.trim().parse::<u16>().ok().filter(|code| (100..=599).contains(code)).ok_or_else(|| {
                format!("status `{text}` is not an HTTP status or range of them (100-599, e.g. `200` or `200-399`)")
            })
        };
        let (low, high) = (code(low)?, code(high)?);
        if low > high {
            return Err(format!("status range `{text}` ends below where it starts"));
        }
        Ok((low, high))
    }
}

impl Serialize for StatusSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for StatusSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StatusVisitor;
        impl Visitor<'_> for StatusVisitor {
            type Value = StatusSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an HTTP status such as 200 or a range such as `200-399`")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<StatusSpec, E> {
                Ok(StatusSpec(value.to_string()))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<StatusSpec, E> {
                Ok(StatusSpec(value.to_string()))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<StatusSpec, E> {
                Ok(StatusSpec(text.to_string()))
            }
        }
        deserializer.deserialize_any(StatusVisitor)
    }
}

impl JsonSchema for StatusSpec {
    fn schema_name() -> Cow<'static, str> {
        "HttpStatus".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An HTTP status (`200`) or an inclusive range (`200-399`), 100-599.",
            "type": ["integer", "string"],
            "minimum": 100,
            "maximum": 599,
            "pattern": r"^\s*[1-5][0-9][0-9]\s*(-\s*[1-5][0-9][0-9]\s*)?$",
            "patternErrorMessage": "an HTTP status such as `200` or a range such as `200-399`",
            "examples": [200, "200-399"]
        })
    }
}

/// What happens when too few real servers are healthy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QuorumSpec {
    /// Fewer healthy real servers than this (default 1) bring in the sorry server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub min_healthy: Option<i64>,
    /// A real server that takes the traffic (weight 1) while the quorum is lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sorry_server: Option<RealServerSpec>,
}

/// The health-related fields of one service, as written.
pub struct ServiceHealthSpec<'a> {
    pub path: &'a str,
    pub check: Option<&'a HealthCheckSpec>,
    pub quorum: Option<&'a QuorumSpec>,
    pub start_drained: bool,
    /// A firewall-mark service has no VIP:port for a check to travel to through the tunnel.
    pub firewall_mark: bool,
}

/// One real server of the service: where it is written, its override, what it resolved to.
pub struct CheckedRealServer<'a> {
    pub path: String,
    pub health_check: Option<&'a RealServerHealthSpec>,
    pub destination: &'a Destination,
}

/// The service's health, or `None` when it has no check, quorum or `startDrained`.
/// `family` and `default_port` are the service's, for the sorry server.
pub fn service_health(
    spec: &ServiceHealthSpec,
    real_servers: &[CheckedRealServer],
    family: Family,
    default_port: u16,
    nodes: &BTreeMap<String, IpAddr>,
    problems: &mut Problems,
) -> Option<ServiceHealth> {
    let mut reported = Reported::new(problems);
    let mut checks = BTreeMap::new();
    for real_server in real_servers {
        if let Some(check) = real_server_check(spec, real_server, &mut reported) {
            checks.insert(real_server.destination.key(), check);
        }
    }
    let quorum = spec.quorum.and_then(|quorum| {
        quorum_model(quorum, &format!("{}.quorum", spec.path), real_servers, family, default_port, nodes, &mut reported)
    });
    if checks.is_empty() {
        for (present, field) in [(spec.quorum.is_some(), "quorum"), (spec.start_drained, "startDrained")] {
            if present {
                reported.add(
                    &format!("{}.{field}", spec.path),
                    format!("`{field}` counts on health checks, and no real server of this service has one"),
                    "add `healthCheck` to the service (or to its real servers), or remove it",
                );
            }
        }
    }
    if checks.is_empty() && quorum.is_none() {
        return None;
    }
    Some(ServiceHealth { checks, quorum, start_drained: spec.start_drained })
}

/// Problems added once each: the service's check is resolved for every real server, and a
/// mistake in it must be reported once, not per real server.
struct Reported<'p> {
    problems: &'p mut Problems,
    seen: BTreeSet<(String, String)>,
}

impl<'p> Reported<'p> {
    fn new(problems: &'p mut Problems) -> Self {
        Reported { problems, seen: BTreeSet::new() }
    }

    fn add(&mut self, path: &str, message: String, hint: &str) {
        if self.seen.insert((path.to_string(), message.clone())) {
            self.problems.add(path, message, hint);
        }
    }
}

/// Whether a check sets a field.
type SetHere = fn(&HealthCheckSpec) -> bool;

/// Where a real server's check is written: a field is reported where it is set, in the real
/// server's override or else in the service's check.
struct Place<'a> {
    own: Option<&'a HealthCheckSpec>,
    own_path: &'a str,
    service_path: &'a str,
    service_has_check: bool,
}

impl Place<'_> {
    /// The check as a whole: the override when there is one.
    fn check(&self) -> &str {
        if self.own.is_some() {
            self.own_path
        } else {
            self.service_path
        }
    }

    /// The path of `field`, which `set_here` says the override sets.
    fn at(&self, field: &str, set_here: SetHere) -> String {
        match self.own {
            Some(own) if set_here(own) || !self.service_has_check => format!("{}.{field}", self.own_path),
            _ => format!("{}.{field}", self.service_path),
        }
    }
}

/// The real server's check with the service's merged in, or `None` (not checked, or wrong).
fn real_server_check(
    spec: &ServiceHealthSpec,
    real_server: &CheckedRealServer,
    reported: &mut Reported,
) -> Option<HealthCheck> {
    let own_path = format!("{}.healthCheck", real_server.path);
    let service_path = format!("{}.healthCheck", spec.path);
    let (merged, own) = match (real_server.health_check, spec.check) {
        (None, None) | (Some(RealServerHealthSpec::Enabled(false)), _) => return None,
        (Some(RealServerHealthSpec::Enabled(true)), None) => {
            reported.add(
                &own_path,
                "`healthCheck: true` takes the service's check, and the service has none".into(),
                "add `healthCheck` to the service, or give this real server a check of its own (`type: tcp` …)",
            );
            return None;
        }
        (None | Some(RealServerHealthSpec::Enabled(true)), Some(service)) => (service.clone(), None),
        (Some(RealServerHealthSpec::Override(own)), None) => (own.clone(), Some(own)),
        (Some(RealServerHealthSpec::Override(own)), Some(service)) => (service.overridden_by(own), Some(own)),
    };
    let place =
        Place { own, own_path: &own_path, service_path: &service_path, service_has_check: spec.check.is_some() };
    let check_path = place.check().to_string();
    let Some(kind) = merged.kind else {
        reported.add(&check_path, "health check has no `type`".into(), "add `type: tcp`, `type: http` or `type: exec`");
        return None;
    };
    let destination = real_server.destination;
    let before = reported.problems.len();

    let type_fields: [(&str, CheckType, SetHere); 6] = [
        ("path", CheckType::Http, |c| c.path.is_some()),
        ("status", CheckType::Http, |c| c.status.is_some()),
        ("body", CheckType::Http, |c| c.body.is_some()),
        ("host", CheckType::Http, |c| c.host.is_some()),
        ("command", CheckType::Exec, |c| c.command.is_some()),
        ("dynamicWeight", CheckType::Exec, |c| c.dynamic_weight.is_some()),
    ];
    for (field, applies_to, set) in type_fields {
        if set(&merged) && kind != applies_to {
            reported.add(
                &place.at(field, set),
                format!("`{field}` applies to {} checks, not {}", applies_to.name(), kind.name()),
                &format!("remove `{field}`, or use `type: {}`", applies_to.name()),
            );
        }
    }
    let port = match merged.port {
        Some(port) => {
            let checked = u16::try_from(port).ok().filter(|port| *port != 0);
            if checked.is_none() {
                reported.add(
                    &place.at("port", |c| c.port.is_some()),
                    format!("health-check port {port} is out of range 1-65535"),
                    "the TCP port the real server's service listens on, 1-65535",
                );
            }
            checked
        }
        None if destination.port == 0 && kind != CheckType::Exec => {
            reported.add(
                &check_path,
                format!(
                    "real server {} has port 0 (it takes every port), so the check needs `port`",
                    destination.address
                ),
                "add `port: 80` (the port the real server's service listens on)",
            );
            None
        }
        None => Some(destination.port),
    };
    let via = match (merged.via, kind, destination.method) {
        (Some(CheckVia::Tunnel), CheckType::Exec, _) => {
            reported.add(
                &place.at("via", |c| c.via.is_some()),
                "an exec check runs a command; it cannot travel through the tunnel".into(),
                "remove `via` (exec checks are direct)",
            );
            None
        }
        (Some(CheckVia::Tunnel), _, method) if method != ForwardingMethod::Tunnel => {
            reported.add(
                &place.at("via", |c| c.via.is_some()),
                format!(
                    "`via: tunnel` checks through the tunnel, and real server {} is `method: {}`",
                    destination.address,
                    method.name()
                ),
                "use `via: direct`, or leave `via` out",
            );
            None
        }
        (Some(CheckVia::Tunnel), _, _) if spec.firewall_mark => {
            reported.add(
                &place.at("via", |c| c.via.is_some()),
                "`via: tunnel` sends the check to the service's VIP and port, and a firewall-mark service has neither"
                    .into(),
                "use `via: direct` (the check goes to the real server's own address)",
            );
            None
        }
        (Some(via), _, _) => Some(via),
        (None, CheckType::Tcp | CheckType::Http, ForwardingMethod::Tunnel) if !spec.firewall_mark => {
            Some(CheckVia::Tunnel)
        }
        (None, _, _) => Some(CheckVia::Direct),
    };
    let interval = merged.interval.unwrap_or(DEFAULT_INTERVAL);
    if interval < MIN_INTERVAL {
        reported.add(
            &place.at("interval", |c| c.interval.is_some()),
            format!("interval {interval} is below {MIN_INTERVAL}: a check needs a timeout shorter than its interval"),
            "use e.g. `interval: 2s`",
        );
    }
    let timeout = merged.timeout.unwrap_or(Millis(DEFAULT_TIMEOUT.0.min(interval.0 / 2)));
    if merged.timeout.is_some() && (timeout.0 == 0 || timeout >= interval) {
        reported.add(
            &place.at("timeout", |c| c.timeout.is_some()),
            format!("timeout {timeout} must be above 0 and below interval {interval}"),
            "a check must end before the next one starts: shorten `timeout` or lengthen `interval`",
        );
    }
    let count = |value: Option<i64>, field: &str, set_here: SetHere, default: u32, reported: &mut Reported| match value
    {
        None => Some(default),
        Some(value) => {
            let checked = u32::try_from(value).ok().filter(|count| *count >= 1);
            if checked.is_none() {
                reported.add(
                    &place.at(field, set_here),
                    format!("{field} {value} is not a count of checks (at least 1)"),
                    &format!("use e.g. `{field}: {default}`"),
                );
            }
            checked
        }
    };
    let rise = count(merged.rise, "rise", |c| c.rise.is_some(), DEFAULT_RISE, reported);
    let fall = count(merged.fall, "fall", |c| c.fall.is_some(), DEFAULT_FALL, reported);
    let check_kind = match kind {
        CheckType::Tcp => Some(CheckKind::Tcp),
        CheckType::Http => http_kind(&merged, &place, reported),
        CheckType::Exec => exec_kind(&merged, &place, reported),
    };
    if reported.problems.len() > before {
        return None;
    }
    Some(HealthCheck {
        kind: check_kind?,
        port: port?,
        interval_ms: interval.0,
        timeout_ms: timeout.0,
        rise: rise?,
        fall: fall?,
        on_failure: merged.on_failure.unwrap_or_default(),
        via: via?,
    })
}

fn http_kind(merged: &HealthCheckSpec, place: &Place, reported: &mut Reported) -> Option<CheckKind> {
    let path = merged.path.clone().unwrap_or_else(|| DEFAULT_HTTP_PATH.to_string());
    if !path.starts_with('/') {
        reported.add(
            &place.at("path", |c| c.path.is_some()),
            format!("path `{path}` does not start with `/`"),
            "write the path as in the request line, e.g. `/healthz`",
        );
    } else if !path.bytes().all(|byte| byte.is_ascii_graphic()) {
        // A space or a non-ASCII letter cannot go into the request line: every probe would
        // fail and the real server would stay drained.
        reported.add(
            &place.at("path", |c| c.path.is_some()),
            format!("path `{path}` holds a space, a control or non-ASCII character, which a request line cannot carry"),
            "percent-encode it as a browser would, e.g. `/health%20check`",
        );
    }
    let (status_min, status_max) = match merged.status.as_ref().map(StatusSpec::range) {
        None => DEFAULT_STATUS,
        Some(Ok(range)) => range,
        Some(Err(message)) => {
            reported.add(
                &place.at("status", |c| c.status.is_some()),
                message,
                "e.g. `status: 200` or `status: 200-399`",
            );
            return None;
        }
    };
    if merged.host.as_deref().is_some_and(|host| host.trim().is_empty() || host.contains(char::is_whitespace)) {
        reported.add(
            &place.at("host", |c| c.host.is_some()),
            "`host` is empty or has spaces in it".into(),
            "a host name such as `www.example.org`, or leave it out for the VIP",
        );
    }
    Some(CheckKind::Http { path, status_min, status_max, body: merged.body.clone(), host: merged.host.clone() })
}

fn exec_kind(merged: &HealthCheckSpec, place: &Place, reported: &mut Reported) -> Option<CheckKind> {
    match merged.command.as_deref() {
        None => {
            reported.add(
                place.check(),
                "an exec check needs `command`".into(),
                "add `command: [/usr/local/bin/check, --fast]` (argv, no shell)",
            );
            None
        }
        Some(command) if command.first().is_none_or(|program| program.trim().is_empty()) => {
            reported.add(
                &place.at("command", |c| c.command.is_some()),
                "`command` has no program to run".into(),
                "the first entry is the program, e.g. `[/usr/local/bin/check, --fast]`",
            );
            None
        }
        Some(command) => {
            Some(CheckKind::Exec { command: command.to_vec(), dynamic_weight: merged.dynamic_weight.unwrap_or(false) })
        }
    }
}

fn quorum_model(
    quorum: &QuorumSpec,
    path: &str,
    real_servers: &[CheckedRealServer],
    family: Family,
    default_port: u16,
    nodes: &BTreeMap<String, IpAddr>,
    reported: &mut Reported,
) -> Option<Quorum> {
    let before = reported.problems.len();
    let count = real_servers.len();
    let min_healthy = quorum.min_healthy.unwrap_or(1);
    if min_healthy < 1 || usize::try_from(min_healthy).map_or(true, |min| min > count) {
        reported.add(
            &format!("{path}.minHealthy"),
            format!("minHealthy {min_healthy} is outside 1-{count} (the service's number of real servers)"),
            "at most as many as the service has real servers; the sorry server comes in below it",
        );
    }
    let sorry_server = quorum.sorry_server.as_ref().and_then(|sorry| {
        let sorry_path = format!("{path}.sorryServer");
        if sorry.health_check.is_some() {
            reported.add(
                &format!("{sorry_path}.healthCheck"),
                "the sorry server is not health-checked: it is there when the others fail".into(),
                "remove `healthCheck` from the sorry server",
            );
        }
        let destination = sorry.to_model(&sorry_path, family, default_port, nodes, reported.problems)?;
        if let Some(same) = real_servers.iter().find(|rs| rs.destination.key() == destination.key()) {
            reported.add(
                &format!("{sorry_path}.address"),
                format!("the sorry server {} is a real server of this service ({})", destination.key(), same.path),
                "the sorry server stands in for the real servers: use another address or port",
            );
        }
        Some(destination)
    });
    if reported.problems.len() > before {
        return None;
    }
    Some(Quorum { min_healthy: u32::try_from(min_healthy).ok()?, sorry_server })
}
