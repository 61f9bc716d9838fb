//! chat: many members, one room. Every line a member sends reaches every *other* member as
//! `nick: text`; joins, leaves and nick changes are announced as `* ...` lines, and
//! mistakes are answered with `! ...` lines to the member alone.
//!
//! ```text
//! * welcome, guest1: 2 others here. Commands: /nick NAME, /who, /msg NICK TEXT, /quit
//! /nick alice
//! * you are now alice
//! bob: hi alice
//! /msg bob see you
//! /quit                   (or the classic client's line `BYE`)
//! ```
//!
//! **A member who does not read never slows the others.** Everything sent to a member is
//! queued for it alone; when its queue passes the reactor's high-water mark
//! ([`Handler::backlogged`]) it is disconnected at once, its queue thrown away, and the
//! others are told `* bob dropped (not reading)`. The alternative, dropping lines for it
//! while it stays, would leave it reading a conversation with holes it cannot see; a
//! dropped member at least knows that it missed something. Lines from one sender reach every
//! member in the order sent, because each member's queue is first in, first out.
//!
//! **Lines** are at most `max_line` bytes (see [`crate::protocols::lines`]); a longer one is
//! refused with an error line as soon as it is known to be too long, and so is a line that
//! is not UTF-8. A member's last line may lack its `\n` (`printf 'bye' | nc -N`): what is
//! left unterminated at the member's EOF is taken as a last line, then the member leaves.
//!
//! **The console** (`sockloop serve chat --console`): the server's stdin/stdout join the
//! room as the member `server`. What is typed there goes to everyone as `server: text`,
//! everything the room says is shown there, and `/who` and `/msg` work there too. If stdout
//! falls behind (a paused terminal, an unread pipe), lines are not shown there, and counted,
//! rather than queued without bound. One member may still wait for it: the reactor stops
//! reading the member whose line pushed stdout's queue past the high-water mark until that
//! queue drains (the producer pays for backpressure), and a handler cannot opt out of that.
//!
//! The classic one-client exchange is a different handler: [`classic`].

pub mod classic;
pub mod client;
pub mod command;
pub mod nick;
pub mod room;

use crate::protocols::lines::{Line, LineBuf, Lines};
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use command::{Command, HELP};
use log::{debug, info, warn};
use room::{NickError, Room};
use std::io::Write;

/// The default line limit, in bytes.
pub const MAX_LINE: usize = 4096;

/// Formats one line into a reused buffer: each message is formatted once, however many
/// members it goes to, and the buffer's allocation is kept from message to message.
macro_rules! format_into {
    ($buf:expr, $($arg:tt)*) => {{
        $buf.clear();
        // Writing to a Vec cannot fail.
        let _ = write!($buf, $($arg)*);
    }};
}

/// One connection's part in the room.
#[derive(Debug)]
pub enum Peer {
    /// A member; its nick lives in the [`Room`], its line splitting here.
    Member(Lines),
    /// The server's stdin/stdout. Its partial line is kept here rather than by the reactor:
    /// stdin's last line may have no `\n`, and nothing is handed back after its end.
    Console(LineBuf),
    /// Has left (quit, or dropped): its remaining bytes and its close mean nothing now.
    Gone,
}

/// Whether the member is still in the room after a line.
#[derive(PartialEq, Eq)]
enum Flow {
    Stay,
    Left,
}

#[derive(Debug)]
pub struct Chat {
    room: Room,
    max_line: usize,
    console: Option<ConnId>,
    /// The line being sent (see [`format_into`]).
    out: Vec<u8>,
}

impl Default for Chat {
    fn default() -> Self {
        Chat::new(MAX_LINE)
    }
}

impl Chat {
    /// Lines longer than `max_line` bytes are refused. Keep it well under the reactor's
    /// `Config::max_input`: a partial line of up to `max_line + 1` bytes is held there.
    pub fn new(max_line: usize) -> Chat {
        Chat { room: Room::default(), max_line, console: None, out: Vec::new() }
    }

    pub fn room(&self) -> &Room {
        &self.room
    }

    /// Sends the line in `self.out` to everyone but `except`.
    fn send_out(&mut self, ctx: &mut Context<'_>, except: Option<ConnId>) {
        self.room.send_all(ctx, &self.out, except);
    }

    fn on_line(&mut self, ctx: &mut Context<'_>, id: ConnId, line: Line<'_>) -> Flow {
        let text = match line {
            Line::Text(bytes) => match std::str::from_utf8(bytes) {
                Ok(text) => text,
                Err(_) => {
                    ctx.write(b"! invalid UTF-8: line ignored\n");
                    return Flow::Stay;
                }
            },
            Line::TooLong => {
                format_into!(self.out, "! line too long (the limit is {} bytes): ignored\n", self.max_line);
                ctx.write(&self.out);
                return Flow::Stay;
            }
        };
        let is_console = self.console == Some(id);
        let Some(me) = self.room.nick(id) else { return Flow::Left };
        match command::parse(text) {
            Command::Say(text) => {
                debug!("{me}: {text}");
                format_into!(self.out, "{me}: {text}\n");
                self.send_out(ctx, Some(id));
            }
            Command::Nothing => {}
            Command::Nick(_) if is_console => ctx.write(b"! the console's nick cannot change\n"),
            Command::Nick(new) => self.rename(ctx, id, new),
            Command::Who => {
                let nicks = self.room.nicks();
                format_into!(self.out, "* here ({}): {}\n", nicks.len(), nicks.join(", "));
                ctx.write(&self.out);
            }
            Command::Msg { to, text } => match self.room.find(to) {
                Some(target) => {
                    format_into!(self.out, "{me} (private): {text}\n");
                    self.room.send_to(ctx, target, &self.out);
                }
                None => {
                    format_into!(self.out, "! no such nick: {to}\n");
                    ctx.write(&self.out);
                }
            },
            Command::Quit if is_console => ctx.write(b"! the console stays; Ctrl-C stops the server\n"),
            Command::Quit => {
                self.leave(ctx, id, "left");
                ctx.close();
                return Flow::Left;
            }
            Command::Usage(usage) => {
                format_into!(self.out, "! usage: {usage}\n");
                ctx.write(&self.out);
            }
            Command::Unknown(name) => {
                format_into!(self.out, "! unknown command /{name} (commands: {HELP})\n");
                ctx.write(&self.out);
            }
        }
        Flow::Stay
    }

