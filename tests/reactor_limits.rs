//! The limits that keep one peer from costing the others: backpressure (bounded output
//! memory), max-conns, the idle timeout, and a peer that resets mid-stream.

mod common;

use common::*;
use socket2::{Domain, Socket, Type};
use sockloop::protocols::echo::Echo;
use sockloop::{CloseReason, Config};
use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

/// A client that sends 64 MiB and reads nothing: the server's queue for it stops at the
/// high-water mark (it stops reading, TCP flow control stops the client), and once the
/// client reads, every byte arrives intact.
#[test]
fn backpressure_bounds_queued_output_and_loses_nothing() {
    const LEN: u64 = 64 << 20;
    const HIGH_WATER: usize = 256 << 10;
    let config = Config { high_water: HIGH_WATER, ..Config::default() };
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let stats = server.handle.stats();
    let mut s = connect(server.addr());
    // The writer may legitimately block for as long as the reader waits below.
    s.set_write_timeout(Some(Duration::from_secs(30))).unwrap();
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let mut w = s.try_clone().unwrap();
        let written = written.clone();
        thread::spawn(move || {
            let mut buf = vec![0; 64 << 10];
            let mut off = 0;
            while off < LEN {
                fill(9, off, &mut buf);
                w.write_all(&buf).expect("write");
                off += buf.len() as u64;
                written.store(off, Ordering::Relaxed);
            }
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    wait_until("the server's queue reaches the high-water mark", IO_TIMEOUT, || {
        stats.pending_out.get() >= HIGH_WATER as u64
    });
    // The server stopped reading; once the kernel buffers fill, nothing moves any more.
    let read = wait_settled("bytes read by the server", Duration::from_millis(200), IO_TIMEOUT, || {
        stats.bytes_in.get()
    });
    let stuck_at = written.load(Ordering::Relaxed);
    assert!(stuck_at < LEN, "the writer should be blocked by flow control, wrote {stuck_at}");
    assert!(read < LEN);
    let queued = stats.pending_out.get();
    assert!(queued > 0 && queued <= HIGH_WATER as u64, "{stats}");
    assert!(
        stats.peak_conn_pending_out.get() <= HIGH_WATER as u64,
        "queued {} bytes for one connection, high water is {HIGH_WATER}",
        stats.peak_conn_pending_out.get()
    );
    expect_pattern(&mut s, 9, LEN);
    expect_eof(&mut s);
    writer.join().expect("writer panicked");
    assert!(stats.peak_conn_pending_out.get() <= HIGH_WATER as u64, "{stats}");
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.bytes_out.get(), LEN);
    assert_eq!(stats.closed(CloseReason::PeerClosed), 1, "{stats}");
}

#[test]
fn max_conns_closes_the_extra_client_and_keeps_the_others() {
    let config = Config { max_conns: Some(2), ..Config::default() };
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let stats = server.handle.stats();
    let mut a = connect(server.addr());
    roundtrip(&mut a, b"first");
    let mut b = connect(server.addr());
    roundtrip(&mut b, b"second");
    let mut c = connect(server.addr());
    expect_closed(&mut c);
    wait_until("the third client is counted", IO_TIMEOUT, || stats.closed(CloseReason::MaxConns) == 1);
    roundtrip(&mut a, b"still here");
    roundtrip(&mut b, b"me too");
    // Once one leaves, there is room again.
    a.shutdown(Shutdown::Write).unwrap();
    expect_eof(&mut a);
    wait_until("the first client is gone", IO_TIMEOUT, || stats.open.get() == 1);
    let mut d = connect(server.addr());
    roundtrip(&mut d, b"my turn");
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.accepted.get(), 4);
    assert_eq!(stats.closed(CloseReason::MaxConns), 1, "{stats}");
    assert_eq!(stats.closed(CloseReason::PeerClosed), 1, "{stats}");
}

