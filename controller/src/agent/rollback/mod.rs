//! The rollback watchdog: what makes a change to a critical container *commit-confirmed*, the
//! way `netplan try`, Junos `commit confirmed` and deploy-rs's magic rollback are.
//!
//! Before a critical container on host H is replaced, the controller creates the new container
//! (not started) and starts a watchdog on H: a container of the agent image running
//! `aegis agent rollback run`, with H's Docker socket, no network, and restart policy
//! `unless-stopped`. Guarantees:
//!
//! - **Independent of the controller.** The watchdog needs only H's own Docker socket. Its
//!   whole state is on H: the attempt (containers, names, timeout, token hash) in its labels
//!   ([`crate::observed::RollbackAttempt`]), the phase and the deadline (H's clock, set when
//!   the change is done: the timeout counts from the change, as `netplan try`'s does) in a
//!   file in its own filesystem. It survives its own crash and a daemon restart, and resumes.
//! - **Ready before the change** (deploy-rs #385). The watchdog itself makes the change, after
//!   checking that the containers are as its labels say: stop the old container and park it
//!   under another name (never remove it), rename the new one and start it. So no confirm can
//!   race its start, and the change never runs over the connection it may cut (deploy-rs
//!   #153: the Newt on the VPS carries the very connection that would have to start its
//!   successor).
//! - **Confirmed by one token only.** The controller checks the hosts over *new* connections,
//!   then puts this attempt's token ([`token`]) into the watchdog as a file through the
//!   Docker API ([`launch::confirm`]). Any other content is ignored.
//! - **Rolled back unless confirmed in time.** With no confirm by the deadline (or at once,
//!   when the controller asks with [`launch::abort`]), the watchdog removes the new
//!   container, renames the old one back, starts it and checks that it keeps running
//!   ([`swap::rollback`]).
//! - **A rollback is never success** (deploy-rs #179): exit 0 only after a confirm; a rollback
//!   exits 3 (4 if the old container would not stay up), and the status file names the
//!   reason ([`state`]). At its end the watchdog turns its restart policy off so that the
//!   exit code stays as the report.
//! - **Never both containers gone** ([`swap`]): the old container is removed only after a
//!   confirm, the new one only when the old one comes back.
//!
//! Files: [`state`] (phases, the status file, the pure decision), [`swap`] (the idempotent
//! Docker procedures), [`watchdog`] (the agent process), [`launch`] (the controller's side),
//! [`token`] (confirm tokens). The controller's procedure around them is
//! [`crate::apply::confirmed`].

pub mod launch;
pub mod state;
pub mod swap;
pub mod token;
pub mod watchdog;

pub use state::{Phase, Status};
pub use token::ConfirmKey;

/// `aegis agent rollback ...`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum RollbackCommand {
    /// Run the watchdog of one attempt (inside its container; started by the controller).
    Run(watchdog::RunArgs),
}

/// Runs a `rollback` subcommand; returns the process exit code.
pub async fn main(cmd: &RollbackCommand) -> i32 {
    match cmd {
        RollbackCommand::Run(args) => watchdog::run(args).await,
    }
}
