//! The management path across two real engines: host A is the first engine (reached
//! directly), host B the second (`scripts/engine2.sh`), reached **only** through a forwarder
//! container on B (socat from Debian, host network, 127.0.0.1:PORT → B's unix socket). The
//! agent image is copied to B through the Docker API; changing the forwarder is
//! commit-confirmed; a change that cuts the path is rolled back by B's watchdog, or, when the
//! breaking container is on A (which the controller still reaches), by the controller at once.

#[path = "mgmt_support/mod.rs"]
mod mgmt_support;

use std::{
    collections::HashMap,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant},
};

use aegis::{
    agent::{image, rollback::ConfirmKey},
    apply::{
        confirmed::{self, ConfirmedChange, NewSpec, OldContainer, Outcome, Timing},
        reach::{self, HostCheck},
    },
    desired::{HostSpec, Kind, ResourceRef},
    docker::DockerHost,
};
use bollard::models::ContainerCreateBody;
use mgmt_support::*;

const TIMEOUT: Duration = Duration::from_secs(10);

/// The socat arguments of a forwarder listening on `listen` and going to `to`.
fn socat_args(listen: u16, to: &str) -> Vec<String> {
    vec![
        format!("TCP-LISTEN:{listen},bind=127.0.0.1,reuseaddr,fork"),
        to.to_string(),
    ]
}

/// A forwarder container's create body: host network, the engine's socket mounted.
fn forwarder_body(
    inst: &Instance,
    host: &str,
    args: &[String],
    sock_on_host: Option<&str>,
    hash: &str,
) -> NewSpec {
    let labels: HashMap<String, String> = inst
        .labels(host, "Stack/critical", &[("aegis.dev/spec-hash", hash)])
        .into_iter()
        .collect();
    NewSpec {
        body: ContainerCreateBody {
            image: Some(SOCAT.into()),
            cmd: Some(args.to_vec()),
            labels: Some(labels),
            host_config: Some(bollard::models::HostConfig {
                network_mode: Some("host".into()),
                binds: sock_on_host.map(|s| vec![format!("{s}:/var/run/docker.sock")]),
                ..Default::default()
            }),
            ..Default::default()
        },
        platform: None,
        extra_networks: vec![],
        files: vec![],
        spec_hash: hash.into(),
        has_healthcheck: false,
    }
}

