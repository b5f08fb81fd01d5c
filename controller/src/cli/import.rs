//! `aegisctl import komodo`: reads the TOML files and the repository, runs the pure
//! [`crate::import::komodo`] conversion, writes the manifests and reports the findings.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use clap::{Args, Subcommand};

use crate::import::komodo::{self, InputFile, Severity};

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Komodo resource-sync TOML ([[server]], [[stack]]) → Host and Stack manifests. Every
    /// field that cannot be mapped is reported on stderr with its file:line.
    Komodo(KomodoArgs),
}

#[derive(Debug, Args)]
pub struct KomodoArgs {
    /// The servers file ([[server]] entries).
    #[arg(long)]
    pub servers: Option<PathBuf>,
    /// A stacks file ([[stack]] entries); give it once per file.
    #[arg(long, required = true)]
    pub stacks: Vec<PathBuf>,
    /// The repository the stacks' `file_paths` and `pre_deploy.path` are relative to (the
    /// checkout of the Komodo stacks' `repo`).
    #[arg(long)]
    pub repo_root: PathBuf,
    /// Write one YAML file per input file into this directory (inside --repo-root; paths in
    /// the manifests are relative to it). Without it, one YAML stream goes to stdout, with
    /// paths relative to --repo-root (save it at the repository's root).
    #[arg(short = 'o', long = "output-dir")]
    pub output_dir: Option<PathBuf>,
    /// The Docker endpoint of a server, e.g. `racknerd-aegis=tcp://10.0.0.5:2376` (Komodo
    /// knows only Periphery's address); repeatable.
    #[arg(long = "endpoint", value_name = "NAME=URL")]
    pub endpoints: Vec<String>,
}

/// Runs the import; `Err` is a message for stderr (exit 2): unreadable input, TOML that does
/// not parse, an output directory outside the repository.
pub fn run(cmd: ImportCommand) -> Result<(), String> {
    let ImportCommand::Komodo(args) = cmd;
    let read = |p: &Path| -> Result<InputFile, String> {
        std::fs::read_to_string(p)
            .map(|text| InputFile {
                path: p.to_path_buf(),
                text,
            })
            .map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let servers = args.servers.as_deref().map(read).transpose()?;
    let stacks = args
        .stacks
        .iter()
        .map(|p| read(p))
        .collect::<Result<Vec<_>, _>>()?;
    let root = std::fs::canonicalize(&args.repo_root)
        .map_err(|e| format!("--repo-root {}: {e}", args.repo_root.display()))?;
    let manifest_dir = match &args.output_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
            let abs = std::fs::canonicalize(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            abs.strip_prefix(&root)
                .map(Path::to_path_buf)
                .map_err(|_| {
                    format!(
                        "-o {} is outside --repo-root {}: aegis reads only files inside its source, so the manifests must live in the repository",
                        dir.display(),
                        root.display()
                    )
                })?
        }
        None => PathBuf::new(),
    };
    let endpoints = args
        .endpoints
        .iter()
        .map(|e| {
            e.split_once('=')
                .filter(|(n, u)| !n.is_empty() && !u.is_empty())
                .map(|(n, u)| (n.to_string(), u.to_string()))
                .ok_or_else(|| format!("--endpoint `{e}`: expected NAME=URL"))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    let repo_file = |rel: &str| -> Option<String> {
        // Only plain relative paths inside the root: the TOML is input, not trusted.
        let p = Path::new(rel);
        if p.is_absolute()
            || p.components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return None;
        }
        std::fs::read_to_string(root.join(p)).ok()
    };
    let conversion = komodo::convert(&komodo::Input {
        servers: servers.as_ref(),
        stacks: &stacks,
        repo: &repo_file,
        manifest_dir: &manifest_dir,
        endpoints: &endpoints,
    })?;
    for f in &conversion.findings {
        eprintln!("{f}");
    }
    match &args.output_dir {
        Some(dir) => {
            for f in &conversion.files {
                let path = dir.join(&f.name);
                std::fs::write(&path, &f.yaml)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                eprintln!("wrote {}", path.display());
            }
        }
        None => print!("{}", conversion.joined()),
    }
    let unmapped = conversion
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Unmapped)
        .count();
    eprintln!(
        "imported {} file(s); {unmapped} field(s) not mapped, {} note(s) (above)",
        conversion.files.len(),
        conversion.findings.len() - unmapped
    );
    Ok(())
}
