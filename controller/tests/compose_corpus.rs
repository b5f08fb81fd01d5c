//! The compose corpus: real self-hosting compose files (`tests/fixtures/compose-corpus/`,
//! each with its `ORIGIN.md`) run through Docker Compose v2 and through aegis, and the
//! containers compared field by field (issue 11).
//!
//! For each file, one at a time (many set `container_name`, so the two sides cannot exist at
//! once), in a scratch copy of its directory:
//! 1. Compose v2: `config` (does it accept the file?), its images tagged from the local
//!    busybox (nothing can be pulled here; a service that builds gets its Dockerfile's base
//!    images instead, and both tools build it with the engine's classic builder),
//!    `create --pull never`, `docker inspect` of each container, `down -v --rmi local`;
//! 2. aegis: `aegis validate` (does it accept the file?), then the same containers created,
//!    never started (`support/create_only.rs`: aegis's plan, its create steps without the
//!    start), `docker inspect` of each, removal by its unique instance label;
//! 3. the normalised views (`support/inspect_view.rs`, shared with the parity test)
//!    compared service by service.
//!
//! It prints a table (file, accepted by v2, accepted by aegis, containers identical,
//! differences) and asserts: every file that v2 and aegis accept gives identical containers
//! but for the known differences (`tests/fixtures/compose-v2-differences`, field patterns
//! with reasons), and every file that does not pass is listed in `EXPECTED-FAILURES` with
//! the reason. A listed file that passes now is an error too, so that list only shrinks.
//!
//! Everything made is removed: each project (`down -v`), aegis's objects by instance label,
//! the external networks and volumes and the image tags the test created (never an object
//! that existed before).

#[path = "support/compose_v2.rs"]
mod compose_v2;
#[path = "support/corpus.rs"]
mod corpus;
#[path = "support/create_only.rs"]
mod create_only;
#[path = "support/inspect_view.rs"]
mod inspect_view;
mod support;

use std::{collections::BTreeMap, path::Path};

use corpus::{Outcome, Scratch};
use inspect_view::{diff, inspect_json, view, Known, Names};
use support::*;

/// Compose v2's containers of the project: service → inspect JSON.
fn v2_containers(dir: &Path, project: &str) -> Result<BTreeMap<String, serde_json::Value>, String> {
    let ps = compose_v2::run(dir, project, "compose.yaml", &[], &["ps", "-a", "-q"]);
    if !ps.status.success() {
        return Err(text(&ps));
    }
    let mut out = BTreeMap::new();
    for id in String::from_utf8_lossy(&ps.stdout).split_whitespace() {
        let c = inspect_json(id);
        let service = c["Config"]["Labels"]["com.docker.compose.service"]
            .as_str()
            .unwrap_or(id)
            .to_string();
        out.insert(service, c);
    }
    Ok(out)
}

/// aegis's containers, by service (its compose service label).
fn aegis_containers(names: &[String]) -> BTreeMap<String, serde_json::Value> {
    names
        .iter()
        .map(|n| {
            let c = inspect_json(n);
            let service = c["Config"]["Labels"]["com.docker.compose.service"]
                .as_str()
                .unwrap_or(n)
                .to_string();
            (service, c)
        })
        .collect()
}

/// Container id → service, for the placeholders.
fn ids(containers: &BTreeMap<String, serde_json::Value>) -> inspect_view::Ids {
    containers
        .iter()
        .map(|(svc, c)| (c["Id"].as_str().unwrap_or_default().to_string(), svc.clone()))
        .collect()
}

