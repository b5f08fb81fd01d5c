//! A real DNS server on loopback for the DnsGuard tests: Debian's `dnsmasq` (package
//! `dnsmasq-base`, installed by scripts/setup-dnsmasq.sh), on a 127.x address and a port
//! picked per test, answering `probe.test` with 192.0.2.7. Without dnsmasq a test prints a
//! SKIP notice, except under `CI=true`, where a missing dnsmasq is a broken setup and fails.
#![allow(dead_code)]

use std::{
    net::{Ipv4Addr, SocketAddr, UdpSocket},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::atomic::{AtomicU8, Ordering},
    time::{Duration, Instant},
};

pub const PROBE_NAME: &str = "probe.test";

/// The dnsmasq binary, or `None` with a SKIP notice (a failure under CI).
pub fn dnsmasq_bin(test: &str) -> Option<PathBuf> {
    let found = ["/usr/sbin/dnsmasq", "/usr/bin/dnsmasq", "/sbin/dnsmasq"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: dnsmasq is missing under CI; scripts/setup-dnsmasq.sh should have installed it"
        );
        eprintln!("SKIP {test}: dnsmasq is not installed (run scripts/setup-dnsmasq.sh)");
    }
    found
}

/// A loopback address of its own for each server a process starts: 127.<77+pid%100>.<n>.1.
pub fn loopback_ip() -> Ipv4Addr {
    static NEXT: AtomicU8 = AtomicU8::new(1);
    let b = 77 + (std::process::id() % 100) as u8;
    Ipv4Addr::new(127, b, NEXT.fetch_add(1, Ordering::Relaxed), 1)
}

/// A UDP port on `ip` that is free now (20000–31999).
pub fn free_udp_port(ip: Ipv4Addr) -> u16 {
    let start = (std::process::id() % 12_000) as u16;
    for i in 0..12_000u16 {
        let port = 20_000 + (start.wrapping_add(i.wrapping_mul(7)) % 12_000);
        if UdpSocket::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free UDP port on {ip}")
}

/// One running dnsmasq; killed on drop.
pub struct Dnsmasq {
    pub addr: SocketAddr,
    child: Child,
}

impl Dnsmasq {
    /// Starts dnsmasq on `ip` and a free port, and waits until it answers.
    pub fn start(bin: &PathBuf, ip: Ipv4Addr) -> Dnsmasq {
        let port = free_udp_port(ip);
        let child = Command::new(bin)
            .args([
                "--keep-in-foreground",
                "--conf-file=/dev/null",
                "--no-resolv",
                "--no-hosts",
                "--bind-interfaces",
                "--pid-file=",
                "--user=root",
                "--log-facility=-",
            ])
            .arg(format!("--listen-address={ip}"))
            .arg(format!("--port={port}"))
            .arg(format!("--address=/{PROBE_NAME}/192.0.2.7"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dnsmasq");
        let mut d = Dnsmasq {
            addr: SocketAddr::new(ip.into(), port),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while !answers(d.addr) {
            if let Ok(Some(st)) = d.child.try_wait() {
                panic!("dnsmasq on {} exited: {st}", d.addr);
            }
            assert!(
                Instant::now() < deadline,
                "dnsmasq on {} did not answer within 20s",
                d.addr
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        d
    }

    /// Stops the server: the address stops answering (the proxy "dies").
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Whether `addr` answers an A query for `probe.test` within a second.
pub fn answers(addr: SocketAddr) -> bool {
    let Ok(s) = UdpSocket::bind((addr.ip(), 0)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
    let mut q = vec![0x42, 0x42, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    for label in PROBE_NAME.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    if s.send_to(&q, addr).is_err() {
        return false;
    }
    let mut buf = [0u8; 512];
    matches!(s.recv_from(&mut buf), Ok((n, _)) if n >= 12 && buf[0] == 0x42 && buf[1] == 0x42)
}
