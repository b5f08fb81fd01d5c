//! Commit-confirmed change of a critical container, against the real engine: the rollback
//! watchdog (`aegis agent rollback run` in a container of the agent image), the controller's
//! procedure around it, and recovery after the controller went away.

#[path = "mgmt_support/mod.rs"]
mod mgmt_support;

use std::{collections::HashMap, time::Duration};

use aegis::{
    agent::{
        image,
        rollback::{launch, state::Phase, token, ConfirmKey},
    },
    apply::{
        confirmed::{self, ConfirmedChange, NewSpec, OldContainer, Outcome, Timing},
        reach::HostCheck,
        recovery::{self, Recovered},
    },
    desired::{HostSpec, Kind, ResourceRef},
    docker::DockerHost,
    observed::{rollback, RollbackAttempt},
};
use bollard::models::ContainerCreateBody;
use mgmt_support::*;

const TIMEOUT: Duration = Duration::from_secs(10);

struct Setup {
    inst: Instance,
    host: DockerHost,
    spec: HostSpec,
    agent: String,
    name: String,
    old_id: String,
}

/// A host (the first engine), the agent image loaded there under a test tag, and a running
/// "critical" container to change.
async fn setup() -> Setup {
    ensure_busybox();
    let mut inst = Instance::new(None);
    let spec = local_host(&unique("h"));
    let host = connect(&spec).await;
    let img = agent_image();
    inst.tags.push(img.tag.clone());
    inst.tags.push(img.alias.clone());
    let (id, how) = image::ensure(&host, &img.tag, Some(&img), &[])
        .await
        .expect("load the agent image");
    assert_eq!((id, how), (img.id.clone(), image::Supplied::Built));
    let name = unique("crit");
    // busybox `sleep` as PID 1 ignores SIGTERM: stopping it takes the whole stop timeout.
    let old_id = inst.run(
        None,
        &spec.name,
        &name,
        &["--stop-timeout", "2", BUSYBOX, "sleep", "3600"],
    );
    Setup {
        inst,
        host,
        spec,
        agent: img.tag,
        name,
        old_id,
    }
}

fn new_spec(s: &Setup, cmd: &[&str], hash: &str) -> NewSpec {
    let labels: HashMap<String, String> = s
        .inst
        .labels(&s.spec.name, "Stack/critical", &[("aegis.dev/spec-hash", hash)])
        .into_iter()
        .collect();
    NewSpec {
        body: ContainerCreateBody {
            image: Some(BUSYBOX.into()),
            cmd: Some(cmd.iter().map(|s| s.to_string()).collect()),
            labels: Some(labels),
            ..Default::default()
        },
        platform: None,
        extra_networks: vec![],
        files: vec![],
        spec_hash: hash.into(),
        has_healthcheck: false,
    }
}

fn change<'a>(s: &'a Setup, new: Option<NewSpec>, key: &'a ConfirmKey) -> ConfirmedChange<'a> {
    ConfirmedChange {
        host: &s.host,
        home: HostCheck {
            spec: s.spec.clone(),
            probe: None,
        },
        others: vec![],
        resource: ResourceRef::new(Kind::Stack, "critical"),
        instance: s.inst.name.clone(),
        old: OldContainer {
            id: s.old_id.clone(),
            name: s.name.clone(),
            image_id: String::new(),
        },
        new,
        restart: false,
        agent_image: s.agent.clone(),
        agent_socket: "/var/run/docker.sock".into(),
        timeout: TIMEOUT,
        key,
        timing: Timing::for_timeout(TIMEOUT),
    }
}

#[tokio::test]
async fn a_good_change_is_confirmed_and_leaves_nothing_behind() {
    let s = setup().await;
    let key = ConfirmKey::generate().unwrap();
    let outcome = confirmed::apply(&change(
        &s,
        Some(new_spec(&s, &["sleep", "3601"], "h-good")),
        &key,
    ))
    .await
    .expect("attempt starts");
    let Outcome::Confirmed {
        new_id: Some(new_id), ..
    } = &outcome
    else {
        panic!("not confirmed: {outcome}")
    };
    assert!(outcome.is_success());
    assert_eq!(
        inspect(None, &s.name, "{{.Id}} {{.State.Running}}"),
        format!("{new_id} true")
    );
    // No old container, no parked one, no temporary one, no watchdog.
    assert_eq!(names_of(None, &s.inst.name), vec![s.name.clone()]);
}

