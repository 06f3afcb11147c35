//! Kernel netlink protocols, shared by the read-only observers and the appliers.

pub mod ipvs;
pub mod route;
