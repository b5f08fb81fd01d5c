//! `aegis apply --adopt` against the real engine: a container made by `docker run` with a
//! declared name is replaced by a labelled one (restarting once), in dependency order;
//! without `--adopt` the name stays a conflict; a critical resource is adopted last,
//! commit-confirmed (a rollback watchdog on the host).

mod support;

use std::process::Command;

use support::{aegis, docker, ensure_image, inspect, text, unique, Cleanup, Source, IMAGE};

fn stack(name: &str, container: &str, extra: &str) -> String {
    format!(
        "apiVersion: aegis.dev/v1alpha1\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n{extra}  services:\n    main:\n      image: {IMAGE}\n      container_name: {container}\n      command: [\"sleep\", \"3600\"]\n      init: true\n"
    )
}

/// `docker run -d --name NAME busybox sleep 3600`: no aegis label.
fn docker_run(name: &str) -> String {
    docker(&["run", "-d", "--name", name, "--init", IMAGE, "sleep", "3600"])
}

/// `start`/`die` events of container `name` since `since` (a docker timestamp).
fn events(name: &str, since: &str) -> Vec<String> {
    let until = docker(&["info", "-f", "{{.SystemTime}}"]);
    let o = Command::new("docker")
        .args([
            "events",
            "--since",
            since,
            "--until",
            &until,
            "--format",
            "{{.Action}}",
        ])
        .args(["--filter", &format!("container={name}")])
        .output()
        .expect("docker events");
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter(|a| matches!(*a, "start" | "die"))
        .map(String::from)
        .collect()
}

#[test]
fn adopt_replaces_an_unlabelled_container_once_and_in_order() {
    ensure_image();
    let src = Source::new();
    let db = unique("adopt-db");
    let app = unique("adopt-app");
    let crit = unique("adopt-crit");
    let mut cleanup = Cleanup::default();
    cleanup.containers = vec![db.clone(), app.clone(), crit.clone()];
    src.write("db.yaml", &stack("db", &db, ""));
    src.write("app.yaml", &stack("app", &app, "  dependsOn: [Stack/db]\n"));
    let old_id = docker_run(&db);

    // Without --adopt, the name is a conflict and nothing of ours replaces it.
    let o = aegis(&src.args("apply"));
    let t = text(&o);
    assert_eq!(o.status.code(), Some(1), "{t}");
    assert!(t.contains(&db) && t.contains("not managed by aegis"), "{t}");
    assert_eq!(
        support::container_id(&db),
        old_id,
        "the unlabelled container is untouched"
    );

    let since = docker(&["info", "-f", "{{.SystemTime}}"]);
    let mut args = src.args("apply");
    args.push("--adopt".into());
    let o = aegis(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(t.contains(&format!("adopted container {db} (Stack/db)")), "{t}");
    let new_id = support::container_id(&db);
    assert_ne!(new_id, old_id, "{t}");
    assert!(
        !support::docker_ok(&["inspect", &old_id]),
        "the unlabelled container is gone"
    );
    assert_eq!(
        inspect(&db, "{{index .Config.Labels \"aegis.dev/managed-by\"}}"),
        "aegis"
    );
    assert_eq!(
        inspect(&db, "{{index .Config.Labels \"aegis.dev/resource\"}}"),
        "Stack/db"
    );
    assert_eq!(inspect(&db, "{{.State.Running}} {{.RestartCount}}"), "true 0");
    // The service went down once and came up once.
    assert_eq!(events(&db, &since), ["die", "start"], "{t}");
    // Stack/app dependsOn Stack/db: created after db's replacement started.
    let db_started = inspect(&db, "{{.State.StartedAt}}");
    let app_created = inspect(&app, "{{.Created}}");
    assert!(
        app_created >= db_started,
        "app created {app_created}, db started {db_started}"
    );

    // Adopted is owned: the next --adopt pass changes nothing.
    let o = aegis(&args);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(support::container_id(&db), new_id);

    // A critical resource is adopted too, last and commit-confirmed: a rollback watchdog
    // swaps the containers, aegis confirms, the watchdog removes the unlabelled one.
    src.write("crit.yaml", &stack("crit", &crit, "  critical: true\n"));
    let crit_id = docker_run(&crit);
    let o = aegis(&args);
    let t = text(&o);
    assert!(o.status.success(), "{t}");
    assert!(
        t.contains(&format!("critical: Stack/crit recreate {crit}: confirmed")),
        "{t}"
    );
    let adopted_crit = support::container_id(&crit);
    assert_ne!(adopted_crit, crit_id, "the critical container was replaced");
    assert_eq!(
        inspect(&crit, r#"{{index .Config.Labels "aegis.dev/critical"}}"#),
        "true"
    );
    assert!(
        !support::docker_ok(&["inspect", &crit_id]),
        "the unlabelled one is gone after the confirm"
    );
    assert_eq!(
        support::container_id(&db),
        new_id,
        "the rest of the host is unchanged"
    );
}
