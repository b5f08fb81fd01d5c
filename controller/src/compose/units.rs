//! Compose's unit syntaxes: Go durations, Docker byte sizes and CPU counts.

/// A Go `time.ParseDuration` string (`1m30s`, `500ms`, `1.5h`, `0`) → nanoseconds.
///
/// compose parses durations with Go's parser, so a bare number without a unit is an error
/// there too (except `0`); we keep that rule instead of guessing seconds.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let text = s.trim();
    let bad = || format!("`{s}` is not a duration; write it like `10s`, `1m30s` or `500ms`");
    if text == "0" {
        return Ok(0);
    }
    if text.is_empty() || text.starts_with('-') {
        return Err(bad());
    }
    let text = text.strip_prefix('+').unwrap_or(text);
    let mut total = 0f64;
    let mut rest = text;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(bad());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return Err(format!("duration `{s}` is too long"));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(total.round() as i64)
}

/// A Docker byte size (`512m`, `1g`, `1.5g`, `1024`, `2GiB`, `100kb`) → bytes.
///
/// Matches Docker's `units.RAMInBytes`, which compose uses for `mem_limit` and friends:
/// suffixes are binary (k = 1024), case-insensitive, optionally followed by `i` and/or `b`.
pub fn parse_bytes(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a byte size; write it like `512m`, `1g` or `1073741824`");
    let text = s.trim();
    let num_len = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(text.len());
    if num_len == 0 {
        return Err(bad());
    }
    let number: f64 = text[..num_len].parse().map_err(|_| bad())?;
    let mut suffix = text[num_len..].trim_start().to_ascii_lowercase();
    if suffix.ends_with('b') {
        suffix.pop();
    }
    if suffix.len() == 2 && suffix.ends_with('i') {
        suffix.pop();
    }
    let scale: f64 = match suffix.as_str() {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024f64.powi(2),
        "g" => 1024f64.powi(3),
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    let bytes = number * scale;
    if bytes > i64::MAX as f64 {
        return Err(format!("byte size `{s}` is too large"));
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok(bytes as i64)
}

/// compose `cpus` (`0.5`, `"2"`) → billionths of a CPU (Docker's `NanoCpus`).
pub fn parse_cpus(s: &str) -> Result<i64, String> {
    let bad = || format!("`{s}` is not a CPU count; write it like `0.5` or `2`");
    let cpus: f64 = s.trim().parse().map_err(|_| bad())?;
    if !(0.0..=1e6).contains(&cpus) {
        return Err(bad());
    }
    #[allow(clippy::cast_possible_truncation)]
    Ok((cpus * 1e9).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Ok(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Ok(500_000_000));
        assert_eq!(parse_duration("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(parse_duration("1h2m3s4ms5us6ns"), Ok(3_723_004_005_006));
        assert_eq!(parse_duration("0"), Ok(0));
        for bad in ["10", "", "s", "10x", "-1s", "1.2.3s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn byte_sizes() {
        assert_eq!(parse_bytes("1024"), Ok(1024));
        assert_eq!(parse_bytes("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("1g"), Ok(1 << 30));
        assert_eq!(parse_bytes("1G"), Ok(1 << 30));
        assert_eq!(parse_bytes("1.5g"), Ok(3 << 29));
        assert_eq!(parse_bytes("2GiB"), Ok(2 << 30));
        assert_eq!(parse_bytes("100kb"), Ok(102_400));
        assert_eq!(parse_bytes("64 m"), Ok(64 << 20));
        for bad in ["", "m", "1x", "-1m", "1gg"] {
            assert!(parse_bytes(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cpus() {
        assert_eq!(parse_cpus("0.5"), Ok(500_000_000));
        assert_eq!(parse_cpus("2"), Ok(2_000_000_000));
        assert!(parse_cpus("-1").is_err());
        assert!(parse_cpus("lots").is_err());
    }
}
