//! Shared helpers for the integration tests that run sockloop *in this process*: a reactor
//! on its own thread, client sockets that never block forever, deterministic test data, and
//! bounded waits. The `sockloop` binary run as a separate process (a server, a client with
//! a given stdin) is `support/process.rs`; a test that talks to it still uses the client
//! sockets here.
//!
//! Rules every test here follows: only 127.0.0.1 and [::1], port 0; every socket operation
//! has a timeout; every wait has a deadline (a read timeout, or a poll loop on the reactor's
//! counters); a sleep is never used to wait for something to happen.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use sockloop::{Config, ConnId, ConnInfo, Context, Handle, Handler, Reactor};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single socket operation or wait may take before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

pub fn v4() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

pub fn v6() -> SocketAddr {
    "[::1]:0".parse().unwrap()
}

/// A reactor running on its own thread.
pub struct Server<T> {
    /// The addresses really bound, in the order asked for.
    pub addrs: Vec<SocketAddr>,
    pub handle: Handle,
    done: mpsc::Receiver<io::Result<T>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl<T: Send + 'static> Server<T> {
    /// Builds a reactor with `build` *inside* a new thread (a reactor is not `Send`), listens
    /// on each of `listen` (port 0), runs it, and when `run` returns hands the reactor to
    /// `finish`, whose result [`Server::stop`] / [`Server::join`] return.
    pub fn start<H: Handler + 'static>(
        listen: &[SocketAddr],
        build: impl FnOnce() -> io::Result<Reactor<H>> + Send + 'static,
        finish: impl FnOnce(&mut Reactor<H>) -> T + Send + 'static,
    ) -> Server<T> {
        let listen = listen.to_vec();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = thread::spawn(move || {
            let setup = || -> io::Result<_> {
                let mut reactor = build()?;
                let addrs =
                    listen.iter().map(|a| reactor.listen(*a, 1024)).collect::<io::Result<Vec<_>>>()?;
                Ok((reactor, addrs))
            };
            let mut reactor = match setup() {
                Ok((reactor, addrs)) => {
                    let _ = ready_tx.send(Ok((addrs, reactor.handle())));
                    reactor
                }
                Err(e) => {
                    let _ = ready_tx.send(Err(e));
                    return;
                }
            };
            let result = reactor.run().map(|()| finish(&mut reactor));
            let _ = done_tx.send(result);
        });
        let (addrs, handle) = ready_rx
            .recv_timeout(IO_TIMEOUT)
            .expect("reactor thread did not start")
            .expect("reactor set-up failed");
        Server { addrs, handle, done, thread: Some(thread) }
    }

    /// An echo-like server: `handler` with `config`, listening on `listen`.
    pub fn with<H: Handler + Send + 'static>(
        listen: &[SocketAddr],
        handler: H,
        config: Config,
        finish: impl FnOnce(&mut Reactor<H>) -> T + Send + 'static,
    ) -> Server<T> {
        Server::start(listen, move || Reactor::new(handler, config), finish)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Asks for a graceful stop and waits (bounded) for `run` to return.
    pub fn stop(self) -> T {
        self.handle.stop();
        self.join()
    }

    /// Waits (bounded) for `run` to return by itself (a stop already asked for).
    pub fn join(mut self) -> T {
        let result = self.done.recv_timeout(IO_TIMEOUT).expect("reactor did not stop in time");
        if let Some(t) = self.thread.take() {
            t.join().expect("reactor thread panicked");
        }
        result.expect("run() failed")
    }
}

impl<T> Drop for Server<T> {
    /// A test that fails half-way still stops its reactor (without waiting for it).
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.handle.stop();
        }
    }
}

/// A client connection whose reads and writes fail after [`IO_TIMEOUT`] instead of hanging.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

/// Exactly `n` bytes; fails on EOF or after the socket's timeout.
pub fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Reads until the server closes; a timeout here means it never did.
pub fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap_or_else(|e| panic!("waiting for the server to close: {e}"));
    rest
}

/// Polls `cond` every 2 ms until it holds; fails the test after `within`.
pub fn wait_until(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting until {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

/// Waits until `value()` has not changed for `quiet` (it settled), failing after `within`.
/// Returns the settled value.
pub fn wait_settled(what: &str, quiet: Duration, within: Duration, mut value: impl FnMut() -> u64) -> u64 {
    let deadline = Instant::now() + within;
    let mut last = value();
    let mut since = Instant::now();
    loop {
        thread::sleep(Duration::from_millis(5));
        let now = value();
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= quiet {
            return now;
        }
        assert!(Instant::now() < deadline, "timed out after {within:?} waiting for {what} to settle");
    }
}

/// Deterministic, position-addressable test bytes: stream `seed` at `offset` fills `buf`.
/// Different seeds give different streams, so each client checks that it got *its* bytes.
pub fn fill(seed: u64, offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = splitmix(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (pos / 8)).to_le_bytes();
        let skip = (pos % 8) as usize;
        let n = (8 - skip).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[skip..skip + n]);
        i += n;
        pos += n as u64;
    }
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    fill(seed, 0, &mut v);
    v
}

