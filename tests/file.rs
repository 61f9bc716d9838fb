//! file: the server in-process on a real reactor, `sockloop get` as a user runs it, and raw
//! sockets where a test needs to misbehave. 127.0.0.1 and [::1] only, port 0, temporary
//! directories that remove themselves, every wait bounded.

mod common;

use common::{IO_TIMEOUT, Server, connect, v4, v6, wait_until};
use sockloop::protocols::file::{ClassicServer, FileServer, Root, Secret};
use sockloop::{Config, ConnId, ConnInfo, Context, Handler, Reactor};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_sockloop");
const TOKEN: &str = "s3cret";
/// A `sockloop get` that takes longer than this has hung.
const GET_LIMIT: Duration = Duration::from_secs(60);

/// A root with files of the given sizes (patterned bytes), and a directory for downloads.
struct Dirs {
    _top: tempfile::TempDir,
    root: PathBuf,
    out: PathBuf,
}

fn dirs(files: &[(&str, usize)]) -> Dirs {
    let top = tempfile::Builder::new().prefix("sockloop-file-").tempdir().expect("temp dir");
    let root = top.path().join("root");
    let out = top.path().join("out");
    std::fs::create_dir_all(root.join("sub")).expect("mkdir");
    std::fs::create_dir_all(&out).expect("mkdir");
    for (name, len) in files {
        std::fs::write(root.join(name), common::pattern(*len as u64, *len)).expect("write");
    }
    std::fs::write(top.path().join("outside.txt"), b"not yours").expect("write");
    std::os::unix::fs::symlink(top.path().join("outside.txt"), root.join("out-link")).expect("symlink");
    Dirs { _top: top, root, out }
}

fn file_server(root: &Path, listen: &[SocketAddr], config: Config) -> Server<()> {
    let server = FileServer::new(Root::new(root).expect("root"), Secret::new(TOKEN.as_bytes()));
    Server::with(listen, server, config, |_| ())
}

/// Runs `sockloop get ARGS` with the token in the environment; bounded.
fn get(addr: SocketAddr, args: &[&str], token: &str) -> Output {
    let mut child = Command::new(BIN)
        .arg("get")
        .arg(addr.to_string())
        .args(args)
        .env("SOCKLOOP_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sockloop get");
    let deadline = Instant::now() + GET_LIMIT;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("sockloop get did not finish within {GET_LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
    child.wait_with_output().expect("output")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn hash_file(path: &Path) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new();
    let mut f = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut buf = vec![0; 1 << 20];
    loop {
        match f.read(&mut buf).expect("read") {
            0 => return hasher.finalize(),
            n => hasher.update(&buf[..n]),
        };
    }
}

fn no_part_files(dir: &Path) {
    let parts: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
        .collect();
    assert!(parts.is_empty(), "left behind: {parts:?}");
}

/// Reads one `\n`-terminated line byte by byte (so no file byte is read past it).
fn read_line(s: &mut TcpStream) -> String {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    while b[0] != b'\n' {
        match s.read(&mut b) {
            Ok(1) => line.push(b[0]),
            other => panic!("line cut short after {:?}: {other:?}", text(&line)),
        }
    }
    text(&line)
}

fn authed(addr: SocketAddr) -> TcpStream {
    let mut s = connect(addr);
    s.write_all(format!("AUTH {TOKEN}\n").as_bytes()).expect("write");
    assert_eq!(read_line(&mut s), "OK\n");
    s
}

#[test]
fn sizes_0_1_and_5mb_arrive_byte_identical_with_and_without_sendfile() {
    let d = dirs(&[("empty", 0), ("one", 1), ("five", 5_000_000)]);
    for sendfile in [true, false] {
        let server = file_server(&d.root, &[v4(), v6()], Config { sendfile, ..Config::default() });
        for (name, addr) in [("empty", server.addrs[0]), ("one", server.addrs[1]), ("five", server.addr())] {
            let target = d.out.join(format!("{name}-{sendfile}"));
            let out = get(addr, &[name, "-o", target.to_str().expect("utf-8 path")], TOKEN);
            assert!(out.status.success(), "{name}: {}", text(&out.stderr));
            assert!(text(&out.stdout).starts_with("saved "), "{}", text(&out.stdout));
            assert_eq!(
                std::fs::read(&target).expect("read"),
                std::fs::read(d.root.join(name)).expect("read")
            );
        }
        let stats = server.stop_and_stats();
        assert!(stats.1 >= 5_000_001, "bytes_out counts file bytes: {}", stats.1);
    }
    no_part_files(&d.out);
}

#[test]
fn a_sparse_gigabyte_arrives_intact() {
    let d = dirs(&[]);
    let big = d.root.join("sparse.img");
    std::fs::File::create(&big).and_then(|f| f.set_len(1 << 30)).expect("sparse file");
    let server = file_server(&d.root, &[v4()], Config::default());
    let target = d.out.join("sparse.img");
    let out = get(server.addr(), &["sparse.img", "-o", target.to_str().expect("utf-8")], TOKEN);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::metadata(&target).expect("target").len(), 1 << 30);
    let want = hash_file(&big);
    assert_eq!(hash_file(&target), want);
    assert!(text(&out.stdout).contains(&want.to_hex().to_string()), "{}", text(&out.stdout));
    assert!(server.stop_and_stats().0 < 64 << 10, "the file was never queued in memory");
}

