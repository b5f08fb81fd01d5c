//! `aegis`: the controller and its one-shot commands.

use std::{path::PathBuf, process::ExitCode};

use aegis::{
    apply,
    cli::{self, exit::Exit},
    manifest,
    source::{self, LoadError, Location, SourceArgs},
};
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
    #[command(flatten)]
    telemetry: aegis::telemetry::TelemetryArgs,
}

// Parsed once at start: a boxed variant would buy nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Check a source (directory or git revision): exit 0 when valid, otherwise print every
    /// error and exit 3.
    Validate {
        #[command(flatten)]
        source: SourceArgs,
    },
    /// One reconcile pass over every host, then exit: 0 converged, 1 some resources failed,
    /// 3 invalid revision (nothing applied), 4 a host unreachable.
    Apply {
        #[command(flatten)]
        source: SourceArgs,
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
        /// Replace existing unlabelled containers that hold declared names (made by `docker
        /// run`, docker compose or Komodo) by labelled ones, in dependency order; each
        /// restarts once. Without it such a name is a conflict. Critical resources are refused.
        #[arg(long)]
        adopt: bool,
    },
    /// Run the continuous control loop: watch the source, reconcile every resource, repair
    /// drift from Docker events, and serve status and triggers to `aegisctl`.
    Controller {
        #[command(flatten)]
        source: SourceArgs,
        /// Where status is kept across restarts, and a git source's mirror (git/) and
        /// checkouts (checkouts/).
        #[arg(long, default_value = "/var/lib/aegis/state")]
        state_dir: PathBuf,
        #[arg(long, env = "AEGIS_INSTANCE", default_value = aegis::labels::DEFAULT_INSTANCE)]
        instance: String,
        /// Periodic resync of every resource, e.g. 5m.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        resync: std::time::Duration,
        /// How often the source is checked for a new revision [default: 2s for a directory,
        /// 60s for git].
        #[arg(long, value_parser = parse_duration)]
        poll: Option<std::time::Duration>,
        /// Enables `POST /api/v1/webhook` (GitHub `X-Hub-Signature-256` or GitLab
        /// `X-Gitlab-Token`), verified with the secret in this file.
        #[arg(long, env = "AEGIS_WEBHOOK_SECRET_FILE")]
        webhook_secret_file: Option<PathBuf>,
        /// Steps run at once per reconcile.
        #[arg(long, default_value_t = 8)]
        parallel: usize,
        /// Reconciles run at once per host.
        #[arg(long, default_value_t = 4)]
        per_host: usize,
        /// First delay before a failed resource is retried; it doubles (with jitter) on
        /// each consecutive failure, up to --backoff-max.
        #[arg(long, default_value = "1s", value_parser = parse_duration)]
        backoff_min: std::time::Duration,
        /// Longest delay between retries of a failing resource.
        #[arg(long, default_value = "5m", value_parser = parse_duration)]
        backoff_max: std::time::Duration,
        #[arg(long, default_value_t = 120)]
        health_timeout: u64,
        #[command(flatten)]
        api: aegis::api::ApiArgs,
    },
    /// SOPS files (age): `aegis sops decrypt FILE` prints the plaintext like `sops -d`.
    Sops {
        #[command(subcommand)]
        command: SopsCommand,
    },
    /// Agents aegis deploys onto hosts (run inside their containers).
    Agent {
        #[command(subcommand)]
        command: aegis::agent::AgentCommand,
    },
    /// Exit 0 when the controller on this machine answers `/readyz` with 200, 1 when not
    /// (the image's HEALTHCHECK; reads AEGIS_API and AEGIS_TLS_CERT like the controller).
    Healthcheck {
        #[command(flatten)]
        args: aegis::api::HealthcheckArgs,
    },
    /// Write the JSON Schemas of every kind.
    Schema {
        #[arg(long, default_value = "crds")]
        out_dir: PathBuf,
    },
}

#[derive(Subcommand)]
enum SopsCommand {
    /// Decrypt FILE and print the plaintext exactly as `sops -d` does. Identities come from
    /// --age-key-file, SOPS_AGE_KEY_FILE and SOPS_AGE_KEY (or ~/.config/sops/age/keys.txt).
    Decrypt {
        file: PathBuf,
        /// An age identity file (one AGE-SECRET-KEY-1… per line, `#` comments allowed).
        #[arg(long)]
        age_key_file: Option<PathBuf>,
        /// The store, when the file name does not tell (`*.env`, `*.yaml`, `*.json`, `*.ini`;
        /// anything else is binary).
        #[arg(long, value_parser = ["dotenv", "yaml", "json", "ini", "binary"])]
        input_type: Option<String>,
    },
}

