//! One connection of the load, as a sans-IO state machine: it sends requests when they are
//! due and there is room in the pipeline, checks every reply byte against what the protocol
//! says it must be, and times each reply from its reference time.
//!
//! The reference time is when the request was sent (closed loop) or when it was *meant* to be
//! sent (open loop). If a slow reply holds up the requests behind it, their latency still
//! counts from their intended times, so a server stall shows up in every request it
//! delayed rather than in one: the coordinated-omission correction wrk2 made well known.
//!
//! Per connection this keeps a few counters and one reference time per request in flight;
//! expected bytes are recomputed by the [`Workload`], never stored.

use super::load::{Ended, Io, Load, Pace, Start, Unexpected};
use super::recorder::Recorder;
use super::workload::Workload;
use crate::{ConnId, ConnInfo, Context};
use std::time::Duration;

/// The key of a connection's pacing timer.
pub(crate) const PACE: u64 = 0;

/// Replies are checked this many bytes at a time against recomputed expected bytes.
pub(crate) const CHECK_CHUNK: usize = 4096;

/// What a connection is lent for one callback: the protocol, the reactor's context, the
/// run's recorder and a reusable buffer (so nothing is allocated per reply).
pub(crate) struct Env<'a, 'c, W> {
    pub(crate) workload: &'a W,
    pub(crate) ctx: &'a mut Context<'c>,
    pub(crate) rec: &'a mut Recorder,
    pub(crate) scratch: &'a mut Vec<u8>,
    pub(crate) now_ns: u64,
}

pub(crate) enum Client {
    /// Requests go out and replies are checked.
    Exchanging(Flow),
    /// Every exchange this connection carries is complete; the server closes it next.
    Finished { client: u32 },
}

impl Client {
    /// Bytes arrived.
    pub(crate) fn data<W: Workload>(
        &mut self,
        env: &mut Env<'_, '_, W>,
        data: &[u8],
    ) -> Result<(), Unexpected> {
        let Client::Exchanging(flow) = self else { return Err(Unexpected) };
        flow.receive(env, data)?;
        if flow.is_done() {
            *self = Client::Finished { client: flow.client };
        }
        Ok(())
    }

    /// The pacing timer fired.
    pub(crate) fn timer<W: Workload>(&mut self, env: &mut Env<'_, '_, W>) {
        if let Client::Exchanging(flow) = self {
            flow.timer_armed = false;
            flow.pump(env);
        }
    }

    pub(crate) fn end<W: Workload>(self, workload: &W) -> Ended {
        match self {
            Client::Exchanging(flow) => {
                let (replies, bytes) = flow.outstanding(workload);
                Ended::Cut { replies, bytes }
            }
            Client::Finished { client } => Ended::Completed { client },
        }
    }

    #[cfg(test)]
    pub(crate) fn in_flight(&self) -> u64 {
        match self {
            Client::Exchanging(flow) => flow.sent - flow.received,
            _ => 0,
        }
    }
}

pub(crate) struct Flow {
    client: u32,
    pipeline: u32,
    /// Exchanges this connection carries (`None`: as many as the run allows).
    limit: Option<u64>,
    pace: Pace,
    /// Requests sent and replies completed; request `received` is the one being read.
    sent: u64,
    received: u64,
    /// Bytes of reply `received` read so far.
    offset: usize,
    /// Reply `received` has had a wrong byte.
    wrong: bool,
    /// Reference time of each request in flight, at `seq % pipeline`.
    reference_ns: Box<[u64]>,
    timer_armed: bool,
    /// When it connected, and its replies that count in the figures: its share.
    connected_ns: u64,
    measured: u32,
}

impl Flow {
    pub(crate) fn new(client: u32, pipeline: u32, limit: Option<u64>, pace: Pace, connected_ns: u64) -> Flow {
        let pipeline = pipeline.max(1);
        Flow {
            client,
            pipeline,
            limit,
            pace,
            sent: 0,
            received: 0,
            offset: 0,
            wrong: false,
            reference_ns: vec![0; pipeline as usize].into_boxed_slice(),
            timer_armed: false,
            connected_ns,
            measured: 0,
        }
    }

    fn is_done(&self) -> bool {
        self.limit.is_some_and(|limit| self.received >= limit)
    }

    fn has_room(&self) -> bool {
        self.sent - self.received < u64::from(self.pipeline)
            && self.limit.is_none_or(|limit| self.sent < limit)
    }

    /// Sends every request that is due and has room; in open loop, arms the timer for the
    /// next one. A full pipeline needs no timer: the next reply calls this again.
    pub(crate) fn pump<W: Workload>(&mut self, env: &mut Env<'_, '_, W>) {
        while self.has_room() {
            let reference = match self.pace {
                Pace::Closed => env.now_ns,
                Pace::Open { first_ns, interval_ns } => {
                    let due = first_ns.saturating_add(self.sent.saturating_mul(interval_ns));
                    if due > env.now_ns {
                        if !self.timer_armed {
                            env.ctx.set_timer(Duration::from_nanos(due - env.now_ns), PACE);
                            self.timer_armed = true;
                        }
                        return;
                    }
                    due
                }
            };
            self.send(env, reference);
        }
    }