#[test]
fn a_wrong_secret_is_refused_and_leaves_nothing() {
    let d = dirs(&[("one", 1)]);
    let server = file_server(&d.root, &[v4()], Config::default());
    let target = d.out.join("one");
    let out = get(server.addr(), &["one", "-o", target.to_str().expect("utf-8")], "guess");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("401 bad token"), "{}", text(&out.stderr));
    assert!(!target.exists());
    no_part_files(&d.out);
}

#[test]
fn traversal_attempts_are_refused_with_403() {
    let d = dirs(&[("one", 1)]);
    let server = file_server(&d.root, &[v4()], Config::default());
    let mut s = authed(server.addr());
    let outside = d.root.parent().expect("parent").join("outside.txt");
    for name in ["../outside.txt", "sub/../../outside.txt", outside.to_str().expect("utf-8"), "out-link"] {
        s.write_all(format!("GET {name}\n").as_bytes()).expect("write");
        assert_eq!(read_line(&mut s), "ERR 403 not allowed\n", "{name}");
    }
    s.write_all(b"GET sub\nGET one\n").expect("write");
    assert_eq!(read_line(&mut s), "ERR 403 is a directory\n");
    assert!(read_line(&mut s).starts_with("FILE 1 "), "the connection is still good");
}

/// A fake server that answers `OK` and `header`, sends `body`, and closes.
fn fake_server(header: String, body: Vec<u8>) -> (SocketAddr, thread::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let t = thread::spawn(move || {
        let (mut s, _) = listener.accept().expect("accept");
        s.set_read_timeout(Some(IO_TIMEOUT)).expect("timeout");
        let _ = read_line(&mut s);
        let _ = read_line(&mut s);
        s.write_all(format!("OK\n{header}\n").as_bytes()).expect("header");
        s.write_all(&body).expect("body");
    });
    (addr, t)
}

#[test]
fn a_cut_transfer_keeps_only_the_part_file_and_resume_completes_it() {
    let d = dirs(&[("five", 5_000_000)]);
    let content = std::fs::read(d.root.join("five")).expect("read");
    let header = format!("FILE {} {}", content.len(), blake3::hash(&content).to_hex());
    let lines = "OK\n".len() + header.len() + 1;
    let (fake, t) = fake_server(header, content[..2_000_000].to_vec());
    let target = d.out.join("five");
    let part = d.out.join(".five.part");
    let out = get(fake, &["five", "-o", target.to_str().expect("utf-8")], TOKEN);
    t.join().expect("fake server");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("after 2000000 of 5000000 bytes"), "{}", text(&out.stderr));
    assert!(!target.exists(), "never a truncated file under the final name");
    assert_eq!(std::fs::metadata(&part).expect("part kept").len(), 2_000_000);

    let server = file_server(&d.root, &[v4()], Config::default());
    let out = get(server.addr(), &["five", "-o", target.to_str().expect("utf-8"), "--resume"], TOKEN);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&target).expect("read"), content);
    assert!(!part.exists());
    assert_eq!(server.stop_and_stats().1, (3_000_000 + lines) as u64, "only the rest was sent");
}

