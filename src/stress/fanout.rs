//! Conversations under load: clients that register a name, then send messages that the
//! server passes on to *other* clients (every other member of a chat room, or the partner
//! in relay), checked where they arrive.
//!
//! Because a message is checked on other connections than the one that sent it, the state
//! lives in the load, shared by all connections: each member's progress and the [`Ledger`]
//! of what is owed to whom. A connection's own state is only its member number, and a
//! partial line is left to the reactor to hold, so the load owns no buffer per connection.
//!
//! The run begins when every member has registered (or failed): a message sent while the
//! room is still filling could not reach everyone. Then each member sends closed loop (its
//! next message once its last has reached everyone it was for: with `--pipeline K`, up to
//! K such messages in flight) or open loop (`--rate` in total, each message timed from when
//! it was due), like echo's requests.
//!
//! What the protocols differ in (the lines that register, send and arrive) is a [`Dialect`].

use super::driver::Plan;
use super::ledger::Ledger;
use super::load::{Ended, Io, Load, Pace, Start, Unexpected};
use super::message;
use super::recorder::FanOutCounts;
use crate::{ConnId, ConnInfo};
use std::net::SocketAddr;
use std::time::Duration;

/// A partial line longer than this is not one the servers would send.
const MAX_LINE: usize = 64 << 10;

/// Who a message is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Audience {
    /// Every other member (chat).
    Everyone,
    /// One partner: client `i` and client `i ^ 1`, or itself if it is the odd one out (relay).
    Partner,
}

/// What one line from the server is, as far as the load is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard<'a> {
    /// The server accepted this member's name.
    Registered,
    /// The server acknowledged one of this member's sends (relay's `200`).
    Ack,
    /// A message passed on from another client: who it says it is from (a name or an
    /// address), and its text.
    Message { from: &'a [u8], text: &'a [u8] },
    /// Notices and other people's lines: recognised and skipped.
    Noise,
    /// An error answer (`! ...`, a 4xx code).
    Refused,
    /// Anything else.
    Garbled,
}

/// One protocol's lines.
pub(crate) trait Dialect {
    fn audience(&self) -> Audience;

    /// Whether the server acknowledges every send.
    fn acks(&self) -> bool;

    /// Appends the line that registers client `me`'s name.
    fn register(&self, me: u32, out: &mut Vec<u8>);

    /// Appends the line that sends `text` from `me` to `to` (ignored by a room).
    fn send(&self, me: u32, to: u32, text: &[u8], out: &mut Vec<u8>);

    /// What `line` (without its newline) is, heard by client `me`.
    fn hear<'a>(&self, me: u32, line: &'a [u8]) -> Heard<'a>;

    /// Whether `from` in a [`Heard::Message`] names `sender`, whose connection is from `addr`.
    fn said_by(&self, from: &[u8], sender: u32, addr: SocketAddr) -> bool;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Dialling,
    /// Connected; its name is not registered yet.
    Joining,
    Ready,
    /// Failed to connect, refused, or closed: it takes no further part.
    Gone,
}

#[derive(Clone, Copy, Debug)]
struct Member {
    state: State,
    id: Option<ConnId>,
    /// Its local address: what the server sees as its peer address.
    addr: SocketAddr,
    sent: u64,
    acked: u64,
    pace: Pace,
    timer_armed: bool,
}

pub(crate) struct FanOut<D> {
    dialect: D,
    size: usize,
    members: Vec<Member>,
    ledger: Ledger,
    /// Members ready or gone.
    settled: u32,
    /// Members ready and not gone.
    ready: u32,
    begun: bool,
    finished: bool,
    /// The text of the message being sent (the line is built in the driver's scratch).
    text: Vec<u8>,
}

impl<D: Dialect> FanOut<D> {
    pub(crate) fn new(dialect: D, clients: u32, size: usize, pipeline: u32) -> FanOut<D> {
        let n = clients as usize;
        let width = match dialect.audience() {
            Audience::Everyone => n,
            Audience::Partner => 1,
        };
        let member = Member {
            state: State::Dialling,
            id: None,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
            sent: 0,
            acked: 0,
            pace: Pace::Closed,
            timer_armed: false,
        };
        FanOut {
            dialect,
            size,
            members: vec![member; n],
            ledger: Ledger::new(n, n, width, pipeline),
            settled: 0,
            ready: 0,
            begun: false,
            finished: false,
            text: Vec::with_capacity(size + 32),
        }
    }

    fn clients(&self) -> u32 {
        self.members.len() as u32
    }

    fn partner(&self, client: u32) -> u32 {
        let other = client ^ 1;
        if other < self.clients() { other } else { client }
    }

