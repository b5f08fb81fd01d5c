//! `[[server]]` → `Host`.
//!
//! Komodo reaches a server through its Periphery agent (`config.address`, an HTTPS API on
//! port 8120); aegis talks to the Docker engine itself. The one can't be turned into the
//! other, so the endpoint is the part a person has to check: a loopback Periphery means the
//! local socket, anything else a TLS engine on the same host name, reported, unless
//! `--endpoint NAME=URL` says what it is.

use std::collections::BTreeMap;

use toml::de::DeValue;

use super::{
    toml_doc::{as_str, as_strings, entries, is_default, TomlDoc},
    Finding, HostOut, Severity,
};

const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

pub(super) fn convert(
    doc: &TomlDoc<'_>,
    endpoints: &BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) -> Vec<HostOut> {
    let mut hosts = Vec::new();
    for (key, value) in entries(&doc.root) {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("server", DeValue::Array(servers)) => {
                for (i, s) in servers.iter().enumerate() {
                    match s.get_ref() {
                        DeValue::Table(t) => {
                            if let Some(h) = server(doc, t, s.span().start, i, endpoints, findings) {
                                hosts.push(h);
                            }
                        }
                        _ => findings.push(doc.finding(
                            s.span().start,
                            format!("server[{i}]"),
                            Severity::Unmapped,
                            "expected a table ([[server]])",
                        )),
                    }
                }
            }
            (other, _) => findings.push(doc.finding(
                key.span().start,
                other,
                Severity::Unmapped,
                "only [[server]] entries are imported from the servers file",
            )),
        }
    }
    hosts
}

fn server(
    doc: &TomlDoc<'_>,
    t: &toml::de::DeTable<'_>,
    at: usize,
    index: usize,
    endpoints: &BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) -> Option<HostOut> {
    let Some(name) = t.get("name").and_then(|v| as_str(v.get_ref())) else {
        findings.push(doc.finding(
            at,
            format!("server[{index}]"),
            Severity::Unmapped,
            "has no `name`: skipped",
        ));
        return None;
    };
    let field = |f: &str| format!("server[{name}].{f}");
    let mut h = HostOut {
        name: name.to_string(),
        ..Default::default()
    };
    let mut address: Option<(&str, usize)> = None;
    for (k, v) in entries(t) {
        let (key, val, kat) = (k.get_ref().as_ref(), v.get_ref(), k.span().start);
        match key {
            "name" => {}
            "description" => match as_str(val) {
                Some(d) if !d.is_empty() => {
                    h.annotations.insert("description".into(), d.to_string());
                }
                Some(_) => {}
                None => findings.push(doc.finding(kat, field(key), Severity::Unmapped, "expected a string")),
            },
            "tags" => tags(doc, val, kat, &field(key), &mut h.labels, findings),
            "config" => {
                let DeValue::Table(c) = val else {
                    findings.push(doc.finding(kat, field(key), Severity::Unmapped, "expected a table"));
                    continue;
                };
                for (ck, cv) in entries(c) {
                    let (ckey, cval, cat) = (ck.get_ref().as_ref(), cv.get_ref(), ck.span().start);
                    let f = field(&format!("config.{ckey}"));
                    match ckey {
                        "address" => match as_str(cval) {
                            Some(a) => address = Some((a, cat)),
                            None => {
                                findings.push(doc.finding(cat, f, Severity::Unmapped, "expected a string"))
                            }
                        },
                        "region" => match as_str(cval) {
                            Some(r) if !r.is_empty() => {
                                h.labels.insert("region".into(), r.to_string());
                            }
                            Some(_) => {}
                            None => {
                                findings.push(doc.finding(cat, f, Severity::Unmapped, "expected a string"))
                            }
                        },
                        "enabled" => {
                            if matches!(cval, DeValue::Boolean(false)) {
                                findings.push(doc.finding(
                                    cat,
                                    f,
                                    Severity::Unmapped,
                                    format!("the server is disabled in Komodo; aegis has no disabled Host: Host/{name} is written and will be reconciled — remove it (and its stacks) if it should not be"),
                                ));
                            }
                        }
                        _ if is_default(cval) => {}
                        _ => findings.push(doc.finding(
                            cat,
                            f,
                            Severity::Unmapped,
                            "a Komodo server setting with no aegis equivalent",
                        )),
                    }
                }
            }
            _ if is_default(val) => {}
            _ => findings.push(doc.finding(
                kat,
                field(key),
                Severity::Unmapped,
                "a Komodo resource field with no aegis equivalent",
            )),
        }
    }
    if let Some(ep) = endpoints.get(name) {
        set_endpoint(&mut h, ep);
        h.comments.push(format!("endpoint from --endpoint {name}={ep}"));
        return Some(h);
    }
    match address {
        Some((a, at)) if is_loopback(a) => {
            h.endpoint = LOCAL_SOCKET.into();
            findings.push(doc.finding(
                at,
                field("config.address"),
                Severity::Note,
                format!(
                    "Periphery at `{a}` runs beside Komodo Core: Host/{name} uses the local Docker socket {LOCAL_SOCKET} (aegis runs on that host)"
                ),
            ));
        }
        Some((a, at)) => {
            let host = host_of(a);
            set_endpoint(&mut h, &format!("tcp://{host}:2376"));
            h.comments.push(format!(
                "Komodo reached this server's Periphery at {a}; this endpoint is a guess: the Docker engine with TLS (dockerd --tlsverify) on the same name"
            ));
            findings.push(doc.finding(
                at,
                field("config.address"),
                Severity::Unmapped,
                format!(
                    "`{a}` is Komodo Periphery's API, not a Docker endpoint: wrote `tcp://{host}:2376` with TLS file placeholders under /etc/aegis/tls/{name}/ — expose the engine there (dockerd --tlsverify, reachable through the same tunnel) or pass --endpoint {name}=URL"
                ),
            ));
        }
        None => {
            h.endpoint = LOCAL_SOCKET.into();
            findings.push(doc.finding(
                at,
                field("config.address"),
                Severity::Unmapped,
                format!("no address: Host/{name} uses the local Docker socket; pass --endpoint {name}=URL if it is remote"),
            ));
        }
    }
    Some(h)
}

