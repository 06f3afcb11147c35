//! Saved plans (`plan --out FILE`, then `apply FILE`), like Terraform's plan files: the
//! reviewed changes are applied exactly, or not at all if the host changed in between.
//!
//! A saved plan holds everything apply needs without the spec file (the spec's text, the
//! desired state, ownership, origins and the plan itself), where it came from (spec path and
//! sha256, node, netns, root, live host or snapshot), and the observed state the plan was
//! computed from with a sha256 digest of its canonical form (see [`observed_digest`]).
//!
//! Nothing in the file is trusted because it is there: reading it re-validates the spec text
//! with the spec parser and requires the desired state, ownership and origins it gives, and
//! the plan `diff` computes from them and the saved observed state, to be the ones saved
//! ([`SavedPlan::from_json`]); applying it requires today's host to have the saved digest and
//! to give the same plan ([`SavedPlan::check_fresh`]). The digest detects a stale plan, not a
//! forged one: whoever can write the plan file can write a spec, and the file can hold no
//! more than a spec could. Plain data: reading and writing the file is the CLI's job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::compare::HostDifference;
use super::{Change, Plan};
use crate::desired;
use crate::model::persistence::HostNetworkd;
use crate::model::{HostState, ObjectId, Ownership};
use crate::spec::{self, NodeSelector, SpecError};

/// The `format` tag of every saved plan.
pub const FORMAT: &str = "lvs-converge/saved-plan";
/// Raised whenever a reader of an older version could misread a newer file.
pub const FORMAT_VERSION: u32 = 4;
/// Saved plans are applied only by the build that wrote them: the digest is computed over
/// this build's serialisation of the state, which another version (or another commit of the
/// same version) may spell differently. `0.1.0+<commit>`: see [`crate::build_info`].
pub const TOOL_VERSION: &str = crate::build_info::TOOL_VERSION;

/// A plan with everything needed to apply it later, exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPlan {
    pub format: String,
    pub format_version: u32,
    pub tool_version: String,
    #[serde(flatten)]
    pub made: Provenance,
    /// The spec as it was planned: desired, ownership and origins must be what it gives.
    pub spec_text: String,
    pub desired: HostState,
    pub ownership: Ownership,
    pub origins: BTreeMap<String, String>,
    pub plan: Plan,
    /// The host state the plan was computed from, as read.
    pub observed: HostState,
    /// `sha256:HEX` of [`canonical`] `observed`.
    pub observed_digest: String,
    /// The host's own networkd files the spec was resolved with (they decide which network
    /// settings go in drop-ins), so that the spec text resolves to the same files again.
    #[serde(default, skip_serializing_if = "is_unread")]
    pub host_networkd: HostNetworkd,
}

fn is_unread(host: &HostNetworkd) -> bool {
    host.files.is_empty()
}

/// Where and when a plan was made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// Unix seconds.
    pub created_at: u64,
    pub spec: SpecFingerprint,
    /// The Cluster node the spec was resolved for.
    pub node: Option<String>,
    /// `--netns` of the plan: apply acts in the same namespace.
    pub netns: Option<String>,
    /// `--root` of the plan: persistence files are read and written below it.
    pub root: Option<PathBuf>,
    pub observed_from: ObservedFrom,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SpecFingerprint {
    pub path: PathBuf,
    /// sha256 of the spec file's bytes, hex.
    pub sha256: String,
}

/// What the plan was computed against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ObservedFrom {
    Live,
    /// `plan --observed FILE`: applying it needs a live host whose digest matches.
    Snapshot {
        path: PathBuf,
    },
}

