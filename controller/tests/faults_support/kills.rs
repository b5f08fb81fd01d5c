//! The controller is SIGKILLed at random points of an apply, then restarted on the same state
//! directory. A point is "after the k-th Docker event of the apply" (create, start, destroy or
//! rename of one of the instance's containers), k drawn at random: the kill lands between two
//! Docker calls of a replace, wherever that is (temporary container made but old one still
//! there, old one gone but new one not renamed yet, renamed but not started, ...).

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use super::{Rig, STACKS};

/// Events a replace of all 30 containers makes at least (4 per container).
const EVENTS_PER_APPLY: usize = 4 * 30;

/// The instance's container events from `since` on, one line each: `ACTION NAME`.
pub(super) struct Events {
    child: Child,
    rx: mpsc::Receiver<String>,
}

impl Events {
    pub(super) fn since(rig: &Rig, since: &str) -> Self {
        let mut child = Command::new("docker")
            .arg("-H")
            .arg(format!("unix://{}", rig.engine.sock.display()))
            .args(["events", "--since", since, "--filter", "type=container"])
            .args(["--filter", &format!("label=aegis.dev/instance={}", rig.instance)])
            .args(["--format", "{{.Action}} {{.Actor.Attributes.name}}"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run docker events");
        let out = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, rx }
    }

    /// Waits for the `k`-th create/start/destroy/rename; returns it.
    pub(super) fn nth(&self, rig: &Rig, k: usize) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut seen = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("only {seen} of {k} apply events came\n{}", rig.ctl.tail(60)),
            };
            let action = line.split_whitespace().next().unwrap_or("");
            if matches!(action, "create" | "start" | "destroy" | "rename") {
                seen += 1;
                if seen == k {
                    return line;
                }
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One kill: a revision that replaces all 30 containers, the controller SIGKILLed right after
/// its `k`-th event, restarted. Returns where it was killed and how long the restarted
/// controller took to converge (from the spawn).
pub fn kill_at(rig: &mut Rig, k: usize) -> (String, Duration) {
    let events = Events::since(rig, &now());
    rig.bump(&STACKS);
    let at = events.nth(rig, k);
    rig.ctl.kill();
    drop(events);
    let t = Instant::now();
    rig.ctl.start();
    rig.wait_converged(&format!("the kill after event {k} ({at})"));
    (format!("after event {k}/{EVENTS_PER_APPLY}+ `{at}`"), t.elapsed())
}

/// Now, as `docker events --since` takes it.
pub(super) fn now() -> String {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock");
    format!("{}.{:09}", now.as_secs(), now.subsec_nanos())
}

/// `n` distinct points in `1..EVENTS_PER_APPLY`, from `seed` (printed, so a run can be
/// repeated with `AEGIS_FAULTS_SEED`).
pub fn points(n: usize, seed: u64) -> Vec<usize> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut all: Vec<usize> = (1..EVENTS_PER_APPLY).collect();
    rng.shuffle(&mut all);
    all.truncate(n);
    all
}
