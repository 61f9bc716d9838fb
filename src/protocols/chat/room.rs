//! The room: who is in it under which nick, and sending one line to many of them.
//!
//! Two maps, so that every operation a busy room does often is O(1) or one pass: joining,
//! leaving and `/msg NICK` look a member up by id or by nick, and a broadcast walks the
//! members once, writing the same already formatted bytes to each (`Context::write_to`
//! copies them into the effect arena; nothing is allocated per member).

use super::nick;
use crate::{ConnId, Context};
use std::collections::HashMap;

/// Why a nick change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NickError {
    Bad(&'static str),
    Taken,
}

#[derive(Debug)]
struct Member {
    nick: String,
    /// Lines are not sent to it for now (a console that fell behind); `hidden` counts them.
    muted: bool,
    hidden: u64,
}

#[derive(Debug, Default)]
pub struct Room {
    members: HashMap<ConnId, Member>,
    /// `nick::key(nick)` to its member.
    by_nick: HashMap<String, ConnId>,
    guests: u64,
}

impl Room {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Adds a member under the next free `guest<N>` nick, and returns it.
    pub fn join_guest(&mut self, id: ConnId) -> &str {
        let nick = loop {
            self.guests += 1;
            let nick = format!("guest{}", self.guests);
            if !self.by_nick.contains_key(&nick) {
                break nick;
            }
        };
        self.insert(id, nick)
    }

    /// Adds the console under its reserved nick.
    pub fn join_console(&mut self, id: ConnId) -> &str {
        self.insert(id, nick::CONSOLE.to_string())
    }

    fn insert(&mut self, id: ConnId, nick: String) -> &str {
        self.leave(id);
        self.by_nick.insert(nick::key(&nick), id);
        self.members.insert(id, Member { nick, muted: false, hidden: 0 });
        self.members.get(&id).map_or("", |m| m.nick.as_str())
    }

    /// Removes a member; returns its nick, or `None` if it was not in the room.
    pub fn leave(&mut self, id: ConnId) -> Option<String> {
        let member = self.members.remove(&id)?;
        self.by_nick.remove(&nick::key(&member.nick));
        Some(member.nick)
    }

    /// Renames a member; returns its old nick.
    pub fn rename(&mut self, id: ConnId, new: &str) -> Result<String, NickError> {
        nick::check(new).map_err(NickError::Bad)?;
        let key = nick::key(new);
        if self.by_nick.get(&key).is_some_and(|&holder| holder != id) {
            return Err(NickError::Taken);
        }
        let Some(member) = self.members.get_mut(&id) else { return Err(NickError::Bad("not in the room")) };
        let old = std::mem::replace(&mut member.nick, new.to_string());
        self.by_nick.remove(&nick::key(&old));
        self.by_nick.insert(key, id);
        Ok(old)
    }

    pub fn nick(&self, id: ConnId) -> Option<&str> {
        self.members.get(&id).map(|m| m.nick.as_str())
    }

    /// The member with this nick, whatever its case.
    pub fn find(&self, nick: &str) -> Option<ConnId> {
        self.by_nick.get(&nick::key(nick)).copied()
    }

    /// Every nick, sorted case-insensitively (for `/who`; not on any hot path).
    pub fn nicks(&self) -> Vec<&str> {
        let mut all: Vec<&str> = self.members.values().map(|m| m.nick.as_str()).collect();
        all.sort_by_cached_key(|n| nick::key(n));
        all
    }

    /// Sends `line` to every member except `except`, in one pass.
    pub fn send_all(&mut self, ctx: &mut Context<'_>, line: &[u8], except: Option<ConnId>) {
        for (&id, member) in self.members.iter_mut() {
            if Some(id) == except {
                continue;
            }
            if member.muted {
                member.hidden += 1;
            } else {
                ctx.write_to(id, line);
            }
        }
    }

    /// Sends `line` to one member (unless it is muted: then it is counted as missed).
    pub fn send_to(&mut self, ctx: &mut Context<'_>, id: ConnId, line: &[u8]) {
        match self.members.get_mut(&id) {
            Some(member) if member.muted => member.hidden += 1,
            Some(_) => ctx.write_to(id, line),
            None => {}
        }
    }

    /// Stops sending lines to a member until [`Room::unmute`].
    ///
    /// Muting is also what keeps the sender going: the reactor stops reading whoever writes
    /// to a connection past its high-water mark, until that queue drains.
    pub fn mute(&mut self, id: ConnId) {
        if let Some(m) = self.members.get_mut(&id) {
            m.muted = true;
        }
    }

    /// Sends to a muted member again; returns how many lines it missed.
    pub fn unmute(&mut self, id: ConnId) -> u64 {
        match self.members.get_mut(&id) {
            Some(m) if m.muted => {
                m.muted = false;
                std::mem::take(&mut m.hidden)
            }
            _ => 0,
        }
    }
}
