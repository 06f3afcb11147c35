//! Renderers: a plan (or apply report) as text for people or JSON for machines. Renderers
//! only format; they never decide what changes.

pub mod findings;
pub mod json;
pub mod text;

/// Output format of `plan` and `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}
