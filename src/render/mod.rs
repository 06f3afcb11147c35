//! Renderers: a plan (or apply report) as text for people or JSON for machines. Renderers
//! only format; they never decide what changes, and never write: the command line prints
//! what they make.

pub mod findings;
pub mod json;
pub mod text;

/// Output format of `plan`, `apply` and `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}
