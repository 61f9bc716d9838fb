//! The `sockloop` binary as a user runs it: real processes, real sockets on 127.0.0.1 and
//! [::1], port 0, and every wait bounded (a stuck server fails the test, it does not hang it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockloop");
const LIMIT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// A `sockloop serve` process; killed on drop if a test fails before stopping it.
struct Server {
    child: Child,
    stdout: Receiver<String>,
    addrs: Vec<SocketAddr>,
}

impl Server {
    /// Starts `sockloop serve ARGS` and waits for one `listening on` line per `--listen`.
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sockloop");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let mut server = Server { child, stdout, addrs: Vec::new() };
        for _ in 0..args.iter().filter(|a| **a == "--listen").count() {
            let line = server.next_line();
            let addr =
                line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected line {line:?}"));
            server.addrs.push(addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}")));
        }
        server
    }

    fn next_line(&self) -> String {
        match self.stdout.recv_timeout(LIMIT) {
            Ok(line) => line,
            Err(e) => panic!("no line from the server within {LIMIT:?}: {e}"),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// SIGTERM, as an init system would send; returns the exit status and the rest of stdout.
    fn terminate(mut self) -> (ExitStatus, Vec<String>) {
        let pid = i32::try_from(self.child.id()).expect("pid fits in pid_t");
        // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill failed");
        let status = wait_bounded(&mut self.child);
        let mut rest = Vec::new();
        loop {
            match self.stdout.recv_timeout(LIMIT) {
                Ok(line) => rest.push(line),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => panic!("stdout still open after exit"),
            }
        }
        (status, rest)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Forwards lines over a channel so a test can wait for them with a timeout.
fn lines_of(out: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Polls for the exit within [`LIMIT`]; kills the process and fails if it does not come.
fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + LIMIT;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("sockloop did not exit within {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(IO_TIMEOUT)).expect("read timeout");
    s.set_write_timeout(Some(IO_TIMEOUT)).expect("write timeout");
    s
}

fn read_exactly(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap_or_else(|e| panic!("reading {n} bytes: {e}"));
    buf
}

/// Reads until the server closes; a timeout here means it never did.
fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap_or_else(|e| panic!("waiting for the server to close: {e}"));
    rest
}

/// Runs a whole `sockloop` command with `stdin` as its input; returns status, stdout, stderr.
fn run(args: &[&str], stdin: &[u8]) -> (ExitStatus, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockloop");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // In a thread, as a shell pipe would: a big input must not wait for stdout to be read.
    // The client may exit without reading all of stdin (a refused connect): ignore EPIPE.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let mut stdout = child.stdout.take().expect("piped stdout");
    let mut stderr = child.stderr.take().expect("piped stderr");
    let out = thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = stdout.read_to_end(&mut buf);
        buf
    });
    let err = thread::spawn(move || {
        let mut buf = String::new();
        let _ = stderr.read_to_string(&mut buf);
        buf
    });
    let status = wait_bounded(&mut child);
    writer.join().expect("stdin writer");
    (status, out.join().expect("stdout reader"), err.join().expect("stderr reader"))
}

#[test]
fn echo_on_two_families_then_sigterm_prints_the_stats() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0", "--listen", "[::1]:0"]);
    assert!(server.addrs[0].is_ipv4() && server.addrs[1].is_ipv6(), "{:?}", server.addrs);
    assert!(server.addrs.iter().all(|a| a.port() != 0), "the real port is printed");
    for addr in &server.addrs {
        let mut s = connect(*addr);
        s.write_all(b"hello sockloop").expect("write");
        assert_eq!(read_exactly(&mut s, 14), b"hello sockloop");
        s.shutdown(Shutdown::Write).expect("shutdown");
        assert_eq!(read_to_close(&mut s), b"", "our FIN is answered with the server's");
    }
    let (status, rest) = server.terminate();
    assert!(status.success(), "{status}");
    let stats =
        rest.iter().find(|l| l.starts_with("stats: ")).unwrap_or_else(|| panic!("no stats in {rest:?}"));
    for want in ["accepted=2", "bytes_in=28", "bytes_out=28"] {
        assert!(stats.contains(want), "{want} missing from {stats:?}");
    }
}

