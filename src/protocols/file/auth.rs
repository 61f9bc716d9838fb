//! The shared secret: where it comes from, how it is compared, and how guessing is slowed.
//!
//! - It is read from a file or from the environment, never from the command line, where
//!   every user on the machine can read it in `ps`.
//! - A guess is compared in constant time, so the time an answer takes does not tell how
//!   many leading bytes were right: both sides are hashed with BLAKE3 and the digests
//!   compared with `blake3::Hash`'s `==`, which is constant-time (and hides the length too).
//! - Each wrong guess from an address makes that address's next answer wait longer. The wait
//!   is a reactor timer on that one connection; nothing sleeps, and others are served.

use log::warn;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, Instant};

/// The environment variable read when no token file is given.
pub const TOKEN_ENV: &str = "SOCKLOOP_TOKEN";

/// The token as its BLAKE3 digest: the plain bytes are not kept once it is loaded.
#[derive(Clone)]
pub struct Secret(blake3::Hash);

impl Secret {
    pub fn new(token: &[u8]) -> Secret {
        Secret(blake3::hash(token))
    }

    /// In constant time, whatever `guess` is.
    pub fn matches(&self, guess: &[u8]) -> bool {
        blake3::hash(guess) == self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// The token from `file` (one trailing newline removed: editors add one), or else from
/// `$SOCKLOOP_TOKEN`. Empty tokens and tokens with a line break are refused: one could not
/// be typed, the other could not be sent on one line.
pub fn load_token(file: Option<&Path>) -> Result<Vec<u8>, String> {
    let token = match file {
        Some(path) => {
            let mut bytes =
                std::fs::read(path).map_err(|e| format!("cannot read token file {}: {e}", path.display()))?;
            warn_if_shared(path);
            if bytes.ends_with(b"\n") {
                bytes.pop();
                if bytes.ends_with(b"\r") {
                    bytes.pop();
                }
            }
            bytes
        }
        None => match std::env::var_os(TOKEN_ENV) {
            Some(value) => value.into_encoded_bytes(),
            None => return Err(format!("no secret: give --token-file FILE or set {TOKEN_ENV}")),
        },
    };
    if token.is_empty() {
        return Err("the secret is empty".into());
    }
    if token.contains(&b'\n') || token.contains(&b'\r') {
        return Err("the secret must be one line".into());
    }
    Ok(token)
}

fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(meta) = std::fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        warn!("token file {} is readable by other users (chmod 600 it)", path.display());
    }
}

/// The first wrong guess waits this long; each further one from the address doubles it.
pub const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The longest wait.
pub const MAX_DELAY: Duration = Duration::from_secs(10);
/// An address with no wrong guess for this long starts again from `FIRST_DELAY`.
const FORGET_AFTER: Duration = Duration::from_secs(600);
/// Addresses tracked at most, so that many addresses cannot grow the table without bound.
const MAX_TRACKED: usize = 10_000;

/// Wrong guesses per peer address.
#[derive(Debug, Default)]
pub struct Failures {
    by_addr: HashMap<IpAddr, (u32, Instant)>,
}

impl Failures {
    /// Counts a wrong guess; returns how many there have been lately and how long the
    /// answer to this one should wait.
    pub fn failed(&mut self, addr: IpAddr, now: Instant) -> (u32, Duration) {
        if self.by_addr.len() >= MAX_TRACKED && !self.by_addr.contains_key(&addr) {
            self.by_addr.retain(|_, (_, last)| now.saturating_duration_since(*last) < FORGET_AFTER);
            if self.by_addr.len() >= MAX_TRACKED {
                self.by_addr.clear();
            }
        }
        let entry = self.by_addr.entry(addr).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= FORGET_AFTER {
            entry.0 = 0;
        }
        entry.0 = entry.0.saturating_add(1);
        entry.1 = now;
        let doublings = (entry.0 - 1).min(16);
        (entry.0, FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY))
    }

    /// A right guess clears the address's record.
    pub fn succeeded(&mut self, addr: IpAddr) {
        self.by_addr.remove(&addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        let s = Secret::new(b"SECRET_KEY");
        assert!(s.matches(b"SECRET_KEY"));
        for wrong in [&b"SECRET_KEY\n"[..], b"SECRET_KEz", b"nope", b"", b"SECRET_KEYSECRET_KEY"] {
            assert!(!s.matches(wrong));
        }
        assert_eq!(format!("{s:?}"), "Secret(..)", "never printed");
    }

    #[test]
    fn delays_double_per_failure_and_reset_on_success_or_after_a_while() {
        let mut f = Failures::default();
        let a: IpAddr = [10, 0, 0, 1].into();
        let b: IpAddr = [10, 0, 0, 2].into();
        let t = Instant::now();
        assert_eq!(f.failed(a, t), (1, FIRST_DELAY));
        assert_eq!(f.failed(a, t), (2, FIRST_DELAY * 2));
        assert_eq!(f.failed(a, t), (3, FIRST_DELAY * 4));
        assert_eq!(f.failed(b, t), (1, FIRST_DELAY), "per address");
        for _ in 0..30 {
            f.failed(a, t);
        }
        assert_eq!(f.failed(a, t).1, MAX_DELAY);
        assert_eq!(f.failed(a, t + FORGET_AFTER * 2), (1, FIRST_DELAY));
        f.failed(b, t);
        f.succeeded(b);
        assert_eq!(f.failed(b, t), (1, FIRST_DELAY));
    }

    #[test]
    fn tokens_come_from_a_file_without_its_newline() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        std::fs::write(&path, b"s3cret\r\n").expect("write");
        assert_eq!(load_token(Some(&path)), Ok(b"s3cret".to_vec()));
        std::fs::write(&path, b"\n").expect("write");
        assert!(load_token(Some(&path)).is_err(), "empty");
        std::fs::write(&path, b"two\nlines").expect("write");
        assert!(load_token(Some(&path)).is_err());
        assert!(load_token(Some(&dir.path().join("missing"))).unwrap_err().contains("cannot read"));
    }
}
