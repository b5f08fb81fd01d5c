//! What the resolve tests of a Stack's binds share: load a source, take its one container,
//! read a mount's bind source.

use std::path::Path;

use super::super::load_source;
use crate::desired::{BindSource, ContainerSpec, MountKind};

/// The first container of the first stack of the source at `root`.
pub fn first_container(root: &Path) -> Result<ContainerSpec, String> {
    let r = load_source(root).map_err(|e| e.to_string())?;
    Ok(r.state.hosts[0].stacks[0].containers[0].clone())
}

/// The bind source of `c`'s mount at `target`.
pub fn bind_source(c: &ContainerSpec, target: &str) -> BindSource {
    let m = c.mounts.iter().find(|m| m.target == target).expect("mount");
    match &m.kind {
        MountKind::Bind { source, .. } => source.clone(),
        other => panic!("not a bind: {other:?}"),
    }
}
