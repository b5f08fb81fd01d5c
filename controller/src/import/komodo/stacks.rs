//! `[[stack]]` → `Stack`.

use std::{collections::BTreeMap, path::Path};

use toml::de::{DeTable, DeValue};

use super::{
    relative_to,
    servers::tags,
    toml_doc::{as_str, as_strings, entries, is_default, TomlDoc},
    Finding, Severity, StackOut,
};

/// The hook the seed (and many Komodo repositories) run before deploy: decrypt `.sops.env`
/// into a plaintext `.env` beside the compose file.
const SOPS_HOOK: &str = "sops-decrypt.sh";
/// What the hook decrypts, and what it writes.
const SOPS_FILE: &str = ".sops.env";
const PLAIN_FILE: &str = ".env";

/// Git settings: they say where the files come from, which for aegis is the controller's
/// `--source`/`--ref`, not a per-stack field.
const SOURCE_FIELDS: [&str; 8] = [
    "repo",
    "branch",
    "commit",
    "git_provider",
    "git_https",
    "git_account",
    "reclone",
    "clone_path",
];

pub(super) struct Ctx<'a> {
    pub repo: &'a dyn Fn(&str) -> Option<String>,
    pub manifest_dir: &'a Path,
    /// Every stack name being imported (for `after`).
    pub imported: &'a [String],
}

/// The distinct repositories and branches stacks come from: one note each.
#[derive(Default)]
pub(super) struct SourceNotes(BTreeMap<(String, String), Finding>);

impl SourceNotes {
    pub fn into_findings(self) -> impl Iterator<Item = Finding> {
        self.0.into_values()
    }
}

/// The names of a file's stacks.
pub(super) fn names(doc: &TomlDoc<'_>) -> Vec<String> {
    let Some(DeValue::Array(a)) = doc.root.get("stack").map(|v| v.get_ref()) else {
        return Vec::new();
    };
    a.iter()
        .filter_map(|s| match s.get_ref() {
            DeValue::Table(t) => t.get("name").and_then(|n| as_str(n.get_ref())).map(str::to_owned),
            _ => None,
        })
        .collect()
}

pub(super) fn convert(
    doc: &TomlDoc<'_>,
    ctx: &Ctx<'_>,
    notes: &mut SourceNotes,
    findings: &mut Vec<Finding>,
) -> Vec<StackOut> {
    let mut out = Vec::new();
    for (key, value) in entries(&doc.root) {
        match (key.get_ref().as_ref(), value.get_ref()) {
            ("stack", DeValue::Array(stacks)) => {
                for (i, s) in stacks.iter().enumerate() {
                    match s.get_ref() {
                        DeValue::Table(t) => {
                            if let Some(st) = stack(doc, t, s.span().start, i, ctx, notes, findings) {
                                out.push(st);
                            }
                        }
                        _ => findings.push(doc.finding(s.span().start, format!("stack[{i}]"), Severity::Unmapped, "expected a table ([[stack]])")),
                    }
                }
            }
            (other, _) => findings.push(doc.finding(
                key.span().start,
                other,
                Severity::Unmapped,
                "only [[stack]] entries are imported from a stacks file (aegis has no equivalent of this Komodo resource)",
            )),
        }
    }
    out
}

