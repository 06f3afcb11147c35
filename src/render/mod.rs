//! Renderers: a plan (or apply report) as text for people or JSON for machines. Every word
//! a user reads about a change or an object is made here; renderers only format, they never
//! decide what changes, and never write: the command line prints what they make.

pub mod agent;
pub mod apply_failure;
pub mod change;
pub mod findings;
pub mod health;
pub mod import;
pub mod json;
pub mod notice;
pub mod plan_report;
pub mod saved;
pub mod snapshot;
pub mod spec_summary;
pub mod status;
pub mod text;

/// Output format of `plan`, `apply` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}
