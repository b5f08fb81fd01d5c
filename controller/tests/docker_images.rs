//! Images and connection errors against the real engine.

mod common;

use std::collections::BTreeMap;

use aegis::{
    desired::{Endpoint, HostSpec},
    docker::{images, observe, DockerError, DockerHost},
};
use common::*;

#[tokio::test]
async fn a_local_image_costs_no_call_and_a_missing_one_names_image_and_host() {
    let host = connect().await;
    let obs = observe(&host).await.unwrap();
    let before = host.api_calls();
    let id = images::ensure_image(&host, &obs.images, IMAGE_ALIAS)
        .await
        .unwrap();
    assert_eq!(
        host.api_calls(),
        before,
        "a locally present image needs no API call"
    );
    assert_eq!(Some(&id), obs.images.get(IMAGE));

    // Not in the map, but present: found by one inspect, no pull.
    let id2 = images::ensure_image(&host, &BTreeMap::new(), IMAGE)
        .await
        .unwrap();
    assert_eq!(id2, id);

    // Nothing listens on port 1: the pull fails, and says what to do.
    let missing = "127.0.0.1:1/aegis-test/absent:1";
    let err = images::ensure_image(&host, &obs.images, missing)
        .await
        .unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DockerError::ImagePull { .. }), "{msg}");
    assert!(
        msg.contains(missing) && msg.contains(host.host()) && msg.contains("docker load"),
        "{msg}"
    );
}

#[tokio::test]
async fn an_unreachable_engine_names_the_endpoint_and_host() {
    let spec = HostSpec {
        name: "nowhere".into(),
        endpoint: Endpoint::Unix("/tmp/aegis-no-such-docker.sock".into()),
        labels: BTreeMap::new(),
    };
    let err = DockerHost::connect(&spec).await.unwrap_err();
    let msg = err.to_string();
    eprintln!("{msg}");
    assert!(matches!(err, DockerError::Connect { .. }), "{msg}");
    assert!(
        msg.contains("unix:///tmp/aegis-no-such-docker.sock")
            && msg.contains("`nowhere`")
            && msg.contains("dockerd"),
        "{msg}"
    );
}
