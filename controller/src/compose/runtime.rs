//! Service keys that go straight to the engine's host config: swap, UTS namespace, cgroup
//! parent and device rules, storage options, annotations, devices (short, long and CDI), and
//! `label_file`, each as Compose v2 maps it (`getDeployResources` and `getCreateConfigs` in
//! compose's `pkg/compose/create.go`).

use std::collections::BTreeMap;

use super::{
    env_file,
    flex::{Scalar, StrOr},
    model::{DeviceLong, Service},
    options,
    report::Report,
    units::parse_bytes,
};
use crate::{
    desired::{ContainerSpec, DeviceRequest},
    source::RootDir,
    yaml::FieldPath,
};

/// The keys of this module that `svc` holds, taken out of it and applied to `c`.
pub fn apply(
    report: &mut Report,
    path: &FieldPath,
    svc: &mut Service,
    project_dir: &RootDir,
    c: &mut ContainerSpec,
) {
    let at = |k: &str| path.key(k);
    if let Some(s) = svc.memswap_limit.take() {
        c.memory_swap = report.check(&at("memswap_limit"), swap_bytes(&s));
    }
    if let Some(u) = svc.uts.take() {
        if u != "host" && !u.is_empty() {
            report.error(&at("uts"), format!("`uts: {u}`: the only UTS mode is `host`"));
        }
        c.uts = Some(u).filter(|u| !u.is_empty());
    }
    c.cgroup_parent = svc.cgroup_parent.take();
    c.device_cgroup_rules = std::mem::take(&mut svc.device_cgroup_rules);
    c.storage_opt = std::mem::take(&mut svc.storage_opt)
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    c.annotations = std::mem::take(&mut svc.annotations.0)
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    for (i, d) in std::mem::take(&mut svc.devices).into_iter().enumerate() {
        let dpath = at("devices").index(i);
        let text = match d {
            StrOr::Str(s) => s,
            StrOr::Long(l) => long_device(&l),
        };
        if is_cdi_name(&text) {
            add_cdi(c, text);
        } else if let Some(dev) = report.check(&dpath, options::device(&text)) {
            c.devices.push(dev);
        }
    }
    if let Some(files) = svc.label_file.take() {
        let from_files = label_files(report, &at("label_file"), &files.0, project_dir);
        c.labels.extend(from_files);
    }
}

/// `memswap_limit`: bytes, or -1 for unlimited swap.
fn swap_bytes(s: &Scalar) -> Result<i64, String> {
    if s.0.trim() == "-1" {
        Ok(-1)
    } else {
        parse_bytes(&s.0)
    }
}

fn long_device(l: &DeviceLong) -> String {
    let target = l.target.clone().unwrap_or_else(|| l.source.clone());
    match &l.permissions {
        Some(p) => format!("{}:{target}:{p}", l.source),
        None => format!("{}:{target}", l.source),
    }
}

/// A fully qualified CDI device name, `vendor.com/class=name` (compose's
/// `cdi.IsQualifiedName`): passed as a device request to the `cdi` driver.
fn is_cdi_name(s: &str) -> bool {
    let Some((kind, name)) = s.split_once('=') else {
        return false;
    };
    let Some((vendor, class)) = kind.split_once('/') else {
        return false;
    };
    !vendor.is_empty()
        && !class.is_empty()
        && !name.is_empty()
        && !vendor.starts_with('/')
        && vendor.contains('.')
        && !name.contains(':')
}

fn add_cdi(c: &mut ContainerSpec, name: String) {
    match c
        .device_requests
        .iter_mut()
        .find(|r| r.driver.as_deref() == Some("cdi"))
    {
        Some(r) => r.device_ids.push(name),
        None => c.device_requests.push(DeviceRequest {
            driver: Some("cdi".into()),
            device_ids: vec![name],
            ..DeviceRequest::default()
        }),
    }
}

/// Labels from `label_file:` entries (dotenv format, read inside the source root); a later
/// file wins, and a file may refer to labels of earlier lines and files.
fn label_files(
    report: &mut Report,
    path: &FieldPath,
    files: &[String],
    project_dir: &RootDir,
) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = BTreeMap::new();
    for (i, f) in files.iter().enumerate() {
        let at = path.index(i);
        let src = match project_dir.read_to_string(f) {
            Ok((_, src)) => src,
            Err(e) => {
                report.error_hint(&at, format!("label_file {e}"), e.hint());
                continue;
            }
        };
        let known = labels.clone();
        let lookup = move |k: &str| known.get(k).cloned();
        match env_file::parse(&src, &lookup) {
            Ok(parsed) => labels.extend(parsed.to_map()),
            Err(e) => report.error(
                &at,
                format!("{}:{}: {}", project_dir.shown(f).display(), e.line, e.message),
            ),
        }
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdi_names() {
        assert!(is_cdi_name("nvidia.com/gpu=all"));
        assert!(is_cdi_name("vendor.example/class=dev0"));
        assert!(!is_cdi_name("/dev/dri"));
        assert!(!is_cdi_name("/dev/a:/dev/b"));
        assert!(!is_cdi_name("gpu=all"));
    }

    #[test]
    fn swap() {
        assert_eq!(swap_bytes(&Scalar("-1".into())), Ok(-1));
        assert_eq!(swap_bytes(&Scalar("1g".into())), Ok(1 << 30));
        assert!(swap_bytes(&Scalar("lots".into())).is_err());
    }
}
