//! Byte counts as people type them: `65536`, `64K`, `1M`, `1MiB`, `2G`. Every suffix is a
//! power of 1024 (a buffer size, not a disk size), and is case-insensitive.

const UNITS: [(&str, u64); 4] = [("", 1), ("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30)];

pub fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let suffix = suffix.to_ascii_lowercase();
    let unit = suffix.strip_suffix("ib").or_else(|| suffix.strip_suffix('b')).unwrap_or(&suffix);
    let multiplier = UNITS.iter().find(|(name, _)| *name == unit).map(|(_, m)| *m);
    let (Some(multiplier), Ok(n)) = (multiplier, number.parse::<u64>()) else {
        return Err("not a size (examples: 65536, 64K, 1M)".into());
    };
    n.checked_mul(multiplier).ok_or_else(|| "too large".into())
}

/// Like [`parse`], for sizes that must be at least one byte and fit in memory.
pub fn parse_positive(text: &str) -> Result<usize, String> {
    match usize::try_from(parse(text)?) {
        Ok(0) => Err("must be at least one byte".into()),
        Ok(n) => Ok(n),
        Err(_) => Err("too large".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_are_powers_of_1024() {
        assert_eq!(parse("65536"), Ok(65536));
        assert_eq!(parse("64K"), Ok(64 * 1024));
        assert_eq!(parse("64k"), Ok(64 * 1024));
        assert_eq!(parse("64KiB"), Ok(64 * 1024));
        assert_eq!(parse("1M"), Ok(1 << 20));
        assert_eq!(parse("1MB"), Ok(1 << 20));
        assert_eq!(parse("2G"), Ok(2 << 30));
        assert_eq!(parse("100B"), Ok(100));
    }

    #[test]
    fn nonsense_is_refused() {
        for bad in ["", "K", "1.5M", "-1", "1T", "1 M", "1MiBs", "99999999999999999999"] {
            assert!(parse(bad).is_err(), "{bad:?} should not parse");
        }
        assert!(parse("18446744073709551615K").is_err(), "overflow");
        assert!(parse_positive("0").is_err());
        assert_eq!(parse_positive("1"), Ok(1));
    }
}
