//! The load as one [`Handler`]: it opens the connections (all at once or at a connect
//! rate), hands each to the [`Load`] (a per-connection [`super::client::Client`] state
//! machine, or a conversation shared by all), keeps the run's clock with reactor timers
//! (the end, the per-second intervals, the ramp, the progress bar) and stops the reactor
//! when the run is over. No sleeps and no threads: the same loop that carries the traffic
//! keeps the time.
//!
//! A load with a set-up phase (members joining a room) is not [`Load::ready`] at once: the
//! run's duration, and what is measured, start only when it is, so the figures describe
//! the conversation and not the crowd arriving.

use super::client::CHECK_CHUNK;
use super::histogram::Percentiles;
use super::load::{Ended, Io, LOAD_TIMERS, Load, Pace, Start};
use super::progress::{self, Progress};
use super::recorder::Recorder;
use super::report::{Connections, FanOut, Report, Setup};
use super::shares::Shares;
use crate::id::TimerId;
use crate::{CloseReason, ConnId, ConnInfo, Context, Handler, Origin};
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const SEC: u64 = 1_000_000_000;

/// Connects issued per turn of the loop. Issuing 10,000 in one callback would hold the
/// loop for tens of milliseconds with every early connection's handshake unanswered (and
/// all their connect times measured from one stale "now"); in batches, traffic starts while
/// the rest connect.
const CONNECT_BATCH: u32 = 256;

/// A timer this short is already due when the loop next polls, but not in the turn that
/// set it (a zero delay would fire in the same turn, before any I/O is served).
const NEXT_TURN: Duration = Duration::from_micros(1);

/// A connect still pending this long at the end has lost its first SYN: a timeout, not
/// just the end of the run cutting it short.
const PENDING_IS_TIMEOUT_NS: u64 = SEC;

/// A load's set-up is given up when no client has finished its own for this long: a room
/// of thousands takes seconds to fill (every join is announced to everyone), but each
/// member is in well within this; a server that answers no one never will be.
const SETUP_QUIET_NS: u64 = 10 * SEC;

/// After the run, a load still owed deliveries waits for them, checking this often...
const DRAIN_POLL: Duration = Duration::from_millis(20);
/// ...until none has come for this long (the server has stalled or dropped them)...
const DRAIN_QUIET_NS: u64 = SEC;
/// ...or for this long at most.
const DRAIN_LIMIT_NS: u64 = 30 * SEC;

// Global timer keys.
const TICK: u64 = 0;
const PROGRESS: u64 = 1;
const RAMP: u64 = 2;
const END: u64 = 3;
const DRAIN: u64 = 4;
const SETUP: u64 = 5;
/// `BEGIN + client`: that client's next exchange is due (reconnecting protocols).
const BEGIN: u64 = 1 << 32;

/// The run as asked for, with the times the driver works in (nanoseconds since the start).
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    pub(crate) setup: Setup,
    pub(crate) warmup_ns: u64,
    /// Warm-up plus duration.
    pub(crate) run_ns: u64,
    /// Open loop: how often each client begins an exchange (`clients / rate`).
    pub(crate) period_ns: Option<u64>,
}

impl Plan {
    pub(crate) fn new(setup: Setup) -> Plan {
        let nanos = |secs: f64| (secs * 1e9) as u64;
        Plan {
            warmup_ns: nanos(setup.warmup_secs),
            run_ns: nanos(setup.warmup_secs + setup.duration_secs),
            period_ns: setup.rate.map(|rate| (f64::from(setup.clients) * 1e9 / rate).max(1.0) as u64),
            setup,
        }
    }

    fn clients(&self) -> u32 {
        self.setup.clients
    }

    /// Client `client`'s offset into the open-loop period, so that the clients' requests
    /// interleave evenly instead of arriving in bursts of `clients`.
    fn phase_ns(&self, client: u32) -> u64 {
        self.period_ns.map_or(0, |period| period / u64::from(self.clients()) * u64::from(client))
    }

