//! Agents aegis runs on the hosts it manages, as containers of its own image: small programs
//! that must keep working when the controller cannot reach the host.
//!
//! - [`dnsguard`]: the DNS failsafe (`aegis agent dnsguard`), which puts `/etc/resolv.conf`
//!   right when a tunnel client that overrode it dies.

pub mod dnsguard;

use crate::cli::exit::Exit;

/// `aegis agent ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum AgentCommand {
    /// Keep the host's DNS working when the tunnel's DNS proxy dies (the four tiers).
    Dnsguard(dnsguard::DnsGuardArgs),
}

impl AgentCommand {
    /// Whether the command runs until stopped (it then logs at `info`).
    pub fn long_running(&self) -> bool {
        match self {
            AgentCommand::Dnsguard(a) => !(a.once || a.backup_now || a.health),
        }
    }

    pub fn run(self) -> Exit {
        match self {
            AgentCommand::Dnsguard(a) => a.run(),
        }
    }
}
