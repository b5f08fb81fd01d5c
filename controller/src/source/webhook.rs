//! Push webhooks from GitHub and GitLab: verify, decide whether the push concerns the
//! followed ref, and wake the source poller. The HTTP route (`POST /api/v1/webhook`) only
//! maps an [`Outcome`] to a status code; the fetch runs in the poller, never in the request.
//!
//! Verification: GitHub signs the raw body, `X-Hub-Signature-256: sha256=<hex HMAC-SHA256>`;
//! GitLab sends the secret itself, `X-Gitlab-Token: <secret>`. Both are compared in
//! constant time.

use std::sync::Arc;

use axum::http::HeaderMap;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tokio::sync::Notify;

use super::{Tracked, TrackedRef};

/// What became of one webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A push to the followed ref (or any push while it is not known yet): the poller was
    /// woken.
    Triggered { git_ref: String },
    /// Verified, but nothing to fetch: another ref, another event, a commit pin.
    Ignored { reason: String },
    /// GitHub's `ping` when a hook is created.
    Pong,
    /// No signature or token, or a wrong one.
    Unauthorized,
    /// Verified, but the body is not a JSON push payload.
    BadRequest(String),
}

/// The webhook's secret and whom it wakes.
pub struct Webhook {
    secret: Vec<u8>,
    tracked: TrackedRef,
    wake: Arc<Notify>,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook").finish_non_exhaustive()
    }
}

impl Webhook {
    pub fn new(secret: impl Into<Vec<u8>>, tracked: TrackedRef, wake: Arc<Notify>) -> Self {
        Self {
            secret: secret.into(),
            tracked,
            wake,
        }
    }

    /// Reads the secret from `path` (trimmed, like the API token).
    pub fn read_secret(path: &std::path::Path) -> Result<String, String> {
        let raw = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read --webhook-secret-file {}: {e}", path.display()))?;
        let s = raw.trim().to_owned();
        if s.is_empty() {
            return Err(format!("--webhook-secret-file {} is empty", path.display()));
        }
        Ok(s)
    }

    /// Verifies and judges one delivery; wakes the poller on [`Outcome::Triggered`].
    pub fn handle(&self, headers: &HeaderMap, body: &[u8]) -> Outcome {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let verified = match (header("x-hub-signature-256"), header("x-gitlab-token")) {
            (Some(sig), _) => self.github_signature_ok(sig, body),
            (None, Some(token)) => self.gitlab_token_ok(token),
            (None, None) => false,
        };
        if !verified {
            return Outcome::Unauthorized;
        }
        let event = match (header("x-github-event"), header("x-gitlab-event")) {
            (Some("ping"), _) => return Outcome::Pong,
            (Some("push"), _) | (_, Some("Push Hook" | "Tag Push Hook")) => "push",
            (Some(e), _) | (None, Some(e)) => {
                return Outcome::Ignored {
                    reason: format!("event `{e}` is not a push"),
                }
            }
            (None, None) => {
                return Outcome::Ignored {
                    reason: "no X-GitHub-Event or X-Gitlab-Event header".into(),
                }
            }
        };
        debug_assert_eq!(event, "push");
        let git_ref = match pushed_ref(body) {
            Ok(r) => r,
            Err(e) => return Outcome::BadRequest(e),
        };
        let outcome = judge(&self.tracked.get(), git_ref);
        if matches!(outcome, Outcome::Triggered { .. }) {
            self.wake.notify_one();
        }
        outcome
    }

    fn github_signature_ok(&self, header: &str, body: &[u8]) -> bool {
        let Some(sig) = header
            .strip_prefix("sha256=")
            .and_then(|h| hex::decode(h.trim()).ok())
        else {
            return false;
        };
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.secret) else {
            return false;
        };
        mac.update(body);
        mac.verify_slice(&sig).is_ok()
    }

    fn gitlab_token_ok(&self, token: &str) -> bool {
        // Digests first, so that the comparison takes the same time whatever the lengths.
        let a: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let b: [u8; 32] = Sha256::digest(&self.secret).into();
        bool::from(a.ct_eq(&b))
    }
}

