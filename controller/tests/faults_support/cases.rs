//! The cases of the fault suite except the controller kills ([`super::kills`]). Each injects
//! its fault, asserts what the controller must report or keep doing meanwhile, removes the
//! fault, and returns how long the end state ([`Rig::check`]) took to hold again.

use std::time::{Duration, Instant};

use aegis::status::{ConditionStatus, ConditionType};

use super::{Rig, HOST, STACKS};

const NOTICE: Duration = Duration::from_secs(60);

/// Whether the Host's status says it cannot be reached.
fn host_down(rig: &Rig) -> Option<()> {
    let rs = rig.ctl.resources()?;
    let h = rs.iter().find(|r| r.name == HOST && r.kind.as_str() == "Host")?;
    (h.ready() != ConditionStatus::True).then_some(())
}

/// Waits until `n` containers run at the new versions: the apply is in flight.
fn wait_in_flight(rig: &Rig, n: usize) -> usize {
    rig.wait_for(NOTICE, &format!("{n} containers at the new version"), || {
        let k = rig.at_version();
        (k >= n).then_some(k)
    })
}

/// The Docker daemon is restarted while the controller replaces 30 containers: stopped
/// right after the 20th Docker event of the apply (of at least 120).
pub fn daemon_restart(rig: &mut Rig) -> (String, Duration) {
    let events = super::kills::Events::since(rig, &super::kills::now());
    rig.bump(&STACKS);
    let at = events.nth(rig, 20);
    rig.engine.stop();
    drop(events);
    rig.wait_for(
        NOTICE,
        "the Host to be reported not Ready while the daemon is down",
        || host_down(rig),
    );
    rig.engine.start();
    let t = Instant::now();
    rig.wait_converged("the daemon restart");
    (
        format!("dockerd stopped after event 20/120+ `{at}`, started"),
        t.elapsed(),
    )
}

/// The host's socket disappears (a container is removed and a revision arrives meanwhile),
/// then comes back.
pub fn socket_gone(rig: &mut Rig) -> (String, Duration) {
    rig.proxy.disappear();
    rig.wait_for(
        NOTICE,
        "the Host to be reported not Ready without its socket",
        || host_down(rig),
    );
    rig.engine.docker(&["rm", "-f", "fa1-c01-1"]);
    rig.bump(&["fa2"]);
    let short = rig.short();
    rig.wait_for(
        NOTICE,
        "the new revision to be accepted while the host is gone",
        || {
            rig.ctl
                .source()
                .filter(|s| s.revision.as_deref() == Some(rig.revision.as_str()))
        },
    );
    // Nothing can have reached the host: the removed container is still gone.
    assert!(
        !rig.my_containers().contains_key("fa1-c01-1"),
        "fa1-c01-1 came back while the host's socket was gone"
    );
    rig.proxy.appear();
    let t = Instant::now();
    rig.wait_converged(&format!("the socket came back (revision {short})"));
    (
        "socket removed, container removed + new revision meanwhile".into(),
        t.elapsed(),
    )
}

/// The events stream is cut mid-flight (during an apply), a container is removed while no
/// stream is open, and the stream may come back.
pub fn events_cut(rig: &mut Rig) -> (String, Duration) {
    rig.wait_for(NOTICE, "an open events stream", || {
        (rig.proxy.events_open() > 0).then_some(())
    });
    let started = rig.proxy.events_started();
    rig.bump(&["fa1"]);
    wait_in_flight(rig, 21);
    rig.proxy.block_events(true);
    let cut = rig.proxy.cut_events();
    assert!(cut >= 1, "no events stream to cut");
    let refused = rig.proxy.events_cut();
    rig.engine.docker(&["rm", "-f", "fa3-c02-1"]);
    rig.wait_for(
        NOTICE,
        "the controller to try to reopen the events stream",
        || (rig.proxy.events_cut() > refused).then_some(()),
    );
    rig.proxy.block_events(false);
    let t = Instant::now();
    rig.wait_converged("the events stream was cut");
    rig.wait_for(NOTICE, "a new events stream", || {
        (rig.proxy.events_open() > 0).then_some(())
    });
    assert!(
        rig.proxy.events_started() > started + 1,
        "the events stream was not reopened"
    );
    (
        format!("{cut} stream(s) cut during an apply, a container removed unseen"),
        t.elapsed(),
    )
}

/// The git remote goes away: the last good revision holds and keeps being reconciled, and
/// the source status says the fetch fails; then the remote comes back.
pub fn git_remote_gone(rig: &mut Rig) -> (String, Duration) {
    let remote = rig.remote_dir();
    let away = remote.with_extension("away");
    std::fs::rename(&remote, &away).expect("move the remote away");
    let s = rig.wait_for(NOTICE, "the source status to report the failed fetch", || {
        rig.ctl.source().filter(|s| s.fetch_error.is_some())
    });
    assert_eq!(s.reason(), "FetchFailed");
    assert_eq!(
        s.revision.as_deref(),
        Some(rig.revision.as_str()),
        "the running revision changed"
    );
    // The last good revision holds: drift is still repaired.
    rig.engine.docker(&["rm", "-f", "fa3-c05-1"]);
    rig.wait_for(
        NOTICE,
        "fa3-c05-1 to be repaired while the remote is gone",
        || rig.my_containers().contains_key("fa3-c05-1").then_some(()),
    );
    let still = rig.ctl.source().expect("source status");
    assert!(
        still.fetch_error.is_some(),
        "the fetch error vanished while the remote is gone"
    );
    std::fs::rename(&away, &remote).expect("bring the remote back");
    let t = Instant::now();
    rig.wait_converged("the remote came back");
    ("remote moved away, drift repaired meanwhile".into(), t.elapsed())
}

