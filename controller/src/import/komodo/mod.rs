//! `aegisctl import komodo`: Komodo resource-sync TOML (`[[server]]`, `[[stack]]`) → aegis
//! `Host` and `Stack` manifests.
//!
//! A pure conversion ([`convert`]): TOML text and a read-only view of the repository in,
//! YAML text and [`Finding`]s out. Every field of the input is either mapped or reported,
//! with its `file:line`; nothing is dropped silently.
//!
//! | Komodo | aegis |
//! |---|---|
//! | `[[server]]` `name` | `Host` `metadata.name` |
//! | `server.config.address` (Periphery's API, **not** a Docker endpoint) | `spec.endpoint`: the local socket for a loopback Periphery, else `tcp://HOST:2376` with TLS file placeholders, reported; `--endpoint NAME=URL` sets it |
//! | `server.config.region` | label `region` |
//! | `tags` | labels `<tag>: "true"` (select with `aegisctl get -l <tag>=true`) |
//! | `description` | annotation `description` |
//! | `[[stack]]` `name` | `Stack` `metadata.name` |
//! | `stack.config.server` / `server_id` | `spec.host` |
//! | `stack.config.run_directory` + `file_paths[0]` | `spec.compose`, relative to the manifests' directory |
//! | `stack.config.pre_deploy` running `sops-decrypt.sh` in `path` | `spec.secrets: [{sopsEnv: <path>/.sops.env, envFile: .env}]` (no `envFile` when the compose file reads no `env_file: .env`) |
//! | `stack.config.environment` (dotenv text) | `spec.environment` (interpolation variables, as Komodo's `.env`) |
//! | `after` | `spec.dependsOn: [Stack/...]` |
//! | `repo`, `branch`, `git_*`, `commit` | the controller's `--source` / `--ref`: one note |
//!
//! Anything else (alert thresholds, `passkey`, webhooks, `post_deploy`, other resource kinds,
//! Komodo `[[VARIABLE]]` interpolation, extra `file_paths`) is reported as not mapped.

mod emit;
mod servers;
mod stacks;
mod toml_doc;

use std::{
    collections::BTreeMap,
    fmt,
    path::{Path, PathBuf},
};

use toml_doc::TomlDoc;

/// One input file: where it came from (for findings) and its text.
#[derive(Debug, Clone)]
pub struct InputFile {
    pub path: PathBuf,
    pub text: String,
}

/// What [`convert`] reads.
pub struct Input<'a> {
    /// `servers.toml`, if given.
    pub servers: Option<&'a InputFile>,
    /// `stacks-*.toml`, in the order given.
    pub stacks: &'a [InputFile],
    /// Reads a file of the repository by its path relative to the repository root; `None`
    /// when it is absent. Used to check that compose and SOPS files exist and whether a
    /// compose file reads `env_file: .env`.
    pub repo: &'a dyn Fn(&str) -> Option<String>,
    /// Where the manifests will live, relative to the repository root (`""`: at the root).
    /// `spec.compose` and `sopsEnv` are written relative to it.
    pub manifest_dir: &'a Path,
    /// `--endpoint NAME=URL`: the Docker endpoint of a server, instead of a guess.
    pub endpoints: &'a BTreeMap<String, String>,
}

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Mapped, but check it: a guess, or a change of meaning.
    Note,
    /// Not mapped: the field has no aegis equivalent, or its value cannot be used.
    Unmapped,
}

/// One field that was not mapped, or mapped with a caveat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub file: PathBuf,
    pub line: usize,
    /// The field's path, e.g. `stack[aegis-gateway].config.post_deploy`.
    pub field: String,
    pub severity: Severity,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let word = match self.severity {
            Severity::Note => "note",
            Severity::Unmapped => "not mapped",
        };
        write!(
            f,
            "{}:{}: {}: {word}: {}",
            self.file.display(),
            self.line,
            self.field,
            self.message
        )
    }
}

/// One output file: its name (from the input's: `servers.toml` → `servers.yaml`) and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputFile {
    pub name: String,
    pub yaml: String,
}

/// The result of a conversion.
#[derive(Debug, Clone, Default)]
pub struct Conversion {
    pub files: Vec<OutputFile>,
    /// Sorted by file and line.
    pub findings: Vec<Finding>,
}

