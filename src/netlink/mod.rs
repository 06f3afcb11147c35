//! Kernel netlink protocols, shared by the read-only observers and the appliers.

pub mod errno;
pub mod fou;
pub mod genl;
pub mod ipvs;
pub mod route;
