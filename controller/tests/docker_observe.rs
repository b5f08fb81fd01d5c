//! `observe` against the real engine.

mod common;

use aegis::{
    desired::ContainerSpec,
    docker::{containers, create_body, observe, CreateContext},
    observed::ContainerState,
};
use common::*;

#[tokio::test]
async fn observe_sees_labelled_containers_only_in_four_calls() {
    let host = connect().await;
    let mut cleanup = Cleanup::default();
    let owned = unique("aegis-t-owned");
    let foreign = unique("aegis-t-foreign");
    cleanup.container(&owned).container(&foreign);

    let spec = ContainerSpec {
        name: owned.clone(),
        image: IMAGE.into(),
        command: Some(vec!["sleep".into(), "60".into()]),
        ..Default::default()
    };
    let body = create_body(&spec, &CreateContext::with_labels(owner_labels(&host)));
    let id = containers::create_container(&host, &owned, body, &[], &[])
        .await
        .unwrap();
    // Same image, no aegis labels: must stay invisible.
    docker_ok(&[
        "create",
        "--name",
        &foreign,
        "--label",
        "aegis.dev/host=x",
        IMAGE,
        "sleep",
        "60",
    ]);

    let before = host.api_calls();
    let obs = observe(&host).await.unwrap();
    assert_eq!(
        host.api_calls() - before,
        4,
        "observe must make exactly 4 API calls"
    );

    assert_eq!(obs.api_version, host.api_version());
    assert_eq!(obs.containers.len(), 1, "{:?}", obs.containers);
    let c = &obs.containers[0];
    assert_eq!((c.id.as_str(), c.name.as_str()), (id.as_str(), owned.as_str()));
    assert_eq!(c.state, ContainerState::Created);
    assert_eq!(c.health, None);
    assert_eq!(c.networks, vec!["bridge".to_string()]);
    assert!(c.image_id.starts_with("sha256:"));
    assert_eq!(obs.images.get(IMAGE), Some(&c.image_id));
    assert_eq!(obs.images.get(IMAGE_ALIAS), Some(&c.image_id));
    assert!(obs.networks.iter().any(|n| n.name == "bridge" && !n.is_owned()));
}