fn sops_decrypt(
    file: &std::path::Path,
    key_file: Option<&std::path::Path>,
    input_type: Option<&str>,
) -> Exit {
    use aegis::secrets::sops::{decrypt_file, Format, Identities};
    use std::io::Write;
    let format = input_type
        .and_then(Format::parse)
        .unwrap_or_else(|| Format::from_path(file));
    let result = Identities::from_env_and_file(key_file)
        .and_then(|ids| decrypt_file(file, Some(format), &ids))
        .and_then(|d| d.to_plaintext(format));
    match result {
        Ok(plain) => {
            let plain = zeroize::Zeroizing::new(plain);
            let mut out = std::io::stdout().lock();
            if let Err(e) = out.write_all(&plain).and_then(|()| out.flush()) {
                eprintln!("error: cannot write the plaintext: {e}");
                return Exit::Error;
            }
            Exit::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::from(&e)
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let long_running = match &cli.command {
        Command::Controller { .. } => true,
        Command::Agent { command } => command.long_running(),
        _ => false,
    };
    // The commands that do async work get their runtime first: the OTLP exporter is built
    // on it, and flushed (`telemetry.shutdown()`) after the work while it still runs.
    let runtime = match cli.command {
        Command::Apply { .. } | Command::Controller { .. } | Command::Healthcheck { .. } => {
            match tokio::runtime::Runtime::new() {
                Ok(r) => Some(r),
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    return Exit::Error.into();
                }
            }
        }
        _ => None,
    };
    let traced = matches!(cli.command, Command::Apply { .. } | Command::Controller { .. });
    let telemetry = {
        let _entered = runtime.as_ref().map(tokio::runtime::Runtime::enter);
        let handle = runtime.as_ref().filter(|_| traced).map(|r| r.handle().clone());
        match aegis::telemetry::init(
            &cli.telemetry,
            if long_running { "info" } else { "warn" },
            handle.as_ref(),
        ) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("error: {e}");
                return Exit::Usage.into();
            }
        }
    };
    if let Some(t) = telemetry.target() {
        tracing::info!(endpoint = %t.endpoint, protocol = t.protocol.as_str(), "exporting traces over OTLP");
    }
    if let Command::Agent { command } = cli.command {
        // Agents keep their own exit codes where the shared table has no word for them.
        let code = command.run();
        telemetry.shutdown();
        return code;
    }
    let exit = run(cli.command, runtime.as_ref());
    telemetry.shutdown();
    exit.into()
}

/// Runs one command; its exit code as in the README's table. `runtime` is there for the
/// commands that do async work.
fn run(command: Command, runtime: Option<&tokio::runtime::Runtime>) -> Exit {
    match command {
        Command::Validate { source } => validate(&source),
        Command::Apply {
            source,
            parallel,
            health_timeout,
            instance,
            prune_volumes,
            adopt,
        } => {
            let opts = apply::ApplyOptions {
                parallel,
                health_timeout: std::time::Duration::from_secs(health_timeout),
                plan: aegis::plan::PlanOptions {
                    instance,
                    prune_volumes,
                },
            };
            let Some(runtime) = runtime else {
                return Exit::Error;
            };
            apply_once(&source, &opts, adopt, runtime)
        }
        Command::Controller {
            source,
            state_dir,
            instance,
            resync,
            poll,
            webhook_secret_file,
            parallel,
            per_host,
            backoff_min,
            backoff_max,
            health_timeout,
            api,
        } => {
            let source = match location(&source) {
                Ok((l, _)) => l,
                Err(code) => return code,
            };
            let webhook_secret = match webhook_secret_file
                .as_deref()
                .map(source::webhook::Webhook::read_secret)
                .transpose()
            {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Usage;
                }
            };
            let poll = poll.unwrap_or(match source {
                Location::Dir(_) => std::time::Duration::from_secs(2),
                Location::Git(_) => std::time::Duration::from_secs(60),
            });
            let api = match api.into_config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return Exit::Usage;
                }
            };
            let opts = aegis::control::ControllerOptions {
                source,
                state_dir,
                apply: apply::ApplyOptions {
                    parallel,
                    health_timeout: std::time::Duration::from_secs(health_timeout),
                    plan: aegis::plan::PlanOptions {
                        instance,
                        prune_volumes: false,
                    },
                },
                poll,
                webhook_secret,
                runtime: aegis::runtime::Config {
                    resync,
                    per_group: per_host,
                    backoff_min,
                    backoff_max,
                    ..Default::default()
                },
                api,
            };
            let Some(runtime) = runtime else {
                return Exit::Error;
            };
            match runtime.block_on(aegis::control::run(opts)) {
                Ok(()) => Exit::Success,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    Exit::Error
                }
            }
        }
        Command::Sops {
            command:
                SopsCommand::Decrypt {
                    file,
                    age_key_file,
                    input_type,
                },
        } => sops_decrypt(&file, age_key_file.as_deref(), input_type.as_deref()),
        // Run by `main` (their exit codes are their own).
        Command::Agent { .. } => Exit::Error,
        Command::Healthcheck { args } => {
            let Some(runtime) = runtime else {
                return Exit::Error;
            };
            // Docker reads 0 as healthy and 1 as unhealthy (2 is reserved).
            match runtime.block_on(aegis::api::healthcheck(&args)) {
                Ok(()) => Exit::Success,
                Err(e) => {
                    eprintln!("unhealthy: {e}");
                    Exit::Failed
                }
            }
        }
        Command::Schema { out_dir } => match manifest::schema::write_all(&out_dir) {
            Ok(()) => {
                println!("wrote schemas to {}", out_dir.display());
                Exit::Success
            }
            Err(e) => {
                eprintln!("error: cannot write schemas to {}: {e}", out_dir.display());
                Exit::Error
            }
        },
    }
}

