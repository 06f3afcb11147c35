// TEMPORARY STUB written by the core engineer so the crate compiles while the rtnetlink
// layer is being written. The links/addresses/routes engineer replaces this whole file.
use crate::model::{Address, Link, Route};
#[derive(Debug, thiserror::Error)]
#[error("rtnetlink layer not written yet")]
pub struct RouteNetlinkError;
pub struct RouteClient;
impl RouteClient {
    pub fn connect() -> Result<Self, RouteNetlinkError> {
        Ok(RouteClient)
    }
    pub fn links(&mut self) -> Result<Vec<Link>, RouteNetlinkError> {
        Ok(vec![])
    }
    pub fn addresses(&mut self) -> Result<Vec<Address>, RouteNetlinkError> {
        Ok(vec![])
    }
    pub fn routes(&mut self) -> Result<Vec<Route>, RouteNetlinkError> {
        Ok(vec![])
    }
}
