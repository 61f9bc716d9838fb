//! Our line format (see the module doc of [`super`]): parsing what the client sends, the
//! lines the server answers, and the percent-encoding of names.
//!
//! Names are percent-encoded so that any file name (spaces, newlines, non-UTF-8 bytes) fits
//! on one line and a space can separate the name from the offset; a person typing into `nc`
//! can still write `GET notes.txt` as is.

use std::fmt;

/// The longest request line a server accepts, and the longest reply line a client accepts.
pub const MAX_LINE: usize = 4096;

/// A client request, one line.
#[derive(Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `AUTH <token>`: the rest of the line is the token.
    Auth(&'a [u8]),
    /// `GET <name> [<offset>]`: the file under the root, from `offset` (resume).
    Get { name: Vec<u8>, offset: u64 },
}

/// Why a request line was refused (`ERR 400 <this>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadRequest(pub &'static str);

impl fmt::Display for BadRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

pub fn parse_request(line: &[u8]) -> Result<Request<'_>, BadRequest> {
    if let Some(token) = line.strip_prefix(b"AUTH ") {
        return Ok(Request::Auth(token));
    }
    let Some(args) = line.strip_prefix(b"GET ") else { return Err(BadRequest("bad request")) };
    let mut words = args.split(|&b| b == b' ');
    let name = words.next().filter(|n| !n.is_empty()).ok_or(BadRequest("no file name"))?;
    let offset = match words.next() {
        None => 0,
        Some(w) => parse_u64(w).ok_or(BadRequest("bad offset"))?,
    };
    if words.next().is_some() {
        return Err(BadRequest("too many words (encode spaces in names as %20)"));
    }
    let name = decode_name(name).ok_or(BadRequest("bad name encoding"))?;
    Ok(Request::Get { name, offset })
}

/// A server reply line, without its `\n`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    /// The token is right.
    Ok,
    /// The file's whole size and BLAKE3; the bytes from the requested offset follow.
    File { size: u64, checksum: blake3::Hash },
    /// A refusal: an HTTP-like code and a message for people.
    Err { code: u16, message: String },
}

impl Reply {
    pub fn err(code: u16, message: impl Into<String>) -> Reply {
        Reply::Err { code, message: message.into() }
    }

    /// The reply as sent, `\n` included.
    pub fn line(&self) -> Vec<u8> {
        format!("{self}\n").into_bytes()
    }

    pub fn parse(line: &[u8]) -> Result<Reply, String> {
        let text = std::str::from_utf8(line).map_err(|_| "reply is not UTF-8".to_string())?;
        let bad = || format!("unexpected reply {text:?}");
        let mut words = text.splitn(3, ' ');
        match words.next() {
            Some("OK") if text == "OK" => Ok(Reply::Ok),
            Some("FILE") => {
                let size = words.next().and_then(|w| parse_u64(w.as_bytes())).ok_or_else(bad)?;
                let checksum = words.next().and_then(|w| blake3::Hash::from_hex(w).ok()).ok_or_else(bad)?;
                Ok(Reply::File { size, checksum })
            }
            Some("ERR") => {
                let code = words.next().and_then(|w| w.parse().ok()).ok_or_else(bad)?;
                Ok(Reply::Err { code, message: words.next().unwrap_or("").to_string() })
            }
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Ok => f.write_str("OK"),
            Reply::File { size, checksum } => write!(f, "FILE {size} {}", checksum.to_hex()),
            Reply::Err { code, message } => write!(f, "ERR {code} {message}"),
        }
    }
}

/// The client's first two lines, sent together: the token, then the request.
pub fn auth_and_get(token: &[u8], name: &[u8], offset: u64) -> Vec<u8> {
    let mut out = b"AUTH ".to_vec();
    out.extend_from_slice(token);
    out.extend_from_slice(format!("\nGET {} {offset}\n", encode_name(name)).as_bytes());
    out
}

/// Digits only: no sign, no spaces, and no overflow.
fn parse_u64(w: &[u8]) -> Option<u64> {
    if w.is_empty() || !w.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(w).ok()?.parse().ok()
}

/// Leaves `A-Z a-z 0-9 - . _ ~ /` as they are and writes every other byte as `%XX`.
pub fn encode_name(name: &[u8]) -> String {
    let mut out = String::with_capacity(name.len());
    for &b in name {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `%XX` becomes the byte; any other printable byte stands for itself (what people type).
/// `None` for a broken escape or a raw control byte.
pub fn decode_name(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'%' => {
                let hex = text.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b < 0x20 || b == 0x7f => return None,
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn requests() {
        assert_eq!(parse_request(b"AUTH s3cret key"), Ok(Request::Auth(b"s3cret key")));
        assert_eq!(parse_request(b"GET a.txt"), Ok(Request::Get { name: b"a.txt".to_vec(), offset: 0 }));
        assert_eq!(
            parse_request(b"GET my%20notes.txt 1024"),
            Ok(Request::Get { name: b"my notes.txt".to_vec(), offset: 1024 })
        );
        for bad in [
            &b"get a"[..],
            b"GET",
            b"GET ",
            b"GET a -1",
            b"GET a 1 2",
            b"GET a%2",
            b"GET a 99999999999999999999",
        ] {
            assert!(parse_request(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn replies_round_trip() {
        let checksum = blake3::hash(b"x");
        for reply in [Reply::Ok, Reply::File { size: 7, checksum }, Reply::err(404, "not found")] {
            let line = reply.line();
            assert_eq!(line.last(), Some(&b'\n'));
            assert_eq!(Reply::parse(&line[..line.len() - 1]), Ok(reply));
        }
        assert!(Reply::parse(b"FILE 7 nothex").is_err());
        assert!(Reply::parse(b"OK then").is_err());
        assert!(Reply::parse(b"AUTH_SUCCESS").is_err());
    }

    proptest! {
        #[test]
        fn any_name_survives_encoding(name in proptest::collection::vec(any::<u8>(), 1..64)) {
            let encoded = encode_name(&name);
            prop_assert!(!encoded.contains(' ') && !encoded.contains('\n'));
            prop_assert_eq!(decode_name(encoded.as_bytes()), Some(name));
        }
    }
}
