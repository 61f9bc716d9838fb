//! The client state machine on a [`TestTransport`], with a `Vec` as the file on disk.

use super::client::TAG;
use super::{GetClient, Hashed, Mode, Outcome, Progress};
use crate::ConnId;
use crate::testing::TestTransport;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::rc::Rc;

fn server() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 7000))
}

fn ours(sink: Hashed<Vec<u8>>, offset: u64) -> (TestTransport<GetClient<Hashed<Vec<u8>>>>, ConnId) {
    let mode = Mode::Ours { token: b"tok".to_vec(), name: b"my notes.txt".to_vec() };
    let mut t = TestTransport::new(GetClient::new(vec![server()], mode, sink, offset));
    let c = t.complete_connect(TAG, server());
    (t, c)
}

fn reply(content: &[u8]) -> Vec<u8> {
    let head = format!("OK\nFILE {} {}\n", content.len(), blake3::hash(content).to_hex());
    [head.as_bytes(), content].concat()
}

#[test]
fn auth_and_get_go_out_together_and_a_checked_file_completes() {
    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    assert_eq!(t.take_output(c), b"AUTH tok\nGET my%20notes.txt 0\n");
    t.feed(c, &reply(b"hello"));
    assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { size: 5, .. })));
    assert_eq!(t.handler().sink().get_ref(), b"hello");
    assert!(t.closed(c).is_some() && t.stop_requested());
}

#[test]
fn any_split_of_the_reply_gives_the_same_file() {
    let content: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
    let stream = reply(&content);
    for cut in 0..stream.len() {
        let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
        t.feed(c, &stream[..cut]);
        t.feed(c, &stream[cut..]);
        assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { .. })), "cut at {cut}");
        assert_eq!(t.handler().sink().get_ref(), &content, "cut at {cut}");
    }
}

#[test]
fn resume_asks_from_the_offset_and_checks_the_whole_file() {
    let mut hasher = blake3::Hasher::new();
    hasher.update(b"hel");
    let (mut t, c) = ours(Hashed::resuming(Vec::new(), hasher), 3);
    assert_eq!(t.take_output(c), b"AUTH tok\nGET my%20notes.txt 3\n");
    let head = format!("OK\nFILE 5 {}\n", blake3::hash(b"hello").to_hex());
    t.feed(c, head.as_bytes());
    t.feed(c, b"lo");
    assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { size: 5, .. })));
    assert_eq!(t.handler().sink().get_ref(), b"lo", "only the rest is written");
}

#[test]
fn wrong_bytes_are_corrupt() {
    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    let head = format!("OK\nFILE 5 {}\n", blake3::hash(b"hello").to_hex());
    t.feed(c, head.as_bytes());
    t.feed(c, b"jello");
    assert!(matches!(t.handler().outcome(), Some(Outcome::Corrupt { .. })));
}

#[test]
fn refusals_cuts_and_excess_are_told_apart() {
    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    t.feed(c, b"OK\nERR 404 not found\n");
    match t.handler().outcome() {
        Some(Outcome::Refused { code: 404, message }) => assert_eq!(message, "not found"),
        other => panic!("{other:?}"),
    }

    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    let stream = reply(b"hello");
    t.feed(c, &stream[..stream.len() - 2]);
    t.eof(c);
    assert!(matches!(t.handler().outcome(), Some(Outcome::Interrupted { received: 3, size: Some(5), .. })));

    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    t.feed(c, b"OK\n");
    t.reset(c);
    assert!(matches!(t.handler().outcome(), Some(Outcome::Failed(_))));

    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    t.feed(c, &[reply(b"hello"), b"!".to_vec()].concat());
    assert!(matches!(t.handler().outcome(), Some(Outcome::Failed(m)) if m.contains("more than")));
}

#[test]
fn a_reply_line_the_server_closed_without_its_newline_still_counts() {
    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    t.feed(c, b"OK\nERR 404 not fo");
    t.feed(c, b"und");
    t.eof(c);
    match t.handler().outcome() {
        Some(Outcome::Refused { code: 404, message }) => assert_eq!(message, "not found"),
        other => panic!("{other:?}"),
    }

    let (mut t, c) = ours(Hashed::new(Vec::new()), 0);
    t.feed(c, format!("OK\nFILE 0 {}", blake3::hash(b"").to_hex()).as_bytes());
    t.eof(c);
    assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { size: 0, .. })), "an empty file");
}

