//! `TunnelClient` manifests → the client container on their host.
//!
//! [`expand`] is pure: the spec, the decrypted credentials and the host's DnsGuard in, one
//! container out, the way the seed ended up writing it by hand:
//!
//! - **pangolin-cli** (machine client): `network_mode: host` (its WireGuard interface and
//!   routes are the host's), `cap_add: NET_ADMIN` and `/dev/net/tun` (it creates the
//!   interface), and the host's `resolv.conf` bind-mounted read-write as `/etc/resolv.conf`
//!   (olm overrides it to point at its DNS proxy; without the mount the override stays inside
//!   the container, seed POC finding #2). It gets an explicit `--upstream-dns` (newer clients
//!   have none by default): `spec.upstreamDns`, or the DnsGuard's fallback nameservers.
//!   `PANGOLIN_ENDPOINT`, `CLIENT_ID` and `CLIENT_SECRET` come from SOPS; the image's
//!   entrypoint turns them into `pangolin-cli up client --attach --id ... --secret ...
//!   --endpoint ...`, followed by the container's command.
//! - **newt** (site): its networks (the ones that reach the resources it serves), `NEWT_ID`,
//!   `NEWT_SECRET` and `PANGOLIN_ENDPOINT` from SOPS, and with `healthFile` a healthcheck on
//!   the file Newt writes while connected (`HEALTH_FILE`).
//!
//! The resource waits for its `dependsOn` and its DnsGuard (Ready: the agent has run its first
//! pass, so the host-side backup of `resolv.conf` exists before the client first starts).

use std::collections::BTreeMap;

use crate::{
    desired::{
        BindSource, ContainerSpec, Device, EnvValue, Healthcheck, Kind, Mount, MountKind, NetworkAttachment,
        NetworkMode, PangolinCheck, PangolinObject, ResourceRef, RestartPolicy, StackSpec,
    },
    diagnostic::{Diagnostic, Diagnostics},
    manifest::{
        kinds::{Manifest, PangolinApi, TunnelClientSpec, TunnelType},
        validate_agents::{self, parse_dns_server},
        AnyManifest, Located, ManifestSet,
    },
    secrets::{Secret, SecretLoader},
    source::{RootDir, SourceRoot},
    yaml::FieldPath,
};

use super::dnsguards::Guard;

/// Label on a client's container: `pangolin-cli` or `newt`.
pub const TUNNEL_LABEL: &str = "aegis.dev/tunnel";

/// Everything [`expand`] needs.
#[derive(Debug, Clone)]
pub struct TunnelInputs<'a> {
    pub name: &'a str,
    pub spec: &'a TunnelClientSpec,
    /// The decrypted variables of `spec.secrets`, in file order.
    pub secret_env: Vec<(String, EnvValue)>,
    /// The DnsGuard the client waits for (always set for pangolin-cli after validation).
    pub guard: Option<Guard>,
}

/// The variables a client cannot start without.
pub fn required_env(t: TunnelType) -> &'static [&'static str] {
    match t {
        TunnelType::PangolinCli => &["PANGOLIN_ENDPOINT", "CLIENT_ID", "CLIENT_SECRET"],
        TunnelType::Newt => &["PANGOLIN_ENDPOINT", "NEWT_ID", "NEWT_SECRET"],
    }
}