/// Why a saved plan is refused. Plain data: how each reads is made in `render::saved`,
/// because naming a change or a host difference takes render's words.
#[derive(Debug)]
pub enum SavedPlanError {
    Io { path: PathBuf, action: &'static str, source: std::io::Error },
    Foreign { path: PathBuf, reason: String },
    NewerFormat { path: PathBuf, found: u64 },
    OtherToolVersion { path: PathBuf, found: String },
    Corrupt { path: PathBuf, message: String },
    SnapshotTooNarrow { snapshot: PathBuf, what: String },
    OtherContext { path: PathBuf, option: &'static str, planned: Option<String>, given: Option<String> },
    InvalidSpec { path: PathBuf, source: SpecError },
    Inconsistent { path: PathBuf, difference: Box<Inconsistency> },
}

/// How a saved plan's parts fail to follow from one another as `plan --out` makes them.
#[derive(Debug, Clone, PartialEq)]
pub enum Inconsistency {
    /// Its spec text does not hash to the saved sha256.
    SpecDigest,
    /// Its spec resolves for another node than the one the plan names.
    Node {
        resolved: Option<String>,
        named: Option<String>,
    },
    /// Its desired state is not what its spec gives; `first` differs first.
    Desired {
        first: Option<HostDifference>,
    },
    Ownership,
    Origins,
    RelativeRoot(PathBuf),
    /// Its plan is not what its desired state gives on its observed state.
    Plan(PlanDifference),
}

/// Where a saved plan departs from the plan recomputed from its desired state. `number`
/// counts changes from 1, as people read a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanDifference {
    /// Change `number` is `saved` where the desired state gives `expected`.
    Differs {
        number: usize,
        saved: Change,
        expected: Change,
    },
    /// Change `number` is one the desired state does not give.
    Extra {
        number: usize,
        saved: Change,
    },
    /// Change `number`, which the desired state gives, is missing.
    Missing {
        number: usize,
        expected: Change,
    },
    Unmanaged,
    Draining,
}

/// The host changed since the plan was made: applying it would act on a host nobody
/// reviewed the plan for.
#[derive(Debug, Clone, PartialEq)]
pub struct Stale {
    pub plan_file: PathBuf,
    pub made: Provenance,
    /// Seconds since the plan was made.
    pub age: u64,
    pub why: Staleness,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Staleness {
    /// The host's digest differs: these objects appeared, changed or went away.
    HostChanged(Vec<HostDifference>),
    /// The digest matches, but the saved desired state gives other changes on this host
    /// (the first difference named).
    PlanDiffers(Box<PlanDifference>),
    /// The host's own networkd files differ from those the spec was resolved with, so that
    /// its network settings now go in other files (a drop-in or one of lvs-converge's own).
    HostNetworkdChanged,
}

impl SavedPlan {
    /// A plan without its spec's text (see [`SavedPlan::with_spec_text`]): enough to apply
    /// in memory, but [`SavedPlan::from_json`] refuses such a file.
    pub fn new(
        made: Provenance,
        desired: HostState,
        ownership: Ownership,
        origins: &BTreeMap<ObjectId, String>,
        plan: Plan,
        observed: HostState,
    ) -> Self {
        let observed_digest = observed_digest(&observed, &desired);
        SavedPlan {
            format: FORMAT.into(),
            format_version: FORMAT_VERSION,
            tool_version: TOOL_VERSION.into(),
            made,
            spec_text: String::new(),
            desired,
            ownership,
            origins: super::origins_by_text(origins),
            plan,
            observed,
            observed_digest,
            host_networkd: HostNetworkd::default(),
        }
    }

    /// The spec text the desired state was resolved from (what `made.spec.sha256` hashes).
    pub fn with_spec_text(mut self, text: &str) -> Self {
        self.spec_text = text.to_string();
        self
    }

    /// The host's own networkd files the spec was resolved with.
    pub fn with_host_networkd(mut self, host: HostNetworkd) -> Self {
        self.host_networkd = host;
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a saved plan serializes") + "\n"
    }

    /// Reads a saved plan; `path` names the file in errors. Checks the format tag, version,
    /// writer, that the observed state still matches its digest (a hand-edited file), and
    /// that every part follows from the spec text and observed state (see
    /// [`SavedPlan::check_consistent`]).
    pub fn from_json(text: &str, path: &Path) -> Result<SavedPlan, SavedPlanError> {
        let foreign = |reason: String| SavedPlanError::Foreign { path: path.to_path_buf(), reason };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| foreign(format!("not JSON ({e})")))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(foreign(format!("its \"format\" is not \"{FORMAT}\"")));
        }
        let version = value.get("format_version").and_then(|v| v.as_u64());
        match version {
            Some(found) if found > u64::from(FORMAT_VERSION) => {
                return Err(SavedPlanError::NewerFormat { path: path.to_path_buf(), found })
            }
            Some(_) => {}
            None => return Err(foreign("it has no numeric \"format_version\"".into())),
        }
        let writer = value.get("tool_version").and_then(|v| v.as_str()).unwrap_or("(unknown)");
        if writer != TOOL_VERSION {
            return Err(SavedPlanError::OtherToolVersion { path: path.to_path_buf(), found: writer.to_string() });
        }
        let corrupt = |message: String| SavedPlanError::Corrupt { path: path.to_path_buf(), message };
        let saved: SavedPlan = serde_json::from_value(value).map_err(|e| corrupt(e.to_string()))?;
        if observed_digest(&saved.observed, &saved.desired) != saved.observed_digest {
            return Err(corrupt("its observed state does not match its digest (was it edited?)".into()));
        }
        saved.check_consistent(path)?;
        Ok(saved)
    }

