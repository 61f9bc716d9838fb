//! The server side of our protocol (the format is in [`super`]'s documentation).
//!
//! A connection authenticates once, then asks for files one at a time. While a file is
//! hashed or sent, reading from the client is paused, so requests are answered in order and
//! a client cannot queue up work; request lines that came in the same read wait in the
//! connection's `pending` bytes (bounded) until the file is out ([`Handler::drained`]).

use super::auth::{Failures, Secret};
use super::checksum::{Cache, FileKey, Hashing, STEP};
use super::paths::{Refusal, Root};
use super::wire::{MAX_LINE, Reply, Request, parse_request};
use crate::protocols::lines::next_line;
use crate::{ConnId, ConnInfo, Context, Handler};
use log::{debug, info, warn};
use std::fs::File;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

/// Timer keys.
const HASH_STEP: u64 = 1;
const REJECT: u64 = 2;

/// The delay between two hashing steps. Not zero: the reactor fires every timer that is due
/// before it polls again, so a zero-delay timer re-armed from its own callback would hash
/// the whole file in one turn. One microsecond is due by the next turn, after the sockets
/// that are ready have been served.
pub(super) const NEXT_TURN: Duration = Duration::from_micros(1);

/// Pipelined request bytes kept while a file is hashed or sent; more is refused. Reading is
/// paused meanwhile, so this is at most what one read brought in.
const MAX_PENDING: usize = 64 << 10;

/// Serves the regular files under one root to clients that know the secret.
pub struct FileServer {
    root: Root,
    secret: Secret,
    failures: Failures,
    cache: Cache,
    /// One hashing buffer for every connection (allocated at the first cold file).
    buf: Vec<u8>,
}

pub struct Conn {
    id: ConnId,
    peer: SocketAddr,
    state: State,
    /// Request bytes that arrived while busy, handled once the current answer is out.
    pending: Vec<u8>,
    /// The client half-closed while busy: close once the current file is out.
    peer_done: bool,
}

enum State {
    /// Waiting for `AUTH <token>`.
    Authenticating,
    /// A wrong token: the `ERR 401` waits on a timer (slowing down guessing), then we close.
    Rejecting,
    /// Authenticated, waiting for a request.
    Idle,
    /// Computing the checksum of a cold file before its header can go out.
    Hashing(Box<Job>),
    /// The header and the file range are queued; `drained` says when they are out.
    Streaming,
    /// The last answer is going out; input is ignored.
    Closing,
}

/// A request waiting for its file's checksum.
struct Job {
    file: Rc<File>,
    key: FileKey,
    name: String,
    offset: u64,
    size: u64,
    hashing: Hashing,
}

impl FileServer {
    pub fn new(root: Root, secret: Secret) -> FileServer {
        FileServer { root, secret, failures: Failures::default(), cache: Cache::default(), buf: Vec::new() }
    }

    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Answers complete request lines while the connection can take requests; returns the
    /// bytes used (a partial line is left for later).
    fn serve_lines(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, input: &[u8]) -> usize {
        let mut used = 0;
        while matches!(conn.state, State::Authenticating | State::Idle) {
            match next_line(&input[used..], MAX_LINE) {
                Ok(Some((line, n))) => {
                    used += n;
                    self.request(conn, ctx, line);
                }
                Ok(None) => break,
                Err(e) => {
                    info!("{}: {e}, closing", conn.peer);
                    close_with(conn, ctx, &Reply::err(400, "line too long"));
                    return input.len();
                }
            }
        }
        used
    }

    /// Goes on with request bytes that arrived while the connection was busy.
    fn serve_pending(&mut self, conn: &mut Conn, ctx: &mut Context<'_>) {
        let pending = std::mem::take(&mut conn.pending);
        let used = self.serve_lines(conn, ctx, &pending);
        if used < pending.len() && !matches!(conn.state, State::Closing) {
            conn.pending = pending[used..].to_vec();
        }
    }

    /// Keeps request bytes for later, up to a bound.
    fn stash(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, bytes: &[u8]) {
        if conn.pending.len() + bytes.len() > MAX_PENDING {
            info!("{}: more than {MAX_PENDING} bytes of pipelined requests, closing", conn.peer);
            close_with(conn, ctx, &Reply::err(400, "too many pipelined requests"));
        } else {
            conn.pending.extend_from_slice(bytes);
        }
    }

