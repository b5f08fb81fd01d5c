//! End to end: the repository is a trust boundary. A commit that makes aegis read a file
//! outside the source root (a symlink, `..`, an absolute path in a file field, a FIFO in a
//! delivered directory) is rejected whole, naming the file and line, from a local directory
//! and from a git source alike; `aegis apply` then changes nothing on the host. A symlink
//! that stays inside the repository works.

mod gitsupport;
mod support;

use std::{
    os::unix::fs::symlink,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use gitsupport::{git, Repo};
use support::*;

/// Generous bound on one `aegis` run: a run that reads a FIFO blocks forever.
const RUN_BOUND: Duration = Duration::from_secs(60);

/// A file outside every source, with content that must never show up in aegis's output.
struct Outside {
    dir: tempfile::TempDir,
    marker: String,
}

impl Outside {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = unique("OUTSIDE_SECRET");
        std::fs::write(dir.path().join("secret.txt"), format!("{marker}\n")).expect("write");
        std::fs::write(
            dir.path().join("evil.yaml"),
            format!(
                "{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: {}}}\nspec: {{}}\n",
                marker.to_lowercase()
            ),
        )
        .expect("write");
        Self { dir, marker }
    }
    fn file(&self) -> PathBuf {
        self.dir.path().join("secret.txt")
    }
}

/// Runs `aegis ARGS`; `None` if it had not exited within [`RUN_BOUND`] (then it is killed).
fn try_aegis_bounded(args: &[String]) -> Option<Output> {
    let mut child = Command::new(env!("CARGO_BIN_EXE_aegis"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run aegis");
    let deadline = Instant::now() + RUN_BOUND;
    while child.try_wait().expect("wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(child.wait_with_output().expect("output"))
}

fn aegis_bounded(args: &[String]) -> Output {
    try_aegis_bounded(args)
        .unwrap_or_else(|| panic!("aegis {args:?} still running after {RUN_BOUND:?} (blocked on a read?)"))
}

fn validate_bounded(source: &str) -> Output {
    aegis_bounded(&["validate".into(), "--source".into(), source.into()])
}

fn try_validate_bounded(source: &str) -> Option<Output> {
    try_aegis_bounded(&["validate".into(), "--source".into(), source.into()])
}

fn write(root: &Path, rel: &str, body: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, body).expect("write");
}

fn link(root: &Path, rel: &str, target: impl AsRef<Path>) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    symlink(target, p).expect("symlink");
}

/// `stack.yaml`: Stack `name` from `app/compose.yaml`.
fn compose_stack(root: &Path, name: &str) {
    write(
        root,
        "stack.yaml",
        &format!(
            "{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {name}}}\nspec:\n  compose: app/compose.yaml\n"
        ),
    );
}

/// `app/compose.yaml` with one service `web` whose extra lines (indented under the service)
/// start at line 5.
fn compose_file(root: &Path, service_lines: &str, top_level: &str) {
    write(
        root,
        "app/compose.yaml",
        &format!("services:\n  web:\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n{service_lines}{top_level}"),
    );
}

/// One escape: how to lay it out in a source tree, and what the rejection must name.
struct Case {
    name: &'static str,
    /// Git cannot store FIFOs or sockets.
    git: bool,
    setup: fn(&Path, &Outside),
    expect: &'static [&'static str],
}