    fn is_ready(&self, client: u32) -> bool {
        self.members.get(client as usize).is_some_and(|m| m.state == State::Ready)
    }

    /// The column of `receiver`'s expectations that messages from `sender` go in, if
    /// `receiver` should hear from `sender` at all.
    fn column(&self, receiver: u32, sender: u32) -> Option<u32> {
        match self.dialect.audience() {
            Audience::Everyone => (receiver != sender).then_some(sender),
            Audience::Partner => (self.partner(receiver) == sender).then_some(0),
        }
    }

    /// Deliveries a message from `sender` is owed now.
    fn audience(&self, sender: u32) -> u32 {
        match self.dialect.audience() {
            Audience::Everyone => self.ready.saturating_sub(1),
            Audience::Partner => u32::from(self.is_ready(self.partner(sender))),
        }
    }

    fn counts<'r>(io: &'r mut Io<'_, '_>) -> &'r mut FanOutCounts {
        io.rec.fanout.get_or_insert_with(FanOutCounts::default)
    }

    /// Sends every message of `m`'s that is due and has room; in open loop, arms the timer
    /// for the next one.
    fn pump(&mut self, io: &mut Io<'_, '_>, m: u32) {
        if !self.begun || self.finished || !self.is_ready(m) {
            return;
        }
        loop {
            let seq = self.members[m as usize].sent;
            let audience = self.audience(m);
            // Nobody left to hear it (a relay partner gone: a send could only be refused).
            if audience == 0 || !self.ledger.has_room(m, seq) {
                return;
            }
            let member = &mut self.members[m as usize];
            let reference = match member.pace {
                Pace::Closed => io.now_ns,
                Pace::Open { first_ns, interval_ns } => {
                    let due = first_ns.saturating_add(seq.saturating_mul(interval_ns));
                    if due > io.now_ns {
                        if !member.timer_armed {
                            member.timer_armed = true;
                            io.set_timer(Duration::from_nanos(due - io.now_ns), u64::from(m));
                        }
                        return;
                    }
                    due
                }
            };
            self.send(io, m, seq, reference, audience);
        }
    }

    fn send(&mut self, io: &mut Io<'_, '_>, m: u32, seq: u64, reference_ns: u64, audience: u32) {
        let Some(id) = self.members[m as usize].id else { return };
        self.text.clear();
        message::write(m, seq, self.size, &mut self.text);
        io.scratch.clear();
        self.dialect.send(m, self.partner(m), &self.text, io.scratch);
        io.ctx.write_to(id, io.scratch);
        io.rec.sent(io.now_ns, io.scratch.len());
        io.rec.message_sent(io.now_ns);
        self.ledger.open(m, seq, reference_ns, audience, self.dialect.acks());
        self.members[m as usize].sent += 1;
    }

    /// One line heard by member `me`. Returns false if the member can take no further part.
    fn line(&mut self, io: &mut Io<'_, '_>, me: u32, line: &[u8]) -> bool {
        match self.dialect.hear(me, line) {
            Heard::Noise => {}
            Heard::Registered if self.members[me as usize].state == State::Joining => {
                self.members[me as usize].state = State::Ready;
                self.settled += 1;
                self.ready += 1;
                Self::counts(io).ready += 1;
            }
            Heard::Registered | Heard::Garbled if self.members[me as usize].state != State::Joining => {
                io.rec.errors.mismatched += 1;
            }
            // Not the server this load speaks to (nothing but the answer comes before it).
            Heard::Registered | Heard::Garbled => {
                io.rec.errors.mismatched += 1;
                self.leave(io, me);
                io.ctx.abort();
                return false;
            }
            Heard::Refused => {
                io.rec.errors.refused += 1;
                if self.members[me as usize].state == State::Joining {
                    // Without its name, nothing sent to it could be addressed or checked.
                    self.leave(io, me);
                    io.ctx.abort();
                    return false;
                }
            }
            Heard::Ack => {
                let member = &mut self.members[me as usize];
                let seq = member.acked;
                match (seq < member.sent).then(|| self.ledger.ack(me, seq)).flatten() {
                    Some(freed) => {
                        member.acked += 1;
                        io.rec.acked(io.now_ns);
                        if freed {
                            self.pump(io, me);
                        }
                    }
                    None => io.rec.errors.mismatched += 1,
                }
            }
            Heard::Message { from, text } => {
                io.rec.received(io.now_ns, line.len() + 1);
                self.message(io, me, from, text);
            }
        }
        true
    }

    /// A message heard by `me`: whose it is, whether `me` should have it, and in what order.
    fn message(&mut self, io: &mut Io<'_, '_>, me: u32, from: &[u8], text: &[u8]) {
        let checked = message::parse(text, self.size).and_then(|(sender, seq)| {
            let member = self.members.get(sender as usize)?;
            let known = seq < member.sent && self.dialect.said_by(from, sender, member.addr);
            Some((sender, seq, self.column(me, sender).filter(|_| known)?))
        });
        let Some((sender, seq, column)) = checked else {
            io.rec.errors.mismatched += 1;
            return;
        };
        let d = self.ledger.deliver(me, column, sender, seq, io.now_ns, &mut io.rec.errors);
        if let Some(latency) = d.latency_ns {
            io.rec.reply(io.now_ns, latency, true);
        }
        if d.freed {
            self.pump(io, sender);
        }
    }

    /// Member `m` takes no further part: what it was owed is lost, and messages owed to it
    /// by others are no longer waited for.
    fn leave(&mut self, io: &mut Io<'_, '_>, m: u32) {
        let member = &mut self.members[m as usize];
        match member.state {
            State::Gone => return,
            State::Ready => self.ready -= 1,
            State::Dialling | State::Joining => self.settled += 1,
        }
        member.state = State::Gone;
        member.id = None;
        let errors = &mut io.rec.errors;
        self.ledger.forget_acks(m, errors);
        let mut freed = Vec::new();
        for sender in 0..self.clients() {
            let Some(column) = self.column(m, sender) else { continue };
            let sent = self.members[sender as usize].sent;
            if self.ledger.forget_receiver(m, column, sender, sent, errors) {
                freed.push(sender);
            }
        }
        // Rare (an error already counted), so a list of who to wake is fine here.
        for sender in freed {
            self.pump(io, sender);
        }
    }
}

