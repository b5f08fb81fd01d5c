//! The images a host's containers need: pulled (or copied) by reference, or built from the
//! repository (compose `build:`). Both `aegis apply` and the controller's passes ensure them
//! here before planning, so that the plan sees the image IDs.

use std::collections::{BTreeMap, BTreeSet};

use crate::{
    desired::{built_id, BuildSpec, DesiredHost, ResourceRef, StackSpec},
    docker::{self, DockerError, DockerHost},
};

/// One image to build: the container's reference (the hash tag, or compose's `image:`) and
/// the build.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildNeed {
    pub stack: String,
    pub service: String,
    pub image: String,
    pub build: BuildSpec,
}

/// One image to pull: its reference and compose's `platform:` of the service that runs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PullNeed {
    pub image: String,
    pub platform: Option<String>,
}

/// References to pull, and images to build, of the stacks `keep` selects. A reference that a
/// service builds is never pulled.
pub fn needs(
    desired: &DesiredHost,
    keep: impl Fn(&StackSpec) -> bool,
) -> (BTreeSet<PullNeed>, Vec<BuildNeed>) {
    let mut builds: Vec<BuildNeed> = Vec::new();
    let mut pulls = BTreeSet::new();
    for c in desired
        .stacks
        .iter()
        .filter(|s| keep(s))
        .flat_map(|s| s.containers.iter())
    {
        match &c.build {
            Some(b) => {
                // Replicas share one build.
                if !builds.iter().any(|n| n.image == c.image && n.build.tag == b.tag) {
                    builds.push(BuildNeed {
                        stack: c.stack.clone(),
                        service: c.service.clone(),
                        image: c.image.clone(),
                        build: (**b).clone(),
                    });
                }
            }
            None => {
                pulls.insert(PullNeed {
                    image: c.image.clone(),
                    platform: c.platform.clone(),
                });
            }
        }
    }
    pulls.retain(|p| !builds.iter().any(|b| b.image == p.image));
    (pulls, builds)
}

/// The stacks of one resource.
pub fn of_resource(desired: &DesiredHost, resource: &ResourceRef) -> (BTreeSet<PullNeed>, Vec<BuildNeed>) {
    needs(desired, |s| s.owner() == *resource)
}

/// Builds what is not built yet (one-shot apply), recording the IDs in `images`.
pub async fn ensure_builds(
    host: &DockerHost,
    images: &mut BTreeMap<String, String>,
    builds: &[BuildNeed],
) -> Result<(), DockerError> {
    for b in builds {
        let id = match built_id(images, &b.image, &b.build) {
            Some(id) => id,
            None => docker::build::ensure_built(host, &b.stack, &b.service, &b.image, &b.build).await?,
        };
        images.insert(b.build.tag.clone(), id.clone());
        images.insert(b.image.clone(), id);
    }
    Ok(())
}
