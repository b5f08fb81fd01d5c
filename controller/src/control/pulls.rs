//! Image pulls in the background, one task per host and image, so that a slow pull does not
//! hold one of the host's reconcile slots: a reconcile that needs an image starts (or finds)
//! its pull, requeues, and finds the result on a later pass. Several keys needing one image
//! share its pull.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use tokio::time::Instant;

use crate::docker::DockerHost;

/// Where a host's image stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pull {
    /// Present, with this ID.
    Done(String),
    /// Being pulled.
    Running,
    /// The last pull failed. Every ask within [`FAILED_HOLD`] of the failure gets it (so
    /// the key fails and backs off, and an asked-for `aegisctl reconcile` reports the failure
    /// instead of "reconciled" while a new pull runs); the first ask after starts a new pull.
    Failed(String),
}

/// How long a failed pull is reported before the next ask pulls again.
pub const FAILED_HOLD: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
enum Entry {
    Done(String),
    Running,
    Failed(String, Instant),
}

#[derive(Debug, Clone, Default)]
pub struct Pulls(Arc<Mutex<HashMap<(String, String), Entry>>>);

impl Pulls {
    /// The state of `image` on `host`, starting its pull if none is running. A finished pull
    /// is handed out once and forgotten.
    /// `platform` is compose's `platform:` of the service (the pull asks for it; see
    /// [`crate::docker::images::ensure_image_for_platform`]); one pull per image and platform.
    pub fn ask(&self, host: &DockerHost, image: &str, platform: Option<&str>) -> Pull {
        let (h, image, platform) = (host.clone(), image.to_string(), platform.map(str::to_string));
        let key = match &platform {
            Some(p) => format!("{image} (platform {p})"),
            None => image.clone(),
        };
        self.start(host, key, async move {
            // The agent image (a DnsGuard's, a watchdog's) is copied or built, never pulled.
            crate::agent::image::ensure_for_container(&h, &Default::default(), &image, platform.as_deref())
                .await
                .map_err(|e| e.to_string())
        })
    }

    /// [`Pulls::ask`] for an image built from the repository (compose `build:`), keyed by its
    /// hash tag. A failure's text is the builder's reason (with its last lines).
    pub fn ask_build(&self, host: &DockerHost, need: &crate::apply::images::BuildNeed) -> Pull {
        let (h, need) = (host.clone(), need.clone());
        self.start(host, need.build.tag.clone(), async move {
            crate::docker::build::ensure_built(&h, &need.stack, &need.service, &need.image, &need.build)
                .await
                .map_err(|e| match e {
                    crate::docker::DockerError::ImageBuild { reason, .. } => reason,
                    e => e.to_string(),
                })
        })
    }

    /// The state of job `name` on `host`, spawning `job` if none is running.
    fn start(
        &self,
        host: &DockerHost,
        name: String,
        job: impl std::future::Future<Output = Result<String, String>> + Send + 'static,
    ) -> Pull {
        let key = (host.host().to_string(), name);
        let mut m = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = known(&mut m, &key) {
            return known;
        }
        m.insert(key.clone(), Entry::Running);
        let pulls = self.clone();
        tokio::spawn(async move {
            let done = match job.await {
                Ok(id) => Entry::Done(id),
                Err(e) => Entry::Failed(e, Instant::now()),
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

/// What the map says of `key`, handing a finished pull out once; `None`: start a pull.
fn known(m: &mut HashMap<(String, String), Entry>, key: &(String, String)) -> Option<Pull> {
    match m.get(key)? {
        Entry::Running => Some(Pull::Running),
        Entry::Failed(why, at) if at.elapsed() < FAILED_HOLD => Some(Pull::Failed(why.clone())),
        Entry::Failed(..) => None,
        Entry::Done(_) => match m.remove(key) {
            Some(Entry::Done(id)) => Some(Pull::Done(id)),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A failed pull is reported on every ask within the hold, not once: a key that asks
    /// again (an explicit reconcile) must see the failure, not a new "pulling" wait.
    #[tokio::test(start_paused = true)]
    async fn a_failed_pull_is_reported_until_the_hold_ends() {
        let key = ("h".to_string(), "img".to_string());
        let mut m = HashMap::new();
        m.insert(key.clone(), Entry::Failed("refused".into(), Instant::now()));
        for _ in 0..3 {
            assert_eq!(known(&mut m, &key), Some(Pull::Failed("refused".into())));
        }
        tokio::time::advance(FAILED_HOLD).await;
        assert_eq!(
            known(&mut m, &key),
            None,
            "after the hold, the next ask pulls again"
        );
    }

    #[test]
    fn a_finished_pull_is_handed_out_once() {
        let key = ("h".to_string(), "img".to_string());
        let mut m = HashMap::new();
        m.insert(key.clone(), Entry::Done("sha256:1".into()));
        assert_eq!(known(&mut m, &key), Some(Pull::Done("sha256:1".into())));
        assert_eq!(known(&mut m, &key), None);
    }
}
