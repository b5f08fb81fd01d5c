//! The agent image: aegis's own executable, runnable on any managed host, put there through
//! the Docker API alone.
//!
//! Agents (the rollback watchdog, the DnsGuard) run `aegis agent <name> ...` from this image.
//! Guarantees:
//!
//! - **Works out of the box.** With no `Host.spec.agentImage`, aegis builds the image from the
//!   executable it is running (`/proc/self/exe`) plus the dynamic loader and every shared
//!   library it needs, found the way `ld.so` finds them ([`libs`], [`elf`]): a `FROM scratch`
//!   image, needing no base image and no registry. Its tag is
//!   `aegis-agent:<version>-<layer digest>`, so a different build is a different tag; it is
//!   also tagged `aegis-agent:<version>` ([`AgentImage::alias`]), the image a DnsGuard runs
//!   by default.
//! - **The same image everywhere.** The archive is deterministic ([`archive`]), so its image
//!   ID is the same on every host, and presence is checked by ID, not only by tag.
//! - **Nothing pulled that can be copied.** [`ensure`] looks, in order: on the host itself; on
//!   the `sources` (the controller's local engine, the other hosts), copying from the first
//!   that has it with [`crate::docker::image_transfer::copy_image`] (streamed export → load, by
//!   name:tag, the ID checked afterwards); the built image, loaded straight from the
//!   executable; and only then a pull on the host (an `agentImage` in a registry).
//!
//! Nothing is held in memory: the archive is written by a blocking thread into a bounded
//! channel that feeds the upload.

pub mod archive;
pub mod elf;
pub mod libs;

use std::{
    collections::BTreeMap,
    io::Write,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
};

use futures::StreamExt;
use tokio_util::bytes::Bytes;

use crate::docker::{image_transfer, images, DockerError, DockerHost};

/// The repository of built agent images.
pub const REPOSITORY: &str = "aegis-agent";
/// Where the executable is in the image (and the entrypoint).
pub const BINARY: &str = "/usr/local/bin/aegis";
/// A directory agents keep state in, in their own container's writable layer.
pub const STATE_DIR: &str = "/aegis-state";
/// Label on built images: the aegis version they hold.
pub const VERSION_LABEL: &str = "aegis.dev/version";

/// A buildable agent image: what goes in, its tag and the ID it will have.
#[derive(Debug, Clone)]
pub struct AgentImage {
    /// `aegis-agent:<version>-<12 hex of the layer digest>`.
    pub tag: String,
    /// `aegis-agent:<version>`: a second tag, moved to this build whenever aegis loads it.
    pub alias: String,
    /// `sha256:…`, the same wherever it is loaded.
    pub id: String,
    spec: archive::Spec,
    diff_id: String,
    layer_len: u64,
}

/// Why the agent image could not be built from an executable.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot build the aegis agent image from `{exe}`: {reason} — set Host.spec.agentImage to an image that holds aegis instead")]
pub struct BuildError {
    pub exe: String,
    pub reason: String,
}

impl AgentImage {
    /// The image of the running executable, computed once per process (hashing the
    /// executable takes a moment).
    pub fn current() -> Result<Arc<AgentImage>, BuildError> {
        static CURRENT: OnceLock<Result<Arc<AgentImage>, BuildError>> = OnceLock::new();
        CURRENT
            .get_or_init(|| AgentImage::from_executable(Path::new("/proc/self/exe")).map(Arc::new))
            .clone()
    }

    /// The image that runs `exe` (an aegis executable) as its entrypoint.
    pub fn from_executable(exe: &Path) -> Result<AgentImage, BuildError> {
        let fail = |reason: String| BuildError {
            exe: exe.display().to_string(),
            reason,
        };
        let libs = libs::needed_files(exe).map_err(fail)?;
        let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        let mut lib_dirs: Vec<String> = Vec::new();
        for f in &libs {
            let mut p = f.image_path.parent();
            while let Some(d) = p.filter(|d| *d != Path::new("/")) {
                dirs.insert(d.display().to_string());
                p = d.parent();
            }
            if let Some(d) = f.image_path.parent().map(|d| d.display().to_string()) {
                if !lib_dirs.contains(&d) {
                    lib_dirs.push(d);
                }
            }
        }
        let mut entries: Vec<archive::Entry> = dirs
            .into_iter()
            .map(|path| archive::Entry::Dir { path, mode: 0o755 })
            .collect();
        entries.push(archive::Entry::Dir {
            path: STATE_DIR.into(),
            mode: 0o700,
        });
        entries.push(archive::Entry::Dir {
            path: "/tmp".into(),
            mode: 0o1777,
        });
        entries.push(archive::Entry::File {
            path: BINARY.into(),
            source: exe.to_path_buf(),
            mode: 0o755,
        });
        entries.extend(libs.into_iter().map(|f| archive::Entry::File {
            path: f.image_path.display().to_string(),
            source: f.source,
            mode: 0o755,
        }));
        let mut env = vec!["PATH=/".to_string()];
        if !lib_dirs.is_empty() {
            // The image has no ld.so.cache: name the directories the libraries were found in.
            env.push(format!("LD_LIBRARY_PATH={}", lib_dirs.join(":")));
        }
        let spec = archive::Spec {
            entries,
            entrypoint: vec![BINARY.into()],
            env,
            labels: BTreeMap::from([(VERSION_LABEL.to_string(), env!("CARGO_PKG_VERSION").to_string())]),
            architecture: docker_arch(std::env::consts::ARCH).into(),
        };
        let (diff_id, layer_len) = archive::layer_digest(&spec).map_err(|e| fail(e.to_string()))?;
        Ok(AgentImage {
            tag: format!("{REPOSITORY}:{}-{}", env!("CARGO_PKG_VERSION"), &diff_id[..12]),
            alias: format!("{REPOSITORY}:{}", env!("CARGO_PKG_VERSION")),
            id: archive::image_id(&spec, &diff_id),
            spec,
            diff_id,
            layer_len,
        })
    }

