//! `aegis`: the controller and its one-shot commands.

use std::{path::PathBuf, process::ExitCode};

use aegis::{apply, cli, manifest, resolve};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegis",
    version,
    about = "GitOps reconciling controller for Docker hosts"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a source directory: exit 0 when valid, otherwise print every error.
    Validate {
        #[arg(long, default_value = ".")]
        source: PathBuf,
    },
    /// One reconcile pass over every host, then exit (0 when converged).
    Apply {
        #[arg(long, default_value = ".")]
        source: PathBuf,
        /// Containers created or started in parallel per host.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Seconds to wait for a `service_healthy` dependency.
        #[arg(long, default_value_t = 120)]
        health_timeout: u64,
        /// This controller's instance name: only objects labelled with it are changed or
        /// pruned, so several sources can share an engine.
        #[arg(long, env = "AEGIS_INSTANCE", default_value = aegis::labels::DEFAULT_INSTANCE)]
        instance: String,
        /// Also remove aegis-owned volumes that are no longer declared (they hold data).
        #[arg(long)]
        prune_volumes: bool,
    },
    /// Write the JSON Schemas of every kind.
    Schema {
        #[arg(long, default_value = "crds")]
        out_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    aegis::telemetry::init();
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { source } => match resolve::load_source(&source) {
            Ok(r) => {
                for w in &r.warnings {
                    eprintln!("warning: {w}");
                }
                let containers: usize = r
                    .state
                    .hosts
                    .iter()
                    .flat_map(|h| &h.stacks)
                    .map(|s| s.containers.len())
                    .sum();
                println!(
                    "{}: valid ({} manifests, {} hosts, {} containers, revision {})",
                    source.display(),
                    r.manifests.items.len(),
                    r.state.hosts.len(),
                    containers,
                    r.state.revision
                );
                ExitCode::SUCCESS
            }
            Err(diags) => {
                eprintln!("{diags}");
                eprintln!("{} error(s) in {}", diags.len(), source.display());
                ExitCode::from(1)
            }
        },
        Command::Apply {
            source,
            parallel,
            health_timeout,
            instance,
            prune_volumes,
        } => {
            let resolved = match resolve::load_source(&source) {
                Ok(r) => r,
                Err(diags) => {
                    eprintln!("{diags}");
                    eprintln!("{} error(s): nothing was applied", diags.len());
                    return ExitCode::from(1);
                }
            };
            for w in &resolved.warnings {
                eprintln!("warning: {w}");
            }
            let opts = apply::ApplyOptions {
                parallel,
                health_timeout: std::time::Duration::from_secs(health_timeout),
                plan: aegis::plan::PlanOptions {
                    instance,
                    prune_volumes,
                },
            };
            let started = std::time::Instant::now();
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let results = runtime.block_on(apply::apply_all(&resolved.state, &opts));
            let mut failed = false;
            let mut reports = Vec::new();
            for r in results {
                match r {
                    Ok(rep) => reports.push(rep),
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {e}");
                    }
                }
            }
            print!("{}", cli::print_summary(&reports));
            let calls: u64 = reports.iter().map(|r| r.api_calls).sum();
            println!(
                "revision {} {} in {:.2}s ({calls} Docker API calls)",
                resolved.state.revision,
                if failed { "partly applied" } else { "applied" },
                started.elapsed().as_secs_f64()
            );
            if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Command::Schema { out_dir } => match manifest::schema::write_all(&out_dir) {
            Ok(()) => {
                println!("wrote schemas to {}", out_dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot write schemas to {}: {e}", out_dir.display());
                ExitCode::from(1)
            }
        },
    }
}
