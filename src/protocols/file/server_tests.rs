//! The server state machine on a [`TestTransport`]: no sockets, virtual time.

use super::auth::FIRST_DELAY;
use super::checksum::STEP;
use super::server::NEXT_TURN;
use super::{FileServer, Root, Secret};
use crate::CloseReason;
use crate::testing::{SentFile, TestTransport};
use std::os::unix::fs::symlink;
use std::time::Duration;

struct Fixture {
    _top: tempfile::TempDir,
    t: TestTransport<FileServer>,
}

/// root/{hello.txt, big.bin (2.5 hashing steps), sub/}, ../outside.txt, root/out -> it.
fn fixture() -> Fixture {
    let top = tempfile::tempdir().expect("temp dir");
    let root = top.path().join("root");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::write(root.join("hello.txt"), b"hello").expect("write");
    std::fs::write(root.join("big.bin"), big()).expect("write");
    std::fs::write(top.path().join("outside.txt"), b"secret").expect("write");
    symlink(top.path().join("outside.txt"), root.join("out")).expect("symlink");
    let server = FileServer::new(Root::new(&root).expect("root"), Secret::new(b"tok"));
    Fixture { _top: top, t: TestTransport::new(server) }
}

fn big() -> Vec<u8> {
    (0..STEP * 5 / 2).map(|i| (i % 253) as u8).collect()
}

fn header(content: &[u8]) -> Vec<u8> {
    format!("FILE {} {}\n", content.len(), blake3::hash(content).to_hex()).into_bytes()
}

fn authed(f: &mut Fixture) -> crate::ConnId {
    let c = f.t.accept();
    f.t.feed(c, b"AUTH tok\n");
    assert_eq!(f.t.take_output(c), b"OK\n");
    c
}

#[test]
fn auth_then_get_streams_header_and_file_range() {
    let mut f = fixture();
    let c = authed(&mut f);
    f.t.feed(c, b"GET hello.txt\n");
    assert_eq!(f.t.take_output(c), [header(b"hello"), b"hello".to_vec()].concat());
    assert_eq!(f.t.file_sends(c), [SentFile { offset: 0, len: 5 }], "sent as a range, not as bytes");
    assert!(!f.t.is_paused(c), "reading resumes once the file is out");
    f.t.eof(c);
    assert_eq!(f.t.closed(c), Some(CloseReason::PeerClosed));
}

#[test]
fn resume_sends_from_the_offset_with_the_whole_files_checksum() {
    let mut f = fixture();
    let c = authed(&mut f);
    f.t.feed(c, b"GET hello.txt 2\r\n");
    assert_eq!(f.t.take_output(c), [header(b"hello"), b"llo".to_vec()].concat());
    f.t.feed(c, b"GET hello.txt 5\n");
    assert_eq!(f.t.take_output(c), header(b"hello"), "nothing left to send");
    f.t.feed(c, b"GET hello.txt 6\n");
    assert_eq!(f.t.take_output(c), b"ERR 416 offset beyond end of file\n");
    assert_eq!(f.t.closed(c), None);
}

#[test]
fn a_cold_file_is_hashed_in_steps_while_others_are_served_then_cached() {
    let mut f = fixture();
    let c = authed(&mut f);
    f.t.feed(c, b"GET big.bin\n");
    assert_eq!(f.t.take_output(c), b"", "hashing: one step so far");
    assert!(f.t.is_paused(c));
    let other = authed(&mut f);
    f.t.feed(other, b"GET hello.txt\n");
    assert_eq!(f.t.take_output(other), [header(b"hello"), b"hello".to_vec()].concat());
    f.t.advance(NEXT_TURN);
    assert_eq!(f.t.take_output(c), b"", "step two of three");
    f.t.advance(NEXT_TURN);
    let content = big();
    assert_eq!(f.t.take_output(c), [header(&content), content.clone()].concat());
    let again = authed(&mut f);
    f.t.feed(again, b"GET big.bin 100\n");
    assert_eq!(f.t.take_output(again), [header(&content), content[100..].to_vec()].concat(), "cached");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut f = fixture();
    let c = f.t.accept();
    f.t.feed(c, b"AUTH tok\nGET big.bin\nGET hello.txt\nGET nope\n");
    assert_eq!(f.t.take_output(c), b"OK\n");
    f.t.advance(Duration::from_millis(1));
    let content = big();
    let want =
        [header(&content), content, header(b"hello"), b"hello".to_vec(), b"ERR 404 not found\n".to_vec()];
    assert_eq!(f.t.take_output(c), want.concat());
}

#[test]
fn an_unterminated_last_request_is_refused_not_guessed_at() {
    let mut f = fixture();
    let c = authed(&mut f);
    f.t.feed(c, b"GET hello.t");
    f.t.feed(c, b"xt");
    f.t.eof(c);
    assert_eq!(f.t.take_output(c), b"ERR 400 request not terminated by a newline\n");
    assert!(f.t.file_sends(c).is_empty());
    assert_eq!(f.t.closed(c), Some(CloseReason::PeerClosed));

    let c = f.t.accept();
    f.t.feed(c, b"AUTH tok");
    f.t.eof(c);
    assert_eq!(f.t.take_output(c), b"ERR 400 request not terminated by a newline\n");
}

