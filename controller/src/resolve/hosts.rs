//! `Host` and `Network` manifests → desired host and network specs.

use std::path::PathBuf;

use crate::{
    desired::{Endpoint, HostSpec, Ipam, Kind, NetworkSpec, ResourceRef, TlsFiles},
    diagnostic::Diagnostic,
    manifest::{
        kinds::{Manifest, NetworkManifestSpec},
        AnyManifest, ManifestSet,
    },
    yaml::FieldPath,
};

/// The endpoint of host `name`: from its `Host` manifest, or the default engine for the
/// implicit `local` host.
pub(super) fn host_spec(set: &ManifestSet, name: &str) -> Result<HostSpec, Diagnostic> {
    let Some(m) = set.get(&ResourceRef::new(Kind::Host, name)) else {
        return Ok(HostSpec {
            name: name.to_string(),
            endpoint: Endpoint::Default,
            labels: Default::default(),
        });
    };
    let AnyManifest::Host(h) = &m.value else {
        return Ok(HostSpec {
            name: name.to_string(),
            endpoint: Endpoint::Default,
            labels: Default::default(),
        });
    };
    let endpoint = match h.spec.endpoint.as_deref() {
        None => Endpoint::Default,
        Some(ep) if ep.starts_with("unix://") => Endpoint::Unix(PathBuf::from(&ep["unix://".len()..])),
        Some(ep) if ep.starts_with("tcp://") => Endpoint::Tcp {
            addr: ep["tcp://".len()..].to_string(),
            tls: h.spec.tls.as_ref().map(|t| TlsFiles {
                ca: PathBuf::from(&t.ca),
                cert: PathBuf::from(&t.cert),
                key: PathBuf::from(&t.key),
            }),
        },
        Some(ep) => {
            return Err(m.diag(
                FieldPath::parse("spec.endpoint"),
                format!("unsupported endpoint `{ep}`"),
            ));
        }
    };
    Ok(HostSpec {
        name: name.to_string(),
        endpoint,
        labels: h.spec.labels.clone(),
    })
}

/// The home directory on host `name` (`~` in bind sources): its `spec.homeDir` (checked by
/// manifest validation), or root's.
pub(super) fn home_dir(set: &ManifestSet, name: &str) -> String {
    match set.get(&ResourceRef::new(Kind::Host, name)).map(|m| &m.value) {
        Some(AnyManifest::Host(h)) => h.spec.home_dir.clone(),
        _ => None,
    }
    .unwrap_or_else(|| crate::compose::home::DEFAULT_HOME_DIR.to_string())
}

pub(super) fn network_spec(n: &Manifest<NetworkManifestSpec>) -> NetworkSpec {
    let s = &n.spec;
    NetworkSpec {
        name: n.metadata.name.clone(),
        owner: ResourceRef::new(Kind::Network, &n.metadata.name),
        external: s.external,
        driver: s.driver.clone().unwrap_or_else(|| "bridge".into()),
        internal: s.internal,
        attachable: s.attachable,
        enable_ipv6: s.enable_ipv6,
        ipam: s.ipam.as_ref().map(|i| Ipam {
            driver: i.driver.clone(),
            subnet: i.subnet.clone(),
            gateway: i.gateway.clone(),
            ip_range: i.ip_range.clone(),
            ..Ipam::default()
        }),
        labels: s.labels.clone(),
        options: s.options.clone(),
    }
}
