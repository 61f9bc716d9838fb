//! greet under load: connect, check the banner byte for byte, answer `Hi`, let the server
//! close, connect again. One exchange per connection, so this measures connections per
//! second and the time to a whole greeting.

use super::workload::Workload;
use crate::protocols::greet::BANNER;

/// The classic client's answer (PROTOCOLS.md, greet).
const ANSWER: &[u8] = b"Hi";

pub(crate) struct GreetLoad {
    banner: &'static [u8],
}

impl Default for GreetLoad {
    fn default() -> Self {
        GreetLoad { banner: BANNER }
    }
}

impl Workload for GreetLoad {
    fn request(&self, _client: u32, _seq: u64, _out: &mut Vec<u8>) {}

    fn reply_len(&self, _seq: u64) -> usize {
        self.banner.len()
    }

    fn expected(&self, _client: u32, _seq: u64, offset: usize, out: &mut [u8]) {
        let end = (offset + out.len()).min(self.banner.len());
        let start = offset.min(end);
        out[..end - start].copy_from_slice(&self.banner[start..end]);
    }

    fn answer(&self, _seq: u64) -> &[u8] {
        ANSWER
    }

    fn exchanges_per_connection(&self) -> Option<u64> {
        Some(1)
    }

    fn pipeline(&self, _asked: u32) -> u32 {
        1
    }
}
