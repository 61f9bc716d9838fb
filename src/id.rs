//! Identities of things the reactor owns: connections, listeners, UDP sockets and timers.
//!
//! A [`ConnId`] is the slab index *plus a generation*. mio hands us back whatever token we
//! registered, and a slab reuses a freed slot at once, so an event already queued for a closed
//! connection could otherwise land on the new connection in the same slot. With the
//! generation in the token, a stale event or a stale `write_to` simply finds no match.

use mio::Token;

#[cfg(not(target_pointer_width = "64"))]
compile_error!("sockloop packs slab index and generation into a 64-bit mio::Token");

const INDEX_BITS: u32 = 32;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
/// Generations never reach this value, so the reserved tokens below can never be a slot's.
const MAX_GENERATION: usize = u32::MAX as usize - 1;

/// The loop's own sources live outside the slab, on tokens no slot can have.
pub(crate) const WAKER: Token = Token(usize::MAX);
pub(crate) const SIGNALS: Token = Token(usize::MAX - 1);

/// One registered source: a connection, a listener or a UDP socket.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(usize);

impl ConnId {
    pub(crate) fn new(index: usize, generation: u32) -> ConnId {
        debug_assert!(index <= INDEX_MASK && (generation as usize) <= MAX_GENERATION);
        ConnId(((generation as usize) << INDEX_BITS) | index)
    }

    pub(crate) fn from_token(token: Token) -> ConnId {
        ConnId(token.0)
    }

    pub(crate) fn token(self) -> Token {
        Token(self.0)
    }

    /// The slab slot this id points at (shared with every earlier id of the same slot).
    pub fn index(self) -> usize {
        self.0 & INDEX_MASK
    }

    /// Which use of the slot this is; it changes every time the slot is reused.
    pub fn generation(self) -> u32 {
        (self.0 >> INDEX_BITS) as u32
    }
}

impl std::fmt::Debug for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}.{}", self.index(), self.generation())
    }
}

impl std::fmt::Display for ConnId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self, f)
    }
}

/// Hands out generations: one counter for the whole reactor, so a reused slot always
/// gets a generation it never had before (until the counter wraps after 4 billion uses).
#[derive(Default)]
pub(crate) struct Generations(u32);

impl Generations {
    pub(crate) fn next(&mut self) -> u32 {
        self.0 = if self.0 as usize >= MAX_GENERATION { 1 } else { self.0 + 1 };
        self.0
    }
}

/// A timer set through the [`crate::Context`]; pass it back to cancel the timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(pub(crate) u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_slot_different_generation_is_a_different_id() {
        let mut g = Generations::default();
        let a = ConnId::new(7, g.next());
        let b = ConnId::new(7, g.next());
        assert_eq!(a.index(), b.index());
        assert_ne!(a, b);
        assert_eq!(ConnId::from_token(a.token()), a);
    }

    #[test]
    fn reserved_tokens_are_never_slot_tokens() {
        let mut g = Generations(MAX_GENERATION as u32 - 1);
        for _ in 0..4 {
            let id = ConnId::new(INDEX_MASK, g.next());
            assert_ne!(id.token(), WAKER);
            assert_ne!(id.token(), SIGNALS);
        }
    }
}