    fn rename(&mut self, ctx: &mut Context<'_>, id: ConnId, new: &str) {
        match self.room.rename(id, new) {
            Ok(old) if old == new => {}
            Ok(old) => {
                info!("{id}: {old} is now {new}");
                format_into!(self.out, "* {old} is now {new}\n");
                self.send_out(ctx, Some(id));
                format_into!(self.out, "* you are now {new}\n");
                ctx.write(&self.out);
            }
            Err(NickError::Taken) => {
                format_into!(self.out, "! nick taken: {new}\n");
                ctx.write(&self.out);
            }
            Err(NickError::Bad(why)) => {
                format_into!(self.out, "! bad nick ({why}): {new}\n");
                ctx.write(&self.out);
            }
        }
    }

    /// Takes a member out of the room and tells the others `* nick <how>`.
    fn leave(&mut self, ctx: &mut Context<'_>, id: ConnId, how: &str) {
        if let Some(nick) = self.room.leave(id) {
            info!("{id}: {nick} {how}");
            format_into!(self.out, "* {nick} {how}\n");
            self.send_out(ctx, None);
        }
    }
}

impl Handler for Chat {
    type Conn = Peer;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Peer {
        if info.origin == Origin::Stdio {
            self.console = Some(id);
            self.room.join_console(id);
            return Peer::Console(LineBuf::new(self.max_line));
        }
        let others = self.room.len();
        let nick = self.room.join_guest(id);
        info!("{} ({id}): joined as {nick}", info.peer);
        format_into!(self.out, "* welcome, {nick}: {others} others here. Commands: {HELP}\n");
        ctx.write(&self.out);
        format_into!(self.out, "* {nick} joined\n");
        self.send_out(ctx, Some(id));
        Peer::Member(Lines::new(self.max_line))
    }

    fn data(&mut self, peer: &mut Peer, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let Some(id) = ctx.id() else { return data.len() };
        match peer {
            Peer::Member(lines) => {
                let mut pos = 0;
                loop {
                    let (line, used) = lines.next(&data[pos..]);
                    pos += used;
                    let Some(line) = line else { return pos };
                    if self.on_line(ctx, id, line) == Flow::Left {
                        *peer = Peer::Gone;
                        return data.len();
                    }
                }
            }
            Peer::Console(input) => {
                input.push(data);
                while let Some(line) = input.pop() {
                    self.on_line(ctx, id, line);
                }
                data.len()
            }
            Peer::Gone => data.len(),
        }
    }

    /// A member's EOF ends its membership, after its unterminated last line if it left one
    /// (said, or obeyed if it is a command); the console's only ends typing, and the room is
    /// still shown on stdout.
    fn eof(&mut self, peer: &mut Peer, ctx: &mut Context<'_>, rest: &[u8]) {
        let Some(id) = ctx.id() else { return };
        match peer {
            Peer::Console(input) => {
                input.push(rest); // empty: the console's bytes are all taken as they come
                input.end();
                while let Some(line) = input.pop() {
                    self.on_line(ctx, id, line);
                }
                info!("console input ended; the room is still shown here");
            }
            Peer::Member(lines) => {
                if let Some(line) = lines.finish(rest)
                    && self.on_line(ctx, id, line) == Flow::Left
                {
                    *peer = Peer::Gone; // it quit with its last line, and is closing
                    return;
                }
                ctx.close();
            }
            Peer::Gone => ctx.close(),
        }
    }

    /// The slow-member policy (see the module doc): disconnect, and say so.
    fn backlogged(&mut self, peer: &mut Peer, ctx: &mut Context<'_>, queued: usize) {
        let Some(id) = ctx.id() else { return };
        match peer {
            Peer::Member(_) => {
                warn!("{id}: {queued} bytes queued and not being read: dropping it");
                ctx.abort();
                *peer = Peer::Gone;
                self.leave(ctx, id, "dropped (not reading)");
            }
            Peer::Console(_) => {
                warn!("stdout is not keeping up: room lines are not shown until it does");
                self.room.mute(id);
            }
            Peer::Gone => {}
        }
    }

    fn drained(&mut self, peer: &mut Peer, ctx: &mut Context<'_>) {
        if let (Peer::Console(_), Some(id)) = (peer, ctx.id()) {
            let hidden = self.room.unmute(id);
            if hidden > 0 {
                format_into!(self.out, "* {hidden} lines were not shown here: stdout fell behind\n");
                ctx.write(&self.out);
            }
        }
    }

    fn closed(&mut self, peer: Peer, ctx: &mut Context<'_>, id: ConnId, reason: CloseReason) {
        match peer {
            Peer::Member(_) => self.leave(ctx, id, "left"),
            Peer::Console(_) => {
                debug!("console closed: {reason}");
                self.room.leave(id);
                self.console = None;
            }
            Peer::Gone => {}
        }
    }

    fn stopping(&mut self, ctx: &mut Context<'_>) {
        format_into!(self.out, "* the server is shutting down\n");
        self.send_out(ctx, None);
    }
}

#[cfg(test)]
mod tests;
