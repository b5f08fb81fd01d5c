//! Plain-TCP Docker endpoints (`tcp://` without `tls`).
//!
//! The Docker API is root on the host, so sending it in clear text is acceptable only where
//! nobody else can listen: on loopback (a local forwarder, an SSH tunnel's local end). A
//! plain-TCP endpoint elsewhere needs `spec.insecure: true`, and even then gets a warning.

/// Whether `addr` (the part after `tcp://`, `host:port`) names a loopback address:
/// `localhost`, `127.0.0.0/8` or `[::1]`.
pub fn is_loopback(addr: &str) -> bool {
    let hostpart = match addr.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
        _ => addr,
    };
    let hostpart = hostpart.trim_start_matches('[').trim_end_matches(']');
    if hostpart.eq_ignore_ascii_case("localhost") {
        return true;
    }
    hostpart
        .parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// What to say about a `tcp://` endpoint without TLS: `Err` (refused) off loopback unless
/// `insecure`, else `Ok(Some(warning))`. `Ok(None)` for anything else.
pub fn plain_tcp_verdict(endpoint: &str, has_tls: bool, insecure: bool) -> Result<Option<String>, String> {
    let Some(addr) = endpoint.strip_prefix("tcp://") else {
        return Ok(None);
    };
    if has_tls {
        return Ok(None);
    }
    if is_loopback(addr) {
        return Ok(Some(format!(
            "endpoint `{endpoint}` is plain TCP without TLS; accepted because it is on loopback"
        )));
    }
    if insecure {
        return Ok(Some(format!(
            "endpoint `{endpoint}` is plain TCP without TLS off loopback (`insecure: true`): \
             anyone on the network path can read and drive this Docker engine"
        )));
    }
    Err(format!(
        "endpoint `{endpoint}` is plain TCP without TLS and not on loopback: anyone on the network \
         path could read and drive this Docker engine"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses() {
        for a in [
            "127.0.0.1:2375",
            "127.1.2.3:1",
            "localhost:2375",
            "[::1]:2375",
            "LOCALHOST:9",
        ] {
            assert!(is_loopback(a), "{a}");
        }
        for a in [
            "10.0.0.1:2375",
            "vps.example:2376",
            "[fe80::1]:2375",
            "0.0.0.0:2375",
        ] {
            assert!(!is_loopback(a), "{a}");
        }
    }

    #[test]
    fn verdicts() {
        assert!(plain_tcp_verdict("tcp://127.0.0.1:2375", false, false)
            .is_ok_and(|w| w.is_some_and(|w| w.contains("on loopback"))));
        assert!(plain_tcp_verdict("tcp://vps.example:2375", false, false).is_err());
        assert!(plain_tcp_verdict("tcp://vps.example:2375", false, true).is_ok_and(|w| w.is_some()));
        assert_eq!(plain_tcp_verdict("tcp://vps.example:2376", true, false), Ok(None));
        assert_eq!(
            plain_tcp_verdict("unix:///var/run/docker.sock", false, false),
            Ok(None)
        );
    }
}
