//! What the driver asks of a load: what to do when one of its connections comes up, hears
//! bytes, has a timer fire or goes away.
//!
//! Two shapes of load sit behind it. Request/reply protocols (echo, greet, framed) describe
//! only their bytes through a [`super::workload::Workload`]; one connection then checks its
//! own replies and needs nothing from the others (`client.rs` adapts every `Workload`).
//! Conversations (chat, relay) are different: a message one connection sends is checked where
//! it arrives, on *other* connections, so their state is shared by the whole load rather
//! than kept per connection (`fanout.rs`). The driver keeps what both share: dialling, the
//! run's clock, the recorder and the report.

use super::driver::Plan;
use super::recorder::Recorder;
use crate::{ConnId, ConnInfo, Context};
use std::time::Duration;

/// Global timer keys from this value up belong to the load (the driver's own are below).
pub(crate) const LOAD_TIMERS: u64 = 1 << 48;

/// What a load is lent for one callback: the reactor's context, the run's recorder, a
/// reusable buffer (so nothing is allocated per message) and the run's clock.
pub(crate) struct Io<'a, 'c> {
    pub(crate) ctx: &'a mut Context<'c>,
    pub(crate) rec: &'a mut Recorder,
    pub(crate) scratch: &'a mut Vec<u8>,
    /// Nanoseconds since the run began.
    pub(crate) now_ns: u64,
}

impl Io<'_, '_> {
    /// Calls [`Load::global_timer`] with `key` after `after`.
    pub(crate) fn set_timer(&mut self, after: Duration, key: u64) {
        self.ctx.set_global_timer(after, LOAD_TIMERS + key);
    }
}

/// How a connection's exchanges are paced, as the driver works it out for a client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Pace {
    /// Send as soon as there is room; latency counts from the real send.
    Closed,
    /// Message `seq` is due at `first_ns + seq * interval_ns`; latency counts from then.
    Open { first_ns: u64, interval_ns: u64 },
}

/// How a connection ended, as far as the load is concerned.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ended {
    /// It carried all its exchanges: the client may begin the next one.
    Completed { client: u32 },
    /// It closed with `replies` (`bytes`) still owed; a load that does its own accounting of
    /// what was lost says 0.
    Cut { replies: u64, bytes: u64 },
}

pub(crate) trait Load {
    /// Per-connection state, kept by the reactor next to the socket.
    type Conn;

    /// Messages in flight per connection, given what was asked for (`--pipeline`).
    fn pipeline(&self, asked: u32) -> u32 {
        asked
    }

    /// The server closes each connection after one exchange, and the client dials again.
    fn reconnects(&self) -> bool {
        false
    }

    /// Whether every client has finished its set-up (or given up). Until then nothing is
    /// measured and the run's duration has not started: a room of 1,000 members takes a
    /// while to fill, and a message sent before everyone is in could not reach everyone.
    fn ready(&self) -> bool {
        true
    }

    /// How many clients have finished their set-up (or given up) so far: while this grows,
    /// the set-up is getting somewhere.
    fn settled(&self) -> u64 {
        0
    }

    /// Everyone is ready: begin sending. `plan` gives each client's pacing from now.
    fn begin(&mut self, _io: &mut Io<'_, '_>, _plan: &Plan) {}

    /// Client `client`'s connection is up, paced by `pace` with `pipeline` in flight.
    fn connected(
        &mut self,
        io: &mut Io<'_, '_>,
        client: u32,
        id: ConnId,
        info: &ConnInfo,
        start: Start,
    ) -> Self::Conn;

    /// Bytes arrived; returns how many were consumed (the reactor keeps the rest), or
    /// [`Unexpected`] when the connection cannot go on and should be dropped.
    fn data(&mut self, conn: &mut Self::Conn, io: &mut Io<'_, '_>, data: &[u8]) -> Result<usize, Unexpected>;

    /// A timer this connection set fired.
    fn timer(&mut self, _conn: &mut Self::Conn, _io: &mut Io<'_, '_>) {}

    /// A timer set with [`Io::set_timer`] fired.
    fn global_timer(&mut self, _io: &mut Io<'_, '_>, _key: u64) {}

    /// The connection is gone (for whatever reason: the driver counts that).
    fn closed(&mut self, conn: Self::Conn, io: &mut Io<'_, '_>) -> Ended;

    /// Client `client`'s connect failed.
    fn connect_failed(&mut self, _io: &mut Io<'_, '_>, _client: u32) {}

    /// The measured run is over: send nothing more. Returns how many deliveries (and
    /// acknowledgements) are still owed: the driver waits for them before it stops. A load
    /// whose connections each count their own outstanding replies says 0.
    fn wind_down(&mut self, _io: &mut Io<'_, '_>) -> u64 {
        0
    }

    /// How much is still owed, while the driver waits.
    fn owed(&self) -> u64 {
        0
    }

    /// The wait is over (or there was none), before the connections are closed: what is
    /// still owed now is lost.
    fn finish(&mut self, _io: &mut Io<'_, '_>) {}
}

/// How a client's connection starts, as the driver sees it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Start {
    pub(crate) pace: Pace,
    pub(crate) pipeline: u32,
}

/// The server sent bytes the load cannot make sense of where they are (no reply was due),
/// so where the next reply starts is no longer known.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Unexpected;
