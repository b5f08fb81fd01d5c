//! The compose corpus test's bookkeeping: its entries, the expected-failures list, one
//! entry's scratch copy (and the engine objects made for it), the outcome table.
#![allow(dead_code)]

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

/// What happened to one corpus file.
pub struct Outcome {
    pub entry: String,
    /// Compose v2 accepted the file and created its containers (`Err`: why not).
    pub v2: Result<(), String>,
    /// aegis accepted it and created its containers (`Err`: why not; `Ok` untried when
    /// v2 did not accept it).
    pub aegis: Result<(), String>,
    /// Per service, the fields that differ (not counting known differences).
    pub differences: Vec<String>,
    /// How many fields differ in known ways (`compose-v2-differences`).
    pub known: usize,
}

impl Outcome {
    pub fn new(entry: &str) -> Self {
        Self {
            entry: entry.to_string(),
            v2: Err("not run".into()),
            aegis: Err("not run".into()),
            differences: Vec::new(),
            known: 0,
        }
    }

    /// Whether aegis matched v2 on this file (accepted and identical containers).
    pub fn passes(&self) -> bool {
        self.v2.is_ok() && self.aegis.is_ok() && self.differences.is_empty()
    }
}

/// The corpus's entries: every directory holding a `compose.yaml`, sorted.
pub fn entries(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(root)
        .expect("read the corpus directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("compose.yaml").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    // AEGIS_CORPUS=<text>: only the entries whose name holds it (to iterate on one file).
    if let Ok(only) = std::env::var("AEGIS_CORPUS") {
        out.retain(|e| e.contains(only.as_str()));
    }
    out
}

/// `EXPECTED-FAILURES`: `entry: reason` lines (`#` starts a comment). Each names a file that
/// Compose v2 accepts but aegis does not yet match (it rejects it, or creates different
/// containers), and why.
pub fn expected_failures(path: &Path) -> BTreeMap<String, String> {
    let body = std::fs::read_to_string(path).unwrap_or_default();
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (entry, reason) = l.split_once(':').unwrap_or((l, ""));
            (entry.trim().to_string(), reason.trim().to_string())
        })
        .collect()
}

/// The assertion: files v2 accepts pass, or are listed; listed files exist and still fail.
pub fn check(outcomes: &[Outcome], expected: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for o in outcomes {
        let listed = expected.contains_key(&o.entry);
        if o.v2.is_err() || o.passes() {
            if listed {
                let why = if o.v2.is_err() {
                    "Compose v2 does not accept it"
                } else {
                    "it passes now"
                };
                problems.push(format!(
                    "{}: listed in EXPECTED-FAILURES but {why}: remove the line",
                    o.entry
                ));
            }
            continue;
        }
        if !listed {
            let what = match &o.aegis {
                Err(e) => format!("aegis rejects it: {e}"),
                Ok(()) => format!("the containers differ:\n{}", o.differences.join("\n")),
            };
            problems.push(format!("{}: Compose v2 accepts it, but {what}", o.entry));
        }
    }
    let filtered = std::env::var("AEGIS_CORPUS").is_ok();
    for entry in expected.keys() {
        if !filtered && !outcomes.iter().any(|o| &o.entry == entry) {
            problems.push(format!(
                "EXPECTED-FAILURES names `{entry}`, which is not in the corpus"
            ));
        }
    }
    problems
}

/// The first line of a tool's message that says something (skipping blank lines and
/// Compose's warnings about unset variables and obsolete `version`).
pub fn first_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("level=warning"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}

/// The last meaningful line of a failed command's output: where a build says what stopped
/// it (its first lines are progress).
pub fn last_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.contains("level=warning"))
        .unwrap_or("")
        .chars()
        .take(160)
        .collect()
}

/// The table: file, accepted by v2, accepted by aegis, containers identical, differences.
pub fn table(outcomes: &[Outcome]) -> String {
    let mut t =
        String::from("| file | Compose v2 | aegis | identical | differences |\n|---|---|---|---|---|\n");
    let yn = |r: &Result<(), String>| {
        if r.is_ok() {
            "yes".to_string()
        } else {
            "no".to_string()
        }
    };
    for o in outcomes {
        let (aegis, identical, notes) = match (&o.v2, &o.aegis) {
            (Err(e), _) => ("-".to_string(), "-", format!("v2: {e}")),
            (Ok(()), Err(e)) => (yn(&o.aegis), "-", format!("aegis: {e}")),
            (Ok(()), Ok(())) if o.differences.is_empty() && o.known == 0 => {
                (yn(&o.aegis), "yes", String::new())
            }
            (Ok(()), Ok(())) if o.differences.is_empty() => (
                yn(&o.aegis),
                "yes but known",
                format!("{} known field difference(s)", o.known),
            ),
            (Ok(()), Ok(())) => (
                yn(&o.aegis),
                "no",
                format!("{} service(s) differ", o.differences.len()),
            ),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            o.entry,
            yn(&o.v2),
            aegis,
            identical,
            notes.replace('|', "\\|")
        ));
    }
    let count = |f: &dyn Fn(&Outcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    t.push_str(&format!(
        "\n{} files: {} accepted by Compose v2, {} of those by aegis, {} with identical containers ({} of them only once the known differences are set aside)\n",
        outcomes.len(),
        count(&|o| o.v2.is_ok()),
        count(&|o| o.v2.is_ok() && o.aegis.is_ok()),
        count(&|o| o.passes()),
        count(&|o| o.passes() && o.known > 0),
    ));
    t
}

