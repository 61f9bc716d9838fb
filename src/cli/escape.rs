//! Backslash escapes in text options, so `--banner 'hello\r\n'` sends a real CR LF: a shell
//! cannot easily put control characters in an argument.

/// Turns `\r`, `\n`, `\t` and `\\` into the characters they name. Any other escape is refused
/// rather than guessed at.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        out.push(match chars.next() {
            Some('r') => b'\r',
            Some('n') => b'\n',
            Some('t') => b'\t',
            Some('\\') => b'\\',
            Some(other) => return Err(format!("unknown escape \\{other} (use \\r \\n \\t \\\\)")),
            None => return Err("ends in a lone backslash (write \\\\ for one)".into()),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_become_control_characters() {
        assert_eq!(unescape(r"hello\r\n").unwrap(), b"hello\r\n");
        assert_eq!(unescape(r"a\tb\\c").unwrap(), b"a\tb\\c");
        assert_eq!(unescape("plain ünïcode").unwrap(), "plain ünïcode".as_bytes());
        assert_eq!(unescape("").unwrap(), b"");
    }

    #[test]
    fn unknown_or_unfinished_escapes_are_refused() {
        assert!(unescape(r"\x41").unwrap_err().contains(r"\x"));
        assert!(unescape(r"oops\").is_err());
    }
}
