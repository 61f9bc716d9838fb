//! The `sockloop` binary as a user runs it, as a separate process: a server that prints its
//! addresses (optionally with its console on a pipe), and a client run to its end with a
//! given stdin. Every wait has a deadline; a process that hangs is killed and the test
//! fails. Reactors run inside the test process, and client sockets, are `common/`.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_sockloop");
pub const LIMIT: Duration = Duration::from_secs(10);

/// A `sockloop serve` process; killed on drop if a test fails before it ends.
pub struct ServeProc {
    child: Child,
    /// The server's console, with [`ServeProc::start_with_console`].
    stdin: Option<ChildStdin>,
    stdout: Receiver<String>,
    pub addrs: Vec<SocketAddr>,
}

impl ServeProc {
    /// Starts `sockloop serve ARGS` and waits for one `listening on` line per `--listen`.
    pub fn start(args: &[&str]) -> ServeProc {
        ServeProc::spawn(args, Stdio::null())
    }

    /// [`ServeProc::start`] with stdin on a pipe, for [`ServeProc::console`].
    pub fn start_with_console(args: &[&str]) -> ServeProc {
        ServeProc::spawn(args, Stdio::piped())
    }

    fn spawn(args: &[&str], stdin: Stdio) -> ServeProc {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .env("RUST_LOG", "warn")
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn sockloop");
        let stdout = lines_of(child.stdout.take().expect("piped stdout"));
        let mut server = ServeProc { stdin: child.stdin.take(), child, stdout, addrs: Vec::new() };
        for _ in 0..args.iter().filter(|a| **a == "--listen").count() {
            let line = server.next_line();
            let addr = line.strip_prefix("listening on ").unwrap_or_else(|| panic!("unexpected {line:?}"));
            server.addrs.push(addr.parse().unwrap_or_else(|e| panic!("{addr:?}: {e}")));
        }
        server
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn next_line(&self) -> String {
        self.stdout
            .recv_timeout(LIMIT)
            .unwrap_or_else(|e| panic!("no line from the server in {LIMIT:?}: {e}"))
    }

    /// Types `text` at the server's console.
    pub fn console(&mut self, text: &str) {
        let stdin = self.stdin.as_mut().expect("started with a console");
        stdin.write_all(text.as_bytes()).and_then(|()| stdin.flush()).expect("write to the console");
    }

    /// Waits (bounded) for the server to exit by itself; returns its status and the rest
    /// of its stdout.
    pub fn wait(mut self) -> (ExitStatus, Vec<String>) {
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

    /// SIGTERM, as an init system would send, then [`ServeProc::wait`].
    pub fn terminate(self) -> (ExitStatus, Vec<String>) {
        let pid = i32::try_from(self.child.id()).expect("pid fits in pid_t");
        // SAFETY: kill(2) with a pid we spawned and have not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0, "kill failed");
        self.wait()
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServeProc {
    fn drop(&mut self) {
        if self.is_running() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

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
pub fn wait_bounded(child: &mut Child) -> ExitStatus {
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

/// Runs a whole `sockloop` command with `stdin` as its input; returns status, stdout, stderr.
pub fn run(args: &[&str], stdin: &[u8]) -> (ExitStatus, Vec<u8>, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockloop");
    let mut input = child.stdin.take().expect("piped stdin");
    let stdin = stdin.to_vec();
    // As a shell pipe would; a client that exits early makes this fail with EPIPE: ignored.
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
