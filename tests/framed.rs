//! framed over real sockets on 127.0.0.1 and [::1]: the classic client's exchange byte for
//! byte, frames split and glued, bad headers, both header formats; then the binary's
//! server and client as a user runs them. Every wait is bounded.

mod common;
#[path = "support/process.rs"]
mod process;

use common::{Server, connect, expect_closed, expect_eof, read_exactly, v4, v6};
use process::{ServeProc, run};
use sockloop::protocols::framed::{Codec, DISCONNECT, Framed, Header, REPLY};
use sockloop::{CloseReason, Config, Reactor};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};

/// `b'33' + b' ' * 62 + b'Message received successfully....'`
fn classic_reply() -> Vec<u8> {
    let mut r = b"33".to_vec();
    r.resize(64, b' ');
    r.extend_from_slice(REPLY);
    assert_eq!(r.len(), 97);
    r
}

fn frame(codec: &Codec, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    codec.encode(payload, &mut f).expect("encodable");
    f
}

fn server(codec: Codec, reply: &[u8]) -> Server<()> {
    let framed = Framed::new(codec, reply).expect("a short reply");
    let config = Config { max_input: codec.max_input(), ..Config::default() };
    Server::with(&[v4(), v6()], framed, config, |_: &mut Reactor<Framed>| ())
}

/// The classic `client.py`: four payloads, each as a header `send()` then a payload
/// `send()`, each reply read whole; the server closes after the last.
fn classic_client(addr: SocketAddr) {
    let mut s = connect(addr);
    s.set_nodelay(true).expect("nodelay");
    for payload in ["Hello, this is Prashanth !", "Connection Success !", "Successful Done !", "Disconnect !"]
    {
        let mut header = payload.len().to_string().into_bytes();
        header.resize(64, b' ');
        s.write_all(&header).expect("header");
        s.write_all(payload.as_bytes()).expect("payload");
        assert_eq!(read_exactly(&mut s, 97), classic_reply(), "reply to {payload:?}");
    }
    expect_eof(&mut s);
}

#[test]
fn the_classic_client_exchange_on_both_families() {
    let server = server(Codec::default(), REPLY);
    for addr in server.addrs.clone() {
        classic_client(addr);
    }
    let handle = server.handle.clone();
    server.stop();
    assert_eq!(handle.stats().closed(CloseReason::Local), 2, "{}", handle.stats());
}

#[test]
fn frames_split_byte_by_byte_or_glued_together_are_each_answered() {
    for header in [Header::Ascii64, Header::U32] {
        let codec = Codec::new(header, 1 << 20);
        let server = server(codec, b"ok");
        let payloads: [&[u8]; 4] = [b"", b"first", &[0xff; 3000], b""];
        let stream: Vec<u8> = payloads.iter().flat_map(|p| frame(&codec, p)).collect();
        let reply = frame(&codec, b"ok");
        // Glued: one write. Split: a byte per write.
        let mut glued = connect(server.addr());
        glued.write_all(&stream).expect("write");
        assert_eq!(read_exactly(&mut glued, reply.len() * 4), reply.repeat(4));
        let mut split = connect(server.addrs[1]);
        split.set_nodelay(true).expect("nodelay");
        for b in &stream[..200] {
            split.write_all(std::slice::from_ref(b)).expect("write");
        }
        split.write_all(&stream[200..]).expect("write");
        assert_eq!(read_exactly(&mut split, reply.len() * 4), reply.repeat(4));
        split.write_all(&frame(&codec, DISCONNECT)).expect("write");
        assert_eq!(read_exactly(&mut split, reply.len()), reply);
        expect_eof(&mut split);
    }
}

#[test]
fn bad_headers_close_only_their_own_connection() {
    let server = server(Codec::new(Header::Ascii64, 1000), REPLY);
    let mut good = connect(server.addr());
    for bad in ["abc", "-5", "1001", "99999999999999999999999999999999", ""] {
        let mut s = connect(server.addr());
        s.write_all(format!("{bad:<64}").as_bytes()).expect("write");
        // Refused on the header alone: no payload is waited for, and no reply is sent.
        expect_closed(&mut s);
        good.write_all(&frame(&Codec::default(), b"still fine")).expect("write");
        assert_eq!(read_exactly(&mut good, 97), classic_reply(), "after {bad:?}");
    }
    let handle = server.handle.clone();
    server.stop();
    assert_eq!(handle.stats().closed(CloseReason::Local), 5, "{}", handle.stats());
}

