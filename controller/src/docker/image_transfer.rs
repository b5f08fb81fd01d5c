//! Moving images between engines through the Docker API, with no registry: an air-gapped
//! homelab has none, and a VPS behind a tunnel may reach none.
//!
//! [`copy_image`] streams `GET /images/{name}/get` from one engine straight into
//! `POST /images/load` on the other, so nothing is held in memory or written to disk on the
//! controller. Three traps are handled:
//! - the export is asked for by `name:tag`, never by ID: an export by ID carries no tag, and
//!   the image would arrive untagged;
//! - the load answers 200 and reports failures inside its JSON stream, so the stream is read
//!   to its end and every `errorDetail` is an error;
//! - the load only answers once the whole upload is read, so it gets a long timeout rather
//!   than the client's usual two minutes.
//!
//! Afterwards the image's ID on the target is compared with the source's: a load that
//! "succeeded" but left something else under the tag is an error.

use futures::{Stream, StreamExt};
use tokio_util::bytes::Bytes;

use super::{
    client::DockerHost,
    error::{full_message, DockerError, Result},
    images::inspect_id,
};

/// Copies `reference` (`name:tag`) from `from` to `to` and returns its ID, which is the same
/// on both engines (checked).
pub async fn copy_image(from: &DockerHost, to: &DockerHost, reference: &str) -> Result<String> {
    let fail = |reason: String| DockerError::ImageTransfer {
        host: to.host().into(),
        image: reference.into(),
        reason,
    };
    let Some(src_id) = inspect_id(from, reference).await? else {
        return Err(fail(format!("host `{}` does not have it either", from.host())));
    };
    let from_name = from.host().to_string();
    let export = from.call_long().export_image(reference).map(move |chunk| {
        chunk.map_err(|e| {
            std::io::Error::other(format!(
                "export from host `{from_name}` failed: {}",
                full_message(&e)
            ))
        })
    });
    load(to, reference, export).await?;
    match inspect_id(to, reference).await? {
        Some(id) if id == src_id => Ok(id),
        Some(id) => Err(fail(format!(
            "after loading, `{reference}` is {id} on host `{}`, not {src_id} as on host `{}`",
            to.host(),
            from.host()
        ))),
        None => Err(fail(
            "the load reported success but the image is not there".into(),
        )),
    }
}

/// Loads a `docker save` archive, streamed, into `to`. Reads the engine's answer to its end:
/// any `errorDetail` in it (the engine answers 200 before it has parsed the archive) fails.
pub async fn load(
    to: &DockerHost,
    image: &str,
    archive: impl Stream<Item = std::result::Result<Bytes, std::io::Error>> + Send + 'static,
) -> Result<()> {
    let fail = |reason: String| DockerError::ImageTransfer {
        host: to.host().into(),
        image: image.into(),
        reason,
    };
    let opts = bollard::query_parameters::ImportImageOptionsBuilder::new()
        .quiet(true)
        .build();
    let mut answer = to.call_long().import_image_stream(opts, archive, None);
    while let Some(item) = answer.next().await {
        let info = item.map_err(|e| fail(format!("load failed: {}", full_message(&e))))?;
        if let Some(detail) = info.error_detail {
            return Err(fail(format!(
                "load failed: {}",
                detail.message.unwrap_or_else(|| "unknown error".into())
            )));
        }
    }
    Ok(())
}
