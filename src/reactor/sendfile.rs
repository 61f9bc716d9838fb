//! File ranges as connection output ([`crate::Context::send_file`]): sent with `sendfile(2)`
//! from the page cache straight to the socket, or read into the reactor's one scratch buffer
//! and written.
//!
//! Why the reactor does it and not the protocol: only the reactor knows when the socket can
//! take more, so only it can read from disk no faster than the peer reads from us. A range
//! is an offset and a length, never a buffer, so a connection sending a 1 GiB file holds no
//! more memory than one sending a line.
//!
//! A regular file never reports "would block", so reading one is bounded instead: at most
//! `Config::write_budget` bytes per connection per readiness event, after which the
//! connection waits on the still-ready list and the others get their turn.

use super::*;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

/// A file range queued on a connection, and the bytes written after it.
pub(crate) struct FileSend {
    pub(super) file: Rc<File>,
    pub(super) offset: u64,
    pub(super) remaining: u64,
    /// Bytes written to the connection after this range was queued: they leave once the
    /// range is out, so the peer gets everything in the order it was written.
    pub(super) then: OutBuf,
}

/// Why a round of sending from a range stopped.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Stop {
    /// The whole range is out.
    Done,
    /// The socket is full; a writable edge will come.
    Blocked,
    /// The budget is spent while the socket may still take more: no edge will come.
    Budget,
}

impl FileSend {
    pub(super) fn new(file: Rc<File>, offset: u64, len: u64) -> Self {
        FileSend { file, offset, remaining: len, then: OutBuf::default() }
    }

    /// Sends from the range until it is done, the socket is full, or `budget` bytes went out;
    /// `sent` counts the bytes that left, also when an error ends the round.
    pub(super) fn send(
        &mut self,
        io: &mut Io,
        scratch: &mut [u8],
        budget: usize,
        use_sendfile: bool,
        sent: &mut usize,
    ) -> io::Result<Stop> {
        let mut left = budget;
        while self.remaining > 0 {
            if left == 0 {
                return Ok(Stop::Budget);
            }
            let want = self.remaining.min(left as u64) as usize;
            let result = match io {
                #[cfg(target_os = "linux")]
                Io::Tcp(sock) if use_sendfile => sendfile(sock, &self.file, self.offset, want),
                _ => {
                    let chunk = want.min(scratch.len());
                    copy_chunk(io, &self.file, self.offset, &mut scratch[..chunk])
                }
            };
            match result {
                Ok(Copied { n: 0, .. }) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!(
                            "file ended {} bytes short of the range (truncated while sent?)",
                            self.remaining
                        ),
                    ));
                }
                Ok(Copied { n, short }) => {
                    self.offset += n as u64;
                    self.remaining -= n as u64;
                    left -= n;
                    *sent += n;
                    if short && self.remaining > 0 {
                        return Ok(Stop::Blocked);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Stop::Blocked),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Stop::Done)
    }
}

/// Bytes one call moved, and whether the socket took fewer than were offered.
struct Copied {
    n: usize,
    /// A short write to a TCP socket: the kernel marked it full (SOCK_NOSPACE) on the way,
    /// so a writable edge will come when the peer reads, and trying again now would only
    /// read from disk what the socket cannot take.
    short: bool,
}

/// The kernel moves page-cache pages to the socket: no copy into user space, no buffer.
#[cfg(target_os = "linux")]
fn sendfile(sock: &TcpStream, file: &File, offset: u64, count: usize) -> io::Result<Copied> {
    use std::os::fd::AsRawFd;
    let mut off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: both descriptors stay open for the call; `off` is an off_t the kernel reads
    // and updates, and nothing else points to it.
    let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    // Loop on: a short sendfile costs nothing to retry, and the next call says WouldBlock.
    Ok(Copied { n: n as usize, short: false })
}

/// The portable path: one bounded `pread` into the scratch buffer, one `write`. What the
/// socket does not take is dropped and read again next time, so nothing is held between
/// events.
fn copy_chunk(io: &mut Io, file: &File, offset: u64, buf: &mut [u8]) -> io::Result<Copied> {
    let got = loop {
        match file.read_at(buf, offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => break other?,
        }
    };
    if got == 0 {
        return Ok(Copied { n: 0, short: false });
    }
    loop {
        match io.write(&buf[..got]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => return Ok(Copied { n, short: n < got && matches!(io, Io::Tcp(_)) }),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
