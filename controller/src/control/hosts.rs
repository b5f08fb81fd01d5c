//! Connections to Docker hosts, kept between reconciles and dropped when they fail.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use crate::{
    desired::HostSpec,
    docker::{DockerError, DockerHost},
};

#[derive(Debug, Clone, Default)]
pub struct Pool(Arc<Mutex<HashMap<String, (HostSpec, DockerHost)>>>);

impl Pool {
    /// A connection to `spec`, reusing the last one if the endpoint is unchanged.
    pub async fn get(&self, spec: &HostSpec) -> Result<DockerHost, DockerError> {
        if let Some(h) = self.cached(spec) {
            return Ok(h);
        }
        let h = DockerHost::connect(spec).await?;
        if let Ok(mut m) = self.0.lock() {
            m.insert(spec.name.clone(), (spec.clone(), h.clone()));
        }
        Ok(h)
    }

    fn cached(&self, spec: &HostSpec) -> Option<DockerHost> {
        let m = self.0.lock().ok()?;
        m.get(&spec.name)
            .filter(|(s, _)| s == spec)
            .map(|(_, h)| h.clone())
    }

    /// Drops the connection after an error that may mean the engine went away, so the next
    /// use reconnects (and renegotiates the API version).
    pub fn invalidate(&self, host: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(host);
        }
    }
}