/// Writes `len` bytes of stream `seed` in chunks; returns the bytes written.
pub fn send_pattern(w: &mut impl Write, seed: u64, len: u64) -> io::Result<u64> {
    let mut buf = vec![0; 64 << 10];
    let mut sent = 0;
    while sent < len {
        let n = buf.len().min((len - sent) as usize);
        fill(seed, sent, &mut buf[..n]);
        w.write_all(&buf[..n])?;
        sent += n as u64;
    }
    Ok(sent)
}

/// Reads exactly `len` bytes and checks each against stream `seed`, without holding them all.
pub fn expect_pattern(r: &mut impl Read, seed: u64, len: u64) {
    let mut got = vec![0; 64 << 10];
    let mut want = vec![0; 64 << 10];
    let mut off = 0;
    while off < len {
        let cap = got.len().min((len - off) as usize);
        let n = match r.read(&mut got[..cap]) {
            Ok(0) => panic!("EOF after {off} of {len} bytes"),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => panic!("read failed after {off} of {len} bytes: {e}"),
        };
        fill(seed, off, &mut want[..n]);
        if got[..n] != want[..n] {
            let at = got[..n].iter().zip(&want[..n]).position(|(a, b)| a != b).unwrap_or(0);
            panic!("byte {} of {len} differs (stream {seed})", off + at as u64);
        }
        off += n as u64;
    }
}

/// The next read returns end of stream (a clean FIN).
pub fn expect_eof(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Ok(n) => panic!("expected EOF, got {n} more bytes: {:?}", String::from_utf8_lossy(&b[..n])),
        Err(e) => panic!("expected EOF, got {e}"),
    }
}

/// The connection was ended by the server: EOF or a reset (both are "closed at once").
pub fn expect_closed(s: &mut TcpStream) {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => {}
        Err(e) if matches!(e.kind(), io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted) => {}
        Ok(n) => panic!("expected the connection closed, got {n} bytes"),
        Err(e) => panic!("expected the connection closed, got {e}"),
    }
}

/// Sends `len` bytes of stream `seed` from a second thread while this one reads the echo
/// back and checks every byte; then half-closes and expects the server's FIN.
pub fn echo_exact(addr: SocketAddr, seed: u64, len: u64) {
    let mut s = connect(addr);
    let mut w = s.try_clone().unwrap();
    let writer = thread::spawn(move || {
        send_pattern(&mut w, seed, len).expect("send");
        w.shutdown(Shutdown::Write).expect("shutdown");
    });
    expect_pattern(&mut s, seed, len);
    expect_eof(&mut s);
    writer.join().expect("writer panicked");
}

/// One request, one exact answer.
pub fn roundtrip(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("write");
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).expect("read echo");
    assert_eq!(back, msg);
}

/// A client on a blocking socket that speaks in lines (chat, the TCP relay): whole lines
/// out, whole lines in, each read bounded by the socket's timeout.
pub struct LineClient {
    pub reader: BufReader<TcpStream>,
    pub writer: TcpStream,
}

impl LineClient {
    pub fn connect(addr: SocketAddr) -> LineClient {
        let s = connect(addr);
        LineClient { writer: s.try_clone().expect("clone"), reader: BufReader::new(s) }
    }

    /// Sends `line` and the `end` of line (`"\n"`, `"\r\n"`).
    pub fn send(&mut self, line: &str, end: &str) {
        self.writer.write_all(format!("{line}{end}").as_bytes()).expect("send");
    }

    /// The next line, without its `\n`; fails at the read timeout, at EOF, or on a last
    /// line without its `\n`.
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        match self.reader.read_line(&mut line) {
            Ok(0) => panic!("the server closed the connection"),
            Ok(_) => line.strip_suffix('\n').unwrap_or_else(|| panic!("unterminated {line:?}")).to_string(),
            Err(e) => panic!("no line within the timeout: {e}"),
        }
    }
}

/// An echo server that flips the lowest bit of the first byte of every read it echoes: a
/// load generator must catch every such reply.
pub struct Corrupting;

impl Handler for Corrupting {
    type Conn = ();

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {}

    fn data(&mut self, _conn: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let mut reply = data.to_vec();
        reply[0] ^= 1;
        ctx.write(&reply);
        data.len()
    }
}

/// Reads everything and answers nothing: a stalled server, or one where only a read can
/// notice that the peer has gone.
pub struct Sink;

impl Handler for Sink {
    type Conn = ();

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {}

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }
}
