//! The classic lab server, byte for byte (PROTOCOLS.md, "file"): the client's first read is
//! the key, compared exactly; a match gets `AUTH_SUCCESS`, then the raw bytes of the one
//! file, then the close; anything else gets `AUTH_ERROR` and the close. No length, no
//! checksum: the end of the file is the end of the connection.
//!
//! One deliberate difference in timing, none in bytes: the classic client throws away its
//! whole first read as the auth reply, so file bytes that arrive glued to `AUTH_SUCCESS` are
//! lost. The file therefore starts [`PAUSE`] after `AUTH_SUCCESS` (a timer), which lets the
//! reply be read on its own. Unlike the classic server this one serves many clients, reads
//! the file path from `--file` instead of a console prompt, and slows down wrong keys.

use super::auth::{Failures, Secret};
use crate::{ConnId, ConnInfo, Context, Handler};
use log::{error, info, warn};
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::Duration;

pub const AUTH_SUCCESS: &[u8] = b"AUTH_SUCCESS";
pub const AUTH_ERROR: &[u8] = b"AUTH_ERROR";

/// How long `AUTH_SUCCESS` travels alone before the file follows.
pub const PAUSE: Duration = Duration::from_millis(50);

/// The classic server reads the key with `recv(1024)`.
const KEY_READ: usize = 1024;

pub struct ClassicServer {
    path: PathBuf,
    secret: Secret,
    failures: Failures,
}

pub struct Conn {
    id: ConnId,
    peer: SocketAddr,
    state: State,
}

#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the first read.
    Key,
    /// A wrong key: `AUTH_ERROR` waits on a timer, then we close.
    Rejecting,
    /// `AUTH_SUCCESS` sent; the file follows when the timer fires.
    Pausing,
    /// The file is queued and the close asked for.
    Sending,
}

impl ClassicServer {
    /// Checks now that `path` is a readable regular file, so a typo fails at start-up rather
    /// than at the first client. It is opened again for each client (it may change).
    pub fn new(path: PathBuf, secret: Secret) -> io::Result<ClassicServer> {
        open_regular(&path)?;
        Ok(ClassicServer { path, secret, failures: Failures::default() })
    }
}

fn open_regular(path: &Path) -> io::Result<(File, u64)> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    Ok((file, meta.len()))
}

const TIMER: u64 = 0;

impl Handler for ClassicServer {
    type Conn = Conn;

    fn connected(&mut self, _ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Conn {
        Conn { id, peer: info.peer, state: State::Key }
    }

    /// Only the first read counts; the classic server never reads again, so later bytes
    /// are dropped (and reading stops).
    fn data(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if conn.state != State::Key {
            return data.len();
        }
        let key = &data[..data.len().min(KEY_READ)];
        ctx.pause_reading(conn.id);
        if self.secret.matches(key) {
            self.failures.succeeded(conn.peer.ip());
            info!("{}: key accepted", conn.peer);
            ctx.write(AUTH_SUCCESS);
            ctx.set_timer(PAUSE, TIMER);
            conn.state = State::Pausing;
        } else {
            let (count, delay) = self.failures.failed(conn.peer.ip(), ctx.now());
            warn!(
                "{}: wrong key (failure {count} from {}), answering in {delay:?}",
                conn.peer,
                conn.peer.ip()
            );
            ctx.set_timer(delay, TIMER);
            conn.state = State::Rejecting;
        }
        data.len()
    }

    /// A client gone before its key is closed; after it, the answer is finished regardless.
    /// Nothing is left over: the first read is the key, whole, and later bytes are dropped.
    fn eof(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, _rest: &[u8]) {
        if conn.state == State::Key {
            ctx.close();
        }
    }

    fn timer(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, _key: u64) {
        match conn.state {
            State::Rejecting => {
                ctx.write(AUTH_ERROR);
                ctx.close();
            }
            State::Pausing => match open_regular(&self.path) {
                Ok((file, len)) => {
                    info!("{}: sending {} ({len} bytes)", conn.peer, self.path.display());
                    ctx.send_file(Rc::new(file), 0, len);
                    ctx.close();
                    conn.state = State::Sending;
                }
                Err(e) => {
                    // No way to say so in this protocol: a reset at least is not a clean end.
                    error!(
                        "{}: cannot open {}: {e}; resetting the connection",
                        conn.peer,
                        self.path.display()
                    );
                    ctx.abort();
                }
            },
            State::Key | State::Sending => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CloseReason;
    use crate::protocols::file::auth::FIRST_DELAY;
    use crate::testing::TestTransport;

    fn server(content: &[u8]) -> (tempfile::NamedTempFile, TestTransport<ClassicServer>) {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        std::io::Write::write_all(&mut f, content).expect("write");
        let s = ClassicServer::new(f.path().to_path_buf(), Secret::new(b"SECRET_KEY")).expect("server");
        (f, TestTransport::new(s))
    }

    #[test]
    fn the_right_key_gets_auth_success_alone_then_the_raw_file_then_the_close() {
        let content: Vec<u8> = (0..3000u32).map(|i| i as u8).collect();
        let (_f, mut t) = server(&content);
        let c = t.accept();
        t.feed(c, b"SECRET_KEY");
        assert_eq!(t.take_output(c), b"AUTH_SUCCESS", "nothing glued to it");
        t.advance(PAUSE - Duration::from_millis(1));
        assert_eq!(t.take_output(c), b"", "the file waits for the pause");
        assert_eq!(t.closed(c), None);
        t.advance(Duration::from_millis(1));
        assert_eq!(t.take_output(c), content, "raw bytes: no length, no checksum, no terminator");
        assert_eq!(t.file_sends(c).len(), 1, "sent as a file range");
        assert_eq!(t.closed(c), Some(CloseReason::Local), "the end of the file is the close");
    }

    #[test]
    fn an_empty_file_is_auth_success_then_the_close() {
        let (_f, mut t) = server(b"");
        let c = t.accept();
        t.feed(c, b"SECRET_KEY");
        t.advance(PAUSE);
        assert_eq!(t.take_output(c), b"AUTH_SUCCESS");
        assert!(t.closed(c).is_some());
    }

    #[test]
    fn any_other_first_read_gets_auth_error_after_a_delay() {
        let (_f, mut t) = server(b"data");
        for wrong in [&b"nope"[..], b"SECRET_KEz", b"SECRET_KEY\n", b"SECRET_KEYSECRET_KEY"] {
            let c = t.accept();
            t.feed(c, wrong);
            assert_eq!(t.take_output(c), b"", "the answer is slowed down");
            t.advance(FIRST_DELAY * 64);
            assert_eq!(t.take_output(c), b"AUTH_ERROR", "{:?}", String::from_utf8_lossy(wrong));
            assert!(t.closed(c).is_some());
        }
    }

    #[test]
    fn only_the_first_read_is_the_key() {
        let (_f, mut t) = server(b"data");
        let c = t.accept();
        t.feed(c, b"SECRET_");
        t.feed(c, b"KEY");
        t.advance(FIRST_DELAY * 64);
        assert_eq!(t.take_output(c), b"AUTH_ERROR");
    }

    #[test]
    fn a_missing_file_fails_at_start_up() {
        let missing = std::env::temp_dir().join("sockloop-no-such-file-for-classic");
        assert!(ClassicServer::new(missing, Secret::new(b"k")).is_err());
        assert!(ClassicServer::new(std::env::temp_dir(), Secret::new(b"k")).is_err(), "a directory");
    }
}