impl Conversion {
    /// Every output file as one multi-document YAML stream (for stdout).
    pub fn joined(&self) -> String {
        self.files
            .iter()
            .map(|f| f.yaml.as_str())
            .collect::<Vec<_>>()
            .join("---\n")
    }
}

/// A Host as it will be written.
#[derive(Debug, Clone, Default)]
pub(crate) struct HostOut {
    pub name: String,
    pub endpoint: String,
    /// TLS file placeholders for a `tcp://` endpoint.
    pub tls: Option<[String; 3]>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// Comment lines written above the document.
    pub comments: Vec<String>,
}

/// A Stack as it will be written.
#[derive(Debug, Clone, Default)]
pub(crate) struct StackOut {
    pub name: String,
    pub host: Option<String>,
    /// The line of `config.server`, for findings about it.
    pub host_line: usize,
    pub compose: String,
    /// `(sopsEnv, envFile)`.
    pub secrets: Vec<(String, Option<String>)>,
    pub environment: BTreeMap<String, String>,
    pub depends_on: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    pub comments: Vec<String>,
}

/// Converts the inputs. `Err` only for input that is not TOML at all (with `file:line`);
/// everything else becomes manifests and findings.
pub fn convert(input: &Input<'_>) -> Result<Conversion, String> {
    let servers_doc = input
        .servers
        .map(|f| TomlDoc::parse(&f.path, &f.text))
        .transpose()?;
    let stack_docs = input
        .stacks
        .iter()
        .map(|f| TomlDoc::parse(&f.path, &f.text))
        .collect::<Result<Vec<_>, _>>()?;
    let mut findings = Vec::new();
    let mut hosts = match &servers_doc {
        Some(doc) => servers::convert(doc, input.endpoints, &mut findings),
        None => Vec::new(),
    };
    let imported: Vec<String> = stack_docs.iter().flat_map(|d| stacks::names(d)).collect();
    let mut stack_files = Vec::new();
    let mut source_notes = stacks::SourceNotes::default();
    for doc in &stack_docs {
        let ctx = stacks::Ctx {
            repo: input.repo,
            manifest_dir: input.manifest_dir,
            imported: &imported,
        };
        let out = stacks::convert(doc, &ctx, &mut source_notes, &mut findings);
        stack_files.push((doc.file.clone(), out));
    }
    findings.extend(source_notes.into_findings());
    // A stack on a server the servers file does not declare still needs its Host.
    for (file, stacks) in &stack_files {
        for s in stacks {
            let Some(h) = &s.host else { continue };
            if hosts.iter().any(|x| &x.name == h) {
                continue;
            }
            hosts.push(servers::placeholder(h, input.endpoints));
            findings.push(Finding {
                file: file.clone(),
                line: s.host_line,
                field: format!("stack[{}].config.server", s.name),
                severity: Severity::Unmapped,
                message: format!(
                    "server `{h}` is not declared in --servers; wrote Host/{h} with endpoint `{}`: check it (or pass --servers, or --endpoint {h}=URL)",
                    hosts.last().map(|x| x.endpoint.as_str()).unwrap_or_default()
                ),
            });
        }
    }
    let mut files = Vec::new();
    if !hosts.is_empty() {
        let name = input
            .servers
            .map(|f| output_name(&f.path))
            .unwrap_or_else(|| "hosts.yaml".into());
        files.push(OutputFile {
            name,
            yaml: emit::hosts(&hosts),
        });
    }
    for (file, stacks) in &stack_files {
        files.push(OutputFile {
            name: output_name(file),
            yaml: emit::stacks(stacks),
        });
    }
    findings.sort_by(|a, b| (&a.file, a.line, &a.field).cmp(&(&b.file, b.line, &b.field)));
    Ok(Conversion { files, findings })
}

/// `stacks-racknerd-aegis.toml` → `stacks-racknerd-aegis.yaml`.
fn output_name(input: &Path) -> String {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "komodo".into());
    format!("{stem}.yaml")
}

/// `target` (relative to the repository root) as seen from `from` (also relative to the root,
/// a directory inside it): `../` once per component of `from`.
pub(crate) fn relative_to(from: &Path, target: &str) -> String {
    let ups = from
        .components()
        .filter(|c| matches!(c, std::path::Component::Normal(_)))
        .count();
    let mut s = "../".repeat(ups);
    s.push_str(target.trim_start_matches("./"));
    s
}

#[cfg(test)]
mod tests;
