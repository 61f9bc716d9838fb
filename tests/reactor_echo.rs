//! The reactor core under the echo protocol: byte-exact transfer of every size on IPv4 and
//! IPv6, many concurrent clients on one thread, half-close, and fairness between a greedy
//! client and a chatty one.

mod common;

use common::*;
use sockloop::protocols::echo::Echo;
use sockloop::{CloseReason, Config};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

const SIZES: [u64; 5] = [1, 1 << 10, 64 << 10, 1 << 20, 8 << 20];

fn echo_every_size(listen: SocketAddr) {
    let server = Server::with(&[listen], Echo, Config::default(), |_| ());
    assert_eq!(server.addr().is_ipv6(), listen.is_ipv6());
    for (seed, len) in SIZES.into_iter().enumerate() {
        echo_exact(server.addr(), seed as u64, len);
    }
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    let total: u64 = SIZES.iter().sum();
    assert_eq!(stats.bytes_in.get(), total);
    assert_eq!(stats.bytes_out.get(), total);
    assert_eq!(stats.accepted.get(), SIZES.len() as u64);
    assert_eq!(stats.closed(CloseReason::PeerClosed), SIZES.len() as u64, "{stats}");
    assert_eq!(stats.closed_total(), SIZES.len() as u64, "{stats}");
    assert_eq!(stats.open.get(), 0);
    assert_eq!(stats.pending_out.get(), 0);
}

#[test]
fn echo_is_byte_exact_for_every_size_on_ipv4() {
    echo_every_size(v4());
}

#[test]
fn echo_is_byte_exact_for_every_size_on_ipv6() {
    echo_every_size(v6());
}

#[test]
fn five_hundred_concurrent_clients_on_one_thread() {
    const CLIENTS: usize = 500;
    const THREADS: usize = 4;
    const LEN: u64 = 4 << 10;
    let server = Server::with(&[v4()], Echo, Config::default(), |_| ());
    let addr = server.addr();
    // Every client thread connects its share, then all wait here until the server has
    // accepted all 500; only then does anyone send, so all 500 are open at once.
    let all_open = Arc::new(Barrier::new(THREADS + 1));
    let clients: Vec<_> = (0..THREADS)
        .map(|t| {
            let all_open = all_open.clone();
            thread::spawn(move || {
                let seeds: Vec<u64> = (t..CLIENTS).step_by(THREADS).map(|i| 1000 + i as u64).collect();
                let mut socks: Vec<_> = seeds.iter().map(|_| connect(addr)).collect();
                all_open.wait();
                for (s, seed) in socks.iter_mut().zip(&seeds) {
                    send_pattern(s, *seed, LEN + seed % 1000).unwrap();
                    s.shutdown(Shutdown::Write).unwrap();
                }
                for (s, seed) in socks.iter_mut().zip(&seeds) {
                    expect_pattern(s, *seed, LEN + seed % 1000);
                    expect_eof(s);
                }
                seeds.len()
            })
        })
        .collect();
    let stats = server.handle.stats();
    wait_until("all 500 clients are accepted", IO_TIMEOUT, || stats.open.get() == CLIENTS as u64);
    all_open.wait();
    let served: usize = clients.into_iter().map(|c| c.join().expect("client thread panicked")).sum();
    assert_eq!(served, CLIENTS);
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.accepted.get(), CLIENTS as u64);
    assert_eq!(stats.closed(CloseReason::PeerClosed), CLIENTS as u64, "{stats}");
    assert_eq!(stats.closed_total(), CLIENTS as u64, "{stats}");
}

/// The client sends everything and half-closes before reading a byte, so the server sees
/// the FIN while it still has echo queued: it must finish sending, then send its own FIN.
#[test]
fn half_close_flushes_queued_echo_then_fin() {
    // More than the kernel buffers on both sides hold (a few MiB on loopback), so some of
    // the echo is still in the server's queue when the FIN arrives...
    const LEN: u64 = 12 << 20;
    // ...and a high-water mark above LEN lets the server read all of it without the client
    // reading a byte.
    let config = Config { high_water: 16 << 20, ..Config::default() };
    let server = Server::with(&[v4()], Echo, config, |_| ());
    let mut s = connect(server.addr());
    let mut w = s.try_clone().unwrap();
    thread::spawn(move || {
        send_pattern(&mut w, 7, LEN).unwrap();
        w.shutdown(Shutdown::Write).unwrap();
    })
    .join()
    .expect("writer panicked");
    let stats = server.handle.stats();
    wait_until("the server has read everything", IO_TIMEOUT, || stats.bytes_in.get() == LEN);
    assert!(stats.pending_out.get() > 0, "echo should still be queued when the FIN arrives: {stats}");
    assert_eq!(stats.closed_total(), 0, "a FIN alone must not close the connection: {stats}");
    expect_pattern(&mut s, 7, LEN);
    expect_eof(&mut s);
    let handle = server.handle.clone();
    server.stop();
    let stats = handle.stats();
    assert_eq!(stats.closed(CloseReason::PeerClosed), 1, "{stats}");
    assert_eq!(stats.closed_total(), 1, "{stats}");
    assert_eq!(stats.bytes_out.get(), LEN);
}

/// A client blasting data as fast as it can must not starve another client's small requests.
#[test]
fn a_greedy_client_does_not_starve_a_small_one() {
    let server = Server::with(&[v4()], Echo, Config::default(), |_| ());
    let stats = server.handle.stats();
    let greedy = connect(server.addr());
    let stop = Arc::new(AtomicBool::new(false));
    let echoed = Arc::new(AtomicU64::new(0));
    let writer = {
        let mut w = greedy.try_clone().unwrap();
        let stop = stop.clone();
        thread::spawn(move || {
            let buf = pattern(1, 64 << 10);
            while !stop.load(Ordering::Relaxed) {
                w.write_all(&buf).expect("greedy write");
            }
            w.shutdown(Shutdown::Write).unwrap();
        })
    };
    let reader = {
        let mut r = greedy.try_clone().unwrap();
        let echoed = echoed.clone();
        thread::spawn(move || {
            let mut buf = vec![0; 64 << 10];
            loop {
                match r.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => echoed.fetch_add(n as u64, Ordering::Relaxed),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => panic!("greedy read: {e}"),
                };
            }
        })
    };
    wait_until("the greedy client is streaming", IO_TIMEOUT, || stats.bytes_in.get() > 16 << 20);
    let greedy_before = echoed.load(Ordering::Relaxed);
    let mut small = connect(server.addr());
    for i in 0..100u64 {
        let msg = pattern(100 + i, 64);
        roundtrip(&mut small, &msg);
    }
    // And the greedy one is still served. (Waited for, not sampled: on a loaded machine its
    // reader thread may not have run at all during the 100 round trips.)
    wait_until("the greedy client is still served", IO_TIMEOUT, || {
        echoed.load(Ordering::Relaxed) > greedy_before
    });
    stop.store(true, Ordering::Relaxed);
    writer.join().expect("greedy writer panicked");
    reader.join().expect("greedy reader panicked");
    drop(small);
    server.stop();
}

#[test]
fn stop_with_nothing_open_returns_at_once() {
    let server = Server::with(&[v4(), v6()], Echo, Config::default(), |_| ());
    let handle = server.handle.clone();
    server.stop();
    assert_eq!(handle.stats().accepted.get(), 0);
}
