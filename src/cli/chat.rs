//! `sockloop chat ADDR --nick NAME`: a chat room member at the terminal. It is the `connect`
//! bridge (stdin and the socket in one reactor) that sends `/nick NAME` first.

use clap::Args;
use sockloop::protocols::chat::client::{ChatClient, TAG};
use sockloop::protocols::chat::nick;
use sockloop::protocols::connect::Outcome;
use sockloop::{Config, Reactor, net};

/// Join a `sockloop serve chat` room: type lines, read everyone else's.
#[derive(Args, Debug)]
#[command(after_help = "\
Lines you type go to the room; commands: /nick NAME, /who, /msg NICK TEXT, /quit.
Ctrl-D (or the end of a pipe) leaves the room. Exit status: 0 when the server closes,
1 when the connect fails or the connection breaks.

Examples:
  sockloop chat 127.0.0.1:7003 --nick alice
  printf 'hello everyone\\n' | sockloop chat [::1]:7003 --nick bot")]
pub struct ChatArgs {
    /// HOST:PORT or [IPV6]:PORT; every address of the host is tried in turn.
    addr: String,
    /// Your nick, sent as `/nick NAME` on connecting (otherwise the server names you guestN).
    #[arg(long, value_name = "NAME", value_parser = parse_nick)]
    nick: Option<String>,
}

/// Checked here too: a newline in it would send a second line, and a refusal is clearer
/// before connecting than as the server's `! bad nick` line.
fn parse_nick(arg: &str) -> Result<String, String> {
    nick::check(arg).map(|()| arg.to_string()).map_err(String::from)
}

pub fn run(args: ChatArgs) -> Result<(), String> {
    let addr = &args.addr;
    // Blocking DNS, before the loop exists.
    let addrs = net::resolve(addr).map_err(|e| format!("cannot resolve {addr:?}: {e}"))?;
    let Some(&first) = addrs.first() else { return Err(format!("{addr:?} has no address")) };
    let client = ChatClient::new(addrs, args.nick.as_deref());
    let mut reactor = Reactor::new(client, Config::default()).map_err(|e| format!("cannot start: {e}"))?;
    // A signal must stop the loop rather than kill the process, so that stdin and stdout
    // are made blocking again on the way out.
    reactor.stop_on_signals().map_err(|e| format!("cannot watch for signals: {e}"))?;
    reactor.add_stdio().map_err(|e| format!("cannot use stdin/stdout: {e}"))?;
    reactor.connect(first, TAG);
    reactor.run().map_err(|e| format!("the event loop failed: {e}"))?;
    match reactor.handler().outcome() {
        None | Some(Outcome::Closed) => Ok(()),
        Some(Outcome::ConnectFailed(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Some(Outcome::Lost(reason)) => Err(format!("connection to {addr} lost: {reason}")),
    }
}
