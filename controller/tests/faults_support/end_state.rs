//! The end state every case must reach: [`Rig::check`] and [`Rig::wait_converged`].

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use aegis::status::{ConditionStatus, ConditionType};

use super::{Rig, CONVERGE_TIMEOUT, HOST, NETWORK, SERVICES, STACKS};

impl Rig {
    /// Every object on the engine that is not this instance's, one line each: what must be
    /// exactly the same after every case.
    pub fn foreign_objects(&self) -> Vec<String> {
        let mine = format!("\"aegis.dev/instance\":\"{}\"", self.instance);
        let mut out = Vec::new();
        for (name, c) in self.engine.containers() {
            let labels = serde_json::to_string(&c.labels).unwrap_or_default();
            if !labels.contains(&mine) {
                out.push(format!("container {name} {} {} {labels}", c.id, c.state));
            }
        }
        let nets = self
            .engine
            .lines(&["network", "ls"], "{{.Name}} {{.ID}} {{.Driver}} {{.Labels}}");
        // Docker gives its predefined networks (bridge, host, none) new IDs when it restarts.
        out.extend(nets.into_iter().filter(|l| !l.contains(&self.instance)).map(|l| {
            let mut f: Vec<&str> = l.splitn(3, ' ').collect();
            if f.len() == 3 && matches!(f[0], "bridge" | "host" | "none") {
                f.remove(1);
            }
            format!("network {}", f.join(" "))
        }));
        let vols = self.engine.lines(&["volume", "ls"], "{{.Name}} {{.Labels}}");
        out.extend(
            vols.into_iter()
                .filter(|l| !l.contains(&self.instance))
                .map(|l| format!("volume {l}")),
        );
        let images = self
            .engine
            .lines(&["image", "ls"], "{{.Repository}}:{{.Tag}} {{.ID}}");
        out.extend(images.into_iter().map(|l| format!("image {l}")));
        out
    }

    /// The desired container names.
    pub fn desired_containers() -> BTreeSet<String> {
        STACKS
            .iter()
            .flat_map(|s| (1..=SERVICES).map(move |i| format!("{s}-c{i:02}-1")))
            .collect()
    }

    /// `Ok` when the end state holds: every resource Ready at the expected revision, the
    /// source ready on it, exactly the desired containers (running, at their version, one
    /// each), exactly the desired network, nothing else of this instance, and every other
    /// object on the engine as it was before the suite.
    pub fn check(&self) -> Result<(), String> {
        let short = self.short();
        let source = self
            .ctl
            .source()
            .ok_or("the API does not answer /api/v1/source")?;
        if source.revision.as_deref() != Some(self.revision.as_str()) || !source.ready() {
            return Err(format!(
                "source: revision {:?}, {} {} (want {short}, ready)",
                source.revision.as_deref().map(|r| &r[..12.min(r.len())]),
                source.reason(),
                source.message()
            ));
        }
        let resources = self
            .ctl
            .resources()
            .ok_or("the API does not answer /api/v1/resources")?;
        let mut want: BTreeSet<String> = STACKS.iter().map(|s| format!("Stack/{s}")).collect();
        want.insert(format!("Network/{NETWORK}"));
        want.insert(format!("Host/{HOST}"));
        for r in &resources {
            let id = format!("{}/{}", r.kind, r.name);
            if !want.remove(&id) {
                return Err(format!("unexpected status entry {id}"));
            }
            let stalled = r
                .condition(ConditionType::Stalled)
                .is_some_and(|c| c.status == ConditionStatus::True);
            if r.ready() != ConditionStatus::True
                || stalled
                || r.observed_revision.as_deref() != Some(short.as_str())
            {
                return Err(format!(
                    "{id}: ready {:?}, {} {:?} at {:?} (want Ready at {short})",
                    r.ready(),
                    r.status_word(),
                    r.message(),
                    r.observed_revision
                ));
            }
        }
        if let Some(missing) = want.first() {
            return Err(format!("no status for {missing}"));
        }
        self.check_engine()
    }

    fn check_engine(&self) -> Result<(), String> {
        let mut desired = Self::desired_containers();
        for (name, c) in self.engine.containers() {
            if c.labels.get("aegis.dev/instance") != Some(&self.instance) {
                continue;
            }
            if !desired.remove(&name) {
                return Err(format!("orphan or duplicate container {name} ({})", c.state));
            }
            let stack = name.split('-').next().unwrap_or("");
            let v = format!("V={}", self.versions[stack]);
            if c.state != "running" || !c.env.contains(&v) {
                return Err(format!("container {name}: {} without {v}", c.state));
            }
            if self.sops.is_some() && stack == "fa3" && !c.env.iter().any(|e| e.starts_with("FA_TOKEN=")) {
                return Err(format!("container {name} lacks its secret FA_TOKEN"));
            }
        }
        if let Some(missing) = desired.first() {
            return Err(format!("container {missing} is missing"));
        }
        let filter = format!("label=aegis.dev/instance={}", self.instance);
        let nets = self
            .engine
            .docker(&["network", "ls", "--filter", &filter, "--format", "{{.Name}}"]);
        if nets != NETWORK {
            return Err(format!("networks of this instance: {nets:?} (want {NETWORK})"));
        }
        let vols = self.engine.docker(&["volume", "ls", "-q", "--filter", &filter]);
        if !vols.is_empty() {
            return Err(format!("volumes of this instance: {vols}"));
        }
        let foreign = self.foreign_objects();
        if foreign != self.baseline {
            let gone: Vec<_> = self.baseline.iter().filter(|l| !foreign.contains(l)).collect();
            let new: Vec<_> = foreign.iter().filter(|l| !self.baseline.contains(l)).collect();
            return Err(format!(
                "objects outside this instance changed: before {gone:?}, now {new:?}"
            ));
        }
        Ok(())
    }

    /// Waits until [`check`](Self::check) holds; returns how long that took. Panics after
    /// [`CONVERGE_TIMEOUT`] with the last reason and the controller's log.
    pub fn wait_converged(&self, what: &str) -> Duration {
        let t = Instant::now();
        loop {
            let last = match self.check() {
                Ok(()) => return t.elapsed(),
                Err(e) => e,
            };
            assert!(
                t.elapsed() < CONVERGE_TIMEOUT,
                "not converged {CONVERGE_TIMEOUT:?} after {what}: {last}\n{}",
                self.ctl.tail(80)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}
