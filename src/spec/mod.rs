//! The spec: what the user writes (YAML), checked and turned into the desired
//! [`HostState`]. Every error names file, line, column and field path, with a hint.

pub mod ipvs;
pub mod locate;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::model::HostState;
use crate::plan::Ownership;
use ipvs::IpvsSpec;
use locate::PositionIndex;

/// The only spec version this build understands.
pub const API_VERSION: &str = "lvs-converge/v1";

/// The top level of a spec file, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SpecFile {
    pub api_version: String,
    pub kind: SpecKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ipvs: Option<IpvsSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecKind {
    /// One host's desired state.
    Host,
}

/// A validated spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub source: PathBuf,
    pub file: SpecFile,
    pub desired: HostState,
    pub ownership: Ownership,
}

/// One problem in a spec, with where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// Field path such as `ipvs.services[0].port`; empty for document-level problems.
    pub path: String,
    pub message: String,
    pub hint: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("cannot read spec {path}: {source}\n  hint: pass the spec file with --spec/-f")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<Diagnostic>),
}

impl SpecError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            SpecError::Invalid(diagnostics) => diagnostics,
            SpecError::Read { .. } => &[],
        }
    }
}

/// Problems found while turning a parsed spec into the model, by field path.
#[derive(Debug, Default)]
pub struct Problems {
    entries: Vec<(String, String, String)>,
}

impl Problems {
    pub fn add(&mut self, path: &str, message: String, hint: &str) {
        self.entries
            .push((path.to_string(), message, hint.to_string()));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn into_diagnostics(self, file: &str, index: &PositionIndex) -> Vec<Diagnostic> {
        self.entries
            .into_iter()
            .map(|(path, message, hint)| {
                let position = index
                    .find(&path)
                    .unwrap_or(locate::Position { line: 1, column: 1 });
                Diagnostic {
                    file: file.to_string(),
                    line: position.line,
                    column: position.column,
                    path,
                    message,
                    hint: (!hint.is_empty()).then_some(hint),
                }
            })
            .collect()
    }
}

/// Reads and validates the spec at `path`.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Validates spec `text` that came from `source` (used in messages only).
pub fn parse(text: &str, source: &Path) -> Result<Spec, SpecError> {
    let file_name = source.display().to_string();
    let file: SpecFile = serde_yaml::from_str(text)
        .map_err(|error| SpecError::Invalid(vec![yaml_diagnostic(&file_name, &error)]))?;
    let index = PositionIndex::build(text);
    let mut problems = Problems::default();
    if file.api_version != API_VERSION {
        problems.add(
            "apiVersion",
            format!("unsupported apiVersion `{}`", file.api_version),
            &format!("this lvs-converge reads `apiVersion: {API_VERSION}`"),
        );
    }
    let desired = HostState {
        ipvs: file
            .ipvs
            .as_ref()
            .map(|ipvs| ipvs.to_model("ipvs", &mut problems))
            .unwrap_or_default(),
    };
    if !problems.is_empty() {
        return Err(SpecError::Invalid(
            problems.into_diagnostics(&file_name, &index),
        ));
    }
    let ownership = Ownership {
        ipvs: file
            .ipvs
            .as_ref()
            .and_then(|ipvs| ipvs.scope.as_ref())
            .map(|s| s.to_model())
            .unwrap_or_default(),
    };
    Ok(Spec {
        source: source.to_path_buf(),
        file,
        desired,
        ownership,
    })
}

/// Turns serde_yaml's error ("path: message at line L column C") into a diagnostic with a
/// hint where the message alone doesn't say how to fix it.
fn yaml_diagnostic(file: &str, error: &serde_yaml::Error) -> Diagnostic {
    let (line, column) = error.location().map_or((1, 1), |l| (l.line(), l.column()));
    let full = error.to_string();
    let without_location = match full.rfind(" at line ") {
        Some(cut) => &full[..cut],
        None => full.as_str(),
    };
    let plain = without_location
        .replace("expected i64", "expected a whole number")
        .replace("expected u32", "expected a whole number")
        .replace("expected u8", "expected a whole number");
    let (path, message) = split_path(&plain);
    Diagnostic {
        file: file.to_string(),
        line,
        column,
        hint: hint_for(&message),
        path,
        message,
    }
}

/// serde_yaml prefixes messages with the field path and a colon; the path never has spaces.
fn split_path(text: &str) -> (String, String) {
    match text.split_once(": ") {
        Some((path, message)) if !path.contains(' ') && !path.is_empty() => {
            (path.to_string(), message.to_string())
        }
        _ => (String::new(), text.to_string()),
    }
}

fn hint_for(message: &str) -> Option<String> {
    if message.starts_with("unknown field") {
        Some("check the spelling; field names are camelCase (realServers, upperThreshold); see schemas/ for all fields".into())
    } else if message.starts_with("unknown variant") {
        Some("pick one of the values listed".into())
    } else if message.starts_with("missing field `apiVersion`")
        || message.starts_with("missing field `kind`")
    {
        Some(format!(
            "a spec starts with `apiVersion: {API_VERSION}` and `kind: Host`"
        ))
    } else if message.starts_with("invalid type") {
        Some("check the value's type (quote strings, no quotes around numbers)".into())
    } else {
        None
    }
}
