//! compose `build:` on the target host: the context (already resolved and filtered, see
//! [`crate::compose`]'s `build.rs`) is packed into a tar and sent to `POST /build` with the
//! engine's classic builder, tagged by its content hash (and `image:` when given).
//!
//! The engine answers 200 and reports a failed step inside the JSON stream
//! (`error`/`errorDetail`), so the stream is read to its end; a failure carries the
//! builder's last lines.

use std::collections::HashMap;

use bollard::query_parameters::{BuildImageOptionsBuilder, BuilderVersion, TagImageOptionsBuilder};
use futures::StreamExt;
use tokio_util::bytes::Bytes;
use tracing::Instrument as _;

use super::{
    client::DockerHost,
    error::{full_message, DockerError, Result},
    images::inspect_id,
};
use crate::{desired::BuildSpec, source::root::open_regular};

/// How many of the builder's last output lines a failure shows.
const LAST_LINES: usize = 12;

/// Builds `build` on `host` unless it is there already (`built` is its ID then), tags it
/// `image` too, and returns the image ID.
pub async fn ensure_built(
    host: &DockerHost,
    stack: &str,
    service: &str,
    image: &str,
    build: &BuildSpec,
) -> Result<String> {
    let fail = |reason: String| DockerError::ImageBuild {
        host: host.host().into(),
        stack: stack.into(),
        service: service.into(),
        reason,
    };
    let id = match inspect_id(host, &build.tag).await? {
        Some(id) => id,
        None => {
            let spec = build.clone();
            let tar = tokio::task::spawn_blocking(move || pack(&spec))
                .await
                .map_err(|e| fail(format!("packing the context stopped: {e}")))?
                .map_err(|e| fail(format!("cannot pack the build context: {e}")))?;
            run_build(host, build, tar).await.map_err(fail)?;
            inspect_id(host, &build.tag).await?.ok_or_else(|| {
                fail(format!(
                    "the build reported success but `{}` is not there",
                    build.tag
                ))
            })?
        }
    };
    if image != build.tag && inspect_id(host, image).await?.as_deref() != Some(id.as_str()) {
        let (repo, tag) = split_tag(image);
        let opts = TagImageOptionsBuilder::new().repo(repo).tag(tag).build();
        host.api("tag_image", |d| d.tag_image(&build.tag, Some(opts)))
            .await
            .map_err(|e| fail(format!("cannot tag it `{image}`: {}", full_message(&e))))?;
    }
    Ok(id)
}

/// `repo[:tag]` → (repo, tag), `latest` when there is none (a `:` in a registry's port is not
/// a tag).
fn split_tag(image: &str) -> (&str, &str) {
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.rsplit_once(':') {
        Some((_, tag)) if !image.contains('@') => (&image[..image.len() - tag.len() - 1], tag),
        _ => (image, "latest"),
    }
}

/// One streaming build call, read to its end. `Err`: the reason, with the last lines.
async fn run_build(host: &DockerHost, build: &BuildSpec, tar: Vec<u8>) -> std::result::Result<(), String> {
    let args: HashMap<String, String> = build.args.clone().into_iter().collect();
    let labels: HashMap<String, String> = build.labels.clone().into_iter().collect();
    let mut opts = BuildImageOptionsBuilder::new()
        .dockerfile(&build.dockerfile)
        .t(&build.tag)
        .rm(true)
        .forcerm(true)
        .nocache(build.no_cache)
        .buildargs(&args)
        .labels(&labels)
        .version(BuilderVersion::BuilderV1);
    if build.pull {
        opts = opts.pull("1");
    }
    if let Some(p) = &build.platform {
        opts = opts.platform(p);
    }
    if let Some(t) = &build.target {
        opts = opts.target(t);
    }
    if let Some(n) = &build.network {
        opts = opts.networkmode(n);
    }
    if !build.extra_hosts.is_empty() {
        opts = opts.extrahosts(&build.extra_hosts.join(","));
    }
    if let Some(s) = build.shm_size {
        let s = i32::try_from(s).map_err(|_| format!("shm_size {s} is too large for the classic builder"))?;
        opts = opts.shmsize(s);
    }
    let span = tracing::debug_span!(
        "docker",
        otel.name = "docker.build_image",
        docker.operation = "build_image",
        aegis.host = %host.host(),
        image = %build.tag,
    );
    read_build(host, opts.build(), tar).instrument(span).await
}

async fn read_build(
    host: &DockerHost,
    opts: bollard::query_parameters::BuildImageOptions,
    tar: Vec<u8>,
) -> std::result::Result<(), String> {
    let docker = host.call_long();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(Bytes::from(tar))));
    let mut last = Lines::default();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| last.with(full_message(&e)))?;
        if let Some(s) = info.stream.as_deref() {
            last.push(s);
        }
        if let Some(detail) = info.error_detail {
            let msg = detail.message.unwrap_or_else(|| "unknown error".into());
            return Err(last.with(msg));
        }
    }
    Ok(())
}

/// The builder's last output lines.
#[derive(Default)]
struct Lines(Vec<String>);

impl Lines {
    fn push(&mut self, chunk: &str) {
        for l in chunk.lines().map(str::trim_end).filter(|l| !l.is_empty()) {
            self.0.push(l.to_string());
        }
        let over = self.0.len().saturating_sub(LAST_LINES);
        self.0.drain(..over);
    }

    fn with(&self, reason: String) -> String {
        if self.0.is_empty() {
            reason
        } else {
            format!(
                "{reason}\nbuilder output (last lines):\n  {}",
                self.0.join("\n  ")
            )
        }
    }
}

/// The context as a tar: the resolved tree (files owned by root, modes kept, mtime 0 so the
/// archive depends on the content only), plus the Dockerfile that is not a file of the context.
pub fn pack(build: &BuildSpec) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for entry in &build.context.tree {
        if entry.name.as_os_str().is_empty() {
            continue;
        }
        let name = entry.name.to_string_lossy();
        let mode = entry.mode & 0o7777;
        let mut h = header(mode);
        match &entry.file {
            None => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                b.append_data(&mut h, format!("{name}/"), std::io::empty())?;
            }
            Some(local) => {
                let (file, meta) = open_regular(local)?;
                h.set_size(meta.len());
                use std::io::Read;
                b.append_data(&mut h, name.as_ref(), file.take(meta.len()))?;
            }
        }
    }
    if let Some(content) = &build.dockerfile_extra {
        let mut h = header(0o644);
        h.set_size(content.len() as u64);
        b.append_data(&mut h, &build.dockerfile, &content[..])?;
    }
    b.into_inner()
}

fn header(mode: u32) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_split_like_docker_does() {
        assert_eq!(split_tag("app"), ("app", "latest"));
        assert_eq!(split_tag("app:1.2"), ("app", "1.2"));
        assert_eq!(split_tag("localhost:5000/app"), ("localhost:5000/app", "latest"));
        assert_eq!(split_tag("localhost:5000/app:v1"), ("localhost:5000/app", "v1"));
    }

    #[test]
    fn failures_keep_the_last_lines() {
        let mut l = Lines::default();
        for i in 0..20 {
            l.push(&format!("Step {i}\n\n"));
        }
        let text = l.with("boom".into());
        assert!(text.starts_with("boom\nbuilder output"), "{text}");
        let shown: Vec<&str> = text.lines().skip(2).map(str::trim).collect();
        assert_eq!(shown.len(), LAST_LINES, "{text}");
        assert_eq!((shown[0], shown[LAST_LINES - 1]), ("Step 8", "Step 19"), "{text}");
    }
}
