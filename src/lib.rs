//! lvs-converge: converge a Linux host into an LVS-TUN director or real server from a
//! declarative spec.
//!
//! Data flows one way: `spec` (YAML) → validated model pieces → `desired` (the desired
//! [`model::HostState`]: role defaults, prerequisites, persistence files); `observe` reads the
//! host into the same type; `plan` diffs the two into ordered typed changes;
//! `render` prints them; `apply` carries them out and verifies.

pub mod agent;
pub mod apply;
pub mod build_info;
pub mod civil_date;
pub mod cli;
pub mod converge;
pub mod desired;
pub mod fault;
pub mod import;
pub mod interrupt;
pub mod lint;
pub mod lock;
pub mod model;
pub mod netlink;
pub mod netns;
pub mod observe;
pub mod plan;
pub mod render;
pub mod rundir;
pub mod spec;
pub mod target_root;
#[cfg(test)]
mod test_support;