    /// Refuses a plan whose parts do not follow from one another as `plan --out` makes them:
    /// the spec text must hash to the saved sha256 and pass the spec parser's validation
    /// (resolved for the saved node), giving exactly the saved desired state, ownership and
    /// origins; the plan must be exactly what `diff` gives from them and the saved observed
    /// state; the root must be absolute. So the file can ask for no more than a valid spec.
    pub fn check_consistent(&self, path: &Path) -> Result<(), SavedPlanError> {
        let inconsistent = |difference: Inconsistency| SavedPlanError::Inconsistent {
            path: path.to_path_buf(),
            difference: Box::new(difference),
        };
        if sha256_hex(self.spec_text.as_bytes()) != self.made.spec.sha256 {
            return Err(inconsistent(Inconsistency::SpecDigest));
        }
        let document = spec::parse_document(&self.spec_text, &self.made.spec.path)
            .map_err(|source| SavedPlanError::InvalidSpec { path: path.to_path_buf(), source })?;
        let selector = NodeSelector { name: self.made.node.as_deref(), local_addresses: vec![] };
        let mut resolved = desired::resolve_on(&document, &selector, &self.host_networkd)
            .map_err(|source| SavedPlanError::InvalidSpec { path: path.to_path_buf(), source })?;
        // The plan was made with the health records it observed held, as plan_spec holds them.
        super::health::hold(&mut resolved, &self.observed);
        if resolved.node != self.made.node {
            return Err(inconsistent(Inconsistency::Node { resolved: resolved.node, named: self.made.node.clone() }));
        }
        if resolved.desired != self.desired {
            let first = super::changes_between(&resolved.desired, &self.desired).into_iter().next();
            return Err(inconsistent(Inconsistency::Desired { first }));
        }
        if resolved.ownership != self.ownership {
            return Err(inconsistent(Inconsistency::Ownership));
        }
        if super::origins_by_text(&resolved.origins) != self.origins {
            return Err(inconsistent(Inconsistency::Origins));
        }
        if let Some(root) = self.made.root.as_ref().filter(|root| !root.is_absolute()) {
            return Err(inconsistent(Inconsistency::RelativeRoot(root.clone())));
        }
        match first_difference(&self.replan(&self.observed), &self.plan) {
            Some(difference) => Err(inconsistent(Inconsistency::Plan(difference))),
            None => Ok(()),
        }
    }

    /// The plan the saved desired state gives on `host`, judged with the connection counts
    /// and read time the plan was reviewed with: traffic alone does not make a plan stale
    /// (see [`canonical`]), so it must not change which drained real servers are deleted.
    fn replan(&self, host: &HostState) -> Plan {
        let mut basis = host.clone();
        basis.ipvs.activity.clone_from(&self.observed.ipvs.activity);
        basis.ipvs.observed_at = self.observed.ipvs.observed_at;
        super::diff(&self.desired, &basis, &self.ownership)
            .annotate(|object| self.origins.get(&object.to_string()).cloned())
    }

    /// The network namespace and root apply acts in: the plan's. Refuses (naming the file)
    /// when `--netns` or `--root` given to apply contradict it. A plan made from a snapshot
    /// without them read no live host, so it takes the ones apply is given (its digest
    /// still has to match that host).
    pub fn context(
        &self,
        path: &Path,
        netns: Option<&str>,
        root: Option<&Path>,
    ) -> Result<(Option<String>, Option<PathBuf>), SavedPlanError> {
        let offline = matches!(self.made.observed_from, ObservedFrom::Snapshot { .. });
        // Plans store their root absolute; a relative one given here means the same tree.
        let root_text = |root: Option<&Path>| {
            root.map(|r| std::path::absolute(r).unwrap_or_else(|_| r.to_path_buf()).display().to_string())
        };
        let checks = [
            ("--netns", self.made.netns.clone(), netns.map(str::to_string)),
            ("--root", root_text(self.made.root.as_deref()), root_text(root)),
        ];
        for (option, planned, given) in checks {
            // Only an option the user actually passed can contradict the plan.
            let free = offline && planned.is_none();
            if given.is_some() && given != planned && !free {
                return Err(SavedPlanError::OtherContext { path: path.to_path_buf(), option, planned, given });
            }
        }
        Ok((
            self.made.netns.clone().or_else(|| netns.map(str::to_string)),
            self.made.root.clone().or_else(|| root.map(Path::to_path_buf)),
        ))
    }