/// Runs one corpus entry through both tools.
fn run_entry(rt: &tokio::runtime::Runtime, known: &Known, entry: &str, fixture: &Path) -> Outcome {
    let mut scratch = Scratch::new(entry, fixture);
    let app = scratch.app();
    let project = scratch.project.clone();
    let mut outcome = Outcome::new(entry);

    // 1. Compose v2.
    let config = compose_v2::run(
        &app,
        &project,
        "compose.yaml",
        &[],
        &["config", "--format", "json"],
    );
    if !config.status.success() {
        outcome.v2 = Err(format!("config: {}", corpus::first_line(&text(&config))));
        return outcome;
    }
    let Ok(model) = serde_json::from_slice::<serde_json::Value>(&config.stdout) else {
        outcome.v2 = Err("config: not JSON".into());
        return outcome;
    };
    scratch.prepare(&model);
    scratch.compose_made = true;
    // A `build:` is built by the engine's classic builder, as aegis builds it (no BuildKit
    // session, no buildx here).
    let create = compose_v2::run(
        &app,
        &project,
        "compose.yaml",
        &[("DOCKER_BUILDKIT", "0")],
        &["create", "--pull", "never"],
    );
    let v2 = if create.status.success() {
        v2_containers(&app, &project)
    } else {
        Err(format!("create: {}", corpus::last_line(&text(&create))))
    };
    let down = compose_v2::run(
        &app,
        &project,
        "compose.yaml",
        &[],
        &["down", "-v", "--rmi", "local", "-t", "0"],
    );
    if down.status.success() {
        scratch.compose_made = false;
    } else {
        eprintln!("{entry}: docker compose down: {}", text(&down));
    }
    let v2 = match v2 {
        Ok(c) => c,
        Err(e) => {
            outcome.v2 = Err(e);
            return outcome;
        }
    };
    outcome.v2 = Ok(());

    // 2. aegis.
    let validate = support::validate(scratch.root());
    if !validate.status.success() {
        outcome.aegis = Err(format!("validate: {}", corpus::first_line(&text(&validate))));
        return outcome;
    }
    let created = rt.block_on(create_only::create(scratch.root(), &scratch.instance));
    let made = match created {
        Ok(made) => made,
        Err(e) => {
            scratch.aegis_stacks.push(project.clone());
            outcome.aegis = Err(format!("create: {}", corpus::first_line(&e)));
            return outcome;
        }
    };
    scratch.aegis_stacks.extend(made.stacks.iter().cloned());
    let aegis = aegis_containers(&made.containers);
    outcome.aegis = Ok(());

    // 3. Field by field.
    let names = |ids| Names {
        project: project.clone(),
        ids,
        ..Default::default()
    };
    let (v2_names, aegis_names) = (names(ids(&v2)), names(ids(&aegis)));
    let services: Vec<&String> = v2
        .keys()
        .chain(aegis.keys())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    for svc in services {
        match (v2.get(svc), aegis.get(svc)) {
            (Some(c), Some(a)) => {
                let (unexpected, known) = known.split(diff(&view(&v2_names, c), &view(&aegis_names, a)));
                outcome.known += known.len();
                if !unexpected.is_empty() {
                    let lines: Vec<String> = unexpected.iter().map(ToString::to_string).collect();
                    outcome
                        .differences
                        .push(format!("service `{svc}`:\n{}", lines.join("\n")));
                }
            }
            (c, _) => outcome.differences.push(format!(
                "service `{svc}`: only {} made a container",
                if c.is_some() { "Compose v2" } else { "aegis" }
            )),
        }
    }
    outcome
}

#[test]
fn corpus_files_give_the_containers_compose_v2_creates() {
    if !compose_v2::available("corpus_files_give_the_containers_compose_v2_creates") {
        return;
    }
    ensure_image();
    let root = repo_root().join("controller/tests/fixtures/compose-corpus");
    let expected = corpus::expected_failures(&root.join("EXPECTED-FAILURES"));
    let entries = corpus::entries(&root);
    let filtered = std::env::var("AEGIS_CORPUS").is_ok();
    assert!(
        filtered || entries.len() >= 40,
        "the corpus has {} files, fewer than 40",
        entries.len()
    );
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let known = Known::load();

    let outcomes: Vec<Outcome> = entries
        .iter()
        .map(|e| run_entry(&rt, &known, e, &root.join(e)))
        .collect();
    println!("{}", corpus::table(&outcomes));
    for o in &outcomes {
        if !o.differences.is_empty() {
            println!(
                "{}: differences from Compose v2:\n{}\n",
                o.entry,
                o.differences.join("\n")
            );
        }
    }
    println!("known differences (tests/fixtures/compose-v2-differences), matches in this run:");
    println!("{}\n", known.summary().join("\n"));
    let problems = corpus::check(&outcomes, &expected);
    // Not an error: a line may be there for the parity test's file alone.
    for unused in known.unused() {
        println!("note: compose-v2-differences: `{unused}` matches no difference in the corpus");
    }
    assert!(problems.is_empty(), "compose corpus:\n{}", problems.join("\n"));
}
