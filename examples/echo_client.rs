//! The outbound side of the same reactor: connect, send one message, print the echo, stop.
//! A client is a `Handler` too; `connected` fires when the non-blocking connect completes.
//!
//!     cargo run --example echo_server                  # in one terminal
//!     cargo run --example echo_client -- 127.0.0.1:7000 'hello, reactor'

use sockloop::{Config, ConnId, ConnInfo, Context, Handler, Reactor};
use std::io;
use std::process::ExitCode;

struct EchoClient {
    message: Vec<u8>,
    echoed: Vec<u8>,
    failed: Option<io::Error>,
}

impl Handler for EchoClient {
    type Conn = ();

    fn connected(&mut self, ctx: &mut Context<'_>, _id: ConnId, _info: &ConnInfo) {
        ctx.write(&self.message);
        ctx.shutdown_write(); // our FIN tells the echo server we are done
    }

    fn data(&mut self, _conn: &mut (), _ctx: &mut Context<'_>, data: &[u8]) -> usize {
        self.echoed.extend_from_slice(data);
        data.len()
    }

    fn eof(&mut self, _conn: &mut (), ctx: &mut Context<'_>, _rest: &[u8]) {
        ctx.close();
        ctx.stop();
    }

    fn connect_failed(&mut self, ctx: &mut Context<'_>, _tag: u64, err: &io::Error) {
        self.failed = Some(io::Error::new(err.kind(), err.to_string()));
        ctx.stop();
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".into());
    let message = args.next().unwrap_or_else(|| "hello, reactor".into()).into_bytes();
    match run(&addr, message) {
        Ok(echoed) => println!("echoed: {}", String::from_utf8_lossy(&echoed)),
        Err(e) => {
            eprintln!("echo_client: {addr}: {e}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

fn run(addr: &str, message: Vec<u8>) -> io::Result<Vec<u8>> {
    let peer = addr.parse().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let mut reactor =
        Reactor::new(EchoClient { message, echoed: Vec::new(), failed: None }, Config::default())?;
    reactor.connect(peer, 0);
    reactor.run()?;
    let client = reactor.handler_mut();
    client.failed.take().map_or_else(|| Ok(std::mem::take(&mut client.echoed)), Err)
}