/// One entry's scratch source (`aegis.yaml` + `app/`, a copy of the fixture directory) and
/// the engine objects made for it; all removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
    /// The compose project and aegis Stack name.
    pub project: String,
    /// aegis's instance: labels every object aegis made for this entry.
    pub instance: String,
    /// Image tags, networks and volumes this entry created (absent before).
    tags: Vec<String>,
    networks: Vec<String>,
    volumes: Vec<String>,
    /// Stacks whose repository files aegis delivered under `/var/lib/aegis/files/` (and
    /// whose project directories are under `/var/lib/aegis/stacks/`).
    pub aegis_stacks: Vec<String>,
    /// Compose v2 may have made objects of the project: `down -v` it on drop.
    pub compose_made: bool,
}

impl Scratch {
    pub fn new(entry: &str, fixture: &Path) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let project = super::unique("corpus").replace('-', "");
        copy_dir(fixture, &dir.path().join("app"));
        let _ = std::fs::remove_file(dir.path().join("app/ORIGIN.md"));
        std::fs::write(
            dir.path().join("aegis.yaml"),
            format!(
                "{}\nkind: Stack\nmetadata: {{name: {project}}}\nspec: {{compose: app/compose.yaml}}\n# corpus entry: {entry}\n",
                super::MANIFEST_HEAD
            ),
        )
        .expect("write aegis.yaml");
        Self {
            dir,
            instance: super::unique("corpus"),
            project,
            tags: Vec::new(),
            networks: Vec::new(),
            volumes: Vec::new(),
            aegis_stacks: Vec::new(),
            compose_made: false,
        }
    }

    /// The source root (holding `aegis.yaml`).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The compose project directory.
    pub fn app(&self) -> PathBuf {
        self.dir.path().join("app")
    }

    /// Makes what the file expects to find on the engine, from Compose's resolved model:
    /// each image (busybox tagged under its name), each external network and volume.
    pub fn prepare(&mut self, model: &Value) {
        let empty = serde_json::Map::new();
        let services = model["services"].as_object().unwrap_or(&empty);
        for (name, svc) in services {
            let image = svc["image"]
                .as_str()
                .map(String::from)
                .unwrap_or_else(|| format!("{}-{name}", self.project));
            // A service that builds: its Dockerfile's base images, so that both tools really
            // build it (with the engine's classic builder, which never pulls them); its own
            // image is what they build.
            let wanted = if svc.get("build").is_some() {
                // What the build tags under `image:` is removed at the end too.
                if svc["image"].is_string() && !docker_ok(&["image", "inspect", &image]) {
                    self.tags.push(image);
                }
                base_images(svc)
            } else {
                vec![image]
            };
            for image in wanted {
                if !docker_ok(&["image", "inspect", &image]) && docker_ok(&["tag", super::IMAGE, &image]) {
                    self.tags.push(image);
                }
            }
        }
        for (kind, made) in [("network", &mut self.networks), ("volume", &mut self.volumes)] {
            let key = format!("{kind}s");
            for (key_name, n) in model[key.as_str()].as_object().unwrap_or(&empty) {
                if n["external"].as_bool() != Some(true) {
                    continue;
                }
                let name = n["name"].as_str().unwrap_or(key_name).to_string();
                if !docker_ok(&[kind, "inspect", &name]) && docker_ok(&[kind, "create", &name]) {
                    made.push(name);
                }
            }
        }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.compose_made {
            let _ = crate::compose_v2::run(
                &self.app(),
                &self.project,
                "compose.yaml",
                &[],
                &["down", "-v", "--rmi", "local", "-t", "0"],
            );
        }
        super::remove_instance_objects(None, &self.instance);
        for n in &self.networks {
            let _ = Command::new("docker").args(["network", "rm", n]).output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker").args(["volume", "rm", v]).output();
        }
        // What aegis built (its containers are gone by now), then the tags made from busybox.
        let built = format!("reference=aegis-build/{}-*", self.project);
        if let Ok(o) = Command::new("docker")
            .args([
                "image",
                "ls",
                "--filter",
                &built,
                "--format",
                "{{.Repository}}:{{.Tag}}",
            ])
            .output()
        {
            for t in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                let _ = Command::new("docker").args(["rmi", t]).output();
            }
        }
        for t in &self.tags {
            let _ = Command::new("docker").args(["rmi", t]).output();
        }
        for s in &self.aegis_stacks {
            let _ = std::fs::remove_dir_all(Path::new("/var/lib/aegis/files").join(s));
            // State directories: the engine makes them on start only, but a stack name is
            // unique to the run, so whatever is there is this entry's.
            let _ = std::fs::remove_dir_all(Path::new("/var/lib/aegis/stacks").join(s));
        }
    }
}

/// The `FROM` images of a service's Dockerfile (Compose's resolved `build:`), but `scratch`,
/// earlier stages and references with variables.
fn base_images(svc: &Value) -> Vec<String> {
    let (Some(context), Some(file)) = (
        svc["build"]["context"].as_str(),
        svc["build"]["dockerfile"].as_str(),
    ) else {
        return Vec::new();
    };
    let text = std::fs::read_to_string(Path::new(context).join(file)).unwrap_or_default();
    let mut stages = Vec::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let rest: Vec<&str> = words.filter(|w| !w.starts_with("--")).collect();
        let Some(image) = rest.first() else { continue };
        if *image != "scratch" && !image.contains('$') && !stages.contains(image) {
            out.push(image.to_string());
        }
        if rest.len() == 3 && rest[1].eq_ignore_ascii_case("AS") {
            stages.push(rest[2]);
        }
    }
    out
}

fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker")
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read fixture").flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy fixture file");
        }
    }
}
