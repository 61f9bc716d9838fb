//! Echo payloads that can be regenerated instead of stored.
//!
//! Byte `p` of message `seq` of client `client` is a pure function of the three, so a reply
//! is checked by recomputing what was sent rather than by keeping a copy of every message in
//! flight: 10,000 connections with deep pipelines cost no memory for expected bytes, and a
//! reply can be checked piece by piece however TCP splits it. Every payload is distinct per
//! client and per message, so a reply meant for another connection, or replies delivered out
//! of order, do not match. Payloads of 12 bytes or more start with the client number and the
//! sequence number in plain big-endian, so a wrong reply seen in a packet capture says whose
//! it was.

/// Client number (4 bytes) then sequence number (8 bytes).
const HEADER: usize = 12;

/// Fills `out` with bytes `offset..offset + out.len()` of the `size`-byte payload of message
/// `seq` of `client`.
pub(crate) fn fill(client: u32, seq: u64, size: usize, offset: usize, out: &mut [u8]) {
    let mut header = [0u8; HEADER];
    header[..4].copy_from_slice(&client.to_be_bytes());
    header[4..].copy_from_slice(&seq.to_be_bytes());
    let key = mix(seq ^ mix(u64::from(client)));
    let (mut p, mut i) = (offset, 0);
    while i < out.len() {
        let n = if size >= HEADER && p < HEADER {
            let n = (HEADER - p).min(out.len() - i);
            out[i..i + n].copy_from_slice(&header[p..p + n]);
            n
        } else {
            let block = mix(key.wrapping_add((p / 8) as u64)).to_le_bytes();
            let at = p % 8;
            let n = (8 - at).min(out.len() - i);
            out[i..i + n].copy_from_slice(&block[at..at + n]);
            n
        };
        p += n;
        i += n;
    }
}

/// splitmix64's finaliser: every input bit affects every output bit, so neighbouring
/// (client, seq) pairs give unrelated bytes.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(client: u32, seq: u64, size: usize) -> Vec<u8> {
        let mut v = vec![0; size];
        fill(client, seq, size, 0, &mut v);
        v
    }

    #[test]
    fn any_piece_matches_the_whole() {
        let whole = payload(7, 42, 100);
        for start in 0..100 {
            for end in start..=100 {
                let mut piece = vec![0; end - start];
                fill(7, 42, 100, start, &mut piece);
                assert_eq!(piece, whole[start..end], "{start}..{end}");
            }
        }
    }

    #[test]
    fn header_names_client_and_sequence() {
        let p = payload(0x0102_0304, 5, 16);
        assert_eq!(&p[..12], &[1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 5]);
    }

    #[test]
    fn distinct_per_client_and_message_even_below_the_header_size() {
        for size in [4, 12, 64] {
            let base = payload(1, 1, size);
            for other in [payload(2, 1, size), payload(1, 2, size), payload(0, 1, size), payload(1, 0, size)]
            {
                assert_ne!(base, other, "size {size}");
            }
        }
    }
}