/// Loads the source or prints why not: every diagnostic of an invalid revision.
fn load(
    source: &SourceArgs,
    what: &str,
) -> Result<(source::Materialized, aegis::resolve::Resolved, String), Exit> {
    let (location, name) = location(source)?;
    match source::load_once(&location) {
        Ok((checkout, r)) => Ok((checkout, r, name)),
        Err(e) => {
            match &e {
                LoadError::Invalid(diags) => {
                    eprintln!("{diags}");
                    eprintln!("{} error(s) in {name}: {what}", diags.len());
                }
                LoadError::Source(s) => eprintln!("error: {s}"),
            }
            Err(Exit::from(&e))
        }
    }
}

fn validate(source: &SourceArgs) -> Exit {
    let (_checkout, r, name) = match load(source, "the revision is invalid") {
        Ok(l) => l,
        Err(code) => return code,
    };
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
        name,
        r.manifests.items.len(),
        r.state.hosts.len(),
        containers,
        r.state.revision
    );
    Exit::Success
}

/// `apply`: 0 converged, 1 some resources failed, 3 invalid (nothing applied), 4 a host
/// unreachable.
/// `adopt`: replace unlabelled containers holding declared names (see `apply --adopt`).
fn apply_once(
    source: &SourceArgs,
    opts: &apply::ApplyOptions,
    adopt: bool,
    runtime: &tokio::runtime::Runtime,
) -> Exit {
    let (_checkout, resolved, _) = match load(source, "nothing was applied") {
        Ok(l) => l,
        Err(code) => return code,
    };
    for w in &resolved.warnings {
        eprintln!("warning: {w}");
    }
    let started = std::time::Instant::now();
    let results = if adopt {
        runtime.block_on(apply::adopt_all(&resolved.state, opts))
    } else {
        runtime.block_on(apply::apply_all(&resolved.state, opts))
    };
    let mut exit = Exit::Success;
    let mut reports = Vec::new();
    for r in results {
        match r {
            Ok(rep) => reports.push(rep),
            Err(e) => {
                exit = exit.and(Exit::from(&e));
                eprintln!("error: {e}");
            }
        }
    }
    print!("{}", cli::print_summary(&reports));
    let calls: u64 = reports.iter().map(|r| r.api_calls).sum();
    println!(
        "revision {} {} in {:.2}s ({calls} Docker API calls)",
        resolved.state.revision,
        if exit == Exit::Success {
            "applied"
        } else {
            "partly applied"
        },
        started.elapsed().as_secs_f64()
    );
    exit
}

/// The checked source flags and a name for messages, or the exit code for a usage error.
fn location(args: &SourceArgs) -> Result<(Location, String), Exit> {
    match args.location() {
        Ok(l) => {
            let name = source::describe(&l);
            Ok((l, name))
        }
        Err(e) => {
            eprintln!("error: {e}");
            Err(Exit::from(&e))
        }
    }
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    aegis::manifest::kinds::Duration::parse(s).map(|d| d.0)
}