const CASES: &[Case] = &[
    Case {
        name: "symlinked bind source to a file outside",
        git: true,
        setup: |root, out| {
            compose_stack(root, "leak");
            compose_file(root, "    volumes:\n      - ./leak.txt:/leak.txt:ro\n", "");
            link(root, "app/leak.txt", out.file());
        },
        expect: &[
            "app/compose.yaml:6",
            "services.web.volumes[0]",
            "leak.txt",
            "outside the repository",
        ],
    },
    Case {
        name: "symlinked bind source to /etc/hostname",
        git: true,
        setup: |root, _| {
            compose_stack(root, "leak");
            compose_file(root, "    volumes:\n      - ./leak.txt:/leak.txt:ro\n", "");
            link(root, "app/leak.txt", "/etc/hostname");
        },
        expect: &["app/compose.yaml:6", "/etc/hostname", "outside the repository"],
    },
    Case {
        name: "bind source climbing out with ..",
        git: true,
        setup: |root, _| {
            compose_stack(root, "dots");
            compose_file(root, "    volumes:\n      - ../../../../etc/hostname:/h:ro\n", "");
        },
        expect: &[
            "app/compose.yaml:6",
            "services.web.volumes[0]",
            "outside the repository",
        ],
    },
    Case {
        name: "long-syntax bind source through a symlinked directory",
        git: true,
        setup: |root, out| {
            compose_stack(root, "dirlink");
            compose_file(
                root,
                "    volumes:\n      - type: bind\n        source: ./etc/secret.txt\n        target: /s\n",
                "",
            );
            link(root, "app/etc", out.dir.path());
        },
        expect: &["app/compose.yaml:6", "etc", "outside the repository"],
    },
    Case {
        name: "env_file climbing out with ..",
        git: true,
        setup: |root, _| {
            compose_stack(root, "envfile");
            compose_file(root, "    env_file: ../../../../etc/os-release\n", "");
        },
        expect: &[
            "app/compose.yaml:5",
            "services.web.env_file[0]",
            "outside the repository",
        ],
    },
    Case {
        name: "env_file that is a symlink out (required: false too)",
        git: true,
        setup: |root, out| {
            compose_stack(root, "envlink");
            compose_file(
                root,
                "    env_file:\n      - path: ./app.env\n        required: false\n",
                "",
            );
            link(root, "app/app.env", out.file());
        },
        expect: &[
            "app/compose.yaml:6",
            "services.web.env_file[0]",
            "outside the repository",
        ],
    },
    Case {
        name: ".env next to the compose file is a symlink out",
        git: true,
        setup: |root, out| {
            compose_stack(root, "dotenv");
            compose_file(root, "", "");
            link(root, "app/.env", out.file());
        },
        expect: &["app/.env", "outside the repository"],
    },
    Case {
        name: "SOPS file path climbing out",
        git: true,
        setup: |root, _| {
            write(
                root,
                "stack.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: sops}}\nspec:\n  secrets:\n    - sopsEnv: ../../../../etc/hostname\n  services:\n    web: {{image: {IMAGE}}}\n"),
            );
        },
        expect: &[
            "stack.yaml:6",
            "spec.secrets[0].sopsEnv",
            "outside the repository",
        ],
    },
    Case {
        name: "SOPS file that is a symlink out",
        git: true,
        setup: |root, out| {
            write(
                root,
                "stack.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: sops}}\nspec:\n  secrets:\n    - sopsEnv: app/.sops.env\n  services:\n    web: {{image: {IMAGE}}}\n"),
            );
            link(root, "app/.sops.env", out.file());
        },
        expect: &[
            "stack.yaml:6",
            "spec.secrets[0].sopsEnv",
            ".sops.env",
            "outside the repository",
        ],
    },
    Case {
        name: "compose secrets file: climbing out",
        git: true,
        setup: |root, _| {
            compose_stack(root, "secretfile");
            compose_file(
                root,
                "    secrets: [db]\n",
                "secrets:\n  db:\n    file: ../../../../etc/hostname\n",
            );
        },
        expect: &["app/compose.yaml:8", "secrets.db.file", "outside the repository"],
    },
    Case {
        name: "compose secrets file: a symlink out",
        git: true,
        setup: |root, out| {
            compose_stack(root, "secretlink");
            compose_file(
                root,
                "    secrets: [db]\n",
                "secrets:\n  db:\n    file: ./db.txt\n",
            );
            link(root, "app/db.txt", out.file());
        },
        expect: &[
            "app/compose.yaml:8",
            "secrets.db.file",
            "db.txt",
            "outside the repository",
        ],
    },
    Case {
        name: "spec.compose climbing out",
        git: true,
        setup: |root, _| {
            write(
                root,
                "stack.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: up}}\nspec:\n  compose: ../x/compose.yaml\n"),
            );
        },
        expect: &["stack.yaml:5", "spec.compose", "outside the repository"],
    },
    Case {
        name: "spec.compose absolute",
        git: true,
        setup: |root, _| {
            write(
                root,
                "stack.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: abs}}\nspec:\n  compose: /etc/hostname\n"),
            );
        },
        expect: &["stack.yaml:5", "spec.compose", "absolute"],
    },
    Case {
        // Every `*.yaml` is read as a possible manifest, so the loader refuses it first.
        name: "spec.compose is a symlink out",
        git: true,
        setup: |root, out| {
            compose_stack(root, "composelink");
            link(root, "app/compose.yaml", out.dir.path().join("evil.yaml"));
        },
        expect: &["app/compose.yaml", "outside the repository"],
    },
    Case {
        name: "spec.compose through a symlinked directory out",
        git: true,
        setup: |root, out| {
            write(
                root,
                "stack.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: composedir}}\nspec:\n  compose: app/evil.yaml\n"),
            );
            link(root, "app", out.dir.path());
        },
        expect: &["stack.yaml:5", "spec.compose", "`app`", "outside the repository"],
    },
    Case {
        name: "directory bind source holding a symlink out",
        git: true,
        setup: |root, out| {
            compose_stack(root, "dirbind");
            compose_file(root, "    volumes: [\"./conf:/conf:ro\"]\n", "");
            write(root, "app/conf/ok.conf", "ok\n");
            link(root, "app/conf/nested/evil", out.file());
        },
        expect: &["app/compose.yaml:5", "conf/nested/evil", "outside the repository"],
    },
    Case {
        name: "directory bind source holding a FIFO",
        git: false,
        setup: |root, _| {
            compose_stack(root, "fifo");
            compose_file(root, "    volumes: [\"./conf:/conf:ro\"]\n", "");
            write(root, "app/conf/ok.conf", "ok\n");
            let st = Command::new("mkfifo")
                .arg(root.join("app/conf/pipe"))
                .status()
                .expect("mkfifo");
            assert!(st.success());
        },
        expect: &["app/compose.yaml:5", "conf/pipe", "FIFO"],
    },
    Case {
        name: "directory bind source holding a socket",
        git: false,
        setup: |root, _| {
            compose_stack(root, "sock");
            compose_file(root, "    volumes: [\"./conf:/conf:ro\"]\n", "");
            write(root, "app/conf/ok.conf", "ok\n");
            // The socket file stays after the listener is dropped.
            std::os::unix::net::UnixListener::bind(root.join("app/conf/s.sock")).expect("bind");
        },
        expect: &["app/compose.yaml:5", "conf/s.sock", "socket"],
    },
    Case {
        name: "env_file that is a FIFO",
        git: false,
        setup: |root, _| {
            compose_stack(root, "envfifo");
            compose_file(root, "    env_file: ./pipe.env\n", "");
            let st = Command::new("mkfifo")
                .arg(root.join("app/pipe.env"))
                .status()
                .expect("mkfifo");
            assert!(st.success());
        },
        expect: &["app/compose.yaml:5", "pipe.env", "FIFO"],
    },
    Case {
        name: "a manifest file that is a symlink out",
        git: true,
        setup: |root, out| {
            write(
                root,
                "net.yaml",
                &format!("{MANIFEST_HEAD}\nkind: Network\nmetadata: {{name: fine}}\nspec: {{}}\n"),
            );
            link(root, "evil.yaml", out.dir.path().join("evil.yaml"));
        },
        expect: &["evil.yaml", "outside the repository"],
    },
];

