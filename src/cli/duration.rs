//! Durations as people type them: `500ms`, `30s`, `2m`, `1.5s`, `1h`; a bare number is
//! seconds. Decimal fractions are computed exactly in nanoseconds, so `0.1s` is 100 ms and not
//! the nearest binary float.

use std::time::Duration;

const UNITS: [(&str, u128); 6] = [
    ("ns", 1),
    ("us", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Parses a duration; zero is allowed (a grace period of 0 closes at once).
pub fn parse(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return Err("not a duration (examples: 500ms, 30s, 2m, 1.5s)".into());
    }
    let nanos_per_unit = match unit {
        "" => 1_000_000_000,
        _ => UNITS
            .iter()
            .find(|(name, _)| *name == unit)
            .map(|(_, n)| *n)
            .ok_or_else(|| format!("unknown unit {unit:?} (use ms, s, m or h, e.g. 500ms)"))?,
    };
    let too_long = || String::from("too long a duration");
    let whole: u128 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| too_long())? };
    let mut nanos = whole.checked_mul(nanos_per_unit).ok_or_else(too_long)?;
    // Each fraction digit is worth a tenth of the one before; below a nanosecond it is dropped.
    let mut place = nanos_per_unit;
    for digit in fraction.bytes() {
        place /= 10;
        nanos += u128::from(digit - b'0') * place;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).map_err(|_| too_long())?;
    Ok(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Like [`parse`], for settings where zero would make no sense (an interval, a timeout).
pub fn parse_positive(text: &str) -> Result<Duration, String> {
    match parse(text)? {
        Duration::ZERO => Err("must be more than zero".into()),
        d => Ok(d),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_fractions() {
        let ms = Duration::from_millis;
        assert_eq!(parse("500ms"), Ok(ms(500)));
        assert_eq!(parse("30s"), Ok(ms(30_000)));
        assert_eq!(parse("2m"), Ok(ms(120_000)));
        assert_eq!(parse("1h"), Ok(ms(3_600_000)));
        assert_eq!(parse("1.5s"), Ok(ms(1500)));
        assert_eq!(parse("0.1s"), Ok(ms(100)), "exact, not a float");
        assert_eq!(parse(".5s"), Ok(ms(500)));
        assert_eq!(parse("2.5m"), Ok(ms(150_000)));
        assert_eq!(parse("250us"), Ok(Duration::from_micros(250)));
        assert_eq!(parse("1.0000000001s"), Ok(ms(1000)), "below a nanosecond is dropped");
    }

    #[test]
    fn a_bare_number_is_seconds() {
        assert_eq!(parse("5"), Ok(Duration::from_secs(5)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(" 7 "), Ok(Duration::from_secs(7)));
    }

    #[test]
    fn nonsense_is_refused_with_a_hint() {
        for bad in ["", "s", ".", "1.2.3s", "-1s", "5x", "5 s", "1e3", "ms5", "5sec"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(parse("5x").unwrap_err().contains("500ms"));
        assert!(parse("99999999999999999999999h").is_err());
        assert!(parse("18446744073709551616").is_err(), "more seconds than a Duration holds");
    }

    #[test]
    fn positive_refuses_zero() {
        assert!(parse_positive("0s").is_err());
        assert!(parse_positive("0.0").is_err());
        assert_eq!(parse_positive("1ms"), Ok(Duration::from_millis(1)));
    }
}