    fn request(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, line: &[u8]) {
        let peer = conn.peer;
        match (&conn.state, parse_request(line)) {
            (State::Authenticating, Ok(Request::Auth(token))) if self.secret.matches(token) => {
                self.failures.succeeded(peer.ip());
                info!("{peer}: authenticated");
                ctx.write(&Reply::Ok.line());
                conn.state = State::Idle;
            }
            (State::Authenticating, Ok(Request::Auth(_))) => {
                let (count, delay) = self.failures.failed(peer.ip(), ctx.now());
                warn!("{peer}: wrong token (failure {count} from {}), answering in {delay:?}", peer.ip());
                ctx.pause_reading(conn.id);
                ctx.set_timer(delay, REJECT);
                conn.state = State::Rejecting;
            }
            (State::Authenticating, _) => {
                info!("{peer}: request before AUTH, closing");
                close_with(conn, ctx, &Reply::err(401, "authenticate first"));
            }
            (_, Ok(Request::Get { name, offset })) => self.get(conn, ctx, &name, offset),
            (_, Ok(Request::Auth(_))) => ctx.write(&Reply::err(400, "already authenticated").line()),
            (_, Err(bad)) => {
                info!("{peer}: bad request: {bad}");
                ctx.write(&Reply::err(400, bad.0).line());
            }
        }
    }

    fn get(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, name: &[u8], offset: u64) {
        let (peer, shown) = (conn.peer, String::from_utf8_lossy(name).into_owned());
        let opened = match self.root.open(name) {
            Ok(opened) => opened,
            Err(refusal) => {
                if refusal == Refusal::Outside {
                    warn!("{peer}: GET {shown:?} refused: outside the root");
                } else {
                    info!("{peer}: GET {shown:?} refused: {}", refusal.message());
                }
                return ctx.write(&Reply::err(refusal.code(), refusal.message()).line());
            }
        };
        let size = opened.meta.len();
        if offset > size {
            info!("{peer}: GET {shown:?} from {offset}: the file has only {size} bytes");
            return ctx.write(&Reply::err(416, "offset beyond end of file").line());
        }
        let key = FileKey::of(&opened.meta);
        let file = Rc::new(opened.file);
        ctx.pause_reading(conn.id);
        match self.cache.get(&key) {
            Some(checksum) => stream(conn, ctx, file, &shown, offset, size, checksum),
            None => {
                debug!("{peer}: {shown}: hashing {size} bytes first");
                let job = Job { file, key, name: shown, offset, size, hashing: Hashing::new(size) };
                conn.state = State::Hashing(Box::new(job));
                self.hash_step(conn, ctx);
            }
        }
    }

    /// One bounded step of hashing; streams once the checksum is known.
    fn hash_step(&mut self, conn: &mut Conn, ctx: &mut Context<'_>) {
        let State::Hashing(job) = &mut conn.state else { return };
        if self.buf.is_empty() {
            self.buf = vec![0; STEP];
        }
        match job.hashing.step(&job.file, &mut self.buf) {
            Ok(None) => {
                ctx.set_timer(NEXT_TURN, HASH_STEP);
            }
            Ok(Some(checksum)) => {
                self.cache.insert(job.key, checksum);
                let State::Hashing(job) = std::mem::replace(&mut conn.state, State::Idle) else { return };
                stream(conn, ctx, job.file, &job.name, job.offset, job.size, checksum);
            }
            Err(e) => {
                warn!("{}: {}: read failed while hashing: {e}", conn.peer, job.name);
                ctx.write(&Reply::err(500, "cannot read the file").line());
                conn.state = State::Idle;
                self.ready_for_more(conn, ctx);
            }
        }
    }

    /// The current answer is out: take the next request; once a client that is done has
    /// had every answer it asked for before its EOF, close.
    fn ready_for_more(&mut self, conn: &mut Conn, ctx: &mut Context<'_>) {
        if !conn.peer_done {
            ctx.resume_reading(conn.id);
        }
        if !conn.pending.is_empty() {
            self.serve_pending(conn, ctx);
        }
        if conn.peer_done && matches!(conn.state, State::Authenticating | State::Idle) {
            let tail = std::mem::take(&mut conn.pending);
            self.requests_ended(conn, ctx, &tail);
        }
    }