#[test]
fn eof_mid_frame_closes() {
    let server = server(Codec::default(), REPLY);
    let mut s = connect(server.addrs[1]);
    s.write_all(&frame(&Codec::default(), b"abcdef")[..67]).expect("write");
    s.shutdown(std::net::Shutdown::Write).expect("shutdown");
    expect_eof(&mut s);
}

// ---- the binary ------------------------------------------------------------------------

#[test]
fn the_framed_client_talks_to_serve_framed_and_exits_after_disconnect() {
    let server = ServeProc::start(&["framed", "--listen", "127.0.0.1:0", "--listen", "[::1]:0"]);
    for addr in server.addrs.clone() {
        let input = b"Hello, this is Prashanth !\nConnection Success !\n\nDisconnect !\nnever sent\n";
        let (status, stdout, stderr) = run(&["framed", &addr.to_string()], input);
        assert!(status.success(), "{status}; {stderr}");
        assert_eq!(String::from_utf8_lossy(&stdout), "Message received successfully....\n".repeat(4));
    }
    let (status, rest) = server.terminate();
    assert!(status.success(), "{status}");
    let stats = rest.iter().find(|l| l.starts_with("stats: ")).expect("a stats line");
    assert!(stats.contains("accepted=2"), "{stats}");
}

#[test]
fn the_client_waits_for_its_replies_when_stdin_ends_and_u32_headers_work_end_to_end() {
    let server =
        ServeProc::start(&["framed", "--header", "u32", "--reply", r"got it\n", "--listen", "[::1]:0"]);
    let addr = server.addr().to_string();
    let (status, stdout, stderr) = run(&["framed", &addr, "--header", "u32"], b"one\ntwo\r\nthree");
    assert!(status.success(), "{status}; {stderr}");
    assert_eq!(String::from_utf8_lossy(&stdout), "got it\n\n".repeat(3));
    let (status, stdout, stderr) = run(&["framed", &addr, "--header", "u32"], b"");
    assert!(status.success(), "{status}; {stderr}");
    assert_eq!(stdout, b"", "no input, no frames, no replies");
}

#[test]
fn serve_framed_answers_a_raw_classic_client_and_a_bad_header_is_logged_and_closed() {
    let server = ServeProc::start(&["framed", "--listen", "127.0.0.1:0", "--max-frame", "1K"]);
    classic_client(server.addr());
    let mut s = connect(server.addr());
    s.write_all(format!("{:<64}", 2048).as_bytes()).expect("write");
    expect_closed(&mut s);
    let (status, _) = server.terminate();
    assert!(status.success());
}

#[test]
fn the_client_reports_a_refused_connect_and_a_bad_reply() {
    let closed = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port");
    let (status, _, stderr) = run(&["framed", &closed.to_string()], b"hi\n");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with(&format!("sockloop: cannot connect to {closed}: ")), "{stderr}");

    // A server that answers with garbage instead of a header.
    let liar = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = liar.local_addr().expect("addr").to_string();
    let answer = std::thread::spawn(move || {
        let (mut s, _) = liar.accept().expect("accept");
        let mut header = [0; 66];
        s.read_exact(&mut header).expect("the frame");
        s.write_all(&[b'x'; 64]).expect("write");
        let _ = s.read(&mut header);
    });
    let (status, stdout, stderr) = run(&["framed", &addr], b"hi\n");
    answer.join().expect("liar");
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bad reply from the server: frame header is not a length"), "{stderr}");
    assert_eq!(stdout, b"");
}

#[test]
fn help_shows_examples() {
    for args in [&["framed", "--help"][..], &["serve", "framed", "--help"]] {
        let (status, stdout, _) = run(args, b"");
        assert!(status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&stdout).contains("Examples:"), "{args:?}");
    }
}
