//! What a host is in an LVS-TUN cluster. The spec reads it; the desired stage derives the
//! role's defaults from it; lint and import judge hosts by it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Director,
    RealServer,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Director => "director",
            Role::RealServer => "real-server",
        }
    }
}