impl<D: Dialect> Load for FanOut<D> {
    /// The member number.
    type Conn = u32;

    fn ready(&self) -> bool {
        self.settled == self.clients()
    }

    fn settled(&self) -> u64 {
        u64::from(self.settled)
    }

    fn begin(&mut self, io: &mut Io<'_, '_>, plan: &Plan) {
        self.begun = true;
        let audience = (0..self.clients()).find(|&m| self.is_ready(m)).map_or(0, |m| self.audience(m));
        Self::counts(io).audience = u64::from(audience);
        for m in 0..self.clients() {
            self.members[m as usize].pace = plan.pace(m, io.now_ns);
            self.pump(io, m);
        }
    }

    fn connected(&mut self, io: &mut Io<'_, '_>, client: u32, id: ConnId, info: &ConnInfo, _: Start) -> u32 {
        Self::counts(io);
        if let Some(member) = self.members.get_mut(client as usize) {
            member.state = State::Joining;
            member.id = Some(id);
            member.addr = info.local;
            io.scratch.clear();
            self.dialect.register(client, io.scratch);
            io.ctx.write(io.scratch);
            io.rec.sent(io.now_ns, io.scratch.len());
        }
        client
    }

    fn data(&mut self, me: &mut u32, io: &mut Io<'_, '_>, data: &[u8]) -> Result<usize, Unexpected> {
        let me = *me;
        let mut used = 0;
        while self.members.get(me as usize).is_some_and(|m| m.state != State::Gone) {
            let rest = &data[used..];
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                return if rest.len() > MAX_LINE { Err(Unexpected) } else { Ok(used) };
            };
            used += end + 1;
            let line = rest[..end].strip_suffix(b"\r").unwrap_or(&rest[..end]);
            if !self.line(io, me, line) {
                break;
            }
        }
        Ok(data.len())
    }

    fn global_timer(&mut self, io: &mut Io<'_, '_>, key: u64) {
        let Ok(m) = u32::try_from(key) else { return };
        if let Some(member) = self.members.get_mut(m as usize) {
            member.timer_armed = false;
            self.pump(io, m);
        }
    }

    fn closed(&mut self, me: u32, io: &mut Io<'_, '_>) -> Ended {
        if !self.finished {
            self.leave(io, me);
        }
        Ended::Cut { replies: 0, bytes: 0 }
    }

    fn connect_failed(&mut self, io: &mut Io<'_, '_>, client: u32) {
        Self::counts(io);
        if client < self.clients() {
            self.leave(io, client);
        }
    }

    fn wind_down(&mut self, _io: &mut Io<'_, '_>) -> u64 {
        self.finished = true;
        self.ledger.owed()
    }

    fn owed(&self) -> u64 {
        self.ledger.owed()
    }

    fn finish(&mut self, io: &mut Io<'_, '_>) {
        self.finished = true;
        // Names never confirmed: the run could not begin for want of them.
        let joining = self.members.iter().filter(|m| m.state == State::Joining).count();
        io.rec.errors.lost_replies += joining as u64;
        self.ledger.close_books(&mut io.rec.errors);
    }
}