    /// Ok when `now` (read with the plan's interest) has the digest the plan was made with
    /// and the saved desired state gives exactly the saved plan on it; otherwise what changed
    /// since, or the first change that differs.
    pub fn check_fresh(&self, now: &HostState, plan_file: &Path, now_seconds: u64) -> Result<(), Box<Stale>> {
        let why = if observed_digest(now, &self.desired) != self.observed_digest {
            Staleness::HostChanged(super::changes_between(
                &canonical(&self.observed, &self.desired),
                &canonical(now, &self.desired),
            ))
        } else {
            match first_difference(&self.replan(now), &self.plan) {
                None => return Ok(()),
                Some(difference) => Staleness::PlanDiffers(Box::new(difference)),
            }
        };
        Err(self.stale(why, plan_file, now_seconds))
    }

    /// Ok when the host's own networkd files, `now`, place the network settings as those
    /// the plan was made with did (files that configure none of its interfaces, such as
    /// systemd's `80-container-ve.network`, make no difference; nor do they offline).
    pub fn check_host_networkd(
        &self,
        now: &HostNetworkd,
        plan_file: &Path,
        now_seconds: u64,
    ) -> Result<(), Box<Stale>> {
        if *now == self.host_networkd {
            return Ok(());
        }
        let selector = NodeSelector { name: self.made.node.as_deref(), local_addresses: vec![] };
        let document = spec::parse_document(&self.spec_text, &self.made.spec.path).ok();
        let resolved = document.and_then(|document| desired::resolve_on(&document, &selector, now).ok());
        if resolved.is_some_and(|spec| spec.desired.files == self.desired.files) {
            return Ok(());
        }
        Err(self.stale(Staleness::HostNetworkdChanged, plan_file, now_seconds))
    }

    fn stale(&self, why: Staleness, plan_file: &Path, now_seconds: u64) -> Box<Stale> {
        Box::new(Stale {
            plan_file: plan_file.to_path_buf(),
            made: self.made.clone(),
            age: now_seconds.saturating_sub(self.made.created_at),
            why,
        })
    }
}

/// Where `saved` departs from `expected`, the plan recomputed from the saved desired state:
/// the first change that differs, is missing or is extra, then the rest of the plan.
fn first_difference(expected: &Plan, saved: &Plan) -> Option<PlanDifference> {
    let count = expected.changes.len().max(saved.changes.len());
    for index in 0..count {
        let number = index + 1;
        match (expected.changes.get(index), saved.changes.get(index)) {
            (Some(want), Some(have)) if want == have => continue,
            (Some(want), Some(have)) => {
                return Some(PlanDifference::Differs {
                    number,
                    saved: have.change.clone(),
                    expected: want.change.clone(),
                })
            }
            (None, Some(have)) => return Some(PlanDifference::Extra { number, saved: have.change.clone() }),
            (Some(want), None) => return Some(PlanDifference::Missing { number, expected: want.change.clone() }),
            (None, None) => unreachable!("index below the longer length"),
        }
    }
    if expected.unmanaged != saved.unmanaged {
        return Some(PlanDifference::Unmanaged);
    }
    if expected.draining != saved.draining || expected.observed_at != saved.observed_at {
        return Some(PlanDifference::Draining);
    }
    None
}

/// `sha256:HEX` of the observed state in canonical form.
pub fn observed_digest(observed: &HostState, desired: &HostState) -> String {
    let bytes = serde_json::to_vec(&canonical(observed, desired)).expect("host state serializes");
    format!("sha256:{}", sha256_hex(&bytes))
}

