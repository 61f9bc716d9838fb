//! The downloading side (`sockloop get`), for our protocol and the classic one.
//!
//! It stores what arrives in a [`Sink`] (the CLI's `.part` file), which also computes the
//! checksum, and ends in an [`Outcome`] that says whether the sink now holds the whole file,
//! checked. It never decides what happens to the file on disk: the CLI renames the part file
//! only on [`Outcome::Complete`].
//!
//! When the sink is a file ([`Sink::direct`]), the file's bytes never reach this handler:
//! once the header is read, the reactor receives the rest straight into the file
//! ([`Context::recv_file`], `splice(2)` on Linux) and says how far it got; the sink hashes
//! them from the file. Otherwise they come through [`Handler::data`] and `write_all`.
//!
//! Writing to a file from inside the loop is blocking IO, one read's worth at a time, and
//! so is waiting for the checksum at the end. That is acceptable in a client, which has
//! this one connection to serve; a server would never do it.

use super::classic::{AUTH_ERROR, AUTH_SUCCESS};
use super::sink::Sink;
use super::wire::{self, MAX_LINE, Reply};
use crate::protocols::lines::{last_line, next_line};
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler};
use log::{debug, info};
use std::io;
use std::net::SocketAddr;

/// The tag of the client's outbound connects.
pub const TAG: u64 = 0;

/// Which protocol to speak.
pub enum Mode {
    /// `AUTH`, then `GET name offset`; the header's size and checksum are checked.
    Ours { token: Vec<u8>, name: Vec<u8> },
    /// Send the key, read `AUTH_SUCCESS`, then bytes until the server closes.
    Classic { key: Vec<u8> },
}

/// What the observer (a progress bar) is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// The bytes begin: from `offset`, of `size` in all (unknown in classic mode).
    Started { offset: u64, size: Option<u64> },
    /// Bytes of the file the sink holds now, counting a resumed part.
    Received(u64),
}

/// How a download ended.
#[derive(Debug)]
pub enum Outcome {
    /// The sink holds the whole file: `size` bytes whose BLAKE3 is `checksum` (classic
    /// mode: everything until the server's clean close; nothing to check it against).
    Complete { size: u64, checksum: blake3::Hash },
    /// The server said no (`ERR code message`, or the classic `AUTH_ERROR` as 401).
    Refused { code: u16, message: String },
    /// Every byte arrived, but they are not the file the header described.
    Corrupt { expected: blake3::Hash, got: blake3::Hash },
    /// The transfer stopped part-way; the sink holds `received` bytes of `size`.
    Interrupted { received: u64, size: Option<u64>, why: String },
    /// No connection, a sink that cannot be written, or a server that breaks the protocol.
    Failed(String),
}

enum State {
    Connecting,
    /// Ours: the `OK` line; classic: `AUTH_SUCCESS` or `AUTH_ERROR`.
    AwaitingAuth,
    /// Ours: the `FILE` line.
    AwaitingHeader,
    Receiving {
        size: Option<u64>,
        expected: Option<blake3::Hash>,
        /// The reactor writes the bytes into the sink's file ([`Sink::direct`]).
        direct: bool,
    },
    Done(Outcome),
}

pub struct GetClient<W> {
    addrs: Vec<SocketAddr>,
    attempt: usize,
    mode: Mode,
    sink: W,
    /// Bytes of the file the sink holds.
    received: u64,
    offset: u64,
    state: State,
    observer: Box<dyn FnMut(Progress)>,
}

impl<W: Sink> GetClient<W> {
    /// `addrs` are tried in order; the caller starts the connect to the first with [`TAG`].
    /// `offset`: the bytes of the file the sink holds already (a resumed download; our
    /// protocol only). The checksum covers the whole file, so the sink must include them.
    pub fn new(addrs: Vec<SocketAddr>, mode: Mode, sink: W, offset: u64) -> Self {
        GetClient {
            addrs,
            attempt: 0,
            mode,
            sink,
            received: offset,
            offset,
            state: State::Connecting,
            observer: Box::new(|_| {}),
        }
    }

    /// Tells `observer` about the progress (from inside the loop: it must be quick).
    pub fn observe(mut self, observer: impl FnMut(Progress) + 'static) -> Self {
        self.observer = Box::new(observer);
        self
    }

