//! What makes a nick acceptable. Nicks appear at the start of every line a member sees
//! (`alice: hi`) and in comma-separated `/who` lists, so anything that could forge a line
//! (a newline, a control character) or blur one (`:`, `,`, a space, a leading `*` or `!`
//! that looks like a notice or an error) is refused.

/// The console's nick, reserved even when there is no console so no member can pose as it.
pub const CONSOLE: &str = "server";

/// In characters, not bytes.
pub const MAX_LEN: usize = 32;

/// Why a nick was refused, as shown to the member.
pub fn check(nick: &str) -> Result<(), &'static str> {
    if nick.is_empty() {
        return Err("empty");
    }
    if nick.chars().count() > MAX_LEN {
        return Err("longer than 32 characters");
    }
    if nick.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("spaces and control characters are not allowed");
    }
    if nick.contains([':', ',']) {
        return Err("':' and ',' are not allowed");
    }
    if nick.starts_with(['*', '!', '/']) {
        return Err("may not start with '*', '!' or '/'");
    }
    if key(nick) == CONSOLE {
        return Err("reserved for the server console");
    }
    Ok(())
}

/// Nicks are unique regardless of case: `Alice` and `alice` are the same person to a reader.
pub fn key(nick: &str) -> String {
    nick.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_and_bad_nicks() {
        for good in ["alice", "Bob_2", "élodie", "x", "a-b.c", &"n".repeat(32)] {
            assert_eq!(check(good), Ok(()), "{good:?}");
        }
        for bad in
            ["", "a b", "tab\there", "new\nline", "esc\x1b[2J", "a:b", "a,b", "*bob", "!x", "/x", "Server"]
        {
            assert!(check(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check(&"n".repeat(33)).is_err());
        assert_eq!(check(&"é".repeat(32)), Ok(()), "the limit counts characters");
    }
}
