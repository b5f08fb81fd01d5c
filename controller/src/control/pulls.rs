//! Image pulls in the background, one task per host and image, so that a slow pull does not
//! hold one of the host's reconcile slots: a reconcile that needs an image starts (or finds)
//! its pull, requeues, and finds the result on a later pass. Several keys needing one image
//! share its pull.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use crate::docker::DockerHost;

/// Where a host's image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// Present, with this ID.
    Done(String),
    /// Being pulled.
    Running,
    /// The last pull failed (reported once; the next ask starts a new pull).
    Failed(String),
}

#[derive(Debug, Clone, Default)]
pub struct Pulls(Arc<Mutex<HashMap<(String, String), Pull>>>);

impl Pulls {
    /// The state of `image` on `host`, starting its pull if none is running. A finished pull
    /// is handed out once and forgotten.
    pub fn ask(&self, host: &DockerHost, image: &str) -> Pull {
        let key = (host.host().to_string(), image.to_string());
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match m.get(&key) {
            Some(Pull::Running) => return Pull::Running,
            Some(_) => return m.remove(&key).unwrap_or(Pull::Running),
            None => {}
        }
        m.insert(key.clone(), Pull::Running);
        let (pulls, host, image) = (self.clone(), host.clone(), image.to_string());
        tokio::spawn(async move {
            // The agent image (a DnsGuard's, a watchdog's) is copied or built, never pulled.
            let r = crate::agent::image::ensure_for_container(&host, &Default::default(), &image).await;
            let done = match r {
                Ok(id) => Pull::Done(id),
                Err(e) => Pull::Failed(e.to_string()),
            };
            pulls
                .0
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(key, done);
        });
        Pull::Running
    }
}
