//! Slab safety: the slab hands a freed slot to the next connection at once, so anything that
//! still names the old connection (an id kept by the protocol, a timer, a readiness event
//! already fetched from the kernel) must never reach the new one.

mod common;

use common::*;
use sockloop::{Config, ConnId, ConnInfo, Context, Handler, Reactor, VirtualClock};
use std::io::Write;
use std::sync::{Mutex, mpsc};
use std::thread::{self, ThreadId};
use std::time::Duration;

/// Echoes, and remembers every connection it has seen close. On every callback it aims a
/// write, an abort and (via its timers) a tick at those dead ids.
#[derive(Default)]
struct Haunted {
    ids: Vec<ConnId>,
    gone: Vec<ConnId>,
    misdelivered_timers: usize,
}

struct Mine {
    /// The key of the timer this connection set; any other key arriving here is a stale
    /// timer of an earlier connection in the same slot.
    key: u64,
}

impl Haunted {
    fn haunt(&self, ctx: &mut Context<'_>) {
        for old in &self.gone {
            ctx.write_to(*old, b"LEAK");
            ctx.abort_conn(*old);
        }
    }
}

impl Handler for Haunted {
    type Conn = Mine;

    fn connected(&mut self, ctx: &mut Context<'_>, id: ConnId, _info: &ConnInfo) -> Mine {
        self.haunt(ctx);
        let key = self.ids.len() as u64;
        self.ids.push(id);
        ctx.set_timer(Duration::from_secs(5), key);
        Mine { key }
    }

    fn data(&mut self, _conn: &mut Mine, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        self.haunt(ctx);
        ctx.write(data);
        data.len()
    }

    fn timer(&mut self, conn: &mut Mine, ctx: &mut Context<'_>, key: u64) {
        if key == conn.key {
            ctx.write(b"T");
        } else {
            self.misdelivered_timers += 1;
        }
    }

    fn closed(&mut self, _conn: Mine, _ctx: &mut Context<'_>, id: ConnId, _r: sockloop::CloseReason) {
        self.gone.push(id);
    }
}

/// A closes; B gets A's slot. Writes, aborts and the timer aimed at A's id never touch B.
#[test]
fn a_stale_id_never_reaches_the_connection_that_reused_its_slot() {
    let clock = VirtualClock::new();
    let reactor_clock = clock.clone();
    let server = Server::start(
        &[v4()],
        move || Reactor::with_clock(Haunted::default(), Config::default(), Box::new(reactor_clock)),
        |r: &mut Reactor<Haunted>| {
            let h = r.handler();
            (h.ids.clone(), h.gone.clone(), h.misdelivered_timers)
        },
    );
    let stats = server.handle.stats();
    let mut a = connect(server.addr());
    roundtrip(&mut a, b"I am A");
    a.shutdown(std::net::Shutdown::Write).unwrap();
    expect_eof(&mut a);
    wait_until("A is closed", IO_TIMEOUT, || stats.closed_total() == 1);

    // B's `connected` and every `data` aim "LEAK" and an abort at A's id first: if either
    // reached B, B would read "LEAK" or be reset instead of its echo.
    let mut b = connect(server.addr());
    roundtrip(&mut b, b"I am B");
    roundtrip(&mut b, b"still B");

    // Both timers (A's, set first, and B's) come due in the same turn.
    clock.advance(Duration::from_secs(5));
    server.handle.wake();
    wait_until("both timers fired", IO_TIMEOUT, || stats.timers_fired.get() == 2);
    let mut tick = [0; 1];
    std::io::Read::read_exact(&mut b, &mut tick).unwrap();
    assert_eq!(&tick, b"T");
    roundtrip(&mut b, b"and nothing else arrived");
    drop(b);
    let (ids, gone, misdelivered) = server.stop();
    let (old, new) = (ids[0], ids[1]);
    assert_eq!(gone[0], old);
    assert_eq!(old.index(), new.index(), "the slab should have reused A's slot for B");
    assert_ne!(old.generation(), new.generation());
    assert_ne!(old, new);
    assert_eq!(misdelivered, 0, "A's timer reached B");
}