    /// How client `client` paces messages that may begin at `from_ns`.
    pub(crate) fn pace(&self, client: u32, from_ns: u64) -> Pace {
        match self.period_ns {
            None => Pace::Closed,
            Some(period) => Pace::Open { first_ns: from_ns + self.phase_ns(client), interval_ns: period },
        }
    }
}

/// The wait after the run for what a load is still owed.
#[derive(Clone, Copy, Debug)]
struct Drain {
    owed: u64,
    /// When `owed` last went down.
    progress_ns: u64,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    connect_started_ns: u64,
    /// Open loop, reconnecting protocols: when this client's next exchange is due.
    next_due_ns: u64,
    /// The reference time of the exchange its current connection carries.
    exchange_ns: u64,
    /// Its first connect has succeeded or failed (for the ramp-up line).
    resolved: bool,
}

pub(crate) struct Stress<L> {
    load: L,
    plan: Plan,
    /// When the run began (the first callback); `None` before.
    origin: Option<Instant>,
    slots: Vec<Slot>,
    /// Clients started so far (the ramp issues them in order).
    issued: u32,
    /// Connections connecting or connected.
    live: u32,
    /// Clients waiting on a timer for their next exchange.
    waiting: u32,
    resolved: u32,
    ramp_ns: Option<u64>,
    /// When the load became ready and the measured run began (0 for loads with no set-up).
    begun_ns: Option<u64>,
    /// Until then: clients whose set-up was over, and since when.
    setup_progress: (u64, u64),
    end_timer: Option<TimerId>,
    /// When the measured run ended (sending stops).
    finished_ns: Option<u64>,
    /// While a load waits for what it is still owed.
    drain: Option<Drain>,
    /// When the wait for owed deliveries ended.
    drained_ns: Option<u64>,
    rec: Recorder,
    scratch: Vec<u8>,
    progress: Progress,
}

impl<L: Load> Stress<L> {
    pub(crate) fn new(load: L, plan: Plan, progress: Progress) -> Stress<L> {
        let intervals = (plan.run_ns / SEC + 2) as usize;
        let scratch = Vec::with_capacity(plan.setup.size.max(CHECK_CHUNK));
        Stress {
            rec: Recorder::new(plan.warmup_ns, intervals),
            slots: vec![Slot::default(); plan.clients() as usize],
            load,
            plan,
            origin: None,
            issued: 0,
            live: 0,
            waiting: 0,
            resolved: 0,
            ramp_ns: None,
            begun_ns: None,
            setup_progress: (0, 0),
            end_timer: None,
            finished_ns: None,
            drain: None,
            drained_ns: None,
            scratch,
            progress,
        }
    }

    fn now_ns(&self, ctx: &Context<'_>) -> u64 {
        self.origin.map_or(0, |origin| ctx.now().saturating_duration_since(origin).as_nanos() as u64)
    }

    fn reconnects(&self) -> bool {
        self.load.reconnects()
    }

    /// The first callback: the run begins.
    fn start(&mut self, ctx: &mut Context<'_>) {
        if self.origin.is_some() {
            return;
        }
        self.origin = Some(ctx.now());
        ctx.set_global_timer(Duration::from_nanos(SEC), TICK);
        if self.progress.is_visible() {
            ctx.set_global_timer(progress::EVERY, PROGRESS);
        }
        self.ramp(ctx);
        self.begin_if_ready(ctx);
        if self.begun_ns.is_none() {
            ctx.set_global_timer(Duration::from_nanos(SEC), SETUP);
        }
    }

    /// A load that is never ready still ends, with what its set-up is owed as errors.
    fn check_setup(&mut self, ctx: &mut Context<'_>) {
        if self.begun_ns.is_some() {
            return;
        }
        let now = self.now_ns(ctx);
        let settled = self.setup_progress.0;
        if now.saturating_sub(self.setup_progress.1) >= SETUP_QUIET_NS {
            let waiting = u64::from(self.plan.clients()).saturating_sub(settled);
            self.progress.say(&format!("Set-up stalled: {waiting} clients still waiting for the server"));
            self.finish(ctx);
        } else {
            ctx.set_global_timer(Duration::from_nanos(SEC), SETUP);
        }
    }

