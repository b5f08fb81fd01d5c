//! Helpers for the SOPS tests: the shared vectors (`../shared/testdata/sops`), and the real Go
//! `sops` and `age-keygen` binaries (scripts/setup-sops.sh installs both) to encrypt fresh
//! files. A test whose inputs are missing prints a SKIP notice and passes, except under CI
//! (`CI=true`), which has them all: there it fails.
#![allow(dead_code)]

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use aegis::secrets::sops::Identities;

/// Whether the tests run under CI (`CI` set, and not `false` or `0`): there every
/// prerequisite is installed, so a missing one is a broken setup and fails the test instead of
/// skipping it.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.trim(), "" | "0" | "false"))
}

/// The shared vectors: `$AEGIS_SHARED_DIR/testdata/sops`, else `shared/testdata/sops` beside
/// the repository (`../shared`) or beside one of its parents (a git worktree under
/// `/work/wt/NAME` finds `/work/shared`). `None` (with a notice) when absent, as on a user's
/// machine; under CI, which has them, absent is a failure.
pub fn vectors_dir(test: &str) -> Option<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repo root");
    let explicit = std::env::var_os("AEGIS_SHARED_DIR").map(|d| PathBuf::from(d).join("testdata/sops"));
    let beside = repo.ancestors().skip(1).map(|a| a.join("shared/testdata/sops"));
    let tried: Vec<PathBuf> = explicit.into_iter().chain(beside).collect();
    if let Some(dir) = tried.iter().find(|d| d.is_dir()) {
        return Some(dir.clone());
    }
    assert!(
        !under_ci(),
        "{test}: the shared sops vectors are missing under CI (looked for {}); set AEGIS_SHARED_DIR",
        repo.join("../shared/testdata/sops").display()
    );
    eprintln!(
        "SKIP {test}: {} is absent (the shared test vectors are not on this machine; set AEGIS_SHARED_DIR)",
        repo.join("../shared/testdata/sops").display()
    );
    None
}

fn find_tool(name: &str, env: &str) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env).map(PathBuf::from).filter(|p| p.is_file()) {
        return Some(p);
    }
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(Path::new(&home).join(".local/bin"));
        dirs.push(Path::new(&home).join(".pyenv/shims"));
    }
    dirs.push("/usr/local/bin".into());
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

/// The real tools, or `None` with a SKIP notice.
pub struct Tools {
    pub sops: PathBuf,
    pub age_keygen: PathBuf,
}

pub fn tools(test: &str) -> Option<Tools> {
    let sops = find_tool("sops", "SOPS_BIN");
    let age_keygen = find_tool("age-keygen", "AGE_KEYGEN_BIN");
    match (sops, age_keygen) {
        (Some(sops), Some(age_keygen)) => Some(Tools { sops, age_keygen }),
        (s, a) => {
            // CI installs both (scripts/setup-sops.sh): there a missing tool is a broken setup,
            // not a reason to prove nothing.
            assert!(
                !under_ci(),
                "{test}: the Go `sops` or `age-keygen` is missing under CI; scripts/setup-sops.sh should have installed them"
            );
            eprintln!(
                "SKIP {test}: needs the Go `sops` ({}) and `age-keygen` ({}); run scripts/setup-sops.sh",
                if s.is_some() { "found" } else { "missing" },
                if a.is_some() { "found" } else { "missing" }
            );
            None
        }
    }
}

/// One age key pair made with `age-keygen`.
pub struct Key {
    pub identity: String,
    pub recipient: String,
}

impl Key {
    pub fn ids(&self) -> Identities {
        Identities::parse(&self.identity).expect("identity")
    }
}

impl Tools {
    pub fn keygen(&self) -> Key {
        let out = Command::new(&self.age_keygen).output().expect("age-keygen runs");
        assert!(out.status.success(), "age-keygen failed");
        let text = String::from_utf8(out.stdout).expect("utf-8");
        let identity = text
            .lines()
            .find(|l| l.starts_with("AGE-SECRET-KEY-"))
            .expect("a key")
            .to_string();
        let recipient = text
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .expect("a public key")
            .to_string();
        Key { identity, recipient }
    }

    /// `sops encrypt [args] FILE` run in `dir` (so a `.sops.yaml` there applies).
    pub fn encrypt(&self, dir: &Path, file: &str, args: &[&str]) -> Vec<u8> {
        let out = Command::new(&self.sops)
            .current_dir(dir)
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_KEY")
            .arg("encrypt")
            .args(args)
            .arg(file)
            .output()
            .expect("sops runs");
        assert!(
            out.status.success(),
            "sops encrypt {file} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// `sops -d` with the given identities: the reference plaintext.
    pub fn decrypt(&self, dir: &Path, file: &str, identities: &str, input_type: Option<&str>) -> Vec<u8> {
        let keyfile = dir.join(format!("{file}.keys"));
        std::fs::write(&keyfile, identities).unwrap();
        let mut cmd = Command::new(&self.sops);
        cmd.current_dir(dir)
            .env("SOPS_AGE_KEY_FILE", &keyfile)
            .env_remove("SOPS_AGE_KEY")
            .arg("decrypt");
        if let Some(t) = input_type {
            cmd.args(["--input-type", t, "--output-type", t]);
        }
        let out = cmd.arg(file).output().expect("sops runs");
        assert!(
            out.status.success(),
            "sops -d {file} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

/// Flip the first base64 character of the `data:` part of the `ENC[...]` value on the first
/// line containing `marker` (the ciphertext changes, the file stays well-formed).
pub fn flip_ciphertext(text: &str, marker: &str) -> String {
    let mut out = String::new();
    let mut done = false;
    for line in text.split_inclusive('\n') {
        if !done && line.contains(marker) {
            if let Some(i) = line.find("data:") {
                let mut l = line.to_string();
                let c = l.as_bytes()[i + 5];
                let replacement = if c == b'A' { "B" } else { "A" };
                l.replace_range(i + 5..i + 6, replacement);
                out.push_str(&l);
                done = true;
                continue;
            }
        }
        out.push_str(line);
    }
    assert!(done, "no ENC value on a line with {marker}");
    out
}

/// A decrypted tree as JSON (for comparing with a plaintext file as data, not as text).
pub fn to_json(entries: &[aegis::secrets::sops::Entry]) -> serde_json::Value {
    use aegis::secrets::sops::{Entry, Node};
    fn node(n: &Node) -> serde_json::Value {
        match n {
            Node::Null => serde_json::Value::Null,
            Node::Bool(b) => (*b).into(),
            Node::Int(i) => (*i).into(),
            Node::Float(f) => serde_json::Number::from_f64(*f)
                .map(Into::into)
                .unwrap_or(serde_json::Value::Null),
            Node::Str(s) | Node::Bytes(s) | Node::Time(s) | Node::Comment(s) => {
                String::from_utf8_lossy(s.expose()).into_owned().into()
            }
            Node::Map(e) => to_json(e),
            Node::List(items) => items
                .iter()
                .filter(|i| !matches!(i.value, Node::Comment(_)))
                .map(|i| node(&i.value))
                .collect(),
        }
    }
    let mut m = serde_json::Map::new();
    for e in entries {
        if let Entry::Pair { key, value, .. } = e {
            m.insert(key.clone(), node(value));
        }
    }
    serde_json::Value::Object(m)
}

/// Numbers compared as numbers (7 == 7.0), everything else exactly.
pub fn json_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value as V;
    match (a, b) {
        (V::Number(x), V::Number(y)) => x.as_f64() == y.as_f64(),
        (V::Array(x), V::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y)),
        (V::Object(x), V::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}