#[tokio::test]
async fn a_new_container_that_dies_is_rolled_back_by_the_controller_at_once() {
    let s = setup().await;
    let key = ConfirmKey::generate().unwrap();
    let t = std::time::Instant::now();
    let outcome = confirmed::apply(&change(
        &s,
        Some(new_spec(&s, &["sh", "-c", "exit 3"], "h-bad")),
        &key,
    ))
    .await
    .expect("attempt starts");
    let took = t.elapsed();
    let Outcome::RolledBack {
        failed_spec_hash,
        reason,
        by_controller,
        ..
    } = &outcome
    else {
        panic!("not rolled back: {outcome}")
    };
    assert!(!outcome.is_success(), "a rollback is a failure");
    assert_eq!(failed_spec_hash, "h-bad");
    assert!(*by_controller, "{outcome}");
    assert!(reason.contains("exited with code 3"), "{reason}");
    assert!(
        took < TIMEOUT,
        "the controller did not wait for the deadline: {took:?}"
    );
    eprintln!("rolled back by the controller in {took:?}: {outcome}");
    assert_eq!(
        inspect(None, &s.name, "{{.Id}} {{.State.Running}}"),
        format!("{} true", s.old_id)
    );
    assert_eq!(names_of(None, &s.inst.name), vec![s.name.clone()]);
}

/// Starts an attempt by hand, as `confirmed::apply` does, but nobody follows it.
async fn start_unfollowed(s: &Setup, key: &ConfirmKey, attempt_id: &str) -> RollbackAttempt {
    let n = new_spec(s, &["sleep", "3602"], "h-next");
    let temp = rollback::temp_name(&s.name, attempt_id);
    let new_id = aegis::docker::containers::create_container(&s.host, &temp, n.body, &[], &[])
        .await
        .unwrap();
    let a = RollbackAttempt {
        id: attempt_id.into(),
        resource: ResourceRef::new(Kind::Stack, "critical"),
        host: s.spec.name.clone(),
        instance: s.inst.name.clone(),
        container: s.name.clone(),
        old_id: s.old_id.clone(),
        old_parked: rollback::parked_name(&s.name, attempt_id),
        old_image_id: String::new(),
        new: Some(rollback::NewContainer {
            id: new_id,
            temp_name: temp,
            spec_hash: "h-next".into(),
        }),
        timeout: TIMEOUT,
        token_sha256: token::token_sha256(key.token(attempt_id).expose()),
    };
    launch::start(&s.host, &a, &s.agent, "/var/run/docker.sock")
        .await
        .unwrap();
    a
}

async fn phase(host: &DockerHost, a: &RollbackAttempt) -> Option<Phase> {
    launch::observe(host, &a.watchdog_name())
        .await
        .unwrap()
        .and_then(|w| w.status)
        .map(|s| s.phase)
}

#[tokio::test]
async fn without_the_right_token_the_watchdog_rolls_back_by_itself_and_says_so() {
    let s = setup().await;
    let key = ConfirmKey::generate().unwrap();
    let a = start_unfollowed(&s, &key, "0a0a0a0a0a0a0a0a").await;
    let wd = a.watchdog_name();
    let swap = wait_until("the swap", Duration::from_secs(30), || {
        inspect(None, &s.name, "{{.State.Running}}") == "true"
            && inspect(None, &a.old_parked, "{{.Id}}") == s.old_id
    });
    eprintln!(
        "swap seen {swap:?} after the watchdog started:\n{}",
        text(&docker_at(None, &["logs", "-t", &wd]))
    );
    // Survives its own restart: it reads its attempt from its labels and its phase from its
    // status file, and goes on.
    docker_ok(None, &["restart", "-t", "1", &wd]);
    // A wrong token (another attempt's) is ignored.
    launch::confirm(&s.host, &wd, &key.token("another-attempt"))
        .await
        .unwrap();
    let waited = wait_until("the watchdog to exit", TIMEOUT + Duration::from_secs(30), || {
        inspect(None, &wd, "{{.State.Status}}") == "exited"
    });
    eprintln!("watchdog finished {waited:?} after the swap was seen");
    assert_eq!(
        inspect(None, &wd, "{{.State.ExitCode}}"),
        "3",
        "a rollback exits 3, never 0"
    );
    assert_eq!(inspect(None, &wd, "{{.HostConfig.RestartPolicy.Name}}"), "no");
    let p = phase(&s.host, &a).await;
    assert_eq!(
        p,
        Some(Phase::RolledBack(format!(
            "no confirm within {}s",
            TIMEOUT.as_secs()
        )))
    );
    assert_eq!(
        inspect(None, &s.name, "{{.Id}} {{.State.Running}}"),
        format!("{} true", s.old_id)
    );
    let logs = text(&docker_at(None, &["logs", &wd]));
    assert!(
        logs.contains("phase rolled-back: no confirm within 10s"),
        "{logs}"
    );
    // Only the old container and the watchdog (kept as the report) are left.
    assert_eq!(names_of(None, &s.inst.name), {
        let mut v = vec![s.name.clone(), wd.clone()];
        v.sort();
        v
    });
}