/// A second download into the same part file (the same command run twice) is refused at
/// once, before it truncates or writes anything: the first one's bytes stay as they were.
#[test]
fn a_part_file_in_use_by_another_download_is_left_alone() {
    let d = dirs(&[("five", 5_000_000)]);
    let part = d.out.join(".five.part");
    std::fs::write(&part, b"the other download's bytes").expect("write");
    let held = std::fs::File::open(&part).expect("open");
    held.lock().expect("lock, as the other download holds it");
    let server = file_server(&d.root, &[v4()], Config::default());
    let target = d.out.join("five");
    let out = get(server.addr(), &["five", "-o", target.to_str().expect("utf-8")], TOKEN);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("in use by another download"), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&part).expect("read"), b"the other download's bytes");
    assert!(!target.exists());
    drop(held);
    let out = get(server.addr(), &["five", "-o", target.to_str().expect("utf-8")], TOKEN);
    assert!(out.status.success(), "once it is free: {}", text(&out.stderr));
    assert_eq!(server.handle.stats().accepted.get(), 1, "the refused one never connected");
    server.stop();
}

#[test]
fn a_corrupt_transfer_never_becomes_the_file() {
    let d = dirs(&[]);
    let content = common::pattern(1, 100_000);
    let mut damaged = content.clone();
    damaged[500] ^= 1;
    let (fake, t) = fake_server(format!("FILE 100000 {}", blake3::hash(&content).to_hex()), damaged);
    let target = d.out.join("f");
    let out = get(fake, &["f", "-o", target.to_str().expect("utf-8")], TOKEN);
    t.join().expect("fake server");
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("checksum mismatch"), "{}", text(&out.stderr));
    assert!(!target.exists());
    no_part_files(&d.out);
}

#[test]
fn a_client_that_stops_reading_costs_no_memory_and_blocks_no_one() {
    let d = dirs(&[("five", 5_000_000)]);
    std::fs::File::create(d.root.join("big")).and_then(|f| f.set_len(256 << 20)).expect("sparse");
    let server = file_server(&d.root, &[v4()], Config::default());
    let mut stalled = authed(server.addr());
    stalled.write_all(b"GET big\n").expect("write");
    assert!(read_line(&mut stalled).starts_with("FILE 268435456 "));
    // The kernel's buffers fill up, then nothing more moves for it.
    let stuck = common::wait_settled("bytes_out", Duration::from_millis(300), IO_TIMEOUT, || {
        server.handle.stats().bytes_out.get()
    });
    assert!(stuck < 64 << 20, "{stuck} bytes out to a client that reads nothing");
    assert!(server.handle.stats().pending_out.get() < 64 << 10, "no file bytes queued in memory");
    for _ in 0..3 {
        let target = d.out.join("five");
        let out = get(server.addr(), &["five", "-o", target.to_str().expect("utf-8")], TOKEN);
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    assert!(server.handle.stats().peak_conn_pending_out.get() < 64 << 10);
    drop(stalled);
}

#[test]
fn many_downloads_at_once_all_progress_from_one_thread() {
    const CLIENTS: usize = 8;
    const SIZE: usize = 16 << 20;
    let d = dirs(&[]);
    std::fs::write(d.root.join("f"), common::pattern(7, SIZE)).expect("write");
    let server = file_server(&d.root, &[v4()], Config::default());
    let mut warm = authed(server.addr());
    warm.write_all(b"GET f\n").expect("write");
    assert!(read_line(&mut warm).starts_with("FILE "), "the checksum is cached from now on");
    drop(warm);
    let addr = server.addr();
    let start = Arc::new(Barrier::new(CLIENTS));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let start = start.clone();
            thread::spawn(move || {
                let mut s = authed(addr);
                start.wait();
                let t0 = Instant::now();
                s.write_all(b"GET f\n").expect("write");
                assert!(read_line(&mut s).starts_with(&format!("FILE {SIZE} ")));
                let mut first = [0u8; 1];
                s.read_exact(&mut first).expect("first byte");
                let first_byte = t0.elapsed();
                common::expect_pattern(&mut ChainFirst(Some(first[0]), &mut s), 7, SIZE as u64);
                (first_byte, t0.elapsed())
            })
        })
        .collect();
    let times: Vec<(Duration, Duration)> = clients.into_iter().map(|c| c.join().expect("client")).collect();
    let last_first_byte = times.iter().map(|t| t.0).max().expect("times");
    let first_done = times.iter().map(|t| t.1).min().expect("times");
    assert!(
        last_first_byte < first_done,
        "every client got bytes before any finished: last first byte {last_first_byte:?}, first done {first_done:?}"
    );
}