/// The part of an observed state a plan depends on, without what a busy host changes by
/// itself while nobody changes its configuration:
/// - IPVS connection counts and the read time (`observed_at`) are left out: they move with
///   every connection and every second. Drain records (since when a removed real server
///   drains) stay: only an apply writes them. Consequence: a saved plan that deletes a
///   drained real server still deletes it if clients reconnected to it meanwhile, as a
///   passed drain deadline would.
/// - Kernel modules count only when the spec wants them: the planner never looks at
///   others, and merely running `ss` or `tcpdump` autoloads some.
/// - Sysctls count only when the spec sets them (what a live plan reads anyway; a snapshot
///   from `show` holds more).
///
/// - Health records count by their verdicts (status, since, dynamic weight): the agent
///   rewrites their check times and expiry every few seconds, and only a verdict changes
///   what the plan holds.
///
/// Everything else counts whole: links, addresses, routes, the IPVS table (services, real
/// servers, timeouts) and the persistence files the spec manages. All collections are
/// ordered maps, so the JSON serialisation is canonical.
pub fn canonical(observed: &HostState, desired: &HostState) -> HostState {
    let mut state = observed.clone();
    state.ipvs.observed_at = 0;
    state.ipvs.activity.retain(|activity| activity.draining_since.is_some());
    for activity in &mut state.ipvs.activity {
        (activity.active, activity.inactive) = (0, 0);
    }
    state.ipvs.activity.sort();
    if let Some(records) = &mut state.ipvs.health {
        (records.agent_pid, records.updated_at, records.valid_until) = (0, 0, 0);
        for record in &mut records.servers {
            (record.last_check, record.last_outcome, record.latency_ms) = (None, None, None);
        }
        records.servers.sort();
    }
    state.modules.retain(|module| desired.modules.contains(module));
    state.sysctls.retain(|key, _| desired.sysctls.contains_key(key));
    state
}

