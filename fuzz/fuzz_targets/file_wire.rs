//! The file protocol's parsers and both of its state machines on arbitrary bytes.
//!
//!     RUSTC_BOOTSTRAP=1 cargo fuzz run file_wire -- -max_total_time=300
//!
//! Input: byte 0 picks the read size (low 5 bits) and whether the client's stream starts
//! with a good `OK` and `FILE` header (bit 5) and the server's with the right `AUTH`
//! (bit 6), so that the fuzzer spends its time past them; the rest is the stream.
//! Besides "never panics":
//! a request or reply line that parses parses the same once written out again; a decoded
//! name encodes and decodes back to itself; the client, reading the bytes as a server's
//! answer, holds at most one line and reports `Complete` only for bytes whose size and
//! BLAKE3 are the header's (a wrong file is never taken); the server, reading them as a
//! client's requests, holds at most one line.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sockloop::protocols::file::client::TAG;
use sockloop::protocols::file::paths::Root;
use sockloop::protocols::file::wire::{self, MAX_LINE, Reply, Request};
use sockloop::protocols::file::{FileServer, GetClient, Hashed, Mode, Outcome, Secret};
use sockloop::testing::TestTransport;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;

/// A root with one small file, made once per fuzzing process.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("sockloop-fuzz-file-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        std::fs::write(dir.join("a.txt"), b"hello").expect("temp file");
        dir
    })
}

fn lines(stream: &[u8]) {
    for line in stream.split(|&b| b == b'\n') {
        if let Ok(Request::Get { name, offset }) = wire::parse_request(line) {
            let again = format!("GET {} {offset}", wire::encode_name(&name));
            assert_eq!(wire::parse_request(again.as_bytes()), Ok(Request::Get { name, offset }));
        }
        if let Ok(reply) = Reply::parse(line) {
            let written = reply.line();
            assert_eq!(Reply::parse(&written[..written.len() - 1]), Ok(reply));
        }
        if let Some(name) = wire::decode_name(line) {
            assert_eq!(wire::decode_name(wire::encode_name(&name).as_bytes()), Some(name));
        }
    }
}

fn client(stream: &[u8], read: usize) {
    let server: SocketAddr = "127.0.0.1:7000".parse().expect("a literal address");
    let mode = Mode::Ours { token: b"tok".to_vec(), name: b"a.txt".to_vec() };
    let mut t = TestTransport::new(GetClient::new(vec![server], mode, Hashed::new(Vec::new()), 0));
    let c = t.complete_connect(TAG, server);
    for piece in stream.chunks(read) {
        t.feed(c, piece);
        assert!(t.held(c).len() <= MAX_LINE + 1, "the client held {} bytes", t.held(c).len());
    }
    t.eof(c);
    if let Some(Outcome::Complete { size, checksum }) = t.handler().outcome() {
        let got = t.handler().sink().get_ref();
        assert_eq!(got.len() as u64, *size);
        assert_eq!(blake3::hash(got), *checksum);
    }
}

fn server(stream: &[u8], read: usize) {
    let root = Root::new(root()).expect("the fuzz root");
    let mut t = TestTransport::new(FileServer::new(root, Secret::new(b"tok")));
    let c = t.accept();
    for piece in stream.chunks(read) {
        t.feed(c, piece);
        assert!(t.held(c).len() <= MAX_LINE + 1, "the server held {} bytes", t.held(c).len());
    }
    t.eof(c);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else { return };
    let read = usize::from(first % 32) + 1;
    lines(stream);
    let prefixed = |on: bool, head: &[u8]| if on { [head, stream].concat() } else { stream.to_vec() };
    let header = format!("OK\nFILE 5 {}\n", blake3::hash(b"hello").to_hex());
    client(&prefixed(first & 0x20 != 0, header.as_bytes()), read);
    server(&prefixed(first & 0x40 != 0, b"AUTH tok\n"), read);
});