    /// The load has just become ready: the measured run starts now, and lasts as asked.
    fn begin_if_ready(&mut self, ctx: &mut Context<'_>) {
        if self.begun_ns.is_some() || self.finished_ns.is_some() {
            return;
        }
        let now = self.now_ns(ctx);
        let settled = self.load.settled();
        if settled > self.setup_progress.0 {
            self.setup_progress = (settled, now);
        }
        if !self.load.ready() {
            return;
        }
        self.begun_ns = Some(now);
        if let Some(end) = self.end_timer.take() {
            ctx.cancel_timer(end);
        }
        self.end_timer = Some(ctx.set_global_timer(Duration::from_nanos(self.plan.run_ns), END));
        if now > 0 {
            self.rec.measure_from(now + self.plan.warmup_ns);
            // The report says it too; this is for whoever watches the bar.
            if self.progress.is_visible() {
                self.progress.say(&format!("Set up in {:.2} s; the run begins", now as f64 / 1e9));
            }
        }
        let Stress { load, plan, rec, scratch, .. } = self;
        load.begin(&mut Io { ctx, rec, scratch, now_ns: now }, plan);
    }

    /// Starts the clients whose turn has come, a batch per turn of the loop; arms the timer
    /// for the next batch (at once) or the next turn of the connect rate.
    fn ramp(&mut self, ctx: &mut Context<'_>) {
        let now = self.now_ns(ctx);
        let clients = self.plan.clients();
        let due = match self.plan.setup.connect_rate {
            None => clients,
            Some(rate) => ((now as f64 / 1e9 * rate) as u64 + 1).min(u64::from(clients)) as u32,
        };
        let batch_end = due.min(self.issued.saturating_add(CONNECT_BATCH));
        while self.issued < batch_end {
            let client = self.issued;
            self.issued += 1;
            self.begin_client(ctx, client, now);
        }
        if self.issued < due {
            ctx.set_global_timer(NEXT_TURN, RAMP);
        } else if let (Some(rate), true) = (self.plan.setup.connect_rate, self.issued < clients) {
            let next_ns = (f64::from(self.issued) / rate * 1e9) as u64;
            ctx.set_global_timer(Duration::from_nanos(next_ns.saturating_sub(now)), RAMP);
        }
    }

    fn begin_client(&mut self, ctx: &mut Context<'_>, client: u32, now: u64) {
        let phase = self.plan.phase_ns(client);
        let Some(slot) = self.slots.get_mut(client as usize) else { return };
        slot.next_due_ns = now + phase;
        if self.reconnects() && phase > 0 {
            self.waiting += 1;
            ctx.set_global_timer(Duration::from_nanos(phase), BEGIN + u64::from(client));
        } else {
            self.dial(ctx, client, now);
        }
    }

    fn dial(&mut self, ctx: &mut Context<'_>, client: u32, now: u64) {
        let period = self.plan.period_ns;
        let Some(slot) = self.slots.get_mut(client as usize) else { return };
        slot.connect_started_ns = now;
        slot.exchange_ns = match period {
            Some(period) => {
                let due = slot.next_due_ns;
                slot.next_due_ns += period;
                due
            }
            None => now,
        };
        self.rec.attempted += 1;
        self.live += 1;
        let target = self.plan.setup.target;
        match self.plan.setup.bind.as_slice() {
            [] => ctx.connect(target, u64::from(client)),
            // Round robin over the source addresses: each one brings its own ephemeral
            // port range towards the target.
            sources => {
                let source = sources[client as usize % sources.len()];
                ctx.connect_from(SocketAddr::new(source, 0), target, u64::from(client));
            }
        }
    }