/// What is wrong with `o` as the rejection of `case`, if anything.
fn rejection_problem(case: &Case, out: &Outside, o: Option<Output>, from: &str) -> Option<String> {
    let Some(o) = o else {
        return Some(format!("{from}: {}: aegis hung (blocked reading?)", case.name));
    };
    let t = text(&o);
    if o.status.success() {
        return Some(format!("{from}: {}: accepted:\n{t}", case.name));
    }
    if t.contains(&out.marker) {
        return Some(format!(
            "{from}: {}: the outside file's content leaked:\n{t}",
            case.name
        ));
    }
    let missing: Vec<_> = case.expect.iter().filter(|e| !t.contains(*e)).collect();
    (!missing.is_empty()).then(|| format!("{from}: {}: no {missing:?} in:\n{t}", case.name))
}

fn assert_no_problems(problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "{} case(s) not rejected as they should be:\n\n{}",
        problems.len(),
        problems.join("\n\n")
    );
}

/// Every escape, from a local directory: `aegis validate` rejects it, naming file and line.
#[test]
fn every_escape_is_rejected_from_a_directory() {
    let mut problems = Vec::new();
    for case in CASES {
        let out = Outside::new();
        let src = Source::new();
        (case.setup)(src.path(), &out);
        let o = try_validate_bounded(&src.path().display().to_string());
        problems.extend(rejection_problem(case, &out, o, "directory"));
    }
    assert_no_problems(problems);
}