#[tokio::test]
async fn a_watchdog_refuses_when_the_containers_are_not_as_labelled() {
    let s = setup().await;
    let key = ConfirmKey::generate().unwrap();
    // The old container was renamed behind aegis's back.
    docker_ok(None, &["rename", &s.name, &format!("{}-moved", s.name)]);
    let a = start_unfollowed(&s, &key, "0b0b0b0b0b0b0b0b").await;
    wait_until("the watchdog to exit", Duration::from_secs(30), || {
        inspect(None, &a.watchdog_name(), "{{.State.Status}}") == "exited"
    });
    assert_eq!(inspect(None, &a.watchdog_name(), "{{.State.ExitCode}}"), "2");
    assert!(matches!(phase(&s.host, &a).await, Some(Phase::Refused(r)) if r.contains("is named")));
    // Nothing was changed: the old one still runs, the new one was never started.
    assert_eq!(
        inspect(None, &format!("{}-moved", s.name), "{{.State.Running}}"),
        "true"
    );
    assert_eq!(
        inspect(None, &a.new.as_ref().unwrap().temp_name, "{{.State.Status}}"),
        "created"
    );
}

#[tokio::test]
async fn a_restarted_controller_confirms_an_attempt_it_can_check_and_cleans_what_never_began() {
    let s = setup().await;
    let dir = tempfile::tempdir().unwrap();
    let key = ConfirmKey::load_or_create(&dir.path().join("rollback.key")).unwrap();
    // The controller "dies" right after the change: nobody follows the attempt.
    let a = start_unfollowed(&s, &key, "0c0c0c0c0c0c0c0c").await;
    wait_until("the swap", Duration::from_secs(30), || {
        inspect(None, &a.old_parked, "{{.Id}}") == s.old_id
    });
    // A leftover of an attempt that never got its watchdog: a new container never started.
    let leftover = rollback::temp_name(&s.name, "0d0d0d0d0d0d0d0d");
    s.inst.run(None, &s.spec.name, &leftover, &[BUSYBOX, "true"]);
    docker_ok(None, &["stop", &leftover]);

    // The new controller: same state directory, so the same key.
    let key2 = ConfirmKey::load_or_create(&dir.path().join("rollback.key")).unwrap();
    let home = HostCheck {
        spec: s.spec.clone(),
        probe: None,
    };
    let none = |_: &ResourceRef| Vec::<HostCheck>::new();
    let got = recovery::recover_host(&s.host, &home, &none, &s.inst.name, &key2)
        .await
        .unwrap();
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(
        matches!(
            &got[0],
            Recovered::Attempt {
                outcome: Outcome::Confirmed { .. },
                ..
            }
        ),
        "{got:?}"
    );
    assert!(
        matches!(&got[1], Recovered::Leftover { container, action } if *container == leftover && action.starts_with("removed")),
        "{got:?}"
    );
    let new_id = &a.new.as_ref().unwrap().id;
    assert_eq!(
        inspect(None, &s.name, "{{.Id}} {{.State.Running}}"),
        format!("{new_id} true")
    );
    assert_eq!(names_of(None, &s.inst.name), vec![s.name.clone()]);
}

#[tokio::test]
async fn a_restarted_controller_without_the_key_lets_the_watchdog_roll_back() {
    let s = setup().await;
    let key = ConfirmKey::generate().unwrap();
    let a = start_unfollowed(&s, &key, "0e0e0e0e0e0e0e0e").await;
    wait_until("the swap", Duration::from_secs(30), || {
        inspect(None, &a.old_parked, "{{.Id}}") == s.old_id
    });
    // The state directory was lost: another key, so no valid confirm is possible.
    let other = ConfirmKey::generate().unwrap();
    let home = HostCheck {
        spec: s.spec.clone(),
        probe: None,
    };
    let none = |_: &ResourceRef| Vec::<HostCheck>::new();
    let got = recovery::recover_host(&s.host, &home, &none, &s.inst.name, &other)
        .await
        .unwrap();
    assert!(
        matches!(&got[..], [Recovered::Attempt { outcome: Outcome::RolledBack { failed_spec_hash, .. }, .. }] if failed_spec_hash == "h-next"),
        "{got:?}"
    );
    assert_eq!(
        inspect(None, &s.name, "{{.Id}} {{.State.Running}}"),
        format!("{} true", s.old_id)
    );
    // Never both gone, nothing left over.
    assert_eq!(names_of(None, &s.inst.name), vec![s.name.clone()]);
}