/// Notes which threads logged the reactor's "stale event" debug line, to prove the path
/// below really ran (in that test's reactor, not another one in this binary).
struct StaleCounter;

static STALE_EVENTS: Mutex<Vec<ThreadId>> = Mutex::new(Vec::new());

impl log::Log for StaleCounter {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() == log::Level::Debug && m.target() == "sockloop::reactor"
    }

    fn log(&self, record: &log::Record) {
        if self.enabled(record.metadata()) && record.args().to_string().starts_with("stale event") {
            STALE_EVENTS.lock().unwrap().push(thread::current().id());
        }
    }

    fn flush(&self) {}
}

/// "hold" blocks the loop inside a callback until the test says go (so readiness piles up
/// into one batch); "kill" aborts the first connection; anything else is echoed and logged.
struct Gate {
    entered: mpsc::Sender<()>,
    go: mpsc::Receiver<()>,
    ids: Vec<ConnId>,
    heard: Vec<(ConnId, Vec<u8>)>,
    thread: Option<ThreadId>,
}

impl Handler for Gate {
    type Conn = ConnId;

    fn connected(&mut self, _ctx: &mut Context<'_>, id: ConnId, _info: &ConnInfo) -> ConnId {
        self.ids.push(id);
        self.thread = Some(thread::current().id());
        id
    }

    fn data(&mut self, id: &mut ConnId, ctx: &mut Context<'_>, data: &[u8]) -> usize {
        match data {
            b"hold" => {
                let _ = self.entered.send(());
                let _ = self.go.recv_timeout(IO_TIMEOUT);
            }
            b"kill" => ctx.abort_conn(self.ids[0]),
            _ => {
                self.heard.push((*id, data.to_vec()));
                ctx.write(data);
            }
        }
        data.len()
    }
}

/// One batch of events holds, in this order: the killer's request (which closes A), the
/// listener's (which accepts B into A's freed slot), and A's own readable event, fetched
/// while A was alive. That last one is stale and must be dropped, not served as B's.
#[test]
fn a_stale_event_in_the_same_batch_is_dropped() {
    log::set_boxed_logger(Box::new(StaleCounter)).expect("the only logger in this binary");
    log::set_max_level(log::LevelFilter::Debug);
    let (entered_tx, entered) = mpsc::channel();
    let (go, go_rx) = mpsc::channel();
    let gate = Gate { entered: entered_tx, go: go_rx, ids: Vec::new(), heard: Vec::new(), thread: None };
    let server = Server::with(&[v4()], gate, Config::default(), |r: &mut Reactor<Gate>| {
        let g = r.handler_mut();
        (std::mem::take(&mut g.ids), std::mem::take(&mut g.heard), g.thread)
    });
    let mut a = connect(server.addr());
    roundtrip(&mut a, b"A here");
    let mut holder = connect(server.addr());
    roundtrip(&mut holder, b"holder here");
    let mut killer = connect(server.addr());
    roundtrip(&mut killer, b"killer here");

    holder.write_all(b"hold").unwrap();
    entered.recv_timeout(IO_TIMEOUT).expect("the loop is held");
    // The loop is stuck in a callback: these become ready in this order, and the next poll
    // returns them together.
    killer.write_all(b"kill").unwrap();
    let mut b = connect(server.addr());
    a.write_all(b"stale bytes from A").unwrap();
    go.send(()).unwrap();

    roundtrip(&mut b, b"B here");
    expect_closed(&mut a);
    drop((holder, killer, b));
    let (ids, heard, reactor_thread) = server.stop();
    let (old, new) = (ids[0], ids[3]);
    assert_eq!(old.index(), new.index(), "B should have A's slot");
    assert_ne!(old, new);
    assert!(
        heard.iter().all(|(_, data)| data != b"stale bytes from A"),
        "A's last bytes were read after A was aborted: {heard:?}"
    );
    assert!(heard.contains(&(new, b"B here".to_vec())));
    let stale_seen_by = STALE_EVENTS.lock().unwrap().clone();
    assert!(
        stale_seen_by.iter().any(|t| Some(*t) == reactor_thread),
        "the stale event path did not run in this reactor"
    );
}
