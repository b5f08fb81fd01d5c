//! A Unix-socket proxy between the controller and the fault engine's socket: the Host's
//! endpoint is the proxy's socket, so the test can make that socket disappear and come back,
//! and cut the Docker events stream while every other request still goes through.
//!
//! Each accepted connection is forwarded to the engine's socket by two copying threads. A
//! connection that carries a `GET …/events` request is marked as an events stream (a stream
//! is the last request of its connection: its answer never ends).

use std::{
    io::{Read, Write},
    net::Shutdown,
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
};

struct Conn {
    client: UnixStream,
    upstream: UnixStream,
    events: Arc<AtomicBool>,
    /// Set when the connection closed: it is dropped from the list at the next accept.
    done: Arc<AtomicBool>,
}

#[derive(Default)]
struct State {
    conns: Mutex<Vec<Conn>>,
    /// New events streams are cut as soon as they are seen.
    block_events: AtomicBool,
    /// Events streams that were started (each reconnect of the watcher is one).
    events_started: AtomicUsize,
    /// Events streams cut by [`SockProxy::cut_events`] or refused while blocked.
    events_cut: AtomicUsize,
}

pub struct SockProxy {
    pub path: PathBuf,
    upstream: PathBuf,
    state: Arc<State>,
    listening: Option<(Arc<AtomicBool>, JoinHandle<()>)>,
}

impl SockProxy {
    /// Listens on `path`, forwarding to `upstream`.
    pub fn start(path: &Path, upstream: &Path) -> Self {
        let mut p = Self {
            path: path.to_path_buf(),
            upstream: upstream.to_path_buf(),
            state: Arc::new(State::default()),
            listening: None,
        };
        p.appear();
        p
    }

    /// `unix:///…`: the Host manifest's endpoint.
    pub fn endpoint(&self) -> String {
        format!("unix://{}", self.path.display())
    }

    /// The socket comes (back): bound at the same path.
    pub fn appear(&mut self) {
        assert!(self.listening.is_none(), "the proxy already listens");
        let _ = std::fs::remove_file(&self.path);
        let listener = UnixListener::bind(&self.path).expect("bind the proxy socket");
        let stop = Arc::new(AtomicBool::new(false));
        let (st, state, upstream) = (stop.clone(), self.state.clone(), self.upstream.clone());
        let t = std::thread::spawn(move || {
            for client in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                let Ok(up) = UnixStream::connect(&upstream) else {
                    // The engine is down: the client sees the connection close.
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                forward(&state, client, up);
            }
        });
        self.listening = Some((stop, t));
    }

    /// The socket disappears: the file is removed, nothing listens, and every open
    /// connection is cut.
    pub fn disappear(&mut self) {
        if let Some((stop, t)) = self.listening.take() {
            stop.store(true, Ordering::SeqCst);
            // Wake the accept loop so it sees `stop` and drops the listener.
            let _ = UnixStream::connect(&self.path);
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
        self.cut(|_| true);
        assert!(!self.path.exists(), "{} still exists", self.path.display());
    }

    /// Cuts every open events stream; returns how many.
    pub fn cut_events(&self) -> usize {
        self.cut(|c| c.events.load(Ordering::SeqCst))
    }

    /// While blocked, every new events stream is cut as soon as its request is seen.
    pub fn block_events(&self, on: bool) {
        self.state.block_events.store(on, Ordering::SeqCst);
    }

    pub fn events_started(&self) -> usize {
        self.state.events_started.load(Ordering::SeqCst)
    }

    pub fn events_cut(&self) -> usize {
        self.state.events_cut.load(Ordering::SeqCst)
    }

    /// Open events streams right now.
    pub fn events_open(&self) -> usize {
        let conns = self.state.conns.lock().expect("proxy lock");
        conns.iter().filter(|c| c.events.load(Ordering::SeqCst)).count()
    }

    fn cut(&self, which: impl Fn(&Conn) -> bool) -> usize {
        let mut conns = self.state.conns.lock().expect("proxy lock");
        let mut n = 0;
        conns.retain(|c| {
            if which(c) {
                let _ = c.client.shutdown(Shutdown::Both);
                let _ = c.upstream.shutdown(Shutdown::Both);
                if c.events.load(Ordering::SeqCst) {
                    self.state.events_cut.fetch_add(1, Ordering::SeqCst);
                }
                n += 1;
                false
            } else {
                true
            }
        });
        n
    }
}

impl Drop for SockProxy {
    fn drop(&mut self) {
        self.disappear();
    }
}

fn forward(state: &Arc<State>, client: UnixStream, up: UnixStream) {
    let events = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let (Ok(c2), Ok(u2), Ok(c3), Ok(u3)) = (
        client.try_clone(),
        up.try_clone(),
        client.try_clone(),
        up.try_clone(),
    ) else {
        return;
    };
    {
        let mut conns = state.conns.lock().expect("proxy lock");
        conns.retain(|c| !c.done.load(Ordering::SeqCst));
        conns.push(Conn {
            client,
            upstream: up,
            events: events.clone(),
            done: done.clone(),
        });
    }
    // client → engine, watching for the events request.
    let st = state.clone();
    std::thread::spawn(move || {
        let (mut from, mut to) = (c2, u2);
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if is_events_request(&buf[..n]) && !events.swap(true, Ordering::SeqCst) {
                st.events_started.fetch_add(1, Ordering::SeqCst);
                if st.block_events.load(Ordering::SeqCst) {
                    st.events_cut.fetch_add(1, Ordering::SeqCst);
                    break;
                }
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
        done.store(true, Ordering::SeqCst);
    });
    // engine → client.
    std::thread::spawn(move || {
        let (mut from, mut to) = (u3, c3);
        let _ = std::io::copy(&mut from, &mut to);
        let _ = from.shutdown(Shutdown::Both);
        let _ = to.shutdown(Shutdown::Both);
    });
}

/// Whether a chunk the client sent starts (or contains) a `GET /…/events` request line.
fn is_events_request(chunk: &[u8]) -> bool {
    let text = String::from_utf8_lossy(chunk);
    text.lines().any(|l| {
        let mut parts = l.split_whitespace();
        parts.next() == Some("GET")
            && parts.next().is_some_and(|path| {
                let path = path.split('?').next().unwrap_or("");
                path.ends_with("/events")
            })
    })
}