    /// Every file in the image, in the order they are written (for messages and tests).
    pub fn files(&self) -> Vec<PathBuf> {
        self.spec
            .entries
            .iter()
            .filter_map(|e| match e {
                archive::Entry::File { path, .. } => Some(PathBuf::from(path)),
                archive::Entry::Dir { .. } => None,
            })
            .collect()
    }

    /// Whether `reference` names this image (its tag or its alias).
    pub fn is_named(&self, reference: &str) -> bool {
        reference == self.tag || reference == self.alias
    }

    /// Loads the image into `host` (streamed), under its tag and its alias, and checks its
    /// ID there.
    pub async fn load_into(&self, host: &DockerHost) -> Result<String, DockerError> {
        let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(8);
        let tags = vec![self.tag.clone(), self.alias.clone()];
        let (spec, diff, len) = (self.spec.clone(), self.diff_id.clone(), self.layer_len);
        let writer = tokio::task::spawn_blocking(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            if let Err(e) = archive::write_archive(&spec, &tags, &diff, len, &mut w) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let body = tokio_stream::wrappers::ReceiverStream::new(rx);
        let loaded = image_transfer::load(host, &self.tag, body.boxed()).await;
        let _ = writer.await;
        loaded?;
        match images::inspect_id(host, &self.tag).await? {
            Some(id) if id == self.id => Ok(id),
            other => Err(DockerError::ImageTransfer {
                host: host.host().into(),
                image: self.tag.clone(),
                reason: format!(
                    "after loading, its ID is {} instead of {}",
                    other.unwrap_or_else(|| "(missing)".into()),
                    self.id
                ),
            }),
        }
    }
}

/// How [`ensure`] got the image onto the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Supplied {
    /// It was there already.
    Present,
    /// Copied from this host's engine.
    CopiedFrom(String),
    /// Built from the executable and loaded.
    Built,
    /// Pulled by the host from a registry.
    Pulled,
}

/// Makes sure `reference` is on `host` (see the module doc for the order of places tried).
/// `built` is the image the running aegis can build (`None` when `reference` is a configured
/// `agentImage` that aegis cannot build). Returns the image ID on the host and how it got
/// there.
pub async fn ensure(
    host: &DockerHost,
    reference: &str,
    built: Option<&AgentImage>,
    sources: &[DockerHost],
) -> Result<(String, Supplied), DockerError> {
    let built = built.filter(|b| b.is_named(reference));
    let acceptable = |id: &str| built.is_none_or(|b| b.id == id);
    if let Some(id) = images::inspect_id(host, reference).await? {
        if acceptable(&id) {
            return Ok((id, Supplied::Present));
        }
    }
    let mut tried: Vec<String> = Vec::new();
    for src in sources.iter().filter(|s| s.host() != host.host()) {
        match images::inspect_id(src, reference).await {
            Ok(Some(id)) if acceptable(&id) => match image_transfer::copy_image(src, host, reference).await {
                Ok(id) => return Ok((id, Supplied::CopiedFrom(src.host().to_string()))),
                Err(e) => tried.push(e.to_string()),
            },
            Ok(_) => {}
            Err(e) => tried.push(e.to_string()),
        }
    }
    if let Some(b) = built {
        return b.load_into(host).await.map(|id| (id, Supplied::Built));
    }
    match images::pull(host, reference).await {
        Ok(()) => match images::inspect_id(host, reference).await? {
            Some(id) => Ok((id, Supplied::Pulled)),
            None => Err(DockerError::ImagePull {
                host: host.host().into(),
                image: reference.into(),
                reason: "the pull reported success but the image is not there".into(),
            }),
        },
        Err(e) => {
            tried.push(e.to_string());
            Err(DockerError::ImageTransfer {
                host: host.host().into(),
                image: reference.into(),
                reason: format!(
                    "no engine had it to copy from and it could not be pulled ({})",
                    tried.join("; ")
                ),
            })
        }
    }
}

/// The ID of `reference` on `host`, for a container about to run it: the agent image (its
/// tag or alias) is put there through the Docker API ([`ensure`]: copied or built, never
/// pulled); any other image is pulled if missing ([`images::ensure_image`]). `local` is the
/// host's observed image map: a hit costs no call.
pub async fn ensure_for_container(
    host: &DockerHost,
    local: &BTreeMap<String, String>,
    reference: &str,
    platform: Option<&str>,
) -> Result<String, DockerError> {
    if reference.starts_with(&format!("{REPOSITORY}:")) {
        if let Ok(built) = AgentImage::current() {
            if built.is_named(reference) {
                if local.get(reference) == Some(&built.id) {
                    return Ok(built.id.clone());
                }
                return ensure(host, reference, Some(&built), &[]).await.map(|(id, _)| id);
            }
        }
    }
    images::ensure_image_for_platform(host, local, reference, platform).await
}

/// Docker's architecture names for Rust's.
fn docker_arch(rust: &str) -> &str {
    match rust {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    }
}

const CHUNK: usize = 256 * 1024;

/// A `Write` that sends fixed-size chunks into a bounded channel (blocking when it is full):
/// the archive streams at the speed of the upload, in bounded memory.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .blocking_send(Ok(Bytes::from(chunk)))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the upload stopped"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
