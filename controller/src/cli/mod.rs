//! `aegisctl`: what the binaries print (pass summaries and diffs), and the client side of
//! the controller's HTTP API (`get`, `describe`, `reconcile`, `suspend`, `resume`).
//! Formatting and HTTP only; no decisions.

mod agent_views;
pub mod args;
pub mod client;
pub mod commands;
pub mod connect;
pub mod exit;
pub mod import;
pub mod operate;
mod report;
mod source_view;
pub mod table;
pub mod views;

pub use report::{print_diff, print_diff_ordered, print_summary};
