//! compose `build:`: an image built on the target host from a directory of the repository.
//!
//! The image is tagged by a hash of everything that decides its content (the context's files
//! after `.dockerignore`, the Dockerfile, args, target, labels, network, extra hosts, shm
//! size): an unchanged build finds its tag on the host and builds nothing; a changed one gets a
//! new tag, so the container's spec (image ID) changes and it is recreated.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::RepoFile;

/// Where built images are tagged: `aegis-build/<stack>-<service>:<hash12>`.
pub const BUILD_REPOSITORY: &str = "aegis-build";

/// One service's build, resolved from the repository.
#[derive(Debug, Clone, PartialEq)]
pub struct BuildSpec {
    /// The context directory, its tree already filtered by `.dockerignore` (what is packed).
    pub context: RepoFile,
    /// The Dockerfile's name inside the archive.
    pub dockerfile: String,
    /// The Dockerfile's content when it is not a file of the context (`dockerfile_inline`, or
    /// a `dockerfile:` outside the context directory): added to the archive as `dockerfile`.
    pub dockerfile_extra: Option<Vec<u8>>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub network: Option<String>,
    /// `host:ip` entries.
    pub extra_hosts: Vec<String>,
    /// Bytes.
    pub shm_size: Option<i64>,
    /// The service's `platform:`, sent with the build (the classic builder takes it).
    pub platform: Option<String>,
    /// How to build, not what: not hashed.
    pub no_cache: bool,
    /// Pull newer base images (compose `pull: true`); default false: no registry is assumed.
    pub pull: bool,
    /// The content hash (hex SHA-256).
    pub hash: String,
    /// The tag the build gets: `aegis-build/<stack>-<service>:<hash12>`.
    pub tag: String,
}

/// What the hash covers.
#[derive(Serialize)]
struct Hashed<'a> {
    context: &'a str,
    dockerfile: &'a str,
    dockerfile_extra: Option<String>,
    args: &'a BTreeMap<String, String>,
    target: &'a Option<String>,
    labels: &'a BTreeMap<String, String>,
    network: &'a Option<String>,
    extra_hosts: &'a [String],
    shm_size: Option<i64>,
    /// Left out when unset, so that tags made before platform support stay the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    platform: &'a Option<String>,
}

impl BuildSpec {
    /// Sets [`BuildSpec::hash`] and [`BuildSpec::tag`] from the rest.
    pub fn seal(mut self, stack: &str, service: &str) -> Self {
        let hashed = Hashed {
            context: &self.context.content_hash,
            dockerfile: &self.dockerfile,
            dockerfile_extra: self
                .dockerfile_extra
                .as_ref()
                .map(|b| hex::encode(Sha256::digest(b))),
            args: &self.args,
            target: &self.target,
            labels: &self.labels,
            network: &self.network,
            extra_hosts: &self.extra_hosts,
            shm_size: self.shm_size,
            platform: &self.platform,
        };
        let json = serde_json::to_string(&hashed).unwrap_or_default();
        self.hash = hex::encode(Sha256::digest(json.as_bytes()));
        self.tag = build_tag(stack, service, &self.hash);
        self
    }
}

/// `aegis-build/<stack>-<service>:<first 12 of hash>`, lowercased (Docker repository names
/// are lowercase).
pub fn build_tag(stack: &str, service: &str, hash: &str) -> String {
    let short: String = hash.chars().take(12).collect();
    format!(
        "{BUILD_REPOSITORY}/{}-{}:{short}",
        stack.to_ascii_lowercase(),
        service.to_ascii_lowercase()
    )
}

/// The ID of the image built from `build`, if the host has it (its hash tag) under `image`
/// too (the container's reference: the hash tag itself, or compose's `image:`). `images` is
/// the host's tag → ID map. `None`: build.
pub fn built_id(images: &BTreeMap<String, String>, image: &str, build: &BuildSpec) -> Option<String> {
    let id = images.get(&build.tag)?;
    let at_image = images
        .get(image)
        .or_else(|| images.get(&crate::docker::images::normalize_reference(image)));
    (at_image == Some(id)).then(|| id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn spec(context_hash: &str) -> BuildSpec {
        BuildSpec {
            context: RepoFile {
                local: PathBuf::from("/repo/app"),
                content_hash: context_hash.into(),
                is_dir: true,
                tree: Vec::new(),
            },
            dockerfile: "Dockerfile".into(),
            dockerfile_extra: None,
            args: BTreeMap::new(),
            target: None,
            labels: BTreeMap::new(),
            network: None,
            extra_hosts: Vec::new(),
            shm_size: None,
            platform: None,
            no_cache: false,
            pull: false,
            hash: String::new(),
            tag: String::new(),
        }
        .seal("Demo", "web")
    }

    #[test]
    fn the_tag_changes_with_what_decides_the_image_only() {
        let a = spec("aa");
        assert_eq!(a.tag, format!("aegis-build/demo-web:{}", &a.hash[..12]));
        assert_eq!(spec("aa").tag, a.tag, "deterministic");
        assert_ne!(spec("bb").tag, a.tag, "the context's content");
        let mut args = spec("aa");
        args.args.insert("V".into(), "1".into());
        assert_ne!(args.seal("demo", "web").tag, a.tag, "args");
        let mut target = spec("aa");
        target.target = Some("prod".into());
        assert_ne!(target.seal("demo", "web").tag, a.tag, "target");
        let mut inline = spec("aa");
        inline.dockerfile_extra = Some(b"FROM busybox:1.36\n".to_vec());
        let inline_tag = inline.clone().seal("demo", "web").tag;
        assert_ne!(inline_tag, a.tag, "dockerfile content");
        inline.dockerfile_extra = Some(b"FROM busybox:1.35\n".to_vec());
        assert_ne!(inline.seal("demo", "web").tag, inline_tag);
        let mut how = spec("aa");
        how.no_cache = true;
        how.pull = true;
        assert_eq!(
            how.seal("demo", "web").tag,
            a.tag,
            "how to build is not what is built"
        );
    }

    #[test]
    fn built_only_when_both_tags_name_the_same_image() {
        let b = spec("aa");
        let mut images = BTreeMap::new();
        assert_eq!(built_id(&images, &b.tag, &b), None);
        images.insert(b.tag.clone(), "sha256:1".to_string());
        assert_eq!(built_id(&images, &b.tag, &b), Some("sha256:1".into()));
        // `image: app` given: the hash tag alone is not enough.
        assert_eq!(built_id(&images, "app", &b), None);
        images.insert("app:latest".into(), "sha256:0".into());
        assert_eq!(built_id(&images, "app", &b), None, "`app` is an older build");
        images.insert("app:latest".into(), "sha256:1".into());
        assert_eq!(built_id(&images, "app", &b), Some("sha256:1".into()));
    }
}
