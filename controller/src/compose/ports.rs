//! `ports:` and `expose:`, expanded to one binding per container port, as Docker wants them.

use super::model::PortLong;
use crate::desired::PortBinding;

fn protocol(p: &str) -> Result<String, String> {
    match p.to_ascii_lowercase().as_str() {
        "" | "tcp" => Ok("tcp".into()),
        "udp" => Ok("udp".into()),
        "sctp" => Ok("sctp".into()),
        other => Err(format!("unknown protocol `{other}`; use tcp, udp or sctp")),
    }
}

/// `80` or `8000-8010` → (first, last).
fn range(s: &str, whole: &str) -> Result<(u16, u16), String> {
    let bad = || format!("`{whole}` is not a valid port mapping: `{s}` is not a port or a port range");
    let port = |p: &str| p.trim().parse::<u16>().map_err(|_| bad());
    let (a, b) = match s.split_once('-') {
        Some((a, b)) => (port(a)?, port(b)?),
        None => {
            let p = port(s)?;
            (p, p)
        }
    };
    if b < a {
        return Err(bad());
    }
    Ok((a, b))
}

/// Pairs a host port (range) with a container port range, one binding per container port.
fn expand(
    whole: &str,
    host_ip: Option<String>,
    host: Option<&str>,
    container: &str,
    proto: &str,
) -> Result<Vec<PortBinding>, String> {
    let protocol = protocol(proto)?;
    let (c0, c1) = range(container, whole)?;
    let host_range = host
        .filter(|h| !h.is_empty())
        .map(|h| range(h, whole))
        .transpose()?;
    let mut out = Vec::new();
    for c in c0..=c1 {
        let host_port = match host_range {
            None => None,
            Some((h0, h1)) if c0 == c1 && h0 != h1 => Some(format!("{h0}-{h1}")),
            Some((h0, h1)) => {
                if h1 - h0 != c1 - c0 {
                    return Err(format!(
                        "`{whole}`: the host range and the container range have different lengths"
                    ));
                }
                Some((h0 + (c - c0)).to_string())
            }
        };
        out.push(PortBinding {
            host_ip: host_ip.clone(),
            host_port,
            container_port: c,
            protocol: protocol.clone(),
        });
    }
    Ok(out)
}

