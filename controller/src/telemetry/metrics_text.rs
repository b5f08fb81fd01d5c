//! OpenMetrics text → Prometheus text format 0.0.4.
//!
//! `prometheus-client` writes OpenMetrics only. Prometheus itself asks for OpenMetrics and
//! gets it, but `promtool check metrics`, `curl` users and older scrapers read the classic
//! text format, where two things differ for the families aegis has (counters, gauges,
//! histograms): a counter's `# HELP`/`# TYPE` name carries the `_total` suffix its samples
//! have, and there is no `# EOF` (or `# UNIT`) line. Sample lines are identical.

/// Rewrites `openmetrics` (as `prometheus-client` encodes counters, gauges and histograms)
/// into the Prometheus text format.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::BTreeSet<&str> = openmetrics
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters
                .contains(name)
                .then(|| format!("{prefix}{name}_total {tail}").trim_end().to_string())
        });
        out.push_str(renamed.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_get_their_total_name_and_eof_goes() {
        let om = "# HELP aegis_reconciles Reconciles.\n# TYPE aegis_reconciles counter\n\
                  aegis_reconciles_total{kind=\"Stack\"} 1\n# HELP aegis_queue_depth Depth.\n\
                  # TYPE aegis_queue_depth gauge\naegis_queue_depth 0\n# EOF\n";
        assert_eq!(
            to_prometheus_text(om),
            "# HELP aegis_reconciles_total Reconciles.\n# TYPE aegis_reconciles_total counter\n\
             aegis_reconciles_total{kind=\"Stack\"} 1\n# HELP aegis_queue_depth Depth.\n\
             # TYPE aegis_queue_depth gauge\naegis_queue_depth 0\n"
        );
    }
}
