//! The interactive relay client, over UDP (the classic) or TCP: each stdin line is sent as
//! it is (a datagram, or a line), and whatever arrives is printed with its sender, one
//! line each: `from 127.0.0.1:9000: 200, UDP Packet Sent Successfully`. The [`Session`]
//! around it bridges stdin and the socket.
//!
//! How it ends: over TCP, stdin's end half-closes the connection and the server's close
//! ends the session, so every reply is printed. UDP has no close, so after stdin's end the
//! client listens on until nothing has arrived for the `wait` it was given.
//!
//! [`Session`]: crate::protocols::session::Session

use crate::protocols::lines::{Line, LineBuf, TooLong, last_line, next_line};
use crate::protocols::session::{Client, Io, Outcome};
use crate::{Context, TimerId};
use std::net::SocketAddr;
use std::time::Duration;

/// The longest line sent or printed whole; a UDP datagram cannot be much longer anyway.
pub const MAX_LINE: usize = 64 << 10;
/// Bytes queued for the server above which stdin is not read until they drain.
const WINDOW: u64 = 256 << 10;

pub struct RelayClient {
    /// UDP: how long to listen on after stdin's end. `None` over TCP.
    udp_wait: Option<Duration>,
    lines: LineBuf,
    /// UDP, after stdin's end: the timer that ends the session after `udp_wait` of silence.
    lingering: Option<TimerId>,
}

impl RelayClient {
    /// A UDP client; after stdin ends it waits `wait` for more replies.
    pub fn udp(wait: Duration) -> Self {
        RelayClient { udp_wait: Some(wait), ..RelayClient::tcp() }
    }

    /// A TCP client: lines end in `\n` on the wire.
    pub fn tcp() -> Self {
        RelayClient { udp_wait: None, lines: LineBuf::new(MAX_LINE), lingering: None }
    }

    /// Sends every whole line stdin has given; false if one was too long, which ends the
    /// session.
    fn send_lines(&mut self, io: &mut Io<'_, '_>) -> bool {
        loop {
            match self.lines.pop() {
                Some(Line::Text(line)) => {
                    io.send(line);
                    if self.udp_wait.is_none() {
                        io.send(b"\n");
                    }
                }
                Some(Line::TooLong) => {
                    let e = TooLong { max: MAX_LINE };
                    io.finish(Outcome::Failed(format!("a line of stdin is too long to send ({e})")));
                    return false;
                }
                None => return true,
            }
        }
    }
}

/// One line per message: who sent it, then its text (lossily UTF-8, so any bytes print).
fn print(io: &mut Io<'_, '_>, from: SocketAddr, text: &[u8]) {
    io.print(format!("from {from}: ").as_bytes());
    io.print(String::from_utf8_lossy(text).as_bytes());
    io.print(b"\n");
}

impl Client for RelayClient {
    fn input(&mut self, io: &mut Io<'_, '_>, data: &[u8]) {
        self.lines.push(data);
        self.send_lines(io);
    }

    fn input_ended(&mut self, io: &mut Io<'_, '_>) {
        self.lines.end();
        if !self.send_lines(io) {
            return;
        }
        match self.udp_wait {
            None => io.shutdown_write(),
            Some(wait) => self.lingering = Some(io.context().set_global_timer(wait, 0)),
        }
    }

    /// Output queued before this turn's writes means a `drained` will follow.
    fn wants_input(&self, ctx: &Context<'_>) -> bool {
        ctx.stats().pending_out.get() <= WINDOW
    }

    fn received(&mut self, io: &mut Io<'_, '_>, data: &[u8]) -> usize {
        let server = io.server();
        let mut used = 0;
        while let Ok(Some((line, n))) = next_line(&data[used..], MAX_LINE) {
            print(io, server, line);
            used += n;
        }
        if data.len() - used > MAX_LINE {
            // A line too long to wait for: print what there is of it.
            print(io, server, &data[used..]);
            used = data.len();
        }
        used
    }

    /// The server's last line may lack its newline; it is printed like the others.
    fn server_closed(&mut self, io: &mut Io<'_, '_>, rest: &[u8]) {
        let server = io.server();
        match last_line(rest, MAX_LINE) {
            Ok(Some(line)) => print(io, server, line),
            Ok(None) => {}
            // `received` prints what there is of a line this long as soon as it arrives.
            Err(_) => print(io, server, rest),
        }
    }