    /// A reconnecting protocol finished an exchange: begin the next one now, or when due.
    fn next_exchange(&mut self, ctx: &mut Context<'_>, client: u32, now: u64) {
        let Some(slot) = self.slots.get(client as usize) else { return };
        if self.plan.period_ns.is_some() && slot.next_due_ns > now {
            self.waiting += 1;
            ctx.set_global_timer(Duration::from_nanos(slot.next_due_ns - now), BEGIN + u64::from(client));
        } else {
            self.dial(ctx, client, now);
        }
    }

    fn resolve(&mut self, client: u32, now: u64) {
        let Some(slot) = self.slots.get_mut(client as usize) else { return };
        if slot.resolved {
            return;
        }
        slot.resolved = true;
        self.resolved += 1;
        if self.resolved == self.plan.clients() && self.plan.setup.connect_rate.is_some() {
            self.ramp_ns = Some(now);
            let failed = self.rec.errors.connect.total();
            let failed = if failed > 0 { format!(" ({failed} failed)") } else { String::new() };
            self.progress.say(&format!(
                "Ramped up to {} connections in {:.2} s{failed}",
                self.rec.open,
                now as f64 / 1e9
            ));
        }
    }

    /// Ends the run early when nothing is left to do (every client failed or was cut off).
    fn finish_if_idle(&mut self, ctx: &mut Context<'_>) {
        if self.issued == self.plan.clients() && self.live == 0 && self.waiting == 0 {
            self.finish(ctx);
        }
    }

    /// The measured run is over. A load still owed deliveries waits for them before the
    /// reactor stops: otherwise one the server dropped could not be told from one on its way.
    fn finish(&mut self, ctx: &mut Context<'_>) {
        if self.finished_ns.is_some() {
            return;
        }
        let owed = self.mark_finished(ctx);
        if owed == 0 {
            self.stop(ctx);
        } else {
            let now = self.now_ns(ctx);
            self.drain = Some(Drain { owed, progress_ns: now });
            ctx.set_global_timer(DRAIN_POLL, DRAIN);
        }
    }

    /// Ends measuring and sending; returns what the load is still owed.
    fn mark_finished(&mut self, ctx: &mut Context<'_>) -> u64 {
        let now = self.now_ns(ctx);
        self.finished_ns = Some(now);
        self.rec.series.close(now, self.rec.open);
        self.rec.stop_measuring(now);
        self.progress.finish();
        let Stress { load, rec, scratch, .. } = self;
        let owed = load.wind_down(&mut Io { ctx, rec, scratch, now_ns: now });
        self.rec.in_flight_at_end += owed;
        owed
    }

    /// Checks on a load waiting for what it is owed.
    fn drain(&mut self, ctx: &mut Context<'_>) {
        let now = self.now_ns(ctx);
        let owed = self.load.owed();
        let (Some(drain), Some(finished)) = (self.drain.as_mut(), self.finished_ns) else { return };
        if owed < drain.owed {
            *drain = Drain { owed, progress_ns: now };
        }
        let stalled = now.saturating_sub(drain.progress_ns) >= DRAIN_QUIET_NS;
        if owed == 0 || stalled || now.saturating_sub(finished) >= DRAIN_LIMIT_NS {
            self.stop(ctx);
        } else {
            ctx.set_global_timer(DRAIN_POLL, DRAIN);
        }
    }

    /// Everything is over: what is still owed is lost, and the reactor stops.
    fn stop(&mut self, ctx: &mut Context<'_>) {
        let now = self.now_ns(ctx);
        self.drained_ns = Some(now);
        let Stress { load, rec, scratch, .. } = self;
        load.finish(&mut Io { ctx: &mut *ctx, rec, scratch, now_ns: now });
        ctx.stop_now();
    }

    /// Calls the load with its view of this callback, then starts the run if that made
    /// the load ready.
    fn with_load<T>(&mut self, ctx: &mut Context<'_>, f: impl FnOnce(&mut L, &mut Io<'_, '_>) -> T) -> T {
        let now_ns = self.now_ns(ctx);
        let Stress { load, rec, scratch, .. } = self;
        let out = f(load, &mut Io { ctx: &mut *ctx, rec, scratch, now_ns });
        self.begin_if_ready(ctx);
        out
    }