    /// `None` while the download runs.
    pub fn outcome(&self) -> Option<&Outcome> {
        match &self.state {
            State::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    pub fn sink(&self) -> &W {
        &self.sink
    }

    fn finish(&mut self, ctx: &mut Context<'_>, outcome: Outcome) {
        if matches!(self.state, State::Done(_)) {
            return;
        }
        debug!("download over: {outcome:?}");
        self.state = State::Done(outcome);
        ctx.close();
        ctx.stop();
    }

    /// Takes the auth reply and the header off the front of `data`; returns the bytes used.
    fn replies(&mut self, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if !matches!(self.state, State::AwaitingAuth | State::AwaitingHeader) {
            return 0;
        }
        if matches!(self.mode, Mode::Classic { .. }) {
            return self.classic_reply(ctx, data);
        }
        let mut used = 0;
        while matches!(self.state, State::AwaitingAuth | State::AwaitingHeader) {
            match next_line(&data[used..], MAX_LINE) {
                Ok(Some((line, n))) => {
                    used += n;
                    self.reply_line(ctx, line);
                }
                Ok(None) => break,
                Err(e) => {
                    self.finish(ctx, Outcome::Failed(format!("bad reply from the server: {e}")));
                    break;
                }
            }
        }
        used
    }

    /// One reply line of ours (`OK`, `FILE ...`, `ERR ...`), while one is awaited.
    fn reply_line(&mut self, ctx: &mut Context<'_>, line: &[u8]) {
        match (Reply::parse(line), &self.state) {
            (Ok(Reply::Ok), State::AwaitingAuth) => self.state = State::AwaitingHeader,
            (Ok(Reply::File { size, checksum }), State::AwaitingHeader) if size >= self.offset => {
                info!("{size} bytes, blake3 {}, from {}", checksum.to_hex(), self.offset);
                self.start_receiving(ctx, Some(size), Some(checksum));
                self.check_complete(ctx);
            }
            (Ok(Reply::Err { code, message }), _) => self.finish(ctx, Outcome::Refused { code, message }),
            (Ok(other), _) => self.finish(ctx, Outcome::Failed(format!("unexpected reply `{other}`"))),
            (Err(e), _) => self.finish(ctx, Outcome::Failed(e)),
        }
    }

    /// Classic: `AUTH_SUCCESS` or `AUTH_ERROR`, which may come split or glued to file bytes
    /// (the classic client loses glued bytes; this one keeps them).
    fn classic_reply(&mut self, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        if data.starts_with(AUTH_SUCCESS) {
            self.start_receiving(ctx, None, None);
            AUTH_SUCCESS.len()
        } else if data.starts_with(AUTH_ERROR) {
            self.finish(ctx, Outcome::Refused { code: 401, message: "AUTH_ERROR".into() });
            data.len()
        } else if AUTH_SUCCESS.starts_with(data) || AUTH_ERROR.starts_with(data) {
            0 // the rest of the reply is on its way
        } else {
            let shown = String::from_utf8_lossy(&data[..data.len().min(40)]).into_owned();
            self.finish(ctx, Outcome::Failed(format!("unexpected reply {shown:?}")));
            data.len()
        }
    }

    /// The header is read: the file's bytes follow (until the close when `size` is unknown).
    /// A file sink gets them from the reactor, the bytes after the header included.
    fn start_receiving(&mut self, ctx: &mut Context<'_>, size: Option<u64>, expected: Option<blake3::Hash>) {
        (self.observer)(Progress::Started { offset: self.offset, size });
        let left = size.map_or(u64::MAX, |s| s.saturating_sub(self.received));
        let direct = match self.sink.direct() {
            Some((file, at)) if left > 0 => {
                ctx.recv_file(file, at, left);
                true
            }
            _ => false,
        };
        self.state = State::Receiving { size, expected, direct };
    }

    /// File bytes: into the sink.
    fn receive(&mut self, ctx: &mut Context<'_>, data: &[u8]) {
        let State::Receiving { size, .. } = self.state else { return };
        let take = size.map_or(data.len(), |s| (s - self.received).min(data.len() as u64) as usize);
        if let Err(e) = self.sink.write_all(&data[..take]) {
            return self.write_failed(ctx, &e);
        }
        self.received += take as u64;
        (self.observer)(Progress::Received(self.received));
        if take < data.len() {
            let msg = format!("the server sent more than the {} bytes it announced", self.received);
            return self.finish(ctx, Outcome::Failed(msg));
        }
        self.check_complete(ctx);
    }

    /// The sink could not store the bytes (a full disk, say). What it holds is the file's
    /// start, in order, so the download can go on from it once the cause is fixed.
    fn write_failed(&mut self, ctx: &mut Context<'_>, e: &io::Error) {
        ctx.abort();
        let size = match self.state {
            State::Receiving { size, .. } => size,
            _ => None,
        };
        let why = format!("cannot write the file ({e})");
        self.finish(ctx, Outcome::Interrupted { received: self.received, size, why });
    }

    fn check_complete(&mut self, ctx: &mut Context<'_>) {
        let State::Receiving { size: Some(size), expected, .. } = self.state else { return };
        if self.received < size {
            return;
        }
        let outcome = match (self.sink.checksum(), expected) {
            (Err(e), _) => Outcome::Failed(format!("cannot compute the checksum: {e}")),
            (Ok(got), Some(expected)) if expected != got => Outcome::Corrupt { expected, got },
            (Ok(got), _) => Outcome::Complete { size, checksum: got },
        };
        self.finish(ctx, outcome);
    }

    /// The connection ended (`clean`: with the server's FIN) before we finished.
    fn ended(&mut self, ctx: &mut Context<'_>, clean: bool, why: String) {
        let outcome = match self.state {
            // Classic: the close is the end of the file.
            State::Receiving { size: None, .. } if clean => match self.sink.checksum() {
                Ok(checksum) => Outcome::Complete { size: self.received, checksum },
                Err(e) => Outcome::Failed(format!("cannot compute the checksum: {e}")),
            },
            State::Receiving { size, .. } => Outcome::Interrupted { received: self.received, size, why },
            _ => Outcome::Failed(format!("{why} before sending the file")),
        };
        self.finish(ctx, outcome);
    }
}

impl<W: Sink> Handler for GetClient<W> {
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, info: &ConnInfo) {
        info!("connected to {}", info.peer);
        match &self.mode {
            Mode::Ours { token, name } => ctx.write(&wire::auth_and_get(token, name, self.offset)),
            // One send, as the classic client does: its first read on the server is the key.
            Mode::Classic { key } => ctx.write(key),
        }
        self.state = State::AwaitingAuth;
    }

    fn data(&mut self, _conn: &mut (), ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let was_direct = matches!(self.state, State::Receiving { direct: true, .. });
        let used = self.replies(ctx, data);
        match self.state {
            // The header was just read: what follows it is the reactor's to store.
            State::Receiving { direct: true, .. } if !was_direct => used,
            State::Receiving { .. } if used < data.len() => {
                self.receive(ctx, &data[used..]);
                data.len()
            }
            State::Done(_) => data.len(),
            _ => used,
        }
    }

    fn received_to_file(&mut self, _conn: &mut (), ctx: &mut Context<'_>, got: io::Result<u64>) {
        match got.and_then(|n| self.sink.landed(n).map(|()| n)) {
            Ok(n) => {
                self.received += n;
                (self.observer)(Progress::Received(self.received));
                self.check_complete(ctx);
            }
            Err(e) => self.write_failed(ctx, &e),
        }
    }

    /// A reply line the server closed without its newline is still its reply if it reads
    /// as one (an `ERR` says why it refused, a zero-byte `FILE` is the whole file). Any other
    /// leftover is a reply cut short, and the error says so, with what arrived of it, rather
    /// than blaming the syntax of a line that never ended.
    fn eof(&mut self, _conn: &mut (), ctx: &mut Context<'_>, rest: &[u8]) {
        let ours = matches!(self.mode, Mode::Ours { .. });
        let mut why = "the server closed the connection".to_string();
        if ours
            && matches!(self.state, State::AwaitingAuth | State::AwaitingHeader)
            && let Ok(Some(line)) = last_line(rest, MAX_LINE)
            && Reply::parse(line).is_ok()
        {
            self.reply_line(ctx, line);
        } else if !rest.is_empty() {
            let shown = String::from_utf8_lossy(&rest[..rest.len().min(40)]).into_owned();
            debug!("the server closed the connection after {} bytes of a reply: {shown:?}", rest.len());
            why = format!("the server closed the connection in the middle of a reply ({shown:?})");
        }
        self.ended(ctx, true, why);
    }

    fn closed(&mut self, _conn: (), ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        self.ended(ctx, false, format!("connection closed ({reason})"));
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        self.attempt += 1;
        match self.addrs.get(self.attempt) {
            Some(next) if !matches!(self.state, State::Done(_)) => ctx.connect(*next, tag),
            _ => self.finish(ctx, Outcome::Failed(format!("cannot connect: {err}"))),
        }
    }

    fn stopping(&mut self, ctx: &mut Context<'_>) {
        self.ended(ctx, false, "stopped".into());
    }
}
