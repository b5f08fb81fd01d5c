//! The fault-injection suite: the real `aegis controller` against the suite's own Docker
//! engine (`scripts/engine2.sh` with its own dir, port and bridge), with faults injected into
//! everything around it. Run it with `scripts/faults.sh [--short|--full]` (it is `#[ignore]`d
//! in the ordinary test run). After every case the end state must hold (converged, no
//! duplicate containers, no orphans, nothing outside the instance changed; see
//! `faults_support::Rig::check`), and a table of the cases with the time each took to
//! converge is printed.
//!
//! `AEGIS_FAULTS=short|full` (default short) sets how many kill points run (4 or 20),
//! `AEGIS_FAULTS_CASES=a,b` runs only the named cases, `AEGIS_FAULTS_SEED=N` repeats the
//! kill points of an earlier run.

mod faults_support;
mod gitsupport;
mod sops_support;
mod support;

use std::{
    panic::{catch_unwind, AssertUnwindSafe},
    time::Duration,
};

use faults_support::{cases, kills, Rig};

struct Row {
    case: String,
    fault: String,
    converged: Option<Duration>,
    /// `reconcile failed` lines the controller logged during the case (retries it recovered
    /// from: the case passed only if it converged anyway).
    retries: usize,
    result: Result<(), String>,
}

type Case = Box<dyn Fn(&mut Rig) -> Option<(String, Duration)>>;

fn cases(kill_points: &[usize]) -> Vec<(String, Case)> {
    let mut v: Vec<(String, Case)> = vec![
        ("events-cut".into(), Box::new(|r| Some(cases::events_cut(r)))),
        ("socket-gone".into(), Box::new(|r| Some(cases::socket_gone(r)))),
        (
            "git-remote-gone".into(),
            Box::new(|r| Some(cases::git_remote_gone(r))),
        ),
        ("half-written".into(), Box::new(|r| Some(cases::half_written(r)))),
        ("bad-secret".into(), Box::new(cases::bad_secret)),
        (
            "daemon-restart".into(),
            Box::new(|r| Some(cases::daemon_restart(r))),
        ),
    ];
    for (i, &k) in kill_points.iter().enumerate() {
        v.push((
            format!("kill-{:02}", i + 1),
            Box::new(move |r| Some(kills::kill_at(r, k))),
        ));
    }
    v.push(("state-full".into(), Box::new(|r| Some(cases::state_full(r)))));
    v
}

#[test]
#[ignore = "the fault-injection suite: scripts/faults.sh [--short|--full]"]
fn fault_injection() {
    let full = std::env::var("AEGIS_FAULTS").is_ok_and(|m| m == "full");
    let seed = std::env::var("AEGIS_FAULTS_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| fastrand::u64(..));
    let points = kills::points(if full { 20 } else { 4 }, seed);
    eprintln!(
        "faults: {} form, kill points {points:?} (AEGIS_FAULTS_SEED={seed})",
        if full { "full" } else { "short" }
    );
    let only: Option<Vec<String>> = std::env::var("AEGIS_FAULTS_CASES")
        .ok()
        .map(|c| c.split(',').map(|s| s.trim().to_string()).collect());
    let t = std::time::Instant::now();
    let Some(mut rig) = Rig::new() else { return };
    let mut rows = vec![Row {
        case: "first-revision".into(),
        fault: "none: 30 containers from nothing".into(),
        converged: Some(t.elapsed()),
        retries: retries(&rig, 0),
        result: Ok(()),
    }];
    for (name, case) in cases(&points) {
        if only
            .as_ref()
            .is_some_and(|o| !o.iter().any(|c| name.starts_with(c.as_str())))
        {
            continue;
        }
        eprintln!("faults: case {name}");
        let from = rig.ctl.log_text().len();
        let r = catch_unwind(AssertUnwindSafe(|| case(&mut rig)));
        let retries = retries(&rig, from);
        let row = match r {
            Ok(Some((fault, took))) => Row {
                case: name,
                fault,
                converged: Some(took),
                retries,
                result: Ok(()),
            },
            Ok(None) => Row {
                case: name,
                fault: "SKIPPED: its prerequisite is missing".into(),
                converged: None,
                retries,
                result: Ok(()),
            },
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "panicked".into());
                Row {
                    case: name,
                    fault: String::new(),
                    converged: None,
                    retries,
                    result: Err(msg),
                }
            }
        };
        let failed = row.result.is_err();
        eprintln!("{}", line(&row));
        rows.push(row);
        if failed {
            // The rig may be anywhere: later cases would report its state, not their own.
            break;
        }
    }
    println!("\n{}", table(&rows));
    println!("faults: {:.0} s in all", t.elapsed().as_secs_f64());
    let failed: Vec<&Row> = rows.iter().filter(|r| r.result.is_err()).collect();
    assert!(
        failed.is_empty(),
        "{} case(s) failed:\n{}",
        failed.len(),
        failed
            .iter()
            .map(|r| format!(
                "{}: {}",
                r.case,
                r.result.as_ref().err().map_or("", |e| e.as_str())
            ))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn line(r: &Row) -> String {
    let took = r
        .converged
        .map_or("-".to_string(), |d| format!("{:.1} s", d.as_secs_f64()));
    let result = match &r.result {
        Ok(()) => "ok",
        Err(_) => "FAILED",
    };
    format!(
        "| {} | {} | {took} | {} | {result} |",
        r.case,
        r.fault.replace('|', "/"),
        r.retries
    )
}

/// `reconcile failed` lines in the controller's log from byte `from` on.
fn retries(rig: &Rig, from: usize) -> usize {
    let log = rig.ctl.log_text();
    log.get(from..).unwrap_or("").matches("reconcile failed").count()
}

fn table(rows: &[Row]) -> String {
    let mut s = String::from(
        "| case | fault injected | converged after | failed reconciles | result |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        s.push_str(&line(r));
        s.push('\n');
    }
    s
}
