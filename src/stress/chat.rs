//! chat under load: every member takes a name with `/nick`, and every line it says must
//! reach every other member as `name: text`, in the order said.
//!
//! Everything else the room says is recognised and skipped: the welcome, `* x joined`,
//! `* x is now y`, lines of people who are not part of the run. A `! ...` line is the
//! server refusing something, an error.

use super::fanout::{Audience, Dialect, Heard};
use super::message::Names;
use std::net::SocketAddr;

pub(crate) struct ChatTalk {
    names: Names,
}

impl ChatTalk {
    pub(crate) fn new(names: Names) -> ChatTalk {
        ChatTalk { names }
    }
}

impl Dialect for ChatTalk {
    fn audience(&self) -> Audience {
        Audience::Everyone
    }

    fn acks(&self) -> bool {
        false
    }

    fn register(&self, me: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(b"/nick ");
        self.names.write(me, out);
        out.push(b'\n');
    }

    /// A line that is not a command is said to the room (a text never starts with `/`).
    fn send(&self, _me: u32, _to: u32, text: &[u8], out: &mut Vec<u8>) {
        out.extend_from_slice(text);
        out.push(b'\n');
    }

    fn hear<'a>(&self, me: u32, line: &'a [u8]) -> Heard<'a> {
        if let Some(notice) = line.strip_prefix(b"* ") {
            let mine = notice.strip_prefix(b"you are now ").and_then(|name| self.names.client(name));
            return if mine == Some(me) { Heard::Registered } else { Heard::Noise };
        }
        if line.starts_with(b"! ") {
            return Heard::Refused;
        }
        // A nick holds no `:`, so the first `: ` ends it.
        match line.windows(2).position(|w| w == b": ") {
            Some(at) if self.names.client(&line[..at]).is_some() => {
                Heard::Message { from: &line[..at], text: &line[at + 2..] }
            }
            Some(_) => Heard::Noise,
            None => Heard::Garbled,
        }
    }

    fn said_by(&self, from: &[u8], sender: u32, _addr: SocketAddr) -> bool {
        self.names.client(from) == Some(sender)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn talk() -> ChatTalk {
        ChatTalk::new(Names::with_tag("tm".into()))
    }

    #[test]
    fn what_a_member_hears() {
        let t = talk();
        let heard = |line: &'static str| t.hear(3, line.as_bytes());
        assert_eq!(heard("* you are now tm3"), Heard::Registered);
        assert_eq!(heard("* you are now tm4"), Heard::Noise, "someone else's rename");
        for noise in [
            "* welcome, guest1: 0 others here. Commands: /nick NAME, /who, /msg NICK TEXT, /quit",
            "* guest2 joined",
            "* guest2 is now tm1",
            "alice: hello: there",
            "server: the console speaks",
            "tm1 (private): psst",
        ] {
            assert_eq!(heard(noise), Heard::Noise, "{noise}");
        }
        assert_eq!(heard("! nick taken: tm3"), Heard::Refused);
        assert_eq!(heard("tm1: #1/0.x: y"), Heard::Message { from: b"tm1", text: b"#1/0.x: y" });
        assert_eq!(heard("no colon at all"), Heard::Garbled);
        assert!(t.said_by(b"tm1", 1, "127.0.0.1:1".parse().expect("address")));
        assert!(!t.said_by(b"tm1", 2, "127.0.0.1:1".parse().expect("address")));
    }

    #[test]
    fn what_a_member_says() {
        let t = talk();
        let mut out = Vec::new();
        t.register(7, &mut out);
        t.send(7, 8, b"#7/0.ab", &mut out);
        assert_eq!(out, b"/nick tm7\n#7/0.ab\n");
    }
}
