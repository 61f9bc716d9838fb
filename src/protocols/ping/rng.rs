//! The seeded random numbers behind simulated loss and delay.
//!
//! SplitMix64 (Steele, Lea and Flood, 2014), written out here rather than taken from a
//! crate: `--seed N` promises the same drops and delays on every build and every version,
//! and `rand` documents that `StdRng` and `SmallRng` may change their algorithm between
//! releases. SplitMix64 is ten lines, passes BigCrush, and a test can replay it exactly.

#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..=max`, by multiply-and-shift (Lemire): the bias is below 2^-64 per
    /// value, far under anything a ping run could show.
    pub fn up_to(&mut self, max: u64) -> u64 {
        match max.checked_add(1) {
            Some(n) => ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64,
            None => self.next_u64(),
        }
    }

    /// Uniform in `[0, 1)`, with the 53 bits an f64 holds.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_sequence() {
        // SplitMix64 from seed 1234567, as published with the algorithm's reference code.
        let mut r = Rng::new(1234567);
        let got: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(got, [6457827717110365317, 3203168211198807973, 9817491932198370423]);
    }

    #[test]
    fn bounded_values_stay_in_bounds_and_cover_them() {
        let mut r = Rng::new(1);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.up_to(4);
            seen[v as usize] = true;
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(Rng::new(9).up_to(0), 0);
        let _ = Rng::new(9).up_to(u64::MAX);
    }
}