fn stack(
    doc: &TomlDoc<'_>,
    t: &DeTable<'_>,
    at: usize,
    index: usize,
    ctx: &Ctx<'_>,
    notes: &mut SourceNotes,
    findings: &mut Vec<Finding>,
) -> Option<StackOut> {
    let Some(name) = t.get("name").and_then(|v| as_str(v.get_ref())) else {
        findings.push(doc.finding(
            at,
            format!("stack[{index}]"),
            Severity::Unmapped,
            "has no `name`: skipped",
        ));
        return None;
    };
    let field = |f: &str| format!("stack[{name}].{f}");
    let mut s = StackOut {
        name: name.to_string(),
        ..Default::default()
    };
    let mut config: Option<(&DeTable<'_>, usize)> = None;
    for (k, v) in entries(t) {
        let (key, val, kat) = (k.get_ref().as_ref(), v.get_ref(), k.span().start);
        match key {
            "name" => {}
            "description" => match as_str(val) {
                Some(d) if !d.is_empty() => {
                    s.annotations.insert("description".into(), d.to_string());
                }
                Some(_) => {}
                None => findings.push(doc.finding(kat, field(key), Severity::Unmapped, "expected a string")),
            },
            "tags" => tags(doc, val, kat, &field(key), &mut s.labels, findings),
            "deploy" => {
                if matches!(val, DeValue::Boolean(false)) {
                    findings.push(doc.finding(
                        kat,
                        field(key),
                        Severity::Note,
                        "Komodo only syncs this stack's settings without deploying it; aegis converges every Stack it is given",
                    ));
                }
            }
            "after" => match as_strings(val) {
                Some(after) => {
                    for (dep, dat) in after {
                        if ctx.imported.iter().any(|n| n == dep) {
                            s.depends_on.push(format!("Stack/{dep}"));
                        } else {
                            findings.push(doc.finding(
                                dat,
                                field(key),
                                Severity::Unmapped,
                                format!("`{dep}` is not a stack being imported: dependsOn left out"),
                            ));
                        }
                    }
                }
                None => findings.push(doc.finding(
                    kat,
                    field(key),
                    Severity::Unmapped,
                    "expected an array of stack names",
                )),
            },
            "config" => match val {
                DeValue::Table(c) => config = Some((c, kat)),
                _ => findings.push(doc.finding(kat, field(key), Severity::Unmapped, "expected a table")),
            },
            _ if is_default(val) => {}
            _ => findings.push(doc.finding(
                kat,
                field(key),
                Severity::Unmapped,
                "a Komodo resource field with no aegis equivalent",
            )),
        }
    }
    let Some((c, cat)) = config else {
        findings.push(doc.finding(
            at,
            field("config"),
            Severity::Unmapped,
            "no [stack.config]: no compose file, skipped",
        ));
        return None;
    };
    let mut run_directory = String::new();
    let mut file_paths: Vec<(&str, usize)> = Vec::new();
    let mut pre_deploy: Option<(&DeTable<'_>, usize)> = None;
    for (k, v) in entries(c) {
        let (key, val, kat) = (k.get_ref().as_ref(), v.get_ref(), k.span().start);
        let f = field(&format!("config.{key}"));
        match key {
            "server" | "server_id" => match as_str(val) {
                Some(h) => {
                    s.host = Some(h.to_string());
                    s.host_line = doc.line(kat);
                }
                None => findings.push(doc.finding(kat, f, Severity::Unmapped, "expected a server name")),
            },
            "run_directory" => match as_str(val) {
                Some(d) => run_directory = d.trim_matches('/').to_string(),
                None => findings.push(doc.finding(kat, f, Severity::Unmapped, "expected a string")),
            },
            "file_paths" => match as_strings(val) {
                Some(p) => file_paths = p,
                None => findings.push(doc.finding(kat, f, Severity::Unmapped, "expected an array of paths")),
            },
            "environment" => environment(doc, val, v.span().start, &f, &mut s.environment, findings),
            "pre_deploy" => match val {
                DeValue::Table(p) => pre_deploy = Some((p, kat)),
                _ => {
                    findings.push(doc.finding(kat, f, Severity::Unmapped, "expected a table {path, command}"))
                }
            },
            k if SOURCE_FIELDS.contains(&k) => {
                if let Some(v) = as_str(val) {
                    let repo = c
                        .get("repo")
                        .and_then(|r| as_str(r.get_ref()))
                        .unwrap_or("")
                        .to_string();
                    let branch = c
                        .get("branch")
                        .and_then(|b| as_str(b.get_ref()))
                        .unwrap_or("")
                        .to_string();
                    if k == "repo" && !v.is_empty() {
                        notes.0.entry((repo.clone(), branch.clone())).or_insert_with(|| {
                            let r#ref = if branch.is_empty() { String::new() } else { format!(" --ref {branch}") };
                            doc.finding(
                                kat,
                                f.clone(),
                                Severity::Note,
                                format!(
                                    "stacks come from repository `{repo}`{}: aegis reads their files from the controller's source — run it with --source <that repository's URL>{}",
                                    if branch.is_empty() { String::new() } else { format!(" (branch `{branch}`)") },
                                    r#ref
                                ),
                            )
                        });
                    }
                } else if !is_default(val) {
                    findings.push(doc.finding(
                        kat,
                        f,
                        Severity::Unmapped,
                        "the controller's --source and --ref say where files come from",
                    ));
                }
            }
            _ if is_default(val) => {}
            _ => findings.push(doc.finding(
                kat,
                f,
                Severity::Unmapped,
                "a Komodo stack setting with no aegis equivalent",
            )),
        }
    }
    // The compose file, relative to the repository root, then to the manifests.
    let join = |p: &str| -> String {
        let p = p.trim_start_matches("./");
        if run_directory.is_empty() {
            p.to_string()
        } else {
            format!("{run_directory}/{p}")
        }
    };
    let compose_rel = match file_paths.split_first() {
        Some(((first, _), rest)) => {
            for (extra, eat) in rest {
                findings.push(doc.finding(
                    *eat,
                    field("config.file_paths"),
                    Severity::Unmapped,
                    format!("`{extra}`: a Stack has one compose file; merge it into `{first}` (compose -f a -f b) by hand"),
                ));
            }
            join(first)
        }
        None => {
            findings.push(doc.finding(
                cat,
                field("config.file_paths"),
                Severity::Note,
                "no file_paths: Komodo's default compose.yaml in the run directory",
            ));
            join("compose.yaml")
        }
    };
    let compose_text = (ctx.repo)(&compose_rel);
    if compose_text.is_none() {
        findings.push(doc.finding(
            cat,
            field("config.file_paths"),
            Severity::Unmapped,
            format!("`{compose_rel}` is not in --repo-root: the Stack will not validate until it is"),
        ));
    }
    s.compose = relative_to(ctx.manifest_dir, &compose_rel);
    if let Some((p, pat)) = pre_deploy {
        hook(
            doc,
            p,
            pat,
            &field("config.pre_deploy"),
            &compose_rel,
            compose_text.as_deref(),
            ctx,
            &mut s,
            findings,
        );
    }
    Some(s)
}

/// `pre_deploy = {path, command = "sops-decrypt.sh"}` → `secrets: [{sopsEnv, envFile}]`.
#[allow(clippy::too_many_arguments)]
fn hook(
    doc: &TomlDoc<'_>,
    p: &DeTable<'_>,
    at: usize,
    field: &str,
    compose_rel: &str,
    compose_text: Option<&str>,
    ctx: &Ctx<'_>,
    s: &mut StackOut,
    findings: &mut Vec<Finding>,
) {
    let command = p
        .get("command")
        .and_then(|c| as_str(c.get_ref()))
        .unwrap_or("")
        .trim();
    let path = p
        .get("path")
        .and_then(|c| as_str(c.get_ref()))
        .unwrap_or("")
        .trim_matches('/');
    for (k, v) in entries(p) {
        if !matches!(k.get_ref().as_ref(), "command" | "path") && !is_default(v.get_ref()) {
            findings.push(doc.finding(
                k.span().start,
                format!("{field}.{}", k.get_ref()),
                Severity::Unmapped,
                "not a pre_deploy setting aegis knows",
            ));
        }
    }
    if command.is_empty() {
        return;
    }
    let runs_hook = command
        .split_whitespace()
        .last()
        .is_some_and(|w| w.rsplit('/').next() == Some(SOPS_HOOK));
    if !runs_hook {
        findings.push(doc.finding(
            at,
            format!("{field}.command"),
            Severity::Unmapped,
            format!("`{command}`: aegis runs no commands on hosts; only the `{SOPS_HOOK}` hook is mapped (to spec.secrets)"),
        ));
        return;
    }
    // The hook runs in `path` (or the compose file's directory) and decrypts .sops.env there.
    let dir = if path.is_empty() {
        Path::new(compose_rel)
            .parent()
            .map(|d| d.to_string_lossy().into_owned())
            .unwrap_or_default()
    } else {
        path.to_string()
    };
    let sops_rel = if dir.is_empty() {
        SOPS_FILE.to_string()
    } else {
        format!("{dir}/{SOPS_FILE}")
    };
    if (ctx.repo)(&sops_rel).is_none() {
        findings.push(doc.finding(
            at,
            field.to_string(),
            Severity::Unmapped,
            format!("`{SOPS_HOOK}` decrypts `{sops_rel}`, which is not in --repo-root: the Stack will not validate until it is"),
        ));
    }
    // Served to `env_file: .env` when the compose file reads it, like the hook's output.
    // (A compose file that is not there yet: as the hook's output, `.env`.)
    let reads_env = compose_text.is_none_or(reads_plain_env);
    if !reads_env {
        findings.push(doc.finding(
            at,
            field.to_string(),
            Severity::Note,
            format!(
                "the compose file reads no `env_file: {PLAIN_FILE}`: every service gets the decrypted variables as environment (aegis never interpolates secrets into ${{VAR}}, so values the hook's .env gave to interpolation must move to env_file)"
            ),
        ));
    }
    s.secrets.push((
        relative_to(ctx.manifest_dir, &sops_rel),
        reads_env.then(|| PLAIN_FILE.to_string()),
    ));
}

/// Whether any service has `env_file: .env` (string, list, or list of `{path}`).
fn reads_plain_env(compose: &str) -> bool {
    let Ok(v) = serde_saphyr::from_str::<serde_json::Value>(compose) else {
        return false;
    };
    let is_plain = |p: &str| p.trim_start_matches("./") == PLAIN_FILE;
    v.get("services")
        .and_then(|s| s.as_object())
        .is_some_and(|services| {
            services.values().any(|svc| match svc.get("env_file") {
                Some(serde_json::Value::String(p)) => is_plain(p),
                Some(serde_json::Value::Array(a)) => a.iter().any(|e| match e {
                    serde_json::Value::String(p) => is_plain(p),
                    other => other.get("path").and_then(|p| p.as_str()).is_some_and(is_plain),
                }),
                _ => false,
            })
        })
}

/// Komodo's `environment` (dotenv lines) → interpolation variables. Komodo `[[VARIABLE]]`
/// references are resolved by Komodo Core, which aegis is not: reported.
fn environment(
    doc: &TomlDoc<'_>,
    val: &DeValue<'_>,
    at: usize,
    field: &str,
    env: &mut BTreeMap<String, String>,
    findings: &mut Vec<Finding>,
) {
    let Some(text) = as_str(val) else {
        findings.push(doc.finding(
            at,
            field,
            Severity::Unmapped,
            "expected a string of KEY=VALUE lines",
        ));
        return;
    };
    // A multi-line string's first newline (right after `"""`) is not part of its value.
    let raw = doc.raw(at);
    let skip = usize::from(
        (raw.starts_with("\"\"\"") || raw.starts_with("'''"))
            && (raw[3..].starts_with('\n') || raw[3..].starts_with("\r\n")),
    );
    let first_line = doc.line(at) + skip;
    for (i, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let line_at = first_line + i;
        let finding = |m: String| Finding {
            file: doc.file.clone(),
            line: line_at,
            field: field.to_string(),
            severity: Severity::Unmapped,
            message: m,
        };
        let l = l.strip_prefix("export ").unwrap_or(l);
        let Some((k, v)) = l.split_once('=') else {
            findings.push(finding(format!("`{l}` is not KEY=VALUE")));
            continue;
        };
        let (k, v) = (k.trim(), unquote(v.trim()));
        if v.contains("[[") && v.contains("]]") {
            findings.push(finding(format!(
                "`{k}` uses a Komodo variable (`[[...]]`), which Komodo Core fills in: put the value in the Stack's spec.environment, or a secret in a .sops.env"
            )));
            continue;
        }
        env.insert(k.to_string(), v.to_string());
    }
}

fn unquote(v: &str) -> &str {
    for q in ['"', '\''] {
        if v.len() >= 2 && v.starts_with(q) && v.ends_with(q) {
            return &v[1..v.len() - 1];
        }
    }
    v
}
