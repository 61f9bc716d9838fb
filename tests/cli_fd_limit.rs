//! A server that runs out of file descriptors must keep serving the connections it has,
//! pause accepting (never spin on EMFILE, never exit), and accept the waiting clients once
//! descriptors free up. Run as a real process with a tiny RLIMIT_NOFILE, since the limit is
//! per process and would starve the test harness itself.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const LIMIT: Duration = Duration::from_secs(10);

fn echo_once(s: &mut TcpStream, msg: &[u8]) -> Vec<u8> {
    s.write_all(msg).expect("write");
    let mut got = vec![0; msg.len()];
    s.read_exact(&mut got).expect("echo within the read timeout");
    got
}

#[test]
fn emfile_pauses_accepting_keeps_serving_and_recovers() {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sockloop"));
    cmd.args(["serve", "echo", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe and touches only the child being set up.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit { rlim_cur: 24, rlim_max: 24 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("spawn sockloop");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    stdout.read_line(&mut line).expect("listening line");
    let addr: SocketAddr =
        line.trim().strip_prefix("listening on ").expect("listening on").parse().expect("addr");
    let (warn_tx, warnings) = mpsc::channel();
    let stderr = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for l in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = warn_tx.send(l);
        }
    });

    // Far more clients than the server has descriptors: the kernel completes every
    // handshake (backlog), the server can accept only some of them.
    let mut clients: Vec<TcpStream> = (0..40)
        .map(|_| {
            let s = TcpStream::connect(addr).expect("connect");
            s.set_read_timeout(Some(LIMIT)).expect("timeout");
            s
        })
        .collect();
    let first_warning = warnings.recv_timeout(LIMIT).expect("a warning about descriptors");
    assert!(first_warning.contains("pausing accepts"), "{first_warning}");

    // The ones accepted are served while accepting is paused.
    assert_eq!(echo_once(&mut clients[0], b"still here"), b"still here");

    // Let time pass while exhausted: a spinning loop would burn through polls meanwhile.
    std::thread::sleep(Duration::from_millis(500));

    // Clients leave one by one from the front; every waiting one is accepted and served.
    let deadline = Instant::now() + LIMIT;
    while let Some(mut c) = (!clients.is_empty()).then(|| clients.remove(0)) {
        assert!(Instant::now() < deadline, "clients were not all served in time");
        let msg = format!("client {}", clients.len());
        assert_eq!(echo_once(&mut c, msg.as_bytes()), msg.as_bytes());
    }

    // SAFETY: kill(2) on the child we spawned and have not reaped.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).expect("stats");
    let status = child.wait().expect("wait");
    assert!(status.success(), "{status}");
    let polls: u64 = rest
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("polls="))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no polls= in {rest:?}"));
    // About ten polls a second while paused (the 100 ms accept pause), plus the traffic.
    assert!(polls < 2_000, "the loop spun while out of descriptors: {polls} polls");
    let accepted: u64 = rest
        .split_whitespace()
        .find_map(|kv| kv.strip_prefix("accepted="))
        .and_then(|v| v.parse().ok())
        .expect("accepted=");
    assert_eq!(accepted, 40);
    let warned = warnings.try_iter().filter(|l| l.contains("pausing accepts")).count() + 1;
    assert!(warned < 20, "logged {warned} times: once per exhaustion episode, not per attempt");
}