/// The client's container, as the only container of the `TunnelClient/<name>` resource. An
/// error names what is missing (variables by name, never values).
pub fn expand(inp: &TunnelInputs<'_>) -> Result<StackSpec, String> {
    let s = inp.spec;
    let mut env: BTreeMap<String, EnvValue> = BTreeMap::new();
    for (k, v) in &s.environment {
        env.insert(k.clone(), EnvValue::Plain(v.clone()));
    }
    for (k, v) in &inp.secret_env {
        env.insert(k.clone(), v.clone());
    }
    if let Some(e) = &s.endpoint {
        env.insert("PANGOLIN_ENDPOINT".into(), EnvValue::Plain(e.clone()));
    }
    let missing: Vec<&str> = required_env(s.tunnel_type)
        .iter()
        .copied()
        .filter(|k| !env.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} is not set: a {} client needs {} (from the SOPS files in spec.secrets{})",
            missing.join(", "),
            s.tunnel_type.as_str(),
            required_env(s.tunnel_type).join(", "),
            if missing.contains(&"PANGOLIN_ENDPOINT") {
                ", or spec.endpoint"
            } else {
                ""
            }
        ));
    }
    let mut c = ContainerSpec {
        name: s.container_name.clone().unwrap_or_else(|| inp.name.to_string()),
        stack: inp.name.to_string(),
        service: s.tunnel_type.as_str().to_string(),
        image: s.image.clone(),
        labels: BTreeMap::from([(TUNNEL_LABEL.to_string(), s.tunnel_type.as_str().to_string())]),
        restart: RestartPolicy::UnlessStopped,
        ..Default::default()
    };
    match s.tunnel_type {
        TunnelType::PangolinCli => {
            let guard = inp
                .guard
                .as_ref()
                .ok_or("a pangolin-cli client needs a DnsGuard on its host")?;
            let upstream: Vec<String> = if s.upstream_dns.is_empty() {
                guard.fallback.clone()
            } else {
                s.upstream_dns.clone()
            };
            if upstream.is_empty() {
                return Err("pangolin-cli needs --upstream-dns: set spec.upstreamDns or the DnsGuard's fallbackNameservers".into());
            }
            // olm forwards to `host:port`; a bare address means port 53.
            let upstream: Vec<String> = upstream
                .iter()
                .map(|u| parse_dns_server(u).map_or_else(|| u.clone(), |a| a.to_string()))
                .collect();
            let mut command = vec!["--upstream-dns".to_string(), upstream.join(",")];
            command.extend(s.args.iter().cloned());
            c.command = Some(command);
            c.network_mode = NetworkMode::Host;
            c.cap_add = vec!["NET_ADMIN".into()];
            c.devices = vec![Device {
                host: "/dev/net/tun".into(),
                container: "/dev/net/tun".into(),
                permissions: "rwm".into(),
            }];
            c.mounts = vec![Mount {
                target: "/etc/resolv.conf".into(),
                read_only: false,
                kind: MountKind::Bind {
                    source: BindSource::Host(guard.resolv_conf_on_host()),
                    propagation: None,
                    // The host's resolv.conf exists; never let Docker create a directory there.
                    create_host_path: false,
                    relabel: None,
                },
            }];
        }
        TunnelType::Newt => {
            if !s.args.is_empty() {
                c.command = Some(s.args.clone());
            }
            c.networks = s
                .networks
                .iter()
                .map(|n| NetworkAttachment {
                    network: n.clone(),
                    aliases: vec![c.service.clone()],
                    ipv4_address: None,
                    ipv6_address: None,
                    mac_address: None,
                })
                .collect();
            if let Some(f) = &s.health_file {
                env.insert("HEALTH_FILE".into(), EnvValue::Plain(f.clone()));
                c.healthcheck = Some(Healthcheck {
                    test: vec!["CMD".into(), "test".into(), "-f".into(), f.clone()],
                    interval: Some(10_000_000_000),
                    timeout: Some(5_000_000_000),
                    retries: Some(3),
                    start_period: Some(30_000_000_000),
                    start_interval: None,
                });
            }
        }
    }
    c.env = env;
    let mut depends_on = s.depends_on.clone();
    if let Some(g) = &inp.guard {
        let r = ResourceRef::new(Kind::DnsGuard, &g.name);
        if !depends_on.contains(&r) {
            depends_on.push(r);
        }
    }
    Ok(StackSpec {
        kind: Kind::TunnelClient,
        name: inp.name.to_string(),
        depends_on,
        containers: vec![c],
        networks: Vec::new(),
        volumes: Vec::new(),
        critical: !s.carries_management_for.is_empty(),
    })
}

/// Reads a TunnelClient's SOPS files and expands it. Every file must stay inside the
/// source; a file that cannot be decrypted, or missing credentials, reject the revision.
pub(super) fn tunnel_spec(
    root: &SourceRoot,
    set: &ManifestSet,
    m: &Located<AnyManifest>,
    t: &Manifest<TunnelClientSpec>,
) -> Result<(StackSpec, Option<PangolinCheck>), Diagnostics> {
    let manifest_dir = root.dir(m.dir()).map_err(|e| -> Diagnostics {
        m.diag(FieldPath::root(), format!("the manifest's directory: {e}"))
            .with_hint(e.hint())
            .into()
    })?;
    let loader = SecretLoader::default();
    let mut diags = Diagnostics::default();
    let mut secret_env = Vec::new();
    for (i, entry) in t.spec.secrets.iter().enumerate() {
        let at = FieldPath::parse("spec.secrets").index(i).key("sopsEnv");
        match sops_env(&manifest_dir, m, &loader, &entry.sops_env, at) {
            Ok(vars) => secret_env.extend(vars),
            Err(d) => diags.push(d),
        }
    }
    let check = match &t.spec.pangolin_api {
        None => None,
        Some(api) => match pangolin_check(&manifest_dir, m, t, api, &loader) {
            Ok(c) => Some(c),
            Err(d) => {
                diags.push(d);
                None
            }
        },
    };
    if !diags.is_empty() {
        return Err(diags);
    }
    let guard = match validate_agents::guard_of(set, m, &t.spec) {
        Ok(Some(g)) => match set.get(&ResourceRef::new(Kind::DnsGuard, &g)).map(|l| &l.value) {
            Some(AnyManifest::DnsGuard(d)) => Some(Guard::new(&g, &d.spec)),
            _ => None,
        },
        _ => None,
    };
    let spec = expand(&TunnelInputs {
        name: &t.metadata.name,
        spec: &t.spec,
        secret_env,
        guard,
    })
    .map_err(|e| -> Diagnostics {
        m.diag(FieldPath::parse("spec.secrets"), e)
            .with_hint("put the credentials in the SOPS file (sops -e -i FILE)")
            .into()
    })?;
    Ok((spec, check))
}

