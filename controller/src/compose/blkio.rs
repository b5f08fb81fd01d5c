//! compose `blkio_config`: block I/O weight and throttling, as Compose v2 maps it to
//! `HostConfig.Blkio*` (rates in bytes take Docker's byte sizes, `10mb`).

use serde::Deserialize;

use super::{
    flex::{Int, Scalar},
    report::Report,
    units::parse_bytes,
};
use crate::{
    desired::{DeviceRate, Tuning},
    yaml::FieldPath,
};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlkioConfig {
    pub weight: Option<Int>,
    #[serde(default)]
    pub weight_device: Vec<WeightDevice>,
    #[serde(default)]
    pub device_read_bps: Vec<ThrottleDevice>,
    #[serde(default)]
    pub device_read_iops: Vec<ThrottleDevice>,
    #[serde(default)]
    pub device_write_bps: Vec<ThrottleDevice>,
    #[serde(default)]
    pub device_write_iops: Vec<ThrottleDevice>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeightDevice {
    pub path: String,
    pub weight: Int,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleDevice {
    pub path: String,
    pub rate: Scalar,
}

/// Applies `blkio_config` to `t`, reporting bad values at their own path.
pub fn apply(report: &mut Report, path: &FieldPath, b: BlkioConfig, t: &mut Tuning) {
    if let Some(w) = b.weight {
        t.blkio_weight = report.check(&path.key("weight"), weight(w.0));
    }
    for (i, d) in b.weight_device.into_iter().enumerate() {
        let at = path.key("weight_device").index(i);
        if let Some(w) = report.check(&at.key("weight"), weight(d.weight.0)) {
            t.blkio_weight_device.push(DeviceRate {
                path: d.path,
                rate: i64::from(w),
            });
        }
    }
    let mut rates = |key: &str, list: Vec<ThrottleDevice>, bytes: bool| -> Vec<DeviceRate> {
        let mut out = Vec::new();
        for (i, d) in list.into_iter().enumerate() {
            let at = path.key(key).index(i).key("rate");
            if let Some(rate) = report.check(&at, rate(&d.rate.0, bytes)) {
                out.push(DeviceRate { path: d.path, rate });
            }
        }
        out
    };
    t.blkio_read_bps = rates("device_read_bps", b.device_read_bps, true);
    t.blkio_read_iops = rates("device_read_iops", b.device_read_iops, false);
    t.blkio_write_bps = rates("device_write_bps", b.device_write_bps, true);
    t.blkio_write_iops = rates("device_write_iops", b.device_write_iops, false);
}

/// A weight: 10 to 1000, or 0 (the engine's "unset").
fn weight(n: i64) -> Result<u16, String> {
    match u16::try_from(n) {
        Ok(w) if w == 0 || (10..=1000).contains(&w) => Ok(w),
        _ => Err(format!("`{n}` is not a block I/O weight (10 to 1000)")),
    }
}

/// A rate: a byte size for `*_bps`, a plain count for `*_iops`.
fn rate(s: &str, bytes: bool) -> Result<i64, String> {
    if bytes {
        parse_bytes(s)
    } else {
        s.trim()
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 0)
            .ok_or_else(|| format!("`{s}` is not a number of operations per second"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_and_rates() {
        assert_eq!(weight(300), Ok(300));
        assert_eq!(weight(0), Ok(0));
        assert!(weight(5).is_err());
        assert!(weight(1001).is_err());
        assert_eq!(rate("1mb", true), Ok(1 << 20));
        assert_eq!(rate("20", false), Ok(20));
        assert!(rate("1mb", false).is_err());
    }
}
