//! Simulated network trouble: what happens to each probe the server receives.
//!
//! The server asks an [`Impair`] for each probe's [`Fate`]. [`Impairment`] is the one the
//! command line builds: loss with probability P and a delay uniform in MIN..=MAX, drawn
//! from a seeded [`Rng`], so the same seed and the same order of probes give the same
//! drops and delays. A closure `FnMut(SocketAddr) -> Fate` is an `Impair` too, so a test
//! (or an experiment) can give one client a long delay and another none.

use super::rng::Rng;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::time::Duration;

/// What happens to one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fate {
    /// Wait this long before replying (zero: reply at once).
    pub delay: Duration,
    /// Never reply.
    pub dropped: bool,
}

impl Fate {
    pub const PROMPT: Fate = Fate { delay: Duration::ZERO, dropped: false };
}

pub trait Impair {
    /// Called once per probe, in the order probes arrive; `from` is its sender.
    fn fate(&mut self, from: SocketAddr) -> Fate;
}

impl<F: FnMut(SocketAddr) -> Fate> Impair for F {
    fn fate(&mut self, from: SocketAddr) -> Fate {
        self(from)
    }
}

/// The classic server's loss: `randint(1, 10) <= 1`.
pub const CLASSIC_LOSS: f64 = 0.1;
/// The classic server's delay: `randint(1, 5000) / 10000` seconds.
pub const CLASSIC_DELAY: RangeInclusive<Duration> = Duration::from_micros(100)..=Duration::from_millis(500);

#[derive(Clone, Debug)]
pub struct Impairment {
    loss: f64,
    delay: RangeInclusive<Duration>,
    rng: Rng,
}

impl Impairment {
    /// `loss` is clamped to 0..=1; an inverted delay range is put the right way round.
    pub fn new(loss: f64, delay: RangeInclusive<Duration>, seed: u64) -> Impairment {
        let (a, b) = delay.into_inner();
        let delay = if a <= b { a..=b } else { b..=a };
        Impairment {
            loss: if loss.is_nan() { 0.0 } else { loss.clamp(0.0, 1.0) },
            delay,
            rng: Rng::new(seed),
        }
    }

    /// Every probe answered at once.
    pub fn none() -> Impairment {
        Impairment::new(0.0, Duration::ZERO..=Duration::ZERO, 0)
    }

    pub fn loss(&self) -> f64 {
        self.loss
    }

    pub fn delay(&self) -> &RangeInclusive<Duration> {
        &self.delay
    }

    pub fn is_none(&self) -> bool {
        self.loss == 0.0 && self.delay.end().is_zero()
    }

    /// The next fate. Exactly two draws per probe, delay first as the classic server
    /// does, whatever the settings: so a test replays a seed by calling this in turn.
    pub fn next_fate(&mut self) -> Fate {
        let (min, max) = (*self.delay.start(), *self.delay.end());
        let span = u64::try_from((max - min).as_nanos()).unwrap_or(u64::MAX);
        let delay = min + Duration::from_nanos(self.rng.up_to(span));
        let dropped = self.rng.unit() < self.loss;
        Fate { delay, dropped }
    }
}

impl Impair for Impairment {
    fn fate(&mut self, _from: SocketAddr) -> Fate {
        self.next_fate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_gives_the_same_fates_every_time() {
        let fates = |seed| {
            let mut i = Impairment::new(0.1, CLASSIC_DELAY, seed);
            (0..200).map(|_| i.next_fate()).collect::<Vec<_>>()
        };
        assert_eq!(fates(1), fates(1));
        assert_ne!(fates(1), fates(2));
        let drops = fates(1).iter().filter(|f| f.dropped).count();
        assert!((8..=35).contains(&drops), "about 10% of 200: {drops}");
        assert!(fates(1).iter().all(|f| CLASSIC_DELAY.contains(&f.delay)));
    }

    #[test]
    fn no_impairment_is_prompt_and_lossless() {
        let mut i = Impairment::none();
        assert!(i.is_none());
        assert!((0..100).all(|_| i.next_fate() == Fate::PROMPT));
        let mut all = Impairment::new(7.0, Duration::from_millis(5)..=Duration::from_millis(1), 3);
        assert_eq!(all.loss(), 1.0);
        assert_eq!(all.delay(), &(Duration::from_millis(1)..=Duration::from_millis(5)));
        assert!((0..100).all(|_| all.next_fate().dropped));
    }
}