#[test]
fn idle_timeout_closes_the_silent_client_only() {
    const IDLE: Duration = Duration::from_millis(200);
    let config = Config { idle_timeout: Some(IDLE), ..Config::default() };
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let stats = server.handle.stats();
    let mut active = connect(server.addr());
    let mut silent = connect(server.addr());
    roundtrip(&mut active, b"hello");
    roundtrip(&mut silent, b"hello");
    let silent_since = Instant::now();
    let watcher = thread::spawn(move || {
        expect_eof(&mut silent);
        silent_since.elapsed()
    });
    // Keep talking for three idle periods, pausing for a tenth of one between messages
    // (pacing, not waiting for anything).
    let until = Instant::now() + 3 * IDLE;
    let mut n = 0u64;
    while Instant::now() < until {
        roundtrip(&mut active, &pattern(n, 100));
        n += 1;
        thread::sleep(IDLE / 10);
    }
    let silent_for = watcher.join().expect("the silent client was not closed");
    assert!(silent_for >= IDLE / 2, "closed after {silent_for:?}, before the idle timeout");
    wait_until("the idle close is counted", IO_TIMEOUT, || stats.closed(CloseReason::IdleTimeout) == 1);
    roundtrip(&mut active, b"still open");
    assert_eq!(stats.closed_total(), 1, "{stats}");
    drop(active);
    server.stop();
}

/// A client whose close sends RST instead of FIN (SO_LINGER 0).
fn rude_client(addr: std::net::SocketAddr) -> TcpStream {
    let rude = Socket::new(Domain::for_address(addr), Type::STREAM, None).unwrap();
    rude.connect_timeout(&addr.into(), IO_TIMEOUT).unwrap();
    rude.set_linger(Some(Duration::ZERO)).unwrap();
    let rude: TcpStream = rude.into();
    rude.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    rude
}

/// Clients with SO_LINGER 0 send data and close: the kernel sends RST, not FIN. The server
/// counts a reset (or an error) for each and goes on serving a client connected at the same
/// time.
#[test]
fn peer_reset_closes_only_that_connection() {
    const LEN: u64 = 256 << 10;
    let server = Server::with(&[v4()], Echo, Config::default(), |_| ());
    let stats = server.handle.stats();
    let resets = || stats.closed(CloseReason::Reset) + stats.closed(CloseReason::Error);
    let mut keeper = connect(server.addr());
    roundtrip(&mut keeper, b"before");

    // Mid-stream: the server has read some of it and is echoing into a peer that never reads.
    let mut rude = rude_client(server.addr());
    send_pattern(&mut rude, 3, LEN).unwrap();
    wait_until("the server is reading from the rude client", IO_TIMEOUT, || stats.bytes_in.get() > 0);
    drop(rude);
    wait_until("the reset is counted", IO_TIMEOUT, || resets() == 1);
    roundtrip(&mut keeper, b"between");

    assert_eq!(stats.closed_total(), 1, "{stats}");
    assert_eq!(stats.open.get(), 1);
    roundtrip(&mut keeper, b"after");
    let mut late = connect(server.addr());
    roundtrip(&mut late, b"new client");
    drop((keeper, late));
    server.stop();
}

/// Bytes and then a FIN or RST, sent back to back, usually come as one readiness event
/// whose first read is short. The close behind the bytes must still be noticed, even by a
/// protocol that never writes (a write would fail and reveal it).
#[test]
fn a_close_right_behind_the_data_is_noticed() {
    let server = Server::with(&[v4()], Sink, Config::default(), |_| ());
    let stats = server.handle.stats();
    for round in 1..=20u64 {
        let mut rude = rude_client(server.addr());
        rude.write_all(&pattern(round, 1000)).unwrap();
        drop(rude);
        let mut polite = connect(server.addr());
        polite.write_all(&pattern(round, 1000)).unwrap();
        drop(polite);
        wait_until("both closes are counted", IO_TIMEOUT, || stats.closed_total() == 2 * round);
    }
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.closed(CloseReason::PeerClosed), 20, "{stats}");
    assert_eq!(stats.closed(CloseReason::Reset) + stats.closed(CloseReason::Error), 20, "{stats}");
}
