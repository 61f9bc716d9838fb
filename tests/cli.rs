//! The `sockloop` binary as a user runs it: real processes, real sockets on 127.0.0.1 and
//! [::1], port 0, and every wait bounded (a stuck server fails the test, it does not hang it).

mod common;
#[path = "support/process.rs"]
mod process;

use common::{connect, read_exactly, read_to_close};
use process::{ServeProc, run};
use std::io::Write;
use std::net::{Shutdown, TcpListener};

#[test]
fn echo_on_two_families_then_sigterm_prints_the_stats() {
    let server = ServeProc::start(&["echo", "--listen", "127.0.0.1:0", "--listen", "[::1]:0"]);
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
    let server = ServeProc::start(&["greet", "--listen", "127.0.0.1:0"]);
    let mut s = connect(server.addr());
    assert_eq!(read_exactly(&mut s, 44), b"Message received. Thank you for connecting\r\n");
    s.write_all(b"Hi").expect("write");
    assert_eq!(read_to_close(&mut s), b"", "nothing after the banner, then the close");
}

#[test]
fn greet_banner_escapes_become_bytes() {
    let server = ServeProc::start(&["greet", "--listen", "127.0.0.1:0", "--banner", r"hello\r\n"]);
    let mut s = connect(server.addr());
    assert_eq!(read_exactly(&mut s, 7), b"hello\r\n");
    s.write_all(b"Hi").expect("write");
    assert_eq!(read_to_close(&mut s), b"");
}

#[test]
fn ack_over_ipv6_acknowledges_each_message_and_exit_closes() {
    let server = ServeProc::start(&["ack", "--listen", "[::1]:0"]);
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
    let server = ServeProc::start(&["echo", "--listen", "127.0.0.1:0"]);
    let addr = server.addr().to_string();
    let (status, stdout, stderr) = run(&["connect", &addr], b"hello\nworld\n");
    assert!(status.success(), "{status}; stderr: {stderr}");
    assert_eq!(String::from_utf8_lossy(&stdout), "hello\nworld\n");
}

/// Megabytes each way through an echo server: the client must read the server while it
/// writes to it, or both ends stop with full queues.
#[test]
fn connect_streams_megabytes_through_an_echo_server_without_stalling() {
    let server = ServeProc::start(&["echo", "--listen", "127.0.0.1:0"]);
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