/// The same escapes committed to git (which stores symlinks as symlinks) and validated from
/// a `file://` clone.
#[test]
fn every_escape_is_rejected_from_git() {
    let mut problems = Vec::new();
    for case in CASES.iter().filter(|c| c.git) {
        let out = Outside::new();
        let repo = Repo::new();
        (case.setup)(repo.src.path(), &out);
        git(repo.src.path(), &["add", "-A"]);
        git(repo.src.path(), &["commit", "-q", "-m", case.name]);
        repo.push();
        let o = try_validate_bounded(&repo.file_url());
        problems.extend(rejection_problem(case, &out, o, "git"));
    }
    assert_no_problems(problems);
}

/// `--path` naming a committed symlink to a directory outside the checkout is refused too:
/// otherwise the whole outside directory would become the source root.
#[test]
fn git_path_through_a_symlink_out_is_refused() {
    let out = Outside::new();
    let repo = Repo::new();
    write(repo.src.path(), "README", "x\n");
    link(repo.src.path(), "deploy", out.dir.path());
    git(repo.src.path(), &["add", "-A"]);
    git(repo.src.path(), &["commit", "-q", "-m", "path link"]);
    repo.push();
    let o = aegis_bounded(&[
        "validate".into(),
        "--source".into(),
        repo.file_url(),
        "--path".into(),
        "deploy".into(),
    ]);
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(
        t.contains("deploy") && t.contains("outside the repository"),
        "{t}"
    );
    assert!(
        !t.contains("fine") && !t.contains(&out.marker.to_lowercase()),
        "{t}"
    );
}

/// Symlinks that stay inside the repository: a bind-mounted file, a directory whose entries
/// link elsewhere in the repository (a file and a directory), an env_file, a `.env` and a
/// manifest. Valid from a directory and from git.
fn inside_links(root: &Path, name: &str) {
    compose_stack(root, name);
    compose_file(
        root,
        "    env_file: ./app.env\n    environment:\n      DOT: ${FROM_DOTENV}\n    volumes:\n      - ./leak.txt:/leak.txt:ro\n      - ./conf:/conf:ro\n",
        "",
    );
    write(root, "shared/inner.txt", "inner-content\n");
    write(root, "shared/vars.env", "FROM_ENV_FILE=yes\n");
    write(root, "shared/dot.env", "FROM_DOTENV=also\n");
    write(root, "app/conf/plain.conf", "plain\n");
    link(root, "app/leak.txt", "../shared/inner.txt");
    link(root, "app/app.env", "../shared/vars.env");
    link(root, "app/.env", "../shared/dot.env");
    link(root, "app/conf/link.txt", "../../shared/inner.txt");
    link(root, "app/conf/sub", "../../shared");
    link(root, "also.yaml", "stack.yaml");
}

#[test]
fn symlinks_inside_the_repository_are_fine() {
    let src = Source::new();
    inside_links(src.path(), "inside");
    std::fs::remove_file(src.path().join("also.yaml")).expect("rm");
    let o = validate_bounded(&src.path().display().to_string());
    assert!(o.status.success(), "directory: {}", text(&o));

    let repo = Repo::new();
    inside_links(repo.src.path(), "inside");
    std::fs::remove_file(repo.src.path().join("also.yaml")).expect("rm");
    git(repo.src.path(), &["add", "-A"]);
    git(repo.src.path(), &["commit", "-q", "-m", "inside"]);
    repo.push();
    let o = validate_bounded(&repo.file_url());
    assert!(o.status.success(), "git: {}", text(&o));
}

/// A manifest symlinked to another inside the repository is read like any other: here the
/// duplicate it makes is what is reported, not a trust-boundary error.
#[test]
fn a_manifest_symlink_inside_the_repository_is_followed() {
    let src = Source::new();
    inside_links(src.path(), "twice");
    let o = validate_bounded(&src.path().display().to_string());
    let t = text(&o);
    assert!(!o.status.success(), "{t}");
    assert!(!t.contains("outside the repository"), "{t}");
    assert!(t.contains("Stack/twice"), "{t}");
}

/// Removes what aegis delivered for `stack` on this machine's engine (its files root is on
/// this host), whether or not the test got that far.
struct DeliveredFiles(PathBuf);

