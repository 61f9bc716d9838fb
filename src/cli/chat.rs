//! `sockloop chat ADDR --nick NAME`: a chat room member at the terminal. It is the `connect`
//! bridge (stdin and the socket in one reactor) that sends `/nick NAME` first.

use super::session;
use clap::Args;
use sockloop::Config;
use sockloop::protocols::chat::{client, nick};

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
    let addrs = session::resolve(&args.addr)?;
    session::run(&args.addr, client::new(addrs, args.nick.as_deref()), Config::default())
}
