//! [`Tuning`] → the `HostConfig` fields Compose v2 sets for the same compose keys.

use bollard::models::{
    HostConfig, HostConfigCgroupnsModeEnum, HostConfigIsolationEnum, ResourcesBlkioWeightDevice,
    ThrottleDevice,
};

use crate::desired::{DeviceRate, Tuning};

/// Sets `t`'s fields on `hc`; unset ones are left as they are.
pub fn apply(t: &Tuning, hc: &mut HostConfig) {
    hc.cpu_count = t.cpu_count;
    hc.cpu_percent = t.cpu_percent;
    hc.cpu_period = t.cpu_period;
    hc.cpu_quota = t.cpu_quota;
    hc.cpu_realtime_period = t.cpu_rt_period;
    hc.cpu_realtime_runtime = t.cpu_rt_runtime;
    hc.cpuset_cpus = t.cpuset.clone();
    hc.blkio_weight = t.blkio_weight;
    hc.blkio_weight_device = non_empty(
        t.blkio_weight_device
            .iter()
            .map(|d| ResourcesBlkioWeightDevice {
                path: Some(d.path.clone()),
                weight: usize::try_from(d.rate).ok(),
            })
            .collect(),
    );
    hc.blkio_device_read_bps = throttle(&t.blkio_read_bps);
    hc.blkio_device_read_iops = throttle(&t.blkio_read_iops);
    hc.blkio_device_write_bps = throttle(&t.blkio_write_bps);
    hc.blkio_device_write_iops = throttle(&t.blkio_write_iops);
    hc.memory_swappiness = t.mem_swappiness;
    hc.oom_kill_disable = t.oom_kill_disable;
    hc.oom_score_adj = t.oom_score_adj;
    hc.userns_mode = t.userns_mode.clone();
    hc.runtime = t.runtime.clone();
    hc.isolation = t.isolation.as_deref().map(|i| match i {
        "process" => HostConfigIsolationEnum::PROCESS,
        "hyperv" => HostConfigIsolationEnum::HYPERV,
        _ => HostConfigIsolationEnum::DEFAULT,
    });
    hc.cgroupns_mode = t.cgroupns.as_deref().map(|c| match c {
        "host" => HostConfigCgroupnsModeEnum::HOST,
        _ => HostConfigCgroupnsModeEnum::PRIVATE,
    });
}

fn throttle(list: &[DeviceRate]) -> Option<Vec<ThrottleDevice>> {
    non_empty(
        list.iter()
            .map(|d| ThrottleDevice {
                path: Some(d.path.clone()),
                rate: Some(d.rate),
            })
            .collect(),
    )
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_every_field_as_compose_v2() {
        let t = Tuning {
            cpu_count: Some(2),
            cpu_period: Some(100_000),
            cpu_quota: Some(50_000),
            cpu_rt_runtime: Some(400),
            cpuset: Some("0-1".into()),
            blkio_weight: Some(300),
            blkio_weight_device: vec![DeviceRate {
                path: "/dev/sda".into(),
                rate: 400,
            }],
            blkio_read_bps: vec![DeviceRate {
                path: "/dev/sda".into(),
                rate: 1 << 20,
            }],
            mem_swappiness: Some(60),
            oom_kill_disable: Some(true),
            oom_score_adj: Some(100),
            userns_mode: Some("host".into()),
            runtime: Some("runc".into()),
            isolation: Some("default".into()),
            cgroupns: Some("private".into()),
            ..Tuning::default()
        };
        let mut hc = HostConfig::default();
        apply(&t, &mut hc);
        let v = serde_json::to_value(&hc).expect("json");
        assert_eq!(v["CpuCount"], 2);
        assert_eq!(v["CpuPeriod"], 100_000);
        assert_eq!(v["CpuQuota"], 50_000);
        assert_eq!(v["CpuRealtimeRuntime"], 400);
        assert_eq!(v["CpusetCpus"], "0-1");
        assert_eq!(v["BlkioWeight"], 300);
        assert_eq!(v["BlkioWeightDevice"][0]["Weight"], 400);
        assert_eq!(v["BlkioDeviceReadBps"][0]["Rate"], 1 << 20);
        assert_eq!(v["BlkioDeviceReadBps"][0]["Path"], "/dev/sda");
        assert!(v["BlkioDeviceWriteIOps"].is_null());
        assert_eq!(v["MemorySwappiness"], 60);
        assert_eq!(v["OomKillDisable"], true);
        assert_eq!(v["OomScoreAdj"], 100);
        assert_eq!(v["UsernsMode"], "host");
        assert_eq!(v["Runtime"], "runc");
        assert_eq!(v["Isolation"], "default");
        assert_eq!(v["CgroupnsMode"], "private");
    }

    #[test]
    fn unset_sends_nothing() {
        let mut hc = HostConfig::default();
        apply(&Tuning::default(), &mut hc);
        assert_eq!(hc, HostConfig::default());
    }
}
