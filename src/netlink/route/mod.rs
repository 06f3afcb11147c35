//! Links, addresses and routes over rtnetlink (`NETLINK_ROUTE`), as plain synchronous calls.
//!
//! ```text
//! let mut net = RouteClient::connect()?;   // socket in the current network namespace
//! let links = net.links()?;                // every interface, tunnels decoded
//! net.add_address(&vip)?;                  // like `ip addr add VIP/32 dev lo`
//! ```
//!
//! The `rtnetlink` crate is asynchronous. [`RouteClient`] owns a tokio current-thread
//! runtime (no threads are started: the process may have entered another namespace with
//! `setns`, which is per thread) and blocks on each request, so callers stay synchronous.
//!
//! Reading is lossless for what the model can express and drops what it deliberately does
//! not manage (see [`RouteClient::addresses`] and [`RouteClient::routes`]). Writing sends
//! exactly what `ip` would for the same command, with `proto static` on routes.
//!
//! Errors say what was being done, what the kernel answered (its errno and, where the kernel
//! gives one, its own explanation), and what to do about it.

mod addresses;
mod client;
mod error;
mod links;
mod routes;
mod tunnel_ioctl;
mod tunnels;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;

pub use super::errno::{self, describe_errno};
pub use client::RouteClient;
pub use error::RouteNetlinkError;