    fn show_progress(&self, ctx: &Context<'_>) {
        let elapsed = Duration::from_nanos(self.now_ns(ctx));
        self.progress.update(elapsed, || {
            let last = self.rec.series.intervals().last();
            format!(
                "{} open  {:.0} msgs/s  p99 {}  errors {}",
                self.rec.open,
                last.map_or(0.0, |iv| iv.msgs_per_sec),
                super::histogram::human_us(last.map_or(0, |iv| iv.latency.p99_us)),
                self.rec.errors.count()
            )
        });
    }

    /// The report, once the reactor's `run` has returned.
    pub(crate) fn report(&self) -> Report {
        let rec = &self.rec;
        let elapsed_ns = self.finished_ns.unwrap_or(0);
        // A run whose set-up never finished measured nothing.
        let measured_ns =
            if self.begun_ns.is_some() { elapsed_ns.saturating_sub(rec.measure_from_ns()) } else { 0 };
        let measured_secs = measured_ns as f64 / 1e9;
        let per_sec = |n: u64| if measured_secs > 0.0 { n as f64 / measured_secs } else { 0.0 };
        Report {
            setup: self.plan.setup.clone(),
            elapsed_secs: elapsed_ns as f64 / 1e9,
            measured_secs,
            connections: Connections {
                attempted: rec.attempted,
                established: rec.established,
                failed: rec.errors.connect.total(),
                abandoned: rec.abandoned,
                peak_open: rec.peak_open,
                ramp_secs: self.ramp_ns.map(|ns| ns as f64 / 1e9),
                connect_time: Percentiles::of(&rec.connect_time),
            },
            messages: rec.messages,
            msgs_per_sec: per_sec(rec.messages),
            bytes_sent: rec.bytes_sent,
            bytes_received: rec.bytes_received,
            bytes_per_sec: per_sec(rec.bytes_received),
            latency: Percentiles::of(&rec.latency),
            latency_from: if self.plan.period_ns.is_some() { "intended send" } else { "send" }.to_string(),
            per_connection: Shares::of(rec.shares.clone()),
            errors: rec.errors,
            error_count: rec.errors.count(),
            in_flight_at_end: rec.in_flight_at_end,
            intervals: rec.series.intervals().to_vec(),
            fanout: rec.fanout.as_ref().map(|f| FanOut {
                setup_secs: self.begun_ns.map_or(elapsed_ns, |ns| ns.min(elapsed_ns)) as f64 / 1e9,
                ready: f.ready,
                sent: f.sent,
                sent_per_sec: per_sec(f.sent),
                audience: f.audience,
                acks: f.acks,
                waited_secs: self.drained_ns.unwrap_or(elapsed_ns).saturating_sub(elapsed_ns) as f64 / 1e9,
            }),
        }
    }
}

