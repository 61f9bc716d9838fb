//! echo under load: every request is a distinct payload and its reply must be the same bytes.

use super::payload;
use super::workload::Workload;

pub(crate) struct EchoLoad {
    size: usize,
}

impl EchoLoad {
    pub(crate) fn new(size: usize) -> EchoLoad {
        EchoLoad { size }
    }
}

impl Workload for EchoLoad {
    fn request(&self, client: u32, seq: u64, out: &mut Vec<u8>) {
        out.resize(self.size, 0);
        payload::fill(client, seq, self.size, 0, out);
    }

    fn reply_len(&self, _seq: u64) -> usize {
        self.size
    }

    fn expected(&self, client: u32, seq: u64, offset: usize, out: &mut [u8]) {
        payload::fill(client, seq, self.size, offset, out);
    }
}
