use super::*;

#[test]
fn restart_conditions_map_as_compose_does() {
    assert_eq!(restart_condition(Some("any"), None), Ok(RestartPolicy::Always));
    assert_eq!(
        restart_condition(Some("none"), None),
        Ok(RestartPolicy::ExplicitNo)
    );
    assert_eq!(
        restart_condition(Some("on-failure"), Some(2)),
        Ok(RestartPolicy::OnFailure { max_retries: Some(2) })
    );
    // v2 sends an empty name, which the engine takes as no policy.
    assert_eq!(restart_condition(None, None), Ok(RestartPolicy::No));
    assert!(restart_condition(Some("sometimes"), None).is_err());
}

#[test]
fn device_count_defaults_to_all() {
    let d = DeviceRequestDef {
        capabilities: Some(StringOrList(vec!["gpu".into()])),
        ..Default::default()
    };
    assert_eq!(device_request(d, false).expect("ok").count, Some(-1));
    assert!(
        device_request(DeviceRequestDef::default(), false).is_err(),
        "capabilities required"
    );
}
