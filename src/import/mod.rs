//! `lvs-converge import`: capture what a host already has as a Host spec, before any tool
//! touches it. Three sources, one reader each, all read-only:
//!
//! - [`live`]: the observed state of the host (`observe::observe_host`), LVS-relevant parts
//!   only, in the short `role:` form when the role's defaults describe the host exactly;
//! - [`ipvsadm_save`]: an `ipvsadm-save -n` / `ipvsadm -Sn` rules file (the IPVS table only);
//! - [`keepalived`]: the `virtual_server` blocks of a keepalived.conf, with keepalived's own
//!   defaults, as the IPVS table keepalived builds when every real server is healthy.
//!
//! Each reader yields model state plus notes; [`canonical`] turns the model into the spec
//! types in canonical form (defaults left out) and [`writer`] writes them as commented YAML.
//! An import mirrors the host faithfully, mistakes included: planning the imported spec
//! against the host it came from shows no change. Whatever a source holds that the spec
//! cannot say (health checkers, VRRP, sorry servers …) is reported, never silently dropped.
//!
//! Nothing here reads arguments or writes output: the command line (src/cli/import.rs)
//! picks the source, prints the notes and writes the YAML.

pub mod canonical;
pub mod ipvsadm_save;
pub mod keepalived;
pub mod live;
pub mod writer;

use std::path::{Path, PathBuf};

use crate::model::{IpvsState, API_VERSION};
use crate::spec::{SpecFile, SpecKind};
use canonical::IpvsNotes;
use writer::Comments;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("cannot read {}: {source}\n  hint: --ipvsadm-save takes a file written by `ipvsadm-save -n`, --keepalived a keepalived.conf", .path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// A line of a source file that cannot be understood.
    #[error("{file}:{line}: {message}{}", .hint.as_ref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Parse { file: String, line: usize, message: String, hint: Option<String> },
    /// `--role` names a role whose short form does not describe the host.
    #[error("{0}")]
    Role(String),
    /// The spec written would be larger than a spec may be, so it could not be read back.
    #[error("the spec imported from {origin} would be {} MiB, more than the {} MiB lvs-converge reads\n  hint: split the source (keepalived: into files for `include`) and import the parts separately", .bytes >> 20, crate::spec::MAX_SPEC_BYTES >> 20)]
    TooLarge { origin: String, bytes: usize },
}

/// An imported spec, ready to write.
#[derive(Debug, Clone)]
pub struct Imported {
    /// Where it came from, for the header: `ipvsadm-save file rules.txt`, `the live host`.
    pub source: String,
    pub spec: SpecFile,
    /// Comments before items, by writer path.
    pub comments: Comments,
    /// What the reader noticed: things not converted, defaults it applied, role defaults
    /// the host does not meet. Printed to stderr and written into the header.
    pub notes: Vec<String>,
}

impl Imported {
    /// The spec as YAML, as [`Imported::to_yaml`], refused when it would be too large to
    /// read back.
    pub fn to_yaml_readable(&self, imported_at: &str) -> Result<String, ImportError> {
        let text = self.to_yaml(imported_at);
        if text.len() > crate::spec::MAX_SPEC_BYTES {
            return Err(ImportError::TooLarge { origin: self.source.clone(), bytes: text.len() });
        }
        Ok(text)
    }

    /// The spec as YAML, with a header naming the source and `imported_at` (UTC).
    pub fn to_yaml(&self, imported_at: &str) -> String {
        let mut header = vec![
            format!("Imported by `lvs-converge import` from {} at {imported_at}.", self.source),
            "It mirrors what was there, mistakes included: review it, `lvs-converge check` it, then `plan`.".into(),
        ];
        if !self.notes.is_empty() {
            header.push(String::new());
            header.push("Notes:".into());
            header.extend(self.notes.iter().map(|note| format!("- {note}")));
        }
        let document = serde_yaml::to_value(&self.spec).expect("spec types serialize");
        writer::write(&header, &document, &self.comments)
    }
}

/// A Host spec with nothing but an IPVS table, for the file-based sources.
fn ipvs_only(source: String, ipvs: &IpvsState, ipvs_notes: &IpvsNotes, notes: Vec<String>) -> Imported {
    let (ipvs_spec, comments) = canonical::ipvs_spec(ipvs, ipvs_notes, "ipvs");
    let mut spec = empty_host_spec();
    spec.ipvs = Some(ipvs_spec);
    Imported { source, spec, comments, notes }
}

fn empty_host_spec() -> SpecFile {
    SpecFile {
        api_version: API_VERSION.into(),
        kind: SpecKind::Host,
        role: None,
        vip_interface: None,
        vips: Vec::new(),
        receive: None,
        modules: Vec::new(),
        links: Vec::new(),
        fou: Vec::new(),
        addresses: Vec::new(),
        routes: Vec::new(),
        sysctls: Default::default(),
        ipvs: None,
        nodes: Vec::new(),
        persist: None,
    }
}

fn read_source(path: &Path) -> Result<String, ImportError> {
    std::fs::read_to_string(path).map_err(|source| ImportError::Read { path: path.to_path_buf(), source })
}

/// Imports an `ipvsadm-save -n` rules file.
pub fn from_ipvsadm_save_file(path: &Path) -> Result<Imported, ImportError> {
    let text = read_source(path)?;
    let table = ipvsadm_save::parse(&text, &path.display().to_string())?;
    Ok(ipvs_only(format!("ipvsadm-save rules {}", path.display()), &table.ipvs, &table.notes, table.messages))
}

/// Imports the `virtual_server` blocks of a keepalived.conf.
pub fn from_keepalived_file(path: &Path) -> Result<Imported, ImportError> {
    let text = read_source(path)?;
    let config = keepalived::parse(&text, &path.display().to_string())?;
    Ok(ipvs_only(format!("keepalived config {}", path.display()), &config.ipvs, &config.notes, config.messages))
}

/// `2024-05-01 12:34:56 UTC` for Unix time `seconds`.
pub fn utc_timestamp(seconds: u64) -> String {
    let (year, month, day) = crate::civil_date::civil_from_days((seconds / 86_400) as i64);
    let rest = seconds % 86_400;
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_too_large_to_read_back_is_refused() {
        let note = "n".repeat(1024);
        let imported = Imported {
            source: "keepalived config big.conf".into(),
            spec: empty_host_spec(),
            comments: Comments::new(),
            notes: vec![note; crate::spec::MAX_SPEC_BYTES / 1024 + 1],
        };
        let error = imported.to_yaml_readable("T").unwrap_err().to_string();
        assert!(error.starts_with("the spec imported from keepalived config big.conf would be 16 MiB"), "{error}");
        let small = Imported { notes: Vec::new(), ..imported };
        assert!(small.to_yaml_readable("T").is_ok());
    }

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        assert_eq!(utc_timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc_timestamp(1_714_566_896), "2024-05-01 12:34:56 UTC");
    }
}