impl<L: Load> Handler for Stress<L> {
    /// `None`: a connection this load never asked for (it has no client number); aborted.
    type Conn = Option<L::Conn>;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, info: &ConnInfo) -> Option<L::Conn> {
        let now = self.now_ns(ctx);
        let slot = match info.origin {
            Origin::Outbound(tag) => {
                u32::try_from(tag).ok().and_then(|c| Some((c, *self.slots.get(c as usize)?)))
            }
            _ => None,
        };
        let Some((client, slot)) = slot else {
            ctx.abort();
            return None;
        };
        self.rec.connected(now.saturating_sub(slot.connect_started_ns));
        self.resolve(client, now);
        let pace = if self.reconnects() {
            // One exchange per connection: it began with the connect (or was due earlier).
            Pace::Open { first_ns: slot.exchange_ns, interval_ns: 0 }
        } else {
            self.plan.pace(client, now)
        };
        let start = Start { pace, pipeline: self.load.pipeline(self.plan.setup.pipeline) };
        Some(self.with_load(ctx, |load, io| load.connected(io, client, id, info, start)))
    }

    fn data(&mut self, conn: &mut Option<L::Conn>, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        let Some(conn) = conn else { return data.len() };
        match self.with_load(ctx, |load, io| load.data(conn, io, data)) {
            Ok(used) => used,
            Err(_) => {
                self.rec.errors.unexpected_data += 1;
                ctx.abort();
                data.len()
            }
        }
    }

    fn timer(&mut self, conn: &mut Option<L::Conn>, ctx: &mut Context<'_>, _key: u64) {
        if let Some(conn) = conn {
            self.with_load(ctx, |load, io| load.timer(conn, io));
        }
    }

    fn global_timer(&mut self, ctx: &mut Context<'_>, key: u64) {
        if self.finished_ns.is_some() {
            if key == DRAIN && self.drained_ns.is_none() {
                self.drain(ctx);
            }
            return;
        }
        let now = self.now_ns(ctx);
        match key {
            TICK => {
                self.rec.series.close(now, self.rec.open);
                let next = (now / SEC + 1) * SEC;
                ctx.set_global_timer(Duration::from_nanos(next - now), TICK);
            }
            PROGRESS => {
                self.show_progress(ctx);
                ctx.set_global_timer(progress::EVERY, PROGRESS);
            }
            RAMP => self.ramp(ctx),
            END => self.finish(ctx),
            SETUP => self.check_setup(ctx),
            _ if key >= LOAD_TIMERS => {
                self.with_load(ctx, |load, io| load.global_timer(io, key - LOAD_TIMERS))
            }
            _ if key >= BEGIN => {
                self.waiting = self.waiting.saturating_sub(1);
                if let Ok(client) = u32::try_from(key - BEGIN) {
                    self.dial(ctx, client, now);
                }
            }
            _ => {}
        }
    }

    fn closed(&mut self, conn: Option<L::Conn>, ctx: &mut Context<'_>, _id: ConnId, reason: CloseReason) {
        let now = self.now_ns(ctx);
        let Some(conn) = conn else { return };
        let ended = self.with_load(ctx, |load, io| load.closed(conn, io));
        self.live = self.live.saturating_sub(1);
        self.rec.closed();
        match ended {
            Ended::Completed { client } => {
                if self.finished_ns.is_none() {
                    self.next_exchange(ctx, client, now);
                }
            }
            Ended::Cut { replies, .. } if self.finished_ns.is_some() => self.rec.in_flight_at_end += replies,
            // We closed it, having counted why (unexpected data).
            Ended::Cut { .. } if reason == CloseReason::Local => {}
            Ended::Cut { replies, bytes } => {
                self.rec.errors.lost_replies += replies;
                self.rec.errors.lost_bytes += bytes;
                self.rec.errors.closed_early.count(reason);
            }
        }
        if self.finished_ns.is_none() {
            self.finish_if_idle(ctx);
        }
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, tag: u64, err: &io::Error) {
        let now = self.now_ns(ctx);
        self.live = self.live.saturating_sub(1);
        let client = u32::try_from(tag).unwrap_or(u32::MAX);
        let started = self.slots.get(client as usize).map_or(now, |s| s.connect_started_ns);
        if self.finished_ns.is_some() {
            if now.saturating_sub(started) >= PENDING_IS_TIMEOUT_NS {
                self.rec.errors.connect.timed_out += 1;
            } else {
                self.rec.abandoned += 1;
            }
            return;
        }
        self.rec.connect_failed(err);
        self.resolve(client, now);
        self.with_load(ctx, |load, io| load.connect_failed(io, client));
        self.finish_if_idle(ctx);
    }

    /// The loop is about to poll for the first time: set the run's timers, start dialling.
    fn started(&mut self, ctx: &mut Context<'_>) {
        self.start(ctx);
    }

    /// A stop from outside (Ctrl-C, a `Handle`) ends the run like its end timer would.
    fn stopping(&mut self, ctx: &mut Context<'_>) {
        if self.finished_ns.is_none() {
            self.mark_finished(ctx);
        }
    }
}