/// A Host for a server that stacks name but the servers file does not declare.
pub(super) fn placeholder(name: &str, endpoints: &BTreeMap<String, String>) -> HostOut {
    let mut h = HostOut {
        name: name.to_string(),
        ..Default::default()
    };
    match endpoints.get(name) {
        Some(ep) => set_endpoint(&mut h, ep),
        None => {
            h.endpoint = LOCAL_SOCKET.into();
            h.comments
                .push("not declared in the servers file: the local socket is a guess".into());
        }
    }
    h
}

fn set_endpoint(h: &mut HostOut, ep: &str) {
    h.endpoint = ep.to_string();
    h.tls = ep.starts_with("tcp://").then(|| {
        let dir = format!("/etc/aegis/tls/{}", h.name);
        [
            format!("{dir}/ca.pem"),
            format!("{dir}/cert.pem"),
            format!("{dir}/key.pem"),
        ]
    });
}

/// Tags → labels `<tag>: "true"`. A tag that can't be a label key is reported.
pub(super) fn tags(
    doc: &TomlDoc<'_>,
    val: &DeValue<'_>,
    at: usize,
    field: &str,
    labels: &mut BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) {
    let Some(tags) = as_strings(val) else {
        findings.push(doc.finding(at, field, Severity::Unmapped, "expected an array of strings"));
        return;
    };
    for (tag, tat) in tags {
        let ok = !tag.is_empty()
            && tag.len() <= 63
            && tag
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
        if ok {
            labels.insert(tag.to_string(), "true".into());
        } else {
            findings.push(doc.finding(
                tat,
                field,
                Severity::Unmapped,
                format!("tag `{tag}` is not a valid label key (letters, digits, - _ . /)"),
            ));
        }
    }
}

/// `https://periphery.example:8120` → `periphery.example`.
fn host_of(address: &str) -> &str {
    let rest = address.split_once("://").map_or(address, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// Periphery on the Komodo Core host itself: loopback, or the `periphery` container of
/// Komodo's own compose file.
fn is_loopback(address: &str) -> bool {
    let h = host_of(address);
    h == "localhost" || h == "periphery" || h == "::1" || h.starts_with("127.") || h == "host.docker.internal"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(
            host_of("https://periphery.private.example:8120"),
            "periphery.private.example"
        );
        assert_eq!(host_of("http://[::1]:8120/x"), "::1");
        assert_eq!(host_of("10.0.0.5"), "10.0.0.5");
        assert!(is_loopback("https://127.0.0.1:8120"));
        assert!(is_loopback("https://periphery:8120"));
        assert!(!is_loopback("https://vps.example:8120"));
    }
}