/// The variables of one SOPS dotenv file named by the manifest (relative to it, read inside
/// the source only).
fn sops_env(
    manifest_dir: &RootDir,
    m: &Located<AnyManifest>,
    loader: &SecretLoader,
    rel: &str,
    at: FieldPath,
) -> Result<Vec<(String, EnvValue)>, Diagnostic> {
    let (file, bytes) = manifest_dir
        .read(rel)
        .map_err(|e| m.diag(at.clone(), format!("SOPS file {e}")).with_hint(e.hint()))?;
    loader.env_file(file.shown(), &bytes).map_err(|e| {
        m.diag(at, format!("`{rel}` cannot be decrypted: {e}")).with_hint(
            "the path is relative to the manifest; check the age key (SOPS_AGE_KEY_FILE / --age-key-file)",
        )
    })
}

/// `spec.pangolinApi`, with its API key decrypted.
fn pangolin_check(
    manifest_dir: &RootDir,
    m: &Located<AnyManifest>,
    t: &Manifest<TunnelClientSpec>,
    api: &PangolinApi,
    loader: &SecretLoader,
) -> Result<PangolinCheck, Diagnostic> {
    let at = FieldPath::parse("spec.pangolinApi.apiKey");
    let vars = sops_env(
        manifest_dir,
        m,
        loader,
        &api.api_key.sops_env,
        at.clone().key("sopsEnv"),
    )?;
    let api_key = vars
        .into_iter()
        .find(|(k, _)| *k == api.api_key.key)
        .map(|(_, v)| match v {
            EnvValue::Secret { value, .. } => value,
            EnvValue::Plain(p) => Secret::new(p),
        })
        .ok_or_else(|| {
            m.diag(
                at.key("key"),
                format!("`{}` has no variable `{}`", api.api_key.sops_env, api.api_key.key),
            )
        })?;
    Ok(PangolinCheck {
        resource: ResourceRef::new(Kind::TunnelClient, &t.metadata.name),
        object: match t.spec.tunnel_type {
            TunnelType::PangolinCli => PangolinObject::Client,
            TunnelType::Newt => PangolinObject::Site,
        },
        url: api.url.trim_end_matches('/').to_string(),
        org: api.org.clone(),
        api_key,
        name: api.name.clone().unwrap_or_else(|| t.metadata.name.clone()),
        resources: api.resources.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        manifest::kinds::{DnsGuardSpec, DnsProbe, TunnelSecret},
        secrets::Secret,
    };

    fn secret(v: &str) -> EnvValue {
        EnvValue::Secret {
            value: Secret::new(v),
            digest: format!("d-{}", v.len()),
        }
    }

    fn guard() -> Guard {
        Guard::new(
            "komodo-dns",
            &DnsGuardSpec {
                host: None,
                probe: DnsProbe {
                    server: "100.96.128.1".into(),
                    name: None,
                    timeout: None,
                },
                interval: None,
                backup_path: None,
                resolv_conf: None,
                fallback_nameservers: vec!["192.0.2.53".into()],
                utility_subnet: None,
                image: None,
                host_etc: None,
                host_resolved_dir: None,
            },
        )
    }

    fn spec(t: TunnelType) -> TunnelClientSpec {
        TunnelClientSpec {
            host: None,
            tunnel_type: t,
            image: "fosrl/pangolin-cli:0.3.3".into(),
            endpoint: None,
            secrets: vec![TunnelSecret {
                sops_env: "c.sops.env".into(),
            }],
            dns_guard: None,
            upstream_dns: Vec::new(),
            networks: Vec::new(),
            health_file: None,
            carries_management_for: vec!["racknerd-aegis".into()],
            depends_on: Vec::new(),
            environment: BTreeMap::new(),
            args: Vec::new(),
            container_name: None,
            pangolin_api: None,
        }
    }

    fn creds(keys: &[&str]) -> Vec<(String, EnvValue)> {
        keys.iter().map(|k| (k.to_string(), secret("hunter2"))).collect()
    }

    #[test]
    fn pangolin_cli_gets_the_seeds_privileges() {
        let s = spec(TunnelType::PangolinCli);
        let out = expand(&TunnelInputs {
            name: "komodo-mgmt",
            spec: &s,
            secret_env: creds(&["PANGOLIN_ENDPOINT", "CLIENT_ID", "CLIENT_SECRET"]),
            guard: Some(guard()),
        })
        .expect("expands");
        assert_eq!(out.owner().to_string(), "TunnelClient/komodo-mgmt");
        assert!(out.critical);
        assert_eq!(
            out.depends_on,
            vec![ResourceRef::new(Kind::DnsGuard, "komodo-dns")]
        );
        let c = &out.containers[0];
        assert_eq!(c.name, "komodo-mgmt");
        assert_eq!(c.network_mode, NetworkMode::Host);
        assert_eq!(c.cap_add, ["NET_ADMIN"]);
        assert_eq!(c.devices[0].host, "/dev/net/tun");
        assert_eq!(c.mounts[0].target, "/etc/resolv.conf");
        assert!(!c.mounts[0].read_only);
        assert!(
            matches!(&c.mounts[0].kind, MountKind::Bind { source: BindSource::Host(p), create_host_path: false, .. } if p == "/etc/resolv.conf")
        );
        assert_eq!(
            c.command.as_deref(),
            Some(&["--upstream-dns".to_string(), "192.0.2.53:53".to_string()][..])
        );
        assert!(c.env["CLIENT_SECRET"].is_secret());
        assert_eq!(c.restart, RestartPolicy::UnlessStopped);
        // The spec hash holds digests, never the values.
        let json = serde_json::to_string(c).expect("json");
        assert!(!json.contains("hunter2"), "{json}");
    }

    #[test]
    fn explicit_upstream_and_endpoint_win() {
        let mut s = spec(TunnelType::PangolinCli);
        s.upstream_dns = vec!["8.8.8.8".into(), "[2001:db8::1]:5353".into()];
        s.endpoint = Some("https://pangolin.example".into());
        s.args = vec!["--log-level".into(), "debug".into()];
        let out = expand(&TunnelInputs {
            name: "c",
            spec: &s,
            secret_env: creds(&["CLIENT_ID", "CLIENT_SECRET"]),
            guard: Some(guard()),
        })
        .expect("expands");
        let c = &out.containers[0];
        assert_eq!(
            c.command.as_deref().unwrap_or_default(),
            [
                "--upstream-dns",
                "8.8.8.8:53,[2001:db8::1]:5353",
                "--log-level",
                "debug"
            ]
        );
        assert_eq!(c.env["PANGOLIN_ENDPOINT"], "https://pangolin.example");
    }

    #[test]
    fn missing_credentials_are_named_not_shown() {
        let s = spec(TunnelType::PangolinCli);
        let e = expand(&TunnelInputs {
            name: "c",
            spec: &s,
            secret_env: creds(&["CLIENT_ID"]),
            guard: Some(guard()),
        })
        .expect_err("missing");
        assert!(
            e.starts_with("PANGOLIN_ENDPOINT, CLIENT_SECRET is not set"),
            "{e}"
        );
        assert!(!e.contains("hunter2"));
    }

    #[test]
    fn newt_joins_its_networks_and_checks_its_health_file() {
        let mut s = spec(TunnelType::Newt);
        s.image = "fosrl/newt:1.9.0".into();
        s.networks = vec!["newt-periphery".into()];
        s.health_file = Some("/tmp/healthy".into());
        s.container_name = Some("pangolin-newt".into());
        let out = expand(&TunnelInputs {
            name: "newt",
            spec: &s,
            secret_env: creds(&["PANGOLIN_ENDPOINT", "NEWT_ID", "NEWT_SECRET"]),
            guard: None,
        })
        .expect("expands");
        let c = &out.containers[0];
        assert_eq!(c.name, "pangolin-newt");
        assert_eq!(c.network_mode, NetworkMode::Networks);
        assert_eq!(c.networks[0].network, "newt-periphery");
        assert!(c.cap_add.is_empty() && c.devices.is_empty() && c.mounts.is_empty());
        assert_eq!(c.env["HEALTH_FILE"], "/tmp/healthy");
        assert_eq!(
            c.healthcheck.as_ref().map(|h| h.test.clone()),
            Some(vec![
                "CMD".into(),
                "test".into(),
                "-f".into(),
                "/tmp/healthy".into()
            ])
        );
        assert!(out.depends_on.is_empty());
    }
}