/// Pings B over new connections every 50 ms from a thread and records the longest outage:
/// the time from the change cutting the path to the path being back.
struct PathWatch {
    stop: Arc<AtomicBool>,
    longest: Arc<Mutex<Duration>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl PathWatch {
    fn start(spec: HostSpec) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let longest = Arc::new(Mutex::new(Duration::ZERO));
        let (s, l) = (stop.clone(), longest.clone());
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            let mut down_since: Option<Instant> = None;
            while !s.load(Ordering::Relaxed) {
                let up = rt.block_on(reach::fresh(&spec, Duration::from_secs(2))).is_ok();
                match (up, down_since) {
                    (false, None) => down_since = Some(Instant::now()),
                    (true, Some(t)) => {
                        let gap = t.elapsed();
                        let mut g = l.lock().unwrap();
                        *g = (*g).max(gap);
                        down_since = None;
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Self {
            stop,
            longest,
            thread: Some(thread),
        }
    }

    fn longest_outage(mut self) -> Duration {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let d = *self.longest.lock().unwrap();
        d
    }
}

/// Host B behind its forwarder, and the agent image on both engines.
struct Fleet {
    inst: Instance,
    e2: Engine2,
    a: DockerHost,
    a_spec: HostSpec,
    /// B through the forwarder (the only way the "controller" reaches it).
    b: DockerHost,
    b_spec: HostSpec,
    port: u16,
    fwd_name: String,
    fwd_id: String,
    agent: String,
}

async fn fleet() -> Option<Fleet> {
    let e2 = engine2()?;
    ensure_socat(Some(&e2));
    let mut inst = Instance::new(Some(&e2));
    let a_spec = local_host(&unique("a"));
    let a = connect(&a_spec).await;
    let port = free_port();
    let fwd_name = unique("fwd");
    let fwd_id = inst.run(
        Some(&e2.sock_url),
        "b",
        &fwd_name,
        &[
            &[
                "--network",
                "host",
                "-v",
                &format!("{}:/var/run/docker.sock", e2.sock_path),
                SOCAT,
            ][..],
            &socat_args(port, "UNIX-CONNECT:/var/run/docker.sock")
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let b_spec = tcp_host("b", port);
    let b = {
        let mut tries = 0;
        loop {
            match DockerHost::connect(&b_spec).await {
                Ok(h) => break h,
                Err(e) if tries < 50 => {
                    tries += 1;
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("B through its forwarder: {e}"),
            }
        }
    };
    // The agent image: built into A; B starts without it and gets a copy from A.
    let img = agent_image();
    inst.tags.push(img.tag.clone());
    inst.tags.push(img.alias.clone());
    inst.tags.push(img.alias.clone());
    let (_, how_a) = image::ensure(&a, &img.tag, Some(&img), &[])
        .await
        .expect("agent image on A");
    assert_eq!(how_a, image::Supplied::Built);
    assert!(
        !docker_at(Some(&e2.sock_url), &["image", "inspect", &img.tag])
            .status
            .success(),
        "B must start without the agent image"
    );
    let t = Instant::now();
    let (id_b, how_b) = image::ensure(&b, &img.tag, Some(&img), std::slice::from_ref(&a))
        .await
        .expect("agent image on B");
    eprintln!(
        "agent image copied A → B (through the forwarder) in {:?}",
        t.elapsed()
    );
    assert_eq!(how_b, image::Supplied::CopiedFrom(a_spec.name.clone()));
    assert_eq!(id_b, img.id, "same image ID on both engines");
    assert_eq!(
        image::ensure(&b, &img.tag, Some(&img), std::slice::from_ref(&a))
            .await
            .unwrap()
            .1,
        image::Supplied::Present
    );
    Some(Fleet {
        inst,
        e2,
        a,
        a_spec,
        b,
        b_spec,
        port,
        fwd_name,
        fwd_id,
        agent: img.tag,
    })
}

fn forwarder_change<'a>(f: &'a Fleet, new: NewSpec, key: &'a ConfirmKey) -> ConfirmedChange<'a> {
    ConfirmedChange {
        host: &f.b,
        home: HostCheck {
            spec: f.b_spec.clone(),
            probe: None,
        },
        others: vec![],
        resource: ResourceRef::new(Kind::Stack, "critical"),
        instance: f.inst.name.clone(),
        old: OldContainer {
            id: f.fwd_id.clone(),
            name: f.fwd_name.clone(),
            image_id: String::new(),
        },
        new: Some(new),
        restart: false,
        agent_image: f.agent.clone(),
        agent_socket: f.e2.sock_path.clone(),
        timeout: TIMEOUT,
        key,
        timing: Timing::for_timeout(TIMEOUT),
    }
}

#[tokio::test]
async fn the_forwarder_on_b_benign_change_confirmed_breaking_change_rolled_back_by_bs_watchdog() {
    let Some(f) = fleet().await else { return };
    let e2 = Some(f.e2.sock_url.as_str());
    let key = ConfirmKey::generate().unwrap();

    // Benign: the same forward with socat's -d flag.
    let mut args = vec!["-d".to_string()];
    args.extend(socat_args(f.port, "UNIX-CONNECT:/var/run/docker.sock"));
    let good = forwarder_body(&f.inst, "b", &args, Some(&f.e2.sock_path), "h-good");
    let outcome = confirmed::apply(&forwarder_change(&f, good, &key))
        .await
        .expect("starts");
    assert!(matches!(outcome, Outcome::Confirmed { .. }), "{outcome}");
    assert_eq!(
        names_of(e2, &f.inst.name),
        vec![f.fwd_name.clone()],
        "no watchdog and no old container left"
    );
    let confirmed_id = inspect(e2, &f.fwd_name, "{{.Id}}");
    assert_ne!(confirmed_id, f.fwd_id);

    // Breaking: the new forwarder listens on the wrong port, which cuts the only path to B.
    let wrong = free_port();
    let bad = forwarder_body(
        &f.inst,
        "b",
        &socat_args(wrong, "UNIX-CONNECT:/var/run/docker.sock"),
        Some(&f.e2.sock_path),
        "h-bad",
    );
    let change = ConfirmedChange {
        old: OldContainer {
            id: confirmed_id.clone(),
            name: f.fwd_name.clone(),
            image_id: String::new(),
        },
        ..forwarder_change(&f, bad, &key)
    };
    let watch = PathWatch::start(f.b_spec.clone());
    let t = Instant::now();
    let outcome = confirmed::apply(&change).await.expect("starts");
    let took = t.elapsed();
    let outage = watch.longest_outage();
    let Outcome::RolledBack {
        failed_spec_hash,
        by_controller,
        reason,
        ..
    } = &outcome
    else {
        panic!("not rolled back: {outcome}")
    };
    assert_eq!(failed_spec_hash, "h-bad");
    assert!(
        !by_controller,
        "B was unreachable: its watchdog rolled back, at its deadline"
    );
    assert!(reason.contains("no confirm within 10s"), "{reason}");
    eprintln!(
        "MEASURED breaking change on B's own path: path down {outage:?} (confirm timeout {TIMEOUT:?}); \
         attempt over after {took:?}: {outcome}"
    );
    assert!(
        outage >= TIMEOUT - Duration::from_secs(1),
        "the path was down until the deadline: {outage:?}"
    );
    assert!(
        outage < TIMEOUT + Duration::from_secs(20),
        "restored soon after the deadline: {outage:?}"
    );
    // The controller reconnects over a new connection; the confirmed forwarder runs again.
    let fresh = reach::fresh(&f.b_spec, Duration::from_secs(5))
        .await
        .expect("B reachable again");
    drop(fresh);
    assert_eq!(
        inspect(e2, &f.fwd_name, "{{.Id}} {{.State.Running}}"),
        format!("{confirmed_id} true")
    );
    assert_eq!(names_of(e2, &f.inst.name), vec![f.fwd_name.clone()]);
}

#[tokio::test]
async fn a_critical_relay_on_a_that_cuts_bs_path_is_rolled_back_by_the_controller_at_once() {
    let Some(f) = fleet().await else { return };
    let key = ConfirmKey::generate().unwrap();
    // B is now reached through a relay on A: 127.0.0.1:RELAY → B's forwarder.
    let relay_port = free_port();
    let relay_name = unique("relay");
    let relay_args = socat_args(relay_port, &format!("TCP:127.0.0.1:{}", f.port));
    let relay_id = f.inst.run(
        None,
        &f.a_spec.name,
        &relay_name,
        &[
            &["--network", "host", SOCAT][..],
            &relay_args.iter().map(String::as_str).collect::<Vec<_>>()[..],
        ]
        .concat(),
    );
    let b_via_a = tcp_host("b", relay_port);
    let t = Instant::now();
    while reach::fresh(&b_via_a, Duration::from_secs(2)).await.is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "B never answered through the relay"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The new relay points at a dead port: A stays reachable, B does not.
    let broken = forwarder_body(
        &f.inst,
        &f.a_spec.name,
        &socat_args(relay_port, "TCP:127.0.0.1:1"),
        None,
        "h-relay-bad",
    );
    let change = ConfirmedChange {
        host: &f.a,
        home: HostCheck {
            spec: f.a_spec.clone(),
            probe: None,
        },
        others: vec![HostCheck {
            spec: b_via_a.clone(),
            probe: None,
        }],
        resource: ResourceRef::new(Kind::Stack, "critical"),
        instance: f.inst.name.clone(),
        old: OldContainer {
            id: relay_id.clone(),
            name: relay_name.clone(),
            image_id: String::new(),
        },
        new: Some(broken),
        restart: false,
        agent_image: f.agent.clone(),
        agent_socket: "/var/run/docker.sock".into(),
        timeout: TIMEOUT,
        key: &key,
        timing: Timing::for_timeout(TIMEOUT),
    };
    let watch = PathWatch::start(b_via_a.clone());
    let t = Instant::now();
    let outcome = confirmed::apply(&change).await.expect("starts");
    let took = t.elapsed();
    let outage = watch.longest_outage();
    let Outcome::RolledBack {
        by_controller,
        reason,
        ..
    } = &outcome
    else {
        panic!("not rolled back: {outcome}")
    };
    assert!(
        *by_controller,
        "A was reachable: the controller rolled back itself: {outcome}"
    );
    assert!(reason.contains("host `b`"), "{reason}");
    eprintln!(
        "MEASURED breaking change on A cutting B's path: path down {outage:?}, rolled back by the controller \
         after {took:?} (confirm timeout {TIMEOUT:?}): {outcome}"
    );
    assert!(outage < TIMEOUT, "no waiting for the deadline: {outage:?}");
    assert_eq!(
        inspect(None, &relay_name, "{{.Id}} {{.State.Running}}"),
        format!("{relay_id} true")
    );
    assert!(
        reach::fresh(&b_via_a, Duration::from_secs(5)).await.is_ok(),
        "B reachable again"
    );
}