/// A revision that must be rejected whole: nothing changes on the host, every resource says
/// why, and the next good revision converges.
fn rejected_whole(rig: &mut Rig, bad: Vec<(&str, String)>, what: &str) -> (String, Duration) {
    let before = rig.my_containers();
    // The bad revision also changes fa1: that part must not be applied either.
    *rig.versions.get_mut("fa1").expect("fa1") += 1;
    let mut files = vec![("fa1/stack.yaml", rig.stack_yaml("fa1"))];
    files.extend(bad);
    let commit = rig.commit_with(&files);
    let s = rig.wait_for(NOTICE, &format!("the {what} to be rejected"), || {
        rig.ctl
            .source()
            .filter(|s| s.rejected.as_ref().is_some_and(|r| r.revision == commit))
    });
    assert_eq!(
        s.revision.as_deref(),
        Some(rig.revision.as_str()),
        "the running revision changed"
    );
    rig.wait_for(NOTICE, "every resource to say the revision was rejected", || {
        let rs = rig.ctl.resources()?;
        rs.iter()
            .all(|r| {
                r.condition(ConditionType::Stalled)
                    .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "RevisionRejected")
            })
            .then_some(())
    });
    // Judged before anything is queued: a rejected revision never reaches a host.
    assert_eq!(rig.my_containers(), before, "containers changed after the {what}");
    let errors = s.rejected.map(|r| r.errors.join("; ")).unwrap_or_default();
    rig.revision = rig.commit_versions();
    let t = Instant::now();
    rig.wait_converged(&format!("the fix of the {what}"));
    // Backquotes would end the table's code span.
    let mut first: String = errors.chars().take(60).collect::<String>().replace('`', "'");
    if first.len() < errors.len() {
        first.push('…');
    }
    (
        format!("{what} (and a change to fa1): rejected `{first}`"),
        t.elapsed(),
    )
}

/// A half-written manifest (cut in the middle) in a revision that changes another stack too.
pub fn half_written(rig: &mut Rig) -> (String, Duration) {
    let full = rig.stack_yaml("fa2");
    let cut = full[..full.len() / 2].to_string();
    rejected_whole(rig, vec![("fa2/stack.yaml", cut)], "half-written revision")
}

/// A secret that does not decrypt (its ciphertext altered: the MAC fails).
pub fn bad_secret(rig: &mut Rig) -> Option<(String, Duration)> {
    let good = rig.secret_file()?;
    let bad = crate::sops_support::flip_ciphertext(&good, "FA_TOKEN");
    Some(rejected_whole(rig, vec![("fa3/.sops.env", bad)], "bad secret"))
}

/// The state directory (a small tmpfs) fills up: the controller says so and keeps
/// reconciling; once there is room again it saves its status and fetches again.
pub fn state_full(rig: &mut Rig) -> (String, Duration) {
    let mnt = rig.scratch().join("tmpfs");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let m = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8m", "faults-state"])
        .arg(&mnt)
        .output()
        .expect("run mount");
    assert!(m.status.success(), "mount tmpfs: {}", crate::support::text(&m));
    let _unmount = Unmount(mnt.clone());
    rig.ctl.stop();
    rig.ctl.state_dir = mnt.join("state");
    rig.ctl.start();
    rig.wait_converged("the move to the tmpfs state dir");
    let filler = mnt.join("filler");
    fill(&filler);
    rig.engine.docker(&["rm", "-f", "fa2-c07-1"]);
    let s = rig.wait_for(
        NOTICE,
        "the source status to report the full state directory",
        || rig.ctl.source().filter(|s| s.state_error.is_some()),
    );
    let report = s.state_error.unwrap_or_default();
    assert!(report.contains("No space left"), "unexpected report: {report}");
    rig.wait_for(
        NOTICE,
        "fa2-c07-1 to be repaired with the state directory full",
        || rig.my_containers().contains_key("fa2-c07-1").then_some(()),
    );
    // A new revision cannot be fetched into a full directory: reported, not fatal.
    rig.bump(&["fa3"]);
    rig.wait_for(
        NOTICE,
        "the failed fetch into the full directory to be reported",
        || rig.ctl.source().filter(|s| s.fetch_error.is_some()),
    );
    std::fs::remove_file(&filler).expect("remove the filler");
    let t = Instant::now();
    rig.wait_converged("room in the state directory again");
    let took = t.elapsed();
    rig.wait_for(NOTICE, "status.json to be saved again", || {
        let saved = std::fs::read_to_string(rig.ctl.state_dir.join("status.json")).ok()?;
        (saved.contains(&rig.revision) && rig.ctl.source()?.state_error.is_none()).then_some(())
    });
    rig.ctl.stop();
    rig.ctl.state_dir = rig.scratch().join("state-after-tmpfs");
    rig.ctl.start();
    rig.wait_converged("the move back from the tmpfs");
    let cause = report.rsplit(": ").next().unwrap_or(&report).to_string();
    (
        format!("8 MiB tmpfs filled: reported `{cause}`, drift repaired meanwhile"),
        took,
    )
}

/// Writes zeros to `path` until the filesystem is full.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let chunk = vec![0u8; 64 * 1024];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
    // The last partial block too.
    while f.write_all(&chunk[..512]).is_ok() {}
}

struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}
