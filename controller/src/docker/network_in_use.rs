//! Why a network could not be removed because the engine says it "has active endpoints", in
//! words a person can act on.
//!
//! Two cases look the same in the engine's reply:
//! - containers are still attached that the plan does not remove (a container started by
//!   hand with `--network`, another stack's container joined to it): name them;
//! - no container is attached at all, yet the engine still counts an endpoint. Docker Engine
//!   20.10 does this when many containers on one network stop at the same moment (seen here
//!   with plain `docker rm -f` of 200 containers, 40 at a time, and with Compose v2's `down`
//!   alike); the count stays wrong until dockerd restarts. aegis cannot repair it through the
//!   API, so it says so, and keeps retrying the removal on each pass.

/// The engine's reply when a network still has endpoints.
pub fn is_in_use(engine_message: &str) -> bool {
    engine_message.contains("has active endpoints")
}

/// The explanation to add to the engine's message: `attached` are the names of the
/// containers the engine lists on the network now.
pub fn explain(host: &str, attached: &[String]) -> String {
    if attached.is_empty() {
        format!(
            "no container is attached to it any more, but the engine still counts an endpoint \
             (a Docker Engine race when many containers on one network stop at once); \
             restart dockerd on host `{host}` to clear it, then aegis removes the network on \
             its next pass"
        )
    } else {
        format!(
            "still attached: {}; these containers are not removed by this plan: disconnect \
             them (`docker network disconnect`) or remove them, then aegis removes the network \
             on its next pass",
            attached.join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_the_engine_reply() {
        assert!(is_in_use(
            "error while removing network: network n id 1f has active endpoints"
        ));
        assert!(!is_in_use("network n not found"));
    }

    #[test]
    fn names_the_containers_still_attached() {
        let text = explain("vps", &["web-1".into(), "debug".into()]);
        assert!(text.contains("still attached: web-1, debug"), "{text}");
        assert!(!text.contains("restart dockerd"), "{text}");
    }

    #[test]
    fn a_stale_count_says_to_restart_dockerd_on_that_host() {
        let text = explain("vps", &[]);
        assert!(text.contains("restart dockerd on host `vps`"), "{text}");
        assert!(text.contains("next pass"), "{text}");
    }
}