    fn send<W: Workload>(&mut self, env: &mut Env<'_, '_, W>, reference_ns: u64) {
        env.scratch.clear();
        env.workload.request(self.client, self.sent, env.scratch);
        if !env.scratch.is_empty() {
            env.ctx.write(env.scratch);
            env.rec.sent(env.now_ns, env.scratch.len());
        }
        self.reference_ns[self.slot(self.sent)] = reference_ns;
        self.sent += 1;
    }

    fn slot(&self, seq: u64) -> usize {
        (seq % u64::from(self.pipeline)) as usize
    }

    /// Checks `data` against the replies due, in order, however it is split.
    fn receive<W: Workload>(&mut self, env: &mut Env<'_, '_, W>, data: &[u8]) -> Result<(), Unexpected> {
        let mut rest = data;
        while !rest.is_empty() {
            if self.received == self.sent {
                return Err(Unexpected);
            }
            let seq = self.received;
            let len = env.workload.reply_len(seq);
            let (piece, after) = rest.split_at((len - self.offset).min(rest.len()));
            if !self.wrong && !self.matches(env, seq, piece) {
                self.wrong = true;
            }
            env.rec.received(env.now_ns, piece.len());
            self.offset += piece.len();
            rest = after;
            if self.offset == len {
                self.complete(env, seq);
            }
        }
        Ok(())
    }

    fn matches<W: Workload>(&self, env: &mut Env<'_, '_, W>, seq: u64, piece: &[u8]) -> bool {
        let mut offset = self.offset;
        for chunk in piece.chunks(CHECK_CHUNK) {
            env.scratch.clear();
            env.scratch.resize(chunk.len(), 0);
            env.workload.expected(self.client, seq, offset, env.scratch);
            if env.scratch.as_slice() != chunk {
                return false;
            }
            offset += chunk.len();
        }
        true
    }

    fn complete<W: Workload>(&mut self, env: &mut Env<'_, '_, W>, seq: u64) {
        let reference = self.reference_ns[self.slot(seq)];
        if env.rec.reply(env.now_ns, env.now_ns.saturating_sub(reference), !self.wrong) {
            self.measured = self.measured.saturating_add(1);
        }
        self.received += 1;
        self.offset = 0;
        self.wrong = false;
        let workload = env.workload;
        let answer = workload.answer(seq);
        if !answer.is_empty() {
            env.ctx.write(answer);
            env.rec.sent(env.now_ns, answer.len());
        }
        self.pump(env);
    }

    /// Replies, and bytes of them, still owed.
    fn outstanding<W: Workload>(&self, workload: &W) -> (u64, u64) {
        let owed: u64 = (self.received..self.sent).map(|seq| workload.reply_len(seq) as u64).sum();
        (self.sent - self.received, owed.saturating_sub(self.offset as u64))
    }
}

/// Every request/reply protocol is a load whose connections each check their own replies.
impl<W: Workload> Load for W {
    type Conn = Client;

    fn pipeline(&self, asked: u32) -> u32 {
        Workload::pipeline(self, asked)
    }

    fn reconnects(&self) -> bool {
        self.exchanges_per_connection().is_some()
    }

    fn connected(
        &mut self,
        io: &mut Io<'_, '_>,
        client: u32,
        _: ConnId,
        _: &ConnInfo,
        start: Start,
    ) -> Client {
        let limit = self.exchanges_per_connection();
        let mut flow = Flow::new(client, start.pipeline, limit, start.pace, io.now_ns);
        flow.pump(&mut env(self, io));
        Client::Exchanging(flow)
    }

    fn data(&mut self, conn: &mut Client, io: &mut Io<'_, '_>, data: &[u8]) -> Result<usize, Unexpected> {
        conn.data(&mut env(self, io), data)?;
        Ok(data.len())
    }

    fn timer(&mut self, conn: &mut Client, io: &mut Io<'_, '_>) {
        conn.timer(&mut env(self, io));
    }

    fn closed(&mut self, conn: Client, io: &mut Io<'_, '_>) -> Ended {
        // Connections that carry one exchange each (greet) have no share to compare.
        if let Client::Exchanging(flow) = &conn
            && flow.limit.is_none()
        {
            io.rec.share(flow.connected_ns, io.now_ns, flow.measured);
        }
        conn.end(self)
    }
}

fn env<'a, 'c, W>(workload: &'a W, io: &'a mut Io<'_, 'c>) -> Env<'a, 'c, W> {
    Env { workload, ctx: &mut *io.ctx, rec: &mut *io.rec, scratch: &mut *io.scratch, now_ns: io.now_ns }
}
