//! `Context::recv_file`: a connection's input straight into a file, with `splice(2)` and
//! through the read buffer, over real loopback sockets.

mod common;

use common::*;
use sockloop::{ConnId, ConnInfo, Context, Handler, Reactor};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Reads a header line, `LEN` (or `all`, until the end of input; `ro LEN`: into a file
/// opened read-only, which cannot be written; `append LEN`: opened for appending, which
/// splice refuses), receives that many bytes into the file `dir/<conn id>`, answers
/// `got LEN`, then echoes whatever follows.
struct Catcher {
    dir: PathBuf,
    log: Arc<Mutex<Vec<String>>>,
}

#[derive(Default)]
struct Catch {
    want: Option<u64>,
    got: u64,
}

impl Catcher {
    fn note(&self, line: String) {
        self.log.lock().expect("log").push(line);
    }
}

impl Handler for Catcher {
    type Conn = Catch;

    fn connected(&mut self, _ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) -> Catch {
        Catch::default()
    }

    fn data(&mut self, conn: &mut Catch, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if conn.want.is_some() {
            ctx.write(data);
            return data.len();
        }
        let Some(end) = data.iter().position(|&b| b == b'\n') else { return 0 };
        let header = String::from_utf8_lossy(&data[..end]).into_owned();
        let (read_only, append, len) = match (header.strip_prefix("ro "), header.strip_prefix("append ")) {
            (Some(len), _) => (true, false, len),
            (_, Some(len)) => (false, true, len),
            _ => (false, false, header.as_str()),
        };
        let len = if len == "all" { u64::MAX } else { len.parse().expect("a length") };
        let path = self.dir.join(ctx.id().expect("a connection").to_string());
        if read_only {
            File::create(&path).expect("create");
        }
        let file = OpenOptions::new()
            .read(true)
            .write(!read_only)
            .append(append)
            .create(!read_only)
            .open(&path)
            .expect("open");
        conn.want = Some(len);
        ctx.recv_file(Rc::new(file), 0, len);
        end + 1 // what follows the header is the file's
    }

    fn received_to_file(&mut self, conn: &mut Catch, ctx: &mut Context<'_>, got: io::Result<u64>) {
        match got {
            Ok(n) => {
                conn.got += n;
                if Some(conn.got) == conn.want {
                    ctx.write(format!("got {}\n", conn.got).as_bytes());
                }
            }
            Err(e) => self.note(format!("error after {}: {}", conn.got, e.kind())),
        }
    }

    fn eof(&mut self, conn: &mut Catch, ctx: &mut Context<'_>, rest: &[u8]) {
        self.note(format!("eof after {} ({} left over)", conn.got, rest.len()));
        ctx.close();
    }
}

type Log = Arc<Mutex<Vec<String>>>;

fn catcher(listen: SocketAddr, splice: bool, read_budget: usize) -> (Server<()>, tempfile::TempDir, Log) {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = Log::default();
    let handler = Catcher { dir: dir.path().to_path_buf(), log: log.clone() };
    let config = sockloop::Config { splice, read_budget, ..sockloop::Config::default() };
    let server = Server::start(&[listen], move || Reactor::new(handler, config), |_| ());
    (server, dir, log)
}

/// The only file the catcher wrote.
fn caught(dir: &tempfile::TempDir) -> Vec<u8> {
    let mut files = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("entry").path());
    let path = files.next().expect("a file");
    assert!(files.next().is_none(), "one file");
    std::fs::read(path).expect("read")
}

/// Sends `{mode}{LEN}\n`, LEN bytes and `tail` in one write; checks the reply (`got LEN`,
/// then the tail echoed by `data`) and that the file holds exactly the LEN bytes.
fn range_then_tail(listen: SocketAddr, splice: bool, budget: usize, mode: &str, len: usize) {
    let (server, dir, log) = catcher(listen, splice, budget);
    let mut s = connect(server.addr());
    let body = pattern(len as u64, len);
    let mut all = format!("{mode}{len}\n").into_bytes();
    all.extend_from_slice(&body);
    all.extend_from_slice(b"tail");
    s.write_all(&all).expect("send");
    let reply = format!("got {len}\ntail");
    let what = format!("{listen} splice={splice} budget={budget} {mode:?}");
    assert_eq!(read_exactly(&mut s, reply.len()), reply.as_bytes(), "{what}");
    assert!(caught(&dir) == body, "{what}: the file differs");
    assert!(log.lock().expect("log").is_empty(), "{what}");
    server.stop();
}

/// The header, the range and what follows it in one write: the bytes after the header in
/// the same read are the range's first, the range ends exactly, and input after it goes
/// back to `data`. With a small read budget, the range takes many turns of the loop.
#[test]
fn a_range_arrives_whole_and_the_input_after_it_goes_back_to_data() {
    for listen in [v4(), v6()] {
        for (splice, budget) in [(true, 1 << 20), (false, 1 << 20), (true, 100_000), (false, 100_000)] {
            range_then_tail(listen, splice, budget, "", 3_000_017);
        }
    }
}

/// `u64::MAX` takes everything until the peer's FIN, which then reaches `eof` as usual.
#[test]
fn a_range_without_a_length_runs_to_the_end_of_input() {
    for splice in [true, false] {
        let (server, dir, log) = catcher(v4(), splice, 1 << 20);
        let mut s = connect(server.addr());
        s.write_all(b"all\n").expect("header");
        send_pattern(&mut s, 3, 1_234_567).expect("body");
        s.shutdown(Shutdown::Write).expect("shutdown");
        assert!(read_to_close(&mut s).is_empty(), "nothing is echoed");
        assert!(caught(&dir) == pattern(3, 1_234_567), "splice={splice}");
        assert_eq!(*log.lock().expect("log"), ["eof after 1234567 (0 left over)"]);
        server.stop();
    }
}

/// A file that cannot be written: the protocol hears the error and that connection closes;
/// another connection, at the same time, completes.
#[test]
fn a_file_that_cannot_be_written_fails_only_its_own_connection() {
    for splice in [true, false] {
        let (server, _dir, log) = catcher(v4(), splice, 1 << 20);
        let mut good = connect(server.addr());
        good.write_all(b"100000\n").expect("header");
        let mut bad = connect(server.addr());
        bad.write_all(b"ro 100000\n").expect("header");
        bad.write_all(&pattern(1, 100_000)).expect("body");
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest); // EOF or a reset: either way, closed
        assert!(rest.is_empty(), "no reply on the failed connection");
        send_pattern(&mut good, 2, 100_000).expect("body");
        assert_eq!(read_exactly(&mut good, 11), b"got 100000\n");
        let log = log.lock().expect("log").clone();
        assert_eq!(log.len(), 1, "{log:?}");
        assert!(log[0].starts_with("error after 0"), "{log:?}");
        server.stop();
    }
}

/// A file that refuses splice (opened for appending: `EINVAL`) is found out at the first
/// splice, with bytes already in the pipe: they are read back out of it, and the rest of
/// the range goes through the buffer. Nothing is lost or reordered.
#[test]
fn a_file_that_refuses_splice_gets_every_byte_through_the_buffer() {
    range_then_tail(v4(), true, 1 << 20, "append ", 2_000_003);
}
