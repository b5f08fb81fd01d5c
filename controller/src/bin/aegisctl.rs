//! `aegisctl`: the operator's CLI.

use std::process::ExitCode;

use aegis::{
    apply, cli,
    source::{self, LoadError, SourceArgs},
};
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "aegisctl",
    version,
    about = "Operate aegis: inspect and change what it manages"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connect: cli::connect::ConnectArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Show what `aegis apply` would change against the live hosts.
    /// Exit 0: nothing to change; 1: changes; 2 or more: error (like `flux diff`).
    Diff {
        #[command(flatten)]
        source: SourceArgs,
        /// The aegis instance whose objects to compare against.
        #[arg(long, env = "AEGIS_INSTANCE", default_value = aegis::labels::DEFAULT_INSTANCE)]
        instance: String,
    },
    #[command(flatten)]
    Remote(cli::commands::RemoteCommand),
}

fn main() -> ExitCode {
    aegis::telemetry::init("warn");
    let cli = Cli::parse();
    match cli.command {
        Command::Remote(cmd) => run_remote(cmd, &cli.connect),
        Command::Diff { source, instance } => {
            let location = match source.location() {
                Ok(l) => l,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let (_checkout, resolved) = match source::load_once(&location) {
                Ok(r) => r,
                Err(LoadError::Invalid(diags)) => {
                    eprintln!("{diags}");
                    return ExitCode::from(2);
                }
                Err(LoadError::Source(e)) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            for w in &resolved.warnings {
                eprintln!("warning: {w}");
            }
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return ExitCode::from(2);
                }
            };
            let mut plans = Vec::new();
            let mut failed = false;
            for r in runtime.block_on(apply::plan_all(
                &resolved.state,
                &aegis::plan::PlanOptions {
                    instance,
                    ..Default::default()
                },
            )) {
                match r {
                    Ok(p) => plans.push(p),
                    Err(e) => {
                        failed = true;
                        eprintln!("error: {e}");
                    }
                }
            }
            print!("{}", cli::print_diff(&plans));
            if failed || plans.iter().any(|p| !p.errors.is_empty()) {
                ExitCode::from(2)
            } else if plans.iter().all(|p| p.is_noop()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

/// get/describe/reconcile/suspend/resume: exit 0 on success, 1 on any error.
fn run_remote(cmd: cli::commands::RemoteCommand, connect: &cli::connect::ConnectArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::commands::run(cmd, connect)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
