//! BLAKE3 of a file hashed in fixed blocks, which may be hashed by different threads and
//! finish out of order, then combined in order into the same hash as `blake3::hash`.
//!
//! BLAKE3 is a tree: chunks of 1 KiB are leaves, and any aligned power-of-two run of chunks
//! is a subtree with its own chaining value. So a file cut into blocks of one power-of-two
//! size, each hashed on its own ([`block_hasher`]), gives the whole file's hash once the
//! blocks' chaining values are merged the way BLAKE3 merges chunks ([`Tree`]): the blake3
//! crate's `hazmat` module does the node arithmetic, and this module keeps the shape. The
//! tests check every length around the block boundaries against `blake3::hash`.

use blake3::Hasher;
use blake3::hazmat::{ChainingValue, HasherExt, Mode, merge_subtrees_non_root, merge_subtrees_root};

/// A hasher for the block that starts at `index * block` bytes. `block` must be a power of
/// two, at least `blake3::CHUNK_LEN`, and the same for every block of the file.
pub fn block_hasher(block: u64, index: u64) -> Hasher {
    let mut hasher = Hasher::new();
    hasher.set_input_offset(index * block);
    hasher
}

/// The blocks' hashers, taken in order. Each must hold its whole block, except the last,
/// which may be shorter but not empty.
#[derive(Default)]
pub struct Tree {
    /// Chaining values of the complete subtrees left of `last`, the largest first: BLAKE3's
    /// own chaining-value stack, in units of blocks.
    stack: Vec<ChainingValue>,
    /// Blocks merged into `stack`.
    merged: u64,
    /// The latest block, not yet finalized: if no other follows, it is the root.
    last: Option<Hasher>,
}

impl Tree {
    pub fn push(&mut self, block: Hasher) {
        let Some(previous) = self.last.replace(block) else { return };
        let mut cv = previous.finalize_non_root();
        self.merged += 1;
        // A completed pair of equal subtrees becomes their parent, as in a binary counter.
        let mut count = self.merged;
        while count & 1 == 0 {
            let Some(left) = self.stack.pop() else { break };
            cv = merge_subtrees_non_root(&left, &cv, Mode::Hash);
            count >>= 1;
        }
        self.stack.push(cv);
    }

    /// The hash of all the blocks pushed (of nothing, if none was).
    pub fn finalize(&self) -> blake3::Hash {
        let Some(last) = &self.last else { return blake3::hash(b"") };
        let Some((first, rest)) = self.stack.split_first() else { return last.finalize() };
        let mut right = last.finalize_non_root();
        for left in rest.iter().rev() {
            right = merge_subtrees_non_root(left, &right, Mode::Hash);
        }
        merge_subtrees_root(first, &right, Mode::Hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_blocks(data: &[u8], block: usize) -> blake3::Hash {
        let mut tree = Tree::default();
        for (index, bytes) in data.chunks(block).enumerate() {
            let mut hasher = block_hasher(block as u64, index as u64);
            // In pieces that do not line up with chunks, as reads do.
            for piece in bytes.chunks(700) {
                hasher.update(piece);
            }
            tree.push(hasher);
        }
        tree.finalize()
    }

    #[test]
    fn any_length_by_blocks_equals_the_one_shot_hash() {
        let data: Vec<u8> = (0..40_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for block in [1024, 2048, 4096] {
            for blocks in 0..=9 {
                for delta in [-1i64, 0, 1, 500] {
                    let Ok(len) = usize::try_from(blocks * block as i64 + delta) else { continue };
                    let data = &data[..len];
                    assert_eq!(by_blocks(data, block), blake3::hash(data), "{len} bytes, blocks of {block}");
                }
            }
        }
    }
}
