//! A Docker endpoint on loopback TCP that a test controls: it forwards each connection to the
//! local engine's socket, or (while held) accepts it and never answers, like a blackholed
//! host; it can cut every connection open so far (an events stream breaks).

use std::{
    io::{Read, Write},
    net::{Shutdown, TcpListener, TcpStream},
    os::unix::net::UnixStream,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
};

use super::MANIFEST_HEAD;

pub struct LoopbackEngine {
    pub port: u16,
    hold: Arc<AtomicBool>,
    live: Arc<Mutex<Vec<TcpStream>>>,
}

impl LoopbackEngine {
    /// Listens on `port` (from [`super::free_port`]); `hold`: accept and never answer until
    /// [`release`](Self::release).
    pub fn start_on(port: u16, hold: bool) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the loopback engine");
        let hold = Arc::new(AtomicBool::new(hold));
        let live = Arc::new(Mutex::new(Vec::new()));
        let (h, l) = (hold.clone(), live.clone());
        // Lives until the test process ends; the controller's connections end with it.
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                if let Ok(c) = conn.try_clone() {
                    l.lock().unwrap_or_else(|e| e.into_inner()).push(c);
                }
                if !h.load(Ordering::SeqCst) {
                    std::thread::spawn(move || splice_to_engine(conn));
                }
            }
        });
        Self { port, hold, live }
    }

    /// A `Host` manifest named `name` whose endpoint is this engine.
    pub fn host_manifest(&self, name: &str) -> String {
        tcp_host_manifest(name, self.port)
    }

    /// Closes every connection open so far, held or forwarded.
    pub fn cut(&self) {
        for c in self.live.lock().unwrap_or_else(|e| e.into_inner()).drain(..) {
            let _ = c.shutdown(Shutdown::Both);
        }
    }

    /// From now on, new connections are forwarded; those open so far are closed (their
    /// requests fail).
    pub fn release(&self) {
        self.hold.store(false, Ordering::SeqCst);
        self.cut();
    }
}

/// A `Host` manifest named `name` with the endpoint `tcp://127.0.0.1:{port}`.
pub fn tcp_host_manifest(name: &str, port: u16) -> String {
    format!("{MANIFEST_HEAD}\nkind: Host\nmetadata: {{name: {name}}}\nspec:\n  endpoint: tcp://127.0.0.1:{port}\n")
}

/// Copies bytes both ways between `tcp` and the local engine's socket until either side ends:
/// a Docker endpoint on loopback TCP that a test can hold or cut.
pub fn splice_to_engine(tcp: TcpStream) {
    let Ok(unix) = UnixStream::connect("/var/run/docker.sock") else {
        return;
    };
    let (Ok(mut tcp_r), Ok(mut unix_w)) = (tcp.try_clone(), unix.try_clone()) else {
        return;
    };
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut tcp_r, &mut unix_w);
        let _ = unix_w.shutdown(Shutdown::Write);
    });
    let (mut unix_r, mut tcp_w) = (unix, tcp);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match unix_r.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tcp_w.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = tcp_w.shutdown(Shutdown::Both);
    let _ = up.join();
}