impl DeliveredFiles {
    fn of(stack: &str) -> Self {
        Self(Path::new("/var/lib/aegis/files").join(stack))
    }
}

impl Drop for DeliveredFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn instance_objects(instance: &str) -> String {
    let filter = format!("label=aegis.dev/instance={instance}");
    let mut all = docker(&["ps", "-aq", "--filter", &filter]);
    all.push_str(&docker(&["network", "ls", "-q", "--filter", &filter]));
    all.push_str(&docker(&["volume", "ls", "-q", "--filter", &filter]));
    all
}

/// A valid Stack `good` next to a Stack `bad` that escapes: `aegis apply` (from a directory
/// and from git) fails, creates nothing on the host for either stack, and delivers no file.
#[test]
fn apply_of_a_rejected_revision_changes_nothing_on_the_host() {
    ensure_image();
    for from_git in [false, true] {
        let out = Outside::new();
        let repo = Repo::new();
        let root = repo.src.path();
        let good = unique("tb-good");
        let bad = unique("tb-bad");
        let delivered = [DeliveredFiles::of(&good), DeliveredFiles::of(&bad)];
        write(
            root,
            "good.yaml",
            &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {good}}}\nspec:\n  services:\n    web:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      volumes: [\"./files/ok.txt:/ok.txt:ro\"]\n"),
        );
        write(root, "files/ok.txt", "ok\n");
        write(
            root,
            "bad.yaml",
            &format!("{MANIFEST_HEAD}\nkind: Stack\nmetadata: {{name: {bad}}}\nspec:\n  services:\n    web:\n      image: {IMAGE}\n      command: [sleep, \"3600\"]\n      volumes: [\"./leak.txt:/leak.txt:ro\"]\n"),
        );
        link(root, "leak.txt", out.file());
        let source = if from_git {
            git(root, &["add", "-A"]);
            git(root, &["commit", "-q", "-m", "escape"]);
            repo.push();
            repo.file_url()
        } else {
            root.display().to_string()
        };
        let o = aegis_bounded(&[
            "apply".into(),
            "--source".into(),
            source,
            "--instance".into(),
            repo.src.instance.clone(),
        ]);
        let t = text(&o);
        let from = if from_git { "git" } else { "directory" };
        assert!(!o.status.success(), "{from}: apply accepted:\n{t}");
        assert!(
            t.contains("bad.yaml:9") && t.contains("outside the repository"),
            "{from}: {t}"
        );
        assert!(t.contains("nothing was applied"), "{from}: {t}");
        assert!(!t.contains(&out.marker), "{from}: {t}");
        assert_eq!(
            instance_objects(&repo.src.instance),
            "",
            "{from}: objects were created"
        );
        for d in &delivered {
            assert!(!d.0.exists(), "{from}: files were delivered to {}", d.0.display());
        }
    }
}

/// The inside-the-repository links, applied for real: the container sees the content the
/// links name (followed within the repository), as regular files and directories.
#[test]
fn apply_delivers_what_inside_links_name() {
    ensure_image();
    let src = Source::new();
    let name = unique("tb-in");
    let _cleanup = Cleanup::new(&[format!("Stack/{name}")]);
    let _files = DeliveredFiles::of(&name);
    inside_links(src.path(), &name);
    std::fs::remove_file(src.path().join("also.yaml")).expect("rm");
    let o = aegis_bounded(&src.args("apply"));
    assert!(o.status.success(), "{}", text(&o));
    let c = format!("{name}-web-1");
    let cat = |path: &str| docker(&["exec", &c, "cat", path]);
    assert_eq!(cat("/leak.txt"), "inner-content");
    assert_eq!(cat("/conf/plain.conf"), "plain");
    assert_eq!(cat("/conf/link.txt"), "inner-content");
    assert_eq!(cat("/conf/sub/inner.txt"), "inner-content");
    // Followed, not copied as links: no dangling symlink reaches the host.
    assert_eq!(
        docker(&["exec", &c, "sh", "-c", "test -L /conf/link.txt || echo regular"]),
        "regular"
    );
    let env = docker(&["exec", &c, "env"]);
    assert!(env.contains("FROM_ENV_FILE=yes"), "{env}");
    assert!(env.contains("DOT=also"), "{env}");
}