/// Lowercase hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ipvs::DestinationActivity;
    use crate::model::keyed::Keyed;
    use crate::render::saved::{saved_plan_error, stale as stale_text};

    const SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nsysctls:\n  net.ipv4.vs.expire_nodest_conn: 1\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      realServers:\n        - address: 203.0.113.11\n";

    /// A host where the spec is converged, with some connections and unrelated modules.
    fn fixture() -> (desired::Spec, HostState) {
        let spec = desired::parse(SPEC, Path::new("director.yaml")).expect("valid spec");
        let mut observed = spec.desired.clone();
        observed.modules.insert("inet_diag".into());
        let service = *observed.ipvs.services.keys().next().unwrap();
        let destination = *observed.ipvs.services[&service].destinations.keys().next().unwrap();
        observed.ipvs.activity.push(DestinationActivity {
            service,
            destination,
            active: 4,
            inactive: 9,
            draining_since: None,
        });
        observed.ipvs.observed_at = 1_700_000_000;
        (spec, observed)
    }

    fn saved(spec: &desired::Spec, observed: &HostState) -> SavedPlan {
        let made = Provenance {
            created_at: 1_700_000_000,
            spec: SpecFingerprint { path: "director.yaml".into(), sha256: sha256_hex(SPEC.as_bytes()) },
            node: None,
            netns: Some("lb".into()),
            root: None,
            observed_from: ObservedFrom::Live,
        };
        let plan = super::super::diff(&spec.desired, observed, &spec.ownership)
            .annotate(|object| spec.origins.get(object).cloned());
        SavedPlan::new(made, spec.desired.clone(), spec.ownership.clone(), &spec.origins, plan, observed.clone())
            .with_spec_text(SPEC)
    }

    #[test]
    fn sha256_matches_the_known_answer() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn volatile_data_does_not_change_the_digest() {
        let (spec, observed) = fixture();
        let mut busier = observed.clone();
        busier.ipvs.activity[0].active = 400;
        busier.ipvs.observed_at += 3600;
        busier.modules.insert("tcp_diag".into());
        busier.sysctls.insert("net.ipv4.conf.eth0.rp_filter".into(), "1".into());
        assert_eq!(observed_digest(&busier, &spec.desired), observed_digest(&observed, &spec.desired));
        assert!(saved(&spec, &observed).check_fresh(&busier, Path::new("p.json"), 0).is_ok());
    }

    #[test]
    fn configuration_changes_the_digest_and_are_named() {
        let (spec, observed) = fixture();
        let plan = saved(&spec, &observed);
        let mut reweighted = observed.clone();
        let service = reweighted.ipvs.services.values_mut().next().unwrap();
        service.destinations.values_mut().next().unwrap().weight = 5;
        assert_ne!(observed_digest(&reweighted, &spec.desired), plan.observed_digest);
        let stale = plan.check_fresh(&reweighted, Path::new("p.json"), 1_700_000_090).expect_err("stale");
        let text = stale_text(&stale);
        assert!(
            text.starts_with("saved plan p.json is stale: the host changed since the plan was made 1m30s ago:"),
            "{text}"
        );
        assert!(
            text.contains("changed  ipvs real server 203.0.113.11:80 of tcp 203.0.113.100:80: weight 1 → 5"),
            "{text}"
        );
        assert!(text.contains("run `lvs-converge plan -f director.yaml --out p.json` again"), "{text}");

        let mut unloaded = observed.clone();
        unloaded.modules.remove("ip_vs_wlc");
        let stale = plan.check_fresh(&unloaded, Path::new("p.json"), 0).expect_err("a wanted module went away");
        assert!(stale_text(&stale).contains("gone     kernel module ip_vs_wlc"), "{stale:?}");
    }

    #[test]
    fn round_trips_and_refuses_foreign_newer_other_and_edited_files() {
        let (spec, observed) = fixture();
        let text = saved(&spec, &observed).to_json();
        let path = Path::new("/tmp/p.json");
        assert_eq!(SavedPlan::from_json(&text, path).expect("reads back"), saved(&spec, &observed));
        let error = |text: &str| saved_plan_error(&SavedPlan::from_json(text, path).expect_err("refused"));
        assert!(error("not json").starts_with("/tmp/p.json is not an lvs-converge saved plan: not JSON"));
        assert!(error("{\"format\": \"terraform\"}").contains("is not an lvs-converge saved plan"));
        let newer = text.replace("\"format_version\": 4,", "\"format_version\": 5,");
        assert!(
            error(&newer).starts_with("saved plan /tmp/p.json has format version 5, newer than"),
            "{}",
            error(&newer)
        );
        let other = text.replace(&format!("\"tool_version\": \"{TOOL_VERSION}\""), "\"tool_version\": \"0.0.1\"");
        assert!(error(&other).starts_with("saved plan /tmp/p.json was made by lvs-converge 0.0.1"));
        // Another build of this very version (another commit) is refused as well: its
        // serialisation may differ although the version does not.
        let commit = if TOOL_VERSION.ends_with("+000000000000") { "111111111111" } else { "000000000000" };
        let sibling = format!("{}+{commit}", env!("CARGO_PKG_VERSION"));
        assert_ne!(sibling, TOOL_VERSION);
        let other_build =
            text.replace(&format!("\"tool_version\": \"{TOOL_VERSION}\""), &format!("\"tool_version\": \"{sibling}\""));
        assert_ne!(other_build, text);
        assert!(
            error(&other_build)
                .starts_with(&format!("saved plan /tmp/p.json was made by lvs-converge {sibling}; this is")),
            "{}",
            error(&other_build)
        );
        let edited = text.replace("\"weight\": 1", "\"weight\": 7");
        assert_ne!(edited, text);
        assert!(error(&edited).contains("does not match its digest"), "{}", error(&edited));
    }

    /// Issue 18: a spec with network settings resolves differently on a host whose own
    /// networkd file configures an interface (a drop-in): the saved plan keeps those files,
    /// re-resolves with them, and is stale on a host whose files differ.
    #[test]
    fn a_plan_keeps_the_host_networkd_files_it_was_resolved_with() {
        use crate::model::persistence::{HostNetworkFile, InterfaceMatch};
        let text =
            "apiVersion: lvs-converge/v1\nkind: Host\naddresses: [{ address: 192.0.2.10/24, interface: eth1 }]\n\
            persist: { sysctl: false, modules: false, ipvs: false, bootUnit: false }\n";
        let host = HostNetworkd {
            files: vec![HostNetworkFile {
                path: "/usr/lib/systemd/network/10-eth1.network".into(),
                matches: InterfaceMatch::Names { patterns: vec!["eth1".into()], inverted: false, conditional: false },
            }],
        };
        let document = spec::parse_document(text, Path::new("h.yaml")).unwrap();
        let spec = desired::resolve_on(&document, &NodeSelector::default(), &host).unwrap();
        let observed = HostState::default();
        let made = Provenance {
            created_at: 1_700_000_000,
            spec: SpecFingerprint { path: "h.yaml".into(), sha256: sha256_hex(text.as_bytes()) },
            node: None,
            netns: None,
            root: None,
            observed_from: ObservedFrom::Live,
        };
        let plan = super::super::diff(&spec.desired, &observed, &spec.ownership)
            .annotate(|object| spec.origins.get(object).cloned());
        let saved = SavedPlan::new(made, spec.desired.clone(), spec.ownership.clone(), &spec.origins, plan, observed)
            .with_spec_text(text);
        let path = Path::new("/tmp/p.json");
        let without = saved_plan_error(&SavedPlan::from_json(&saved.to_json(), path).expect_err("resolves otherwise"));
        assert!(without.contains("its desired state is not what its spec gives"), "{without}");
        let saved = saved.with_host_networkd(host.clone());
        let read = SavedPlan::from_json(&saved.to_json(), path).expect("re-resolves with the saved host files");
        assert!(read.check_host_networkd(&host, path, 1_700_000_060).is_ok());
        let mut unrelated = host.clone();
        unrelated.files.push(HostNetworkFile {
            path: "/usr/lib/systemd/network/80-container-ve.network".into(),
            matches: InterfaceMatch::Names { patterns: vec!["ve-*".into()], inverted: false, conditional: false },
        });
        assert!(read.check_host_networkd(&unrelated, path, 1_700_000_060).is_ok());
        let stale = read.check_host_networkd(&HostNetworkd::default(), path, 1_700_000_060).unwrap_err();
        assert!(
            stale_text(&stale).starts_with(
                "saved plan /tmp/p.json is stale: the host's own systemd-networkd files changed since the plan was made 1m ago, and now call for other network files"
            ),
            "{}",
            stale_text(&stale)
        );
    }

    #[test]
    fn apply_options_must_not_contradict_the_plan() {
        let (spec, observed) = fixture();
        let plan = saved(&spec, &observed);
        let path = Path::new("p.json");
        assert_eq!(plan.context(path, None, None).unwrap(), (Some("lb".into()), None));
        assert_eq!(plan.context(path, Some("lb"), None).unwrap(), (Some("lb".into()), None));
        let error = saved_plan_error(&plan.context(path, Some("other"), None).expect_err("other namespace"));
        assert!(
            error.starts_with("saved plan p.json was made with --netns lb, but this apply has --netns other"),
            "{error}"
        );
        assert!(plan.context(path, None, Some(Path::new("/img"))).is_err());

        let mut offline = plan.clone();
        offline.made.observed_from = ObservedFrom::Snapshot { path: "show.json".into() };
        assert!(offline.context(path, Some("other"), None).is_err(), "the plan names its namespace");
        offline.made.netns = None;
        let given = offline.context(path, Some("other"), Some(Path::new("/img"))).expect("free to choose");
        assert_eq!(given, (Some("other".into()), Some("/img".into())));
    }

    #[test]
    fn a_change_added_to_the_plan_is_refused_on_the_host_it_was_made_for() {
        // Finding 5: the digest matched, so whatever the plan listed was carried out.
        let (spec, observed) = fixture();
        let mut forged = saved(&spec, &observed);
        let sysctl = super::super::SysctlChange::Set {
            key: "net.//.//.//tmp.x".into(),
            before: Some("0".into()),
            after: "1".into(),
        };
        forged
            .plan
            .changes
            .push(super::super::Planned { change: super::super::Change::Sysctl(sysctl.clone()), origin: None });
        let stale = forged.check_fresh(&observed, Path::new("p.json"), 0).expect_err("a change nobody planned");
        assert_eq!(
            stale.why,
            Staleness::PlanDiffers(Box::new(PlanDifference::Extra {
                number: 1,
                saved: super::super::Change::Sysctl(sysctl)
            }))
        );
        let text = stale_text(&stale);
        assert!(
            text.starts_with("saved plan p.json does not fit this host: change 1 (`update sysctl net.//.//.//tmp.x`) is not one its desired state gives"),
            "{text}"
        );
        assert!(text.contains("\n  nothing was changed."), "{text}");
        let error = SavedPlan::from_json(&forged.to_json(), Path::new("p.json")).expect_err("refused on reading");
        assert!(matches!(error, SavedPlanError::Inconsistent { .. }), "{error:?}");
    }

    #[test]
    fn traffic_does_not_make_the_recomputed_plan_differ() {
        // A removed real server still holds connections when the plan is made: it waits.
        // When they have ended, a fresh diff would delete it; the saved plan (which waits)
        // still fits, as traffic alone never makes a plan stale.
        let spec = desired::parse(SPEC, Path::new("director.yaml")).expect("valid spec");
        let mut observed = spec.desired.clone();
        let service = *observed.ipvs.services.keys().next().unwrap();
        let mut removed = observed.ipvs.services[&service].destinations.values().next().unwrap().clone();
        removed.address = "203.0.113.12".parse().unwrap();
        removed.weight = 0;
        let key = removed.key();
        observed.ipvs.services.get_mut(&service).unwrap().destinations.insert(key, removed);
        observed.ipvs.activity.push(DestinationActivity {
            service,
            destination: key,
            active: 3,
            inactive: 0,
            draining_since: Some(1_700_000_000),
        });
        observed.ipvs.observed_at = 1_700_000_010;
        let plan = saved(&spec, &observed);
        assert!(plan.plan.changes.is_empty() && plan.plan.draining.len() == 1, "{:?}", plan.plan);
        let mut quiet = observed.clone();
        quiet.ipvs.activity[0].active = 0;
        quiet.ipvs.observed_at += 60;
        assert_eq!(super::super::diff(&spec.desired, &quiet, &spec.ownership).changes.len(), 1, "deleted now");
        assert_eq!(plan.check_fresh(&quiet, Path::new("p.json"), 0), Ok(()));
        SavedPlan::from_json(&plan.to_json(), Path::new("p.json")).expect("consistent");
    }

    #[test]
    fn a_plan_saved_beside_the_agent_keeps_its_hold_and_goes_stale_only_when_a_verdict_changes() {
        use crate::model::health::{HealthRecord, HealthRecords, HealthStatus};
        const HEALTH_SPEC: &str = "apiVersion: lvs-converge/v1\nkind: Host\nipvs:\n  services:\n    - address: 203.0.113.100\n      port: 80\n      healthCheck: { type: tcp, via: direct }\n      realServers:\n        - address: 203.0.113.11\n        - address: 203.0.113.12\n";
        let path = Path::new("p.json");
        let mut spec = desired::parse(HEALTH_SPEC, Path::new("director.yaml")).expect("valid spec");
        let mut observed = spec.desired.clone();
        let service = *observed.ipvs.services.keys().next().unwrap();
        let destination = *observed.ipvs.services[&service].destinations.keys().next().unwrap();
        let record = HealthRecord {
            service,
            destination,
            status: HealthStatus::Unhealthy,
            since: 1_700_000_000,
            last_check: Some(1_700_000_050),
            last_outcome: None,
            latency_ms: Some(1),
            weight: None,
        };
        observed.ipvs.health = Some(HealthRecords {
            agent_pid: 9,
            updated_at: 1_700_000_050,
            valid_until: 1_700_000_100,
            servers: vec![record],
        });
        let holds = crate::plan::health::hold(&mut spec, &observed);
        let plan = super::super::diff(&spec.desired, &observed, &spec.ownership).with_health_holds(holds);
        assert_eq!(plan.changes.len(), 1, "the agent has not drained it yet: the plan does");
        let made = Provenance {
            created_at: 1_700_000_060,
            spec: SpecFingerprint { path: "director.yaml".into(), sha256: sha256_hex(HEALTH_SPEC.as_bytes()) },
            node: None,
            netns: None,
            root: None,
            observed_from: ObservedFrom::Live,
        };
        let saved =
            SavedPlan::new(made, spec.desired.clone(), spec.ownership.clone(), &spec.origins, plan, observed.clone())
                .with_spec_text(HEALTH_SPEC);
        let read = SavedPlan::from_json(&saved.to_json(), path).expect("re-resolved and held with its own records");
        assert_eq!(read.plan.health_holds.len(), 1);

        let mut renewed = observed.clone();
        let records = renewed.ipvs.health.as_mut().unwrap();
        (records.agent_pid, records.updated_at, records.valid_until) = (10, 1_700_000_070, 1_700_000_170);
        (records.servers[0].last_check, records.servers[0].latency_ms) = (Some(1_700_000_070), Some(4));
        assert_eq!(read.check_fresh(&renewed, path, 0), Ok(()), "renewed records, same verdicts");

        let mut healed = observed.clone();
        healed.ipvs.health.as_mut().unwrap().servers[0].status = HealthStatus::Healthy;
        assert!(read.check_fresh(&healed, path, 0).is_err(), "a verdict changed: the hold the plan made is stale");
        let mut agent_gone = observed;
        agent_gone.ipvs.health = None;
        assert!(read.check_fresh(&agent_gone, path, 0).is_err(), "no agent any more: nothing holds it");
    }
}