#[test]
fn a_reply_cut_short_by_the_close_is_named_in_the_error() {
    let (ours, classic) = (ours(Hashed::new(Vec::new()), 0), classic());
    for ((mut t, c), input, quoted) in
        [(ours, &b"OK\nFILE 5 af13"[..], "FILE 5 af13"), (classic, b"AUTH_SUCC", "AUTH_SUCC")]
    {
        t.feed(c, input);
        t.eof(c);
        match t.handler().outcome() {
            Some(Outcome::Failed(why)) => assert_eq!(
                *why,
                format!(
                    "the server closed the connection in the middle of a reply (\"{quoted}\") before sending the file"
                )
            ),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn progress_is_reported() {
    let seen = Rc::new(RefCell::new(Vec::new()));
    let log = seen.clone();
    let mode = Mode::Ours { token: b"tok".to_vec(), name: b"f".to_vec() };
    let client = GetClient::new(vec![server()], mode, Hashed::new(Vec::new()), 0)
        .observe(move |p| log.borrow_mut().push(p));
    let mut t = TestTransport::new(client);
    let c = t.complete_connect(TAG, server());
    t.feed(c, &reply(b"abc"));
    assert_eq!(*seen.borrow(), [Progress::Started { offset: 0, size: Some(3) }, Progress::Received(3)]);
}

fn classic() -> (TestTransport<GetClient<Hashed<Vec<u8>>>>, ConnId) {
    let mode = Mode::Classic { key: b"SECRET_KEY".to_vec() };
    let mut t = TestTransport::new(GetClient::new(vec![server()], mode, Hashed::new(Vec::new()), 0));
    let c = t.complete_connect(TAG, server());
    assert_eq!(t.take_output(c), b"SECRET_KEY", "the bare key, one write");
    (t, c)
}

#[test]
fn classic_keeps_bytes_glued_to_auth_success_and_ends_at_the_close() {
    let (mut t, c) = classic();
    t.feed(c, b"AUTH_");
    t.feed(c, b"SUCCESSabc");
    t.feed(c, b"def");
    assert!(t.handler().outcome().is_none(), "{:?}", t.handler().outcome());
    t.eof(c);
    assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { size: 6, .. })));
    assert_eq!(t.handler().sink().get_ref(), b"abcdef");
}

#[test]
fn classic_auth_error_is_a_refusal_and_a_reset_is_not_a_file() {
    let (mut t, c) = classic();
    t.feed(c, b"AUTH_ERROR");
    assert!(matches!(t.handler().outcome(), Some(Outcome::Refused { code: 401, .. })));

    let (mut t, c) = classic();
    t.feed(c, b"AUTH_SUCCESSab");
    t.reset(c);
    assert!(matches!(t.handler().outcome(), Some(Outcome::Interrupted { received: 2, size: None, .. })));
}

/// With a part file as the sink, the bytes after the header go to the file through the
/// transport (the reactor's `recv_file`), never through `data`, however the reply is cut;
/// what comes after the announced size is still caught.
#[test]
fn a_part_file_is_filled_by_the_transport_however_the_reply_is_cut() {
    use super::PartFile;
    let content: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
    let stream = reply(&content);
    let header = stream.len() - content.len();
    for cut in [0, 3, header - 1, header, header + 1, stream.len() - 1, stream.len()] {
        let file = tempfile::NamedTempFile::new().expect("temp file");
        let part = PartFile::new(file.reopen().expect("reopen"), 0).expect("part file");
        let mode = Mode::Ours { token: b"tok".to_vec(), name: b"f".to_vec() };
        let mut t = TestTransport::new(GetClient::new(vec![server()], mode, part, 0));
        let c = t.complete_connect(TAG, server());
        t.feed(c, &stream[..cut]);
        t.feed(c, &stream[cut..]);
        let outcome = t.handler().outcome();
        assert!(matches!(outcome, Some(Outcome::Complete { size: 5000, .. })), "cut at {cut}: {outcome:?}");
        assert!(std::fs::read(file.path()).expect("read") == content, "cut at {cut}");
    }
    // More than announced, in the same read: the range ends at the size, the rest is data.
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let part = PartFile::new(file.reopen().expect("reopen"), 0).expect("part file");
    let mode = Mode::Ours { token: b"tok".to_vec(), name: b"f".to_vec() };
    let mut t = TestTransport::new(GetClient::new(vec![server()], mode, part, 0));
    let c = t.complete_connect(TAG, server());
    let head = format!("OK\nFILE 3 {}\n", blake3::hash(b"abc").to_hex());
    t.feed(c, &[head.as_bytes(), b"abcdef"].concat());
    assert!(matches!(t.handler().outcome(), Some(Outcome::Complete { size: 3, .. })));
    assert_eq!(std::fs::read(file.path()).expect("read"), b"abc");
}

/// A file that cannot be written (a full disk, here a read-only descriptor) stops the
/// download as interrupted, not failed: what the part file holds can be resumed.
#[test]
fn a_part_file_that_cannot_be_written_interrupts_the_download() {
    use super::PartFile;
    let file = tempfile::NamedTempFile::new().expect("temp file");
    let read_only = std::fs::File::open(file.path()).expect("open");
    let part = PartFile::new(read_only, 0).expect("part file");
    let mode = Mode::Ours { token: b"tok".to_vec(), name: b"f".to_vec() };
    let mut t = TestTransport::new(GetClient::new(vec![server()], mode, part, 0));
    let c = t.complete_connect(TAG, server());
    t.feed(c, &reply(b"hello"));
    match t.handler().outcome() {
        Some(Outcome::Interrupted { received: 0, size: Some(5), why }) => {
            assert!(why.starts_with("cannot write the file"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert!(t.closed(c).is_some() && t.stop_requested());
}