    fn datagram(&mut self, io: &mut Io<'_, '_>, from: SocketAddr, data: &[u8]) {
        print(io, from, data);
        if let (Some(timer), Some(wait)) = (&mut self.lingering, self.udp_wait) {
            let ctx = io.context();
            ctx.cancel_timer(*timer);
            *timer = ctx.set_global_timer(wait, 0);
        }
    }

    fn timer(&mut self, io: &mut Io<'_, '_>, _key: u64) {
        if self.lingering.is_some() {
            io.finish(Outcome::Closed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;
    use crate::protocols::session::{Session, TAG};
    use crate::testing::{SentDatagram, TestTransport};

    fn server() -> SocketAddr {
        "127.0.0.1:9000".parse().unwrap()
    }

    fn udp() -> (TestTransport<Session<RelayClient>>, ConnId, ConnId) {
        let mut t = TestTransport::new(Session::udp(RelayClient::udp(Duration::from_secs(1)), server()));
        let sock = t.udp_socket();
        t.handler_mut().use_socket(sock);
        let stdio = t.open_stdio();
        assert!(!t.is_paused(stdio));
        (t, sock, stdio)
    }

    #[test]
    fn udp_lines_go_out_as_datagrams_and_replies_print_with_the_sender() {
        let (mut t, sock, stdio) = udp();
        t.feed(stdio, b"hii\nto:127.0.0.1/5;content:x\r\n");
        let sent: Vec<_> = t.take_datagrams().into_iter().map(|d| d.data).collect();
        assert_eq!(sent, [&b"hii"[..], b"to:127.0.0.1/5;content:x"]);
        t.datagram(sock, server(), b"('127.0.0.1', 50000)");
        assert_eq!(t.take_output(stdio), b"from 127.0.0.1:9000: ('127.0.0.1', 50000)\n");
        t.datagram(sock, server(), b"\xff");
        assert_eq!(t.take_output(stdio), "from 127.0.0.1:9000: \u{fffd}\n".as_bytes());
    }

    #[test]
    fn udp_after_stdin_ends_it_listens_until_quiet() {
        let (mut t, sock, stdio) = udp();
        t.feed(stdio, b"hii");
        t.eof(stdio);
        assert_eq!(t.take_datagrams(), [SentDatagram { sock, to: server(), data: b"hii".to_vec() }]);
        t.advance(Duration::from_millis(900));
        t.datagram(sock, server(), b"late");
        t.advance(Duration::from_millis(900));
        assert!(!t.stop_requested(), "the late datagram restarted the wait");
        assert_eq!(t.take_output(stdio), b"from 127.0.0.1:9000: late\n");
        t.advance(Duration::from_millis(100));
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }

    #[test]
    fn tcp_lines_go_out_with_newlines_and_stdin_end_half_closes() {
        let mut t = TestTransport::new(Session::tcp(RelayClient::tcp(), vec![server()]));
        let stdio = t.open_stdio();
        assert!(t.is_paused(stdio));
        t.feed(stdio, b"name:alice\n");
        let tcp = t.complete_connect(TAG, server());
        assert_eq!(t.take_output(tcp), b"name:alice\n");
        t.feed(tcp, b"200, Name registered\n127.0.0.1/4 ; content : hi\npart");
        assert_eq!(
            t.take_output(stdio),
            b"from 127.0.0.1:9000: 200, Name registered\nfrom 127.0.0.1:9000: 127.0.0.1/4 ; content : hi\n"
        );
        t.feed(stdio, b"hii");
        t.eof(stdio);
        assert_eq!(t.take_output(tcp), b"hii\n");
        assert!(t.is_write_shut(tcp));
        assert!(!t.stop_requested());
        t.eof(tcp);
        assert!(t.stop_requested());
    }

    #[test]
    fn tcp_the_servers_last_line_without_newline_is_printed_before_the_end() {
        let mut t = TestTransport::new(Session::tcp(RelayClient::tcp(), vec![server()]));
        let stdio = t.open_stdio();
        let tcp = t.complete_connect(TAG, server());
        t.feed(tcp, b"200, Name registered\n127.0.0.1/4 ; content : la");
        t.feed(tcp, b"st\r");
        t.eof(tcp);
        assert_eq!(
            t.output(stdio),
            b"from 127.0.0.1:9000: 200, Name registered\nfrom 127.0.0.1:9000: 127.0.0.1/4 ; content : last\n"
        );
        assert!(t.stop_requested());
        assert!(matches!(t.handler().outcome(), Some(Outcome::Closed)));
    }
}
