//! `deploy.replicas` / `scale`: a service runs N containers, `<stack>-<service>-1..N`, each
//! carrying its number (compose's `com.docker.compose.container-number`). `0` runs none, as
//! with compose. A `container_name` names one container, so it cannot be replicated.

use std::collections::BTreeMap;

use super::{links::Refs, report::Report};
use crate::{desired::ContainerSpec, yaml::FieldPath};

/// The containers of every service, in file order, each service's replicas in number order.
pub fn expand(
    report: &mut Report,
    order: &[String],
    mut services: BTreeMap<String, (FieldPath, ContainerSpec)>,
    extra: &BTreeMap<String, (Option<i64>, Refs)>,
) -> Vec<ContainerSpec> {
    let mut out = Vec::new();
    for name in order {
        let Some((path, spec)) = services.remove(name) else {
            continue;
        };
        let Some(n) = extra.get(name).and_then(|(n, _)| *n) else {
            out.push(ContainerSpec { number: 1, ..spec });
            continue;
        };
        let at = path.key("deploy").key("replicas");
        if !(0..=1000).contains(&n) {
            report.error(&at, format!("{n} replicas: the count must be between 0 and 1000"));
            continue;
        }
        let default_name = format!("{}-{name}-1", spec.stack);
        if n > 1 && spec.name != default_name {
            report.error_hint(
                &path.key("container_name"),
                format!(
                    "`container_name: {}` names one container, but the service runs {n}",
                    spec.name
                ),
                "remove `container_name` (replicas are named <stack>-<service>-N), or run one replica",
            );
            continue;
        }
        for i in 1..=n {
            let number = u32::try_from(i).unwrap_or(1);
            let name = if n == 1 {
                spec.name.clone()
            } else {
                format!("{}-{}-{number}", spec.stack, spec.service)
            };
            out.push(ContainerSpec {
                name,
                number,
                ..spec.clone()
            });
        }
    }
    out
}