/// Short syntax: `80`, `8080:80`, `127.0.0.1:8080:80/udp`, `127.0.0.1::80`, `[::1]:53:53`,
/// `8000-8001:80-81`.
pub fn parse_short(spec: &str) -> Result<Vec<PortBinding>, String> {
    let (addr, proto) = spec.rsplit_once('/').unwrap_or((spec, "tcp"));
    let (host_ip, rest) = if let Some(inner) = addr.strip_prefix('[') {
        let (ip, rest) = inner
            .split_once(']')
            .ok_or_else(|| format!("`{spec}`: unclosed `[` in the host IP"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("`{spec}`: expected `:` after the host IP"))?;
        (Some(ip.to_string()), rest)
    } else {
        let colons = addr.matches(':').count();
        if colons >= 2 {
            // ip:host:container; an unbracketed IPv6 address keeps its own colons.
            let mut parts = addr.rsplitn(3, ':');
            let container = parts.next().unwrap_or_default();
            let host = parts.next().unwrap_or_default();
            let ip = parts.next().unwrap_or_default();
            let rest_len = host.len() + container.len() + 1;
            (Some(ip.to_string()), &addr[addr.len() - rest_len..])
        } else {
            (None, addr)
        }
    };
    let host_ip = host_ip.filter(|ip| !ip.is_empty());
    let (host, container) = match rest.split_once(':') {
        Some((h, c)) => (Some(h), c),
        None => (None, rest),
    };
    if container.is_empty() {
        return Err(format!("`{spec}` has no container port"));
    }
    expand(spec, host_ip, host, container, proto)
}

/// Long syntax: `{target, published, host_ip, protocol, mode}`.
pub fn parse_long(p: &PortLong) -> Result<Vec<PortBinding>, String> {
    let target = u16::try_from(p.target.0).map_err(|_| format!("`{}` is not a port", p.target.0))?;
    if let Some(mode) = p.mode.as_deref() {
        if mode != "host" && mode != "ingress" {
            return Err(format!("port mode `{mode}` is not `host` or `ingress`"));
        }
    }
    let published = p.published.as_ref().map(|s| s.0.clone());
    let whole = format!("{}:{target}", published.as_deref().unwrap_or(""));
    expand(
        &whole,
        p.host_ip.clone().filter(|ip| !ip.is_empty()),
        published.as_deref(),
        &target.to_string(),
        p.protocol.as_deref().unwrap_or("tcp"),
    )
}

/// `expose:` entries: `80`, `80/udp`, `8000-8002` → one per port, with the protocol only when
/// it was written (`80`, `80/udp`), as Compose v2 sends them; the engine reads a bare port as
/// TCP.
pub fn parse_expose(spec: &str) -> Result<Vec<String>, String> {
    let (ports, proto) = match spec.rsplit_once('/') {
        Some((ports, proto)) => (ports, Some(protocol(proto)?)),
        None => (spec, None),
    };
    let (a, b) = range(ports, spec)?;
    Ok((a..=b)
        .map(|p| match &proto {
            Some(proto) => format!("{p}/{proto}"),
            None => p.to_string(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compose::flex::{Int, Scalar};

    fn b(ip: Option<&str>, host: Option<&str>, c: u16, proto: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.map(Into::into),
            host_port: host.map(Into::into),
            container_port: c,
            protocol: proto.into(),
        }
    }

    #[test]
    fn short_forms() {
        assert_eq!(parse_short("80"), Ok(vec![b(None, None, 80, "tcp")]));
        assert_eq!(parse_short("8080:80"), Ok(vec![b(None, Some("8080"), 80, "tcp")]));
        assert_eq!(
            parse_short("127.0.0.1:8080:80/udp"),
            Ok(vec![b(Some("127.0.0.1"), Some("8080"), 80, "udp")])
        );
        assert_eq!(
            parse_short("127.0.0.1::80"),
            Ok(vec![b(Some("127.0.0.1"), None, 80, "tcp")])
        );
        assert_eq!(
            parse_short("[::1]:53:53/udp"),
            Ok(vec![b(Some("::1"), Some("53"), 53, "udp")])
        );
        assert_eq!(
            parse_short("::1:53:53"),
            Ok(vec![b(Some("::1"), Some("53"), 53, "tcp")])
        );
    }

    #[test]
    fn ranges_expand() {
        assert_eq!(
            parse_short("8000-8001:80-81"),
            Ok(vec![
                b(None, Some("8000"), 80, "tcp"),
                b(None, Some("8001"), 81, "tcp")
            ])
        );
        assert_eq!(
            parse_short("3000-3001"),
            Ok(vec![b(None, None, 3000, "tcp"), b(None, None, 3001, "tcp")])
        );
        assert_eq!(
            parse_short("9000-9010:80"),
            Ok(vec![b(None, Some("9000-9010"), 80, "tcp")])
        );
        assert!(parse_short("8000-8002:80-81").is_err());
    }

    #[test]
    fn bad_short_forms() {
        for bad in ["", "x", "80:", "70000", "80/icmp", "81-80", "[::1:80"] {
            assert!(parse_short(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn long_form() {
        let p = PortLong {
            target: Int(80),
            published: Some(Scalar("8080".into())),
            host_ip: Some("127.0.0.1".into()),
            protocol: Some("udp".into()),
            mode: Some("host".into()),
            name: None,
        };
        assert_eq!(
            parse_long(&p),
            Ok(vec![b(Some("127.0.0.1"), Some("8080"), 80, "udp")])
        );
        let p = PortLong {
            target: Int(80),
            published: None,
            host_ip: None,
            protocol: None,
            mode: None,
            name: None,
        };
        assert_eq!(parse_long(&p), Ok(vec![b(None, None, 80, "tcp")]));
    }

    #[test]
    fn expose() {
        assert_eq!(parse_expose("80"), Ok(vec!["80".to_string()]));
        assert_eq!(parse_expose("80/tcp"), Ok(vec!["80/tcp".to_string()]));
        assert_eq!(parse_expose("53/udp"), Ok(vec!["53/udp".to_string()]));
        assert_eq!(parse_expose("8000-8001").expect("ok").len(), 2);
        assert!(parse_expose("x").is_err());
    }
}
