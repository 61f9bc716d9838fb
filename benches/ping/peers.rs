//! The tokio peers sockloop's udp-ping is measured against, both on a `current_thread`
//! runtime, the idiomatic single-threaded tokio set-up:
//!
//! - `udp_echo`: a UDP echo server (one socket, one task: `recv_from`, `send_to`), run as a
//!   child process like `sockloop serve udp-ping`.
//! - `ping`: a lock-step ping client sending the same probes as `sockloop ping` at the same
//!   interval, so the two clients can be compared against the same server.
//! - `back_to_back`: the same client with no interval: each probe goes out as soon as the
//!   last reply is in, like one sender of `sockloop ping --flood`.

use sockloop::protocols::ping::wire::Header;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn runtime() -> io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()
}

pub fn udp_echo(addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> io::Result<()> {
    runtime()?.block_on(async move {
        let sock = tokio::net::UdpSocket::bind(addr).await?;
        ready(sock.local_addr()?);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let (n, from) = sock.recv_from(&mut buf).await?;
            let _ = sock.send_to(&buf[..n], from).await;
        }
    })
}

/// `count` probes of `size` bytes, each `interval` after the one before (or as soon as the
/// last is answered or given up, if that takes longer); returns the RTTs (ns) of the replies that came back
/// within `timeout`, and how many did not.
pub fn ping(
    target: SocketAddr,
    count: u64,
    interval: Duration,
    timeout: Duration,
    size: usize,
) -> io::Result<(Vec<u64>, u64)> {
    runtime()?.block_on(async move {
        let mut prober = Prober::bind(target, timeout, size).await?;
        let mut next = tokio::time::Instant::now();
        for seq in 1..=count {
            tokio::time::sleep_until(next).await;
            // Each gap counts from the send, as ping(8) and `sockloop ping` count it.
            next = tokio::time::Instant::now() + interval;
            prober.probe(seq).await?;
        }
        Ok((prober.rtts, prober.lost))
    })
}

/// Probes back to back for `duration`: each sent when the last is answered (or lost after
/// `timeout`). Returns the RTTs (ns) and how many were lost.
pub fn back_to_back(
    target: SocketAddr,
    duration: Duration,
    timeout: Duration,
    size: usize,
) -> io::Result<(Vec<u64>, u64)> {
    runtime()?.block_on(async move {
        let mut prober = Prober::bind(target, timeout, size).await?;
        let mut seq = 0;
        while prober.epoch.elapsed() < duration {
            seq += 1;
            prober.probe(seq).await?;
        }
        Ok((prober.rtts, prober.lost))
    })
}

/// One client socket sending probes in lock step, and what came of them.
struct Prober {
    sock: tokio::net::UdpSocket,
    target: SocketAddr,
    timeout: Duration,
    size: usize,
    epoch: Instant,
    buf: Vec<u8>,
    rtts: Vec<u64>,
    lost: u64,
}

impl Prober {
    async fn bind(target: SocketAddr, timeout: Duration, size: usize) -> io::Result<Prober> {
        let any: SocketAddr = if target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse().expect("address");
        let sock = tokio::net::UdpSocket::bind(any).await?;
        let epoch = Instant::now();
        Ok(Prober {
            sock,
            target,
            timeout,
            size,
            epoch,
            buf: vec![0u8; 64 * 1024],
            rtts: Vec::new(),
            lost: 0,
        })
    }

    /// Sends probe `seq` and waits for its reply (others are skipped) up to the timeout:
    /// records the round trip, or the loss.
    async fn probe(&mut self, seq: u64) -> io::Result<()> {
        let sent = Instant::now();
        let probe = Header { seq, sent_ns: (sent - self.epoch).as_nanos() as u64 }.probe(self.size);
        self.sock.send_to(&probe, self.target).await?;
        let (sock, buf) = (&self.sock, &mut self.buf);
        let answered = tokio::time::timeout(self.timeout, async {
            loop {
                let (n, _) = sock.recv_from(buf).await?;
                if Header::parse_reply(&buf[..n]).is_some_and(|h| h.seq == seq) {
                    return Ok::<_, io::Error>(Instant::now());
                }
            }
        })
        .await;
        match answered {
            Ok(Ok(at)) => self.rtts.push((at - sent).as_nanos() as u64),
            Ok(Err(e)) => return Err(e),
            Err(_) => self.lost += 1,
        }
        Ok(())
    }
}