    /// The client sent its last request; `tail` is what followed it without a newline.
    ///
    /// Unlike a chat line, an unterminated request is refused, not served: a request picks
    /// what is sent (a `GET` cut anywhere in its name or offset is still well-formed and
    /// would fetch the wrong file or range) and the format says requests end in `\n`. The
    /// refusal says why, so `printf 'AUTH x\nGET f' | nc -N` gets told about the newline
    /// rather than silence.
    fn requests_ended(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, tail: &[u8]) {
        if tail.is_empty() {
            ctx.close();
            conn.state = State::Closing;
            return;
        }
        info!(
            "{}: input ended inside a request ({} bytes and no newline), refusing it",
            conn.peer,
            tail.len()
        );
        close_with(conn, ctx, &Reply::err(400, "request not terminated by a newline"));
    }
}

/// Sends the header, then the range; reading stays paused until `drained`.
fn stream(
    conn: &mut Conn,
    ctx: &mut Context<'_>,
    file: Rc<File>,
    name: &str,
    offset: u64,
    size: u64,
    checksum: blake3::Hash,
) {
    info!("{}: GET {name:?} from {offset}: sending {} of {size} bytes", conn.peer, size - offset);
    ctx.write(&Reply::File { size, checksum }.line());
    ctx.send_file(file, offset, size - offset);
    conn.state = State::Streaming;
}

/// A last answer, then close (after it is sent).
fn close_with(conn: &mut Conn, ctx: &mut Context<'_>, reply: &Reply) {
    ctx.write(&reply.line());
    ctx.close();
    conn.state = State::Closing;
}

impl Handler for FileServer {
    type Conn = Conn;

    fn connected(&mut self, _ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Conn {
        Conn { id, peer: info.peer, state: State::Authenticating, pending: Vec::new(), peer_done: false }
    }

    fn data(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        match conn.state {
            State::Rejecting | State::Closing => data.len(),
            State::Hashing(_) | State::Streaming => {
                self.stash(conn, ctx, data);
                data.len()
            }
            State::Authenticating | State::Idle if conn.pending.is_empty() => {
                let used = self.serve_lines(conn, ctx, data);
                if used < data.len() && matches!(conn.state, State::Hashing(_) | State::Streaming) {
                    self.stash(conn, ctx, &data[used..]);
                    return data.len();
                }
                used
            }
            State::Authenticating | State::Idle => {
                self.stash(conn, ctx, data);
                self.serve_pending(conn, ctx);
                data.len()
            }
        }
    }

    /// Requests that came before the EOF are still answered (those waiting in `pending` once
    /// the current file is out); an unterminated last one is refused
    /// (`FileServer::requests_ended`).
    fn eof(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, rest: &[u8]) {
        conn.peer_done = true;
        match conn.state {
            // Empty here: input that arrives while busy is all taken into `pending`.
            State::Hashing(_) | State::Streaming => conn.pending.extend_from_slice(rest),
            // The answer is decided; input is ignored then, so nothing is left over.
            State::Rejecting | State::Closing => {}
            State::Authenticating | State::Idle => {
                // One of the two is empty: a partial line is either held by the reactor, or
                // (after a busy spell) kept in `pending`.
                let mut tail = std::mem::take(&mut conn.pending);
                tail.extend_from_slice(rest);
                self.requests_ended(conn, ctx, &tail);
            }
        }
    }

    fn drained(&mut self, conn: &mut Conn, ctx: &mut Context<'_>) {
        if matches!(conn.state, State::Streaming) {
            conn.state = State::Idle;
            self.ready_for_more(conn, ctx);
        }
    }

    fn timer(&mut self, conn: &mut Conn, ctx: &mut Context<'_>, key: u64) {
        match (key, &conn.state) {
            (HASH_STEP, State::Hashing(_)) => self.hash_step(conn, ctx),
            (REJECT, State::Rejecting) => close_with(conn, ctx, &Reply::err(401, "bad token")),
            _ => {}
        }
    }
}
