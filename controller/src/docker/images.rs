//! Images: compose's `pull_policy: missing`.

use std::collections::BTreeMap;

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use tracing::Instrument as _;

use super::{
    client::DockerHost,
    error::{engine_message, DockerError, Result},
};

/// Returns the ID of `reference` on the host, pulling it only if it is not there.
///
/// `local` is [`crate::observed::ObservedHost::images`]: a hit costs no API call. A miss
/// costs one inspect (the engine resolves aliases we don't, e.g. a registry mirror's name),
/// and only then a pull plus an inspect for the ID.
pub async fn ensure_image(
    host: &DockerHost,
    local: &BTreeMap<String, String>,
    reference: &str,
) -> Result<String> {
    ensure_image_for_platform(host, local, reference, None).await
}

/// [`ensure_image`] for compose's `platform:`: a pull asks for that platform (the `platform`
/// query parameter, as Compose v2 sends it). An image already on the host under the
/// reference is used as it is (no pull, as `pull_policy: missing` says); if it is of another
/// platform, the engine refuses the create with "does not match the specified platform".
pub async fn ensure_image_for_platform(
    host: &DockerHost,
    local: &BTreeMap<String, String>,
    reference: &str,
    platform: Option<&str>,
) -> Result<String> {
    if let Some(id) = local
        .get(reference)
        .or_else(|| local.get(&normalize_reference(reference)))
    {
        return Ok(id.clone());
    }
    if let Some(id) = inspect_id(host, reference).await? {
        return Ok(id);
    }
    pull_for_platform(host, reference, platform).await?;
    match inspect_id(host, reference).await? {
        Some(id) => Ok(id),
        None => Err(DockerError::ImagePull {
            host: host.host().into(),
            image: reference.into(),
            reason: "the pull reported success but the image is still not there".into(),
        }),
    }
}

/// The image's ID, or `None` if the host doesn't have it.
pub async fn inspect_id(host: &DockerHost, reference: &str) -> Result<Option<String>> {
    match host.api("inspect_image", |d| d.inspect_image(reference)).await {
        Ok(img) => Ok(img.id),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(e) => Err(DockerError::api(host.host(), "inspect", "image", reference, e)),
    }
}

/// Pulls `reference` (one streaming call). Errors reported inside the stream (the engine
/// answers 200 and then fails) are caught too.
pub async fn pull(host: &DockerHost, reference: &str) -> Result<()> {
    pull_for_platform(host, reference, None).await
}

/// [`pull`] of one platform's image (`os[/arch[/variant]]`).
pub async fn pull_for_platform(host: &DockerHost, reference: &str, platform: Option<&str>) -> Result<()> {
    // A streaming call, so not through `DockerHost::api`: the span covers the whole stream.
    let span = tracing::debug_span!(
        "docker",
        otel.name = "docker.create_image",
        docker.operation = "create_image",
        aegis.host = %host.host(),
        image = reference,
        platform = platform.unwrap_or_default(),
    );
    let result = pull_stream(host, reference, platform)
        .instrument(span.clone())
        .await;
    if let Err(e) = &result {
        crate::telemetry::spans::record_error(&span, &e.to_string());
    }
    result
}

async fn pull_stream(host: &DockerHost, reference: &str, platform: Option<&str>) -> Result<()> {
    let mut opts = CreateImageOptionsBuilder::new().from_image(reference);
    if let Some(p) = platform {
        opts = opts.platform(p);
    }
    let opts = opts.build();
    let mut stream = host.call().create_image(Some(opts), None, None);
    let fail = |reason: String| DockerError::ImagePull {
        host: host.host().into(),
        image: match platform {
            Some(p) => format!("{reference} (platform {p})"),
            None => reference.into(),
        },
        reason,
    };
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail(engine_message(&e)))?;
        if let Some(detail) = info.error_detail {
            return Err(fail(detail.message.unwrap_or_else(|| "unknown error".into())));
        }
    }
    Ok(())
}

/// The form Docker lists a reference under: `docker.io/library/` dropped, `:latest` added
/// when there is neither tag nor digest. `busybox` → `busybox:latest`,
/// `docker.io/user/app` → `user/app:latest`, `ghcr.io/x/y:1` unchanged.
pub fn normalize_reference(reference: &str) -> String {
    let r = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("index.docker.io/library/"))
        .or_else(|| reference.strip_prefix("docker.io/"))
        .or_else(|| reference.strip_prefix("index.docker.io/"))
        .unwrap_or(reference);
    let last = r.rsplit('/').next().unwrap_or(r);
    if r.contains('@') || last.contains(':') {
        r.to_string()
    } else {
        format!("{r}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_reference as n;

    #[test]
    fn references_are_normalized_like_docker_lists_them() {
        assert_eq!(n("busybox"), "busybox:latest");
        assert_eq!(n("busybox:1.36"), "busybox:1.36");
        assert_eq!(n("docker.io/library/busybox:1.36"), "busybox:1.36");
        assert_eq!(n("docker.io/user/app"), "user/app:latest");
        assert_eq!(n("localhost:5000/app"), "localhost:5000/app:latest");
        assert_eq!(n("ghcr.io/x/y@sha256:abc"), "ghcr.io/x/y@sha256:abc");
    }
}
