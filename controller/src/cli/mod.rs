//! What the binaries print: pass summaries and diffs. Formatting only; no decisions.

mod report;

pub use report::{print_diff, print_summary};