/// A reader that first gives back one byte already read.
struct ChainFirst<'a>(Option<u8>, &'a mut TcpStream);

impl Read for ChainFirst<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self.0.take() {
            Some(b) if !buf.is_empty() => {
                buf[0] = b;
                Ok(1)
            }
            _ => self.1.read(buf),
        }
    }
}

#[test]
fn classic_mode_sends_auth_success_alone_then_the_raw_file() {
    let d = dirs(&[("report", 300_000)]);
    let path = d.root.join("report");
    let content = std::fs::read(&path).expect("read");
    let classic = ClassicServer::new(path, Secret::new(b"SECRET_KEY")).expect("classic");
    let server = Server::with(&[v4()], classic, Config::default(), |_| ());

    let mut s = connect(server.addr());
    s.write_all(b"SECRET_KEY").expect("key");
    let mut first = [0u8; 1024];
    let n = s.read(&mut first).expect("recv(1024)");
    assert_eq!(&first[..n], b"AUTH_SUCCESS", "the classic client's first read is the reply alone");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("until the close");
    assert_eq!(rest, content);

    let mut s = connect(server.addr());
    s.write_all(b"SECRET_KEY\n").expect("key");
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).expect("until the close");
    assert_eq!(reply, b"AUTH_ERROR");

    let target = d.out.join("RECIEVED_FILE.txt");
    let out = get(server.addr(), &["x", "--classic", "-o", target.to_str().expect("utf-8")], "SECRET_KEY");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&target).expect("read"), content);
}

// ---- the reactor's file ranges, with a minimal handler ----

/// On connect: `head`, the file range, `tail`, then close; counts `drained` calls.
struct Sender {
    path: PathBuf,
    range: (u64, u64),
    drained: Arc<AtomicUsize>,
}

impl Handler for Sender {
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {
        let file = Rc::new(std::fs::File::open(&self.path).expect("open"));
        ctx.write(b"head");
        ctx.send_file(file.clone(), self.range.0, self.range.1);
        ctx.write(b"middle");
        ctx.send_file(file, 0, 10);
        ctx.write(b"tail");
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        data.len()
    }

    fn drained(&mut self, _conn: &mut (), ctx: &mut Context<'_>) {
        self.drained.fetch_add(1, Ordering::SeqCst);
        ctx.close();
    }
}

#[test]
fn file_ranges_keep_their_place_among_writes_with_and_without_sendfile() {
    let d = dirs(&[("src", 3_000_000)]);
    let content = std::fs::read(d.root.join("src")).expect("read");
    for sendfile in [true, false] {
        let drained = Arc::new(AtomicUsize::new(0));
        let (path, count) = (d.root.join("src"), drained.clone());
        let server = Server::start(
            &[v4()],
            move || {
                let config = Config { sendfile, write_budget: 100_000, ..Config::default() };
                Reactor::new(Sender { path, range: (1000, 2_500_000), drained: count }, config)
            },
            |r| r.stats().bytes_out.get(),
        );
        let mut s = connect(server.addr());
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("until the close");
        let want = [b"head", &content[1000..2_501_000], b"middle", &content[..10], b"tail"].concat();
        assert!(got == want, "sendfile={sendfile}: {} bytes, want {}", got.len(), want.len());
        wait_until("drained", IO_TIMEOUT, || drained.load(Ordering::SeqCst) == 1);
        assert_eq!(server.stop(), want.len() as u64, "bytes_out counts file bytes");
    }
}

/// What a stopped test server reports: (peak pending_out of a connection, bytes_out).
trait StopAndStats {
    fn stop_and_stats(self) -> (u64, u64);
}

impl StopAndStats for Server<()> {
    fn stop_and_stats(self) -> (u64, u64) {
        let stats = (self.handle.stats().peak_conn_pending_out.get(), self.handle.stats().bytes_out.get());
        self.stop();
        stats
    }
}