/// The `ref` of a GitHub or GitLab push payload.
fn pushed_ref(body: &[u8]) -> Result<String, String> {
    #[derive(serde::Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        git_ref: String,
    }
    serde_json::from_slice::<Push>(body)
        .map(|p| p.git_ref)
        .map_err(|e| {
            format!("not a JSON push payload (set the hook's content type to application/json): {e}")
        })
}

fn judge(tracked: &Tracked, git_ref: String) -> Outcome {
    match tracked {
        Tracked::Any => Outcome::Triggered { git_ref },
        Tracked::Ref(r) if *r == git_ref => Outcome::Triggered { git_ref },
        Tracked::Ref(r) => Outcome::Ignored {
            reason: format!("push to {git_ref}; aegis follows {r}"),
        },
        Tracked::Pinned => Outcome::Ignored {
            reason: format!("push to {git_ref}; aegis is pinned to a commit"),
        },
    }
}

/// `sha256=<hex>` of `body` under `secret`, as GitHub sends it (for tests and tools).
pub fn github_signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(tracked: Tracked) -> (Webhook, Arc<Notify>) {
        let t = TrackedRef::default();
        t.set(tracked);
        let wake = Arc::new(Notify::new());
        (Webhook::new("s3cret", t, wake.clone()), wake)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    async fn woken(wake: &Notify) -> bool {
        tokio::time::timeout(std::time::Duration::from_millis(50), wake.notified())
            .await
            .is_ok()
    }

    const BODY: &[u8] = br#"{"ref":"refs/heads/main","after":"abc"}"#;

    #[tokio::test]
    async fn github_push_to_the_followed_branch_wakes_the_poller() {
        let (h, wake) = hook(Tracked::Ref("refs/heads/main".into()));
        let sig = github_signature(b"s3cret", BODY);
        let out = h.handle(
            &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
            BODY,
        );
        assert_eq!(
            out,
            Outcome::Triggered {
                git_ref: "refs/heads/main".into()
            }
        );
        assert!(woken(&wake).await);
    }

    #[tokio::test]
    async fn bad_or_missing_signature_is_unauthorized_and_wakes_nobody() {
        let (h, wake) = hook(Tracked::Any);
        let wrong = github_signature(b"other", BODY);
        for hs in [
            headers(&[("x-hub-signature-256", &wrong), ("x-github-event", "push")]),
            headers(&[("x-hub-signature-256", "sha256=zz"), ("x-github-event", "push")]),
            headers(&[("x-github-event", "push")]),
            headers(&[("x-gitlab-token", "s3cret "), ("x-gitlab-event", "Push Hook")]),
        ] {
            assert_eq!(h.handle(&hs, BODY), Outcome::Unauthorized);
        }
        // A valid signature of another body.
        let sig = github_signature(b"s3cret", b"{}");
        assert_eq!(
            h.handle(
                &headers(&[("x-hub-signature-256", &sig), ("x-github-event", "push")]),
                BODY
            ),
            Outcome::Unauthorized
        );
        assert!(!woken(&wake).await);
    }

    #[tokio::test]
    async fn gitlab_token_other_refs_ping_and_pins() {
        let (h, wake) = hook(Tracked::Ref("refs/heads/main".into()));
        let gl = headers(&[("x-gitlab-token", "s3cret"), ("x-gitlab-event", "Push Hook")]);
        assert!(matches!(h.handle(&gl, BODY), Outcome::Triggered { .. }));
        assert!(woken(&wake).await);
        let other = br#"{"ref":"refs/heads/dev"}"#;
        assert!(matches!(h.handle(&gl, other), Outcome::Ignored { .. }));
        assert!(!woken(&wake).await);
        let ping = github_signature(b"s3cret", b"{}");
        assert_eq!(
            h.handle(
                &headers(&[("x-hub-signature-256", &ping), ("x-github-event", "ping")]),
                b"{}"
            ),
            Outcome::Pong
        );
        let issue = headers(&[("x-gitlab-token", "s3cret"), ("x-gitlab-event", "Issue Hook")]);
        assert!(matches!(h.handle(&issue, BODY), Outcome::Ignored { .. }));
        assert!(matches!(h.handle(&gl, b"not json"), Outcome::BadRequest(_)));

        let (pinned, _) = hook(Tracked::Pinned);
        assert!(matches!(pinned.handle(&gl, BODY), Outcome::Ignored { .. }));
    }
}
