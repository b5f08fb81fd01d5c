//! Agents aegis runs on the hosts it manages, as containers of its own image ([`image`]):
//! small programs that must keep working when the controller cannot reach the host.
//!
//! - [`dnsguard`]: the DNS failsafe (`aegis agent dnsguard`), which puts `/etc/resolv.conf`
//!   right when a tunnel client that overrode it dies.
//! - [`rollback`]: the rollback watchdog of a commit-confirmed change to a critical container
//!   (`aegis agent rollback run`).
//! - [`image`]: the image every agent runs from, built from aegis's own executable
//!   (`aegis agent image` prints or loads it).
//!
//! Every agent is a subcommand of the one `aegis` executable, so one image serves them all.

pub mod dnsguard;
pub mod image;
pub mod rollback;

use std::process::ExitCode;

use crate::cli::exit::Exit;

/// `aegis agent ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AgentCommand {
    /// Keep the host's DNS working when the tunnel's DNS proxy dies (the four tiers).
    Dnsguard(dnsguard::DnsGuardArgs),
    /// The rollback watchdog of a commit-confirmed change to a critical container.
    #[command(subcommand)]
    Rollback(rollback::RollbackCommand),
    /// Print the tag and ID of the agent image built from this executable; with `--load`,
    /// load it into the engine at `$DOCKER_HOST` (or the default socket), e.g. to
    /// `docker save` it for a host aegis cannot reach yet.
    Image {
        #[arg(long)]
        load: bool,
    },
}

impl AgentCommand {
    /// Whether the command runs until stopped (it then logs at `info`).
    pub fn long_running(&self) -> bool {
        match self {
            AgentCommand::Dnsguard(a) => !(a.once || a.backup_now || a.health),
            AgentCommand::Rollback(_) => true,
            AgentCommand::Image { .. } => false,
        }
    }

    /// Runs the agent. Exit codes follow the shared table, except the rollback watchdog's:
    /// its code is its report to the controller and to `docker ps` (0 confirmed, 3 rolled
    /// back, ...; see [`rollback::state::exit`]).
    pub fn run(self) -> ExitCode {
        match self {
            AgentCommand::Dnsguard(a) => a.run().into(),
            AgentCommand::Rollback(c) => match tokio::runtime::Runtime::new() {
                Ok(rt) => ExitCode::from(u8::try_from(rt.block_on(rollback::main(&c))).unwrap_or(1)),
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    ExitCode::from(rollback::state::exit::INTERNAL as u8)
                }
            },
            AgentCommand::Image { load } => match tokio::runtime::Runtime::new() {
                Ok(rt) => rt.block_on(image_command(load)).into(),
                Err(e) => {
                    eprintln!("error: cannot start the async runtime: {e}");
                    Exit::Error.into()
                }
            },
        }
    }
}

async fn image_command(load: bool) -> Exit {
    let img = match image::AgentImage::current() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Error;
        }
    };
    println!("{} {}", img.tag, img.id);
    if !load {
        return Exit::Success;
    }
    let spec = crate::desired::HostSpec {
        name: "local".into(),
        endpoint: crate::desired::Endpoint::Default,
        labels: Default::default(),
    };
    let host = match crate::docker::DockerHost::connect(&spec).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("error: {e}");
            return Exit::Unreachable;
        }
    };
    match img.load_into(&host).await {
        Ok(id) => {
            println!("loaded {} ({id})", img.tag);
            Exit::Success
        }
        Err(e) => {
            eprintln!("error: {e}");
            Exit::Error
        }
    }
}