#[test]
fn requests_sent_before_the_eof_are_all_answered_even_while_busy() {
    let mut f = fixture();
    let c = f.t.accept();
    f.t.feed(c, b"AUTH tok\nGET big.bin\nGET hello.txt\nGET hel");
    f.t.eof(c);
    assert_eq!(f.t.take_output(c), b"OK\n");
    assert_eq!(f.t.closed(c), None, "big.bin is still being hashed");
    f.t.advance(Duration::from_millis(1));
    let content = big();
    let want = [
        header(&content),
        content,
        header(b"hello"),
        b"hello".to_vec(),
        b"ERR 400 request not terminated by a newline\n".to_vec(),
    ];
    assert_eq!(f.t.take_output(c), want.concat());
    assert_eq!(f.t.closed(c), Some(CloseReason::PeerClosed));
}

#[test]
fn refusals_get_a_code_and_keep_the_connection() {
    let mut f = fixture();
    let c = authed(&mut f);
    for (request, reply) in [
        (&b"GET nope.txt\n"[..], &b"ERR 404 not found\n"[..]),
        (b"GET ../outside.txt\n", b"ERR 403 not allowed\n"),
        (b"GET sub/../../outside.txt\n", b"ERR 403 not allowed\n"),
        (b"GET /etc/passwd\n", b"ERR 403 not allowed\n"),
        (b"GET out\n", b"ERR 403 not allowed\n"),
        (b"GET sub\n", b"ERR 403 is a directory\n"),
        (b"GET hello.txt -1\n", b"ERR 400 bad offset\n"),
        (b"GET\n", b"ERR 400 bad request\n"),
        (b"PUT x\n", b"ERR 400 bad request\n"),
        (b"AUTH tok\n", b"ERR 400 already authenticated\n"),
    ] {
        f.t.feed(c, request);
        assert_eq!(f.t.take_output(c), reply, "{:?}", String::from_utf8_lossy(request));
        assert_eq!(f.t.closed(c), None);
    }
    f.t.feed(c, b"GET hello.txt\n");
    assert_eq!(f.t.take_output(c), [header(b"hello"), b"hello".to_vec()].concat(), "still usable");
}

#[test]
fn a_wrong_token_is_answered_late_and_later_each_time_then_closed() {
    let mut f = fixture();
    for delay in [FIRST_DELAY, FIRST_DELAY * 2, FIRST_DELAY * 4] {
        let c = f.t.accept();
        f.t.feed(c, b"AUTH guess\nGET hello.txt\n");
        f.t.advance(delay - Duration::from_millis(1));
        assert_eq!(f.t.take_output(c), b"", "not answered before {delay:?}");
        f.t.advance(Duration::from_millis(1));
        assert_eq!(f.t.take_output(c), b"ERR 401 bad token\n");
        assert_eq!(f.t.closed(c), Some(CloseReason::Local));
    }
    let c = authed(&mut f);
    f.t.eof(c);
    let c = f.t.accept();
    f.t.feed(c, b"AUTH guess\n");
    f.t.advance(FIRST_DELAY);
    assert_eq!(f.t.take_output(c), b"ERR 401 bad token\n", "a success resets the delay");
}

#[test]
fn requests_before_auth_and_overlong_lines_close() {
    let mut f = fixture();
    let c = f.t.accept();
    f.t.feed(c, b"GET hello.txt\n");
    assert_eq!(f.t.take_output(c), b"ERR 401 authenticate first\n");
    assert!(f.t.closed(c).is_some());
    let c = authed(&mut f);
    f.t.feed(c, &vec![b'x'; 5000]);
    assert_eq!(f.t.take_output(c), b"ERR 400 line too long\n");
    assert!(f.t.closed(c).is_some());
}

#[test]
fn a_request_split_across_reads_is_answered_once_whole() {
    let mut f = fixture();
    let c = f.t.accept();
    for piece in [&b"AU"[..], b"TH tok\nGE", b"T hel", b"lo.txt", b"\n"] {
        f.t.feed(c, piece);
    }
    assert_eq!(f.t.take_output(c), [b"OK\n".to_vec(), header(b"hello"), b"hello".to_vec()].concat());
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// However the client's bytes are cut into reads, the answers are the same.
    #[test]
    fn any_split_of_the_requests_gives_the_same_answers(cuts in proptest::collection::vec(0usize..60, 0..6)) {
        let input = b"AUTH tok\nGET hello.txt 1\nGET nope\r\nGET sub\nGET hello.txt\n";
        let mut f = fixture();
        let c = f.t.accept();
        let mut cuts: Vec<usize> = cuts.into_iter().map(|n| n.min(input.len())).collect();
        cuts.sort_unstable();
        let mut at = 0;
        for cut in cuts.into_iter().chain([input.len()]) {
            f.t.feed(c, &input[at..cut]);
            at = cut;
        }
        let want = [
            b"OK\n".to_vec(),
            header(b"hello"),
            b"ello".to_vec(),
            b"ERR 404 not found\n".to_vec(),
            b"ERR 403 is a directory\n".to_vec(),
            header(b"hello"),
            b"hello".to_vec(),
        ];
        proptest::prop_assert_eq!(f.t.take_output(c), want.concat());
    }
}