#[test]
fn greet_sends_the_exact_banner_reads_hi_and_closes() {
    let server = Server::start(&["greet", "--listen", "127.0.0.1:0"]);
    let mut s = connect(server.addr());
    assert_eq!(read_exactly(&mut s, 44), b"Message received. Thank you for connecting\r\n");
    s.write_all(b"Hi").expect("write");
    assert_eq!(read_to_close(&mut s), b"", "nothing after the banner, then the close");
}

#[test]
fn greet_banner_escapes_become_bytes() {
    let server = Server::start(&["greet", "--listen", "127.0.0.1:0", "--banner", r"hello\r\n"]);
    let mut s = connect(server.addr());
    assert_eq!(read_exactly(&mut s, 7), b"hello\r\n");
    s.write_all(b"Hi").expect("write");
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn ack_over_ipv6_acknowledges_each_message_and_exit_closes() {
    let server = Server::start(&["ack", "--listen", "[::1]:0"]);
    assert!(server.addr().is_ipv6());
    let mut s = connect(server.addr());
    for _ in 0..5 {
        s.write_all(b"Hii Server").expect("write");
        assert_eq!(read_exactly(&mut s, 15), b"Acknowledgement");
    }
    s.write_all(b"exit").expect("write");
    assert_eq!(read_to_close(&mut s), b"", "no reply to exit, no stray bytes before it");
}

#[test]
fn connect_sends_stdin_prints_the_echo_and_exits_0_when_the_server_closes() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let addr = server.addr().to_string();
    let (status, stdout, stderr) = run(&["connect", &addr], b"hello\nworld\n");
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&stdout), "hello\nworld\n");
}

/// Megabytes each way through an echo server: the client must read the server while it
/// writes to it, or both ends stop with full queues.
#[test]
fn connect_streams_megabytes_through_an_echo_server_without_stalling() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let input: Vec<u8> = (0..48u32 << 20).map(|i| (i % 251) as u8).collect();
    let (status, stdout, stderr) = run(&["connect", &server.addr().to_string()], &input);
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert_eq!(stdout.len(), input.len());
    assert!(stdout == input, "the echo differs from the input");
}

#[test]
fn connect_to_a_closed_port_exits_1_with_a_message() {
    let addr = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("local addr")
    }; // closed again: connecting is refused
    let (status, stdout, stderr) = run(&["connect", &addr.to_string()], b"");
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.starts_with(&format!("sockloop: cannot connect to {addr}: ")), "{stderr:?}");
    assert_eq!(stdout, b"");
}

#[test]
fn bad_listen_addresses_exit_1_with_one_line() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let taken = taken.local_addr().map(|a| (a.to_string(), taken)).expect("local addr");
    for (listen, want) in [
        ("nonsense", "sockloop: bad --listen address \"nonsense\": "),
        ("127.0.0.1:99999", "sockloop: bad --listen address \"127.0.0.1:99999\": "),
        (taken.0.as_str(), &format!("sockloop: cannot listen on {}: ", taken.0)),
    ] {
        let (status, stdout, stderr) = run(&["serve", "echo", "--listen", listen], b"");
        assert_eq!(status.code(), Some(1), "--listen {listen}: {stderr}");
        assert!(stderr.starts_with(want), "--listen {listen}: {stderr:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr:?}");
        assert_eq!(stdout, b"", "nothing listened on");
    }
}

#[test]
fn every_subcommand_help_shows_examples() {
    let cases: [&[&str]; 6] = [
        &["--help"],
        &["serve", "--help"],
        &["serve", "echo", "--help"],
        &["serve", "greet", "--help"],
        &["serve", "ack", "--help"],
        &["connect", "--help"],
    ];
    for args in cases {
        let (status, stdout, _) = run(args, b"");
        assert!(status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&stdout).contains("Examples:"), "{args:?}");
    }
}
