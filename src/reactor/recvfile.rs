//! Connection input as a file range ([`crate::Context::recv_file`]), the dual of
//! [`super::sendfile`]: the next bytes of a connection go to a file at an offset without
//! passing through the protocol.
//!
//! Why: a download that copies every byte from the socket into our buffer and from there
//! into the file moves each byte twice through the CPU. On Linux the bytes go through a
//! pipe instead, with `splice(2)`: the socket's pages are handed to the pipe, and the
//! kernel copies them once, into the file's page cache. On loopback against our sendfile
//! server that makes the whole transfer one copy (BENCHMARKS.md, "file"). Elsewhere, with
//! `Config::splice` off, or for a file that refuses splice (a file system without it, a
//! file opened for appending), the bytes go through the reactor's one scratch buffer.
//!
//! Unlike a plain read, a short splice does not mean the socket is empty (the pipe may run
//! out of slots first), so a range is read until `WouldBlock`, the budget, or its end.

use super::*;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::rc::Rc;

/// A file range being filled from a connection.
pub(crate) struct FileRecv {
    file: Rc<File>,
    /// Where the next byte goes.
    offset: u64,
    pub(super) remaining: u64,
    #[cfg(target_os = "linux")]
    splice: Splice,
}

/// Whether this range goes through a pipe: decided at the first splice, and given up for
/// good if the pipe cannot be made or the file refuses splice (a file system without it,
/// a file opened for appending).
#[cfg(target_os = "linux")]
enum Splice {
    Untried,
    Ready(pipe::Pipe),
    Refused,
}

/// Why receiving into a file stopped: the socket's fault or the file's. They differ in who
/// is told: a socket error closes the connection like any read error, a file error is the
/// protocol's to report (a full disk is not the peer's doing).
pub(super) enum Failure {
    Socket(io::Error),
    File(io::Error),
}

impl FileRecv {
    pub(super) fn new(file: Rc<File>, offset: u64, len: u64) -> Self {
        FileRecv {
            file,
            offset,
            remaining: len,
            #[cfg(target_os = "linux")]
            splice: Splice::Untried,
        }
    }

    /// Stores bytes that were already read (input the protocol left unconsumed).
    pub(super) fn store(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all_at(bytes, self.offset)?;
        self.advance(bytes.len());
        Ok(())
    }

    fn advance(&mut self, n: usize) {
        self.offset += n as u64;
        self.remaining -= n as u64;
    }

    /// Moves up to `want` bytes (at most the rest of the range) from the connection to the
    /// file, in one read or one splice. `Ok(0)` is the end of input.
    pub(super) fn receive(
        &mut self,
        io: &mut Io,
        scratch: &mut [u8],
        want: usize,
        use_splice: bool,
    ) -> Result<usize, Failure> {
        let want = want.min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        #[cfg(target_os = "linux")]
        if use_splice && let Io::Tcp(sock) = io {
            if let Splice::Untried = self.splice {
                self.splice = match pipe::Pipe::new() {
                    Ok(pipe) => Splice::Ready(pipe),
                    Err(e) => {
                        debug!("no pipe for splice ({e}): receiving through the buffer");
                        Splice::Refused
                    }
                };
            }
            if let Splice::Ready(pipe) = &self.splice {
                match pipe.splice_to_file(sock, &self.file, self.offset, want) {
                    Ok(n) => {
                        self.advance(n);
                        return Ok(n);
                    }
                    Err(pipe::Error::Failed(failure)) => return Err(failure),
                    Err(pipe::Error::FileRefused { got, moved, why }) => {
                        debug!("the file refuses splice ({why}): receiving through the buffer");
                        self.advance(moved);
                        let Splice::Ready(pipe) = std::mem::replace(&mut self.splice, Splice::Refused) else {
                            unreachable!("matched above")
                        };
                        pipe.drain(got - moved, scratch, |bytes| self.store(bytes)).map_err(Failure::File)?;
                        return Ok(got);
                    }
                }
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = use_splice;
        let chunk = want.min(scratch.len());
        let n = io.read(&mut scratch[..chunk]).map_err(Failure::Socket)?;
        self.store(&scratch[..n]).map_err(Failure::File)?;
        Ok(n)
    }
}

#[cfg(target_os = "linux")]
mod pipe {
    use super::Failure;
    use mio::net::TcpStream;
    use std::fs::File;
    use std::io::{self, Read};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    pub(super) enum Error {
        Failed(Failure),
        /// The file does not take splice (`EINVAL`, `EOPNOTSUPP`): `got` bytes came from
        /// the socket, `moved` of them reached the file, the rest are still in the pipe.
        FileRefused {
            got: usize,
            moved: usize,
            why: io::Error,
        },
    }

    /// A pipe between a socket and a file: the only way `splice(2)` connects the two.
    /// Non-blocking at both ends, so a mistake shows as an error, never as a stalled loop.
    pub(super) struct Pipe {
        read: File,
        write: OwnedFd,
        /// Bytes it holds (`F_GETPIPE_SZ`): no splice asks for more, so one splice from
        /// the socket is always emptied into the file before the next.
        capacity: usize,
    }

    /// Asked for, not required: the kernel's default is 64 KiB, and a bigger pipe means
    /// fewer system calls per MiB (`/proc/sys/fs/pipe-max-size` caps it, 1 MiB by default).
    const WANTED_CAPACITY: libc::c_int = 1 << 20;

    impl Pipe {
        pub(super) fn new() -> io::Result<Pipe> {
            let mut fds = [0; 2];
            // SAFETY: pipe2 writes two descriptors into the array it is given.
            if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: both descriptors were just made and belong to nothing else.
            let (read, write) =
                unsafe { (File::from(OwnedFd::from_raw_fd(fds[0])), OwnedFd::from_raw_fd(fds[1])) };
            // SAFETY: fcntl on a descriptor we own; a refusal leaves the default size.
            unsafe { libc::fcntl(write.as_raw_fd(), libc::F_SETPIPE_SZ, WANTED_CAPACITY) };
            // SAFETY: as above; F_GETPIPE_SZ only reads.
            let capacity = unsafe { libc::fcntl(write.as_raw_fd(), libc::F_GETPIPE_SZ) };
            let capacity = usize::try_from(capacity).map_err(|_| io::Error::last_os_error())?;
            Ok(Pipe { read, write, capacity })
        }

        /// Socket to pipe (no copy: the pipe takes the socket's pages), pipe to file at
        /// `offset` (the one copy, into the page cache). Returns the bytes moved; 0 is the
        /// end of input. Bytes are never left in the pipe, except when the file fails,
        /// which ends the range and the connection.
        pub(super) fn splice_to_file(
            &self,
            sock: &TcpStream,
            file: &File,
            offset: u64,
            want: usize,
        ) -> Result<usize, Error> {
            let flags = libc::SPLICE_F_MOVE | libc::SPLICE_F_NONBLOCK;
            let (null_in, null_out) = (std::ptr::null_mut(), std::ptr::null_mut());
            // SAFETY: both descriptors stay open for the call; no offset is passed.
            let got = unsafe {
                libc::splice(
                    sock.as_raw_fd(),
                    null_in,
                    self.write.as_raw_fd(),
                    null_out,
                    want.min(self.capacity),
                    flags,
                )
            };
            let got = usize::try_from(got)
                .map_err(|_| Error::Failed(Failure::Socket(io::Error::last_os_error())))?;
            let mut off = libc::loff_t::try_from(offset)
                .map_err(|_| Error::Failed(Failure::File(io::Error::from(io::ErrorKind::InvalidInput))))?;
            let mut left = got;
            while left > 0 {
                // SAFETY: both descriptors stay open; `off` is a loff_t the kernel reads and
                // advances, and nothing else points to it.
                let n = unsafe {
                    libc::splice(
                        self.read.as_raw_fd(),
                        null_in,
                        file.as_raw_fd(),
                        &mut off,
                        left,
                        libc::SPLICE_F_MOVE,
                    )
                };
                match n {
                    0 => return Err(Error::Failed(Failure::File(io::ErrorKind::WriteZero.into()))),
                    n if n > 0 => left -= n as usize,
                    _ => match io::Error::last_os_error() {
                        e if e.kind() == io::ErrorKind::Interrupted => {}
                        e if matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) => {
                            return Err(Error::FileRefused { got, moved: got - left, why: e });
                        }
                        e => return Err(Error::Failed(Failure::File(e))),
                    },
                }
            }
            Ok(got)
        }

        /// Reads the `left` bytes still in the pipe into `buf`, a piece at a time, handing
        /// each to `store`: how a range goes on when the file turns out to refuse splice.
        pub(super) fn drain(
            mut self,
            mut left: usize,
            buf: &mut [u8],
            mut store: impl FnMut(&[u8]) -> io::Result<()>,
        ) -> io::Result<()> {
            while left > 0 {
                let want = left.min(buf.len());
                match self.read.read(&mut buf[..want]) {
                    Ok(0) => return Err(io::Error::other("the pipe lost bytes")),
                    Ok(n) => {
                        store(&buf[..n])?;
                        left -= n;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        }
    }
}

impl<H: Handler> Reactor<H> {
    /// Starts receiving `len` bytes of `id`'s input into `file` at `offset`. Input the
    /// protocol left unconsumed comes first: it is the range's first bytes.
    pub(super) fn recv_file(&mut self, id: ConnId, file: Rc<File>, offset: u64, len: u64) {
        let Some(c) = conn_mut(&mut self.slab, id) else { return };
        if c.read_closed || c.closing.is_some() {
            debug!("{id}: file range of {len} bytes to receive after the input ended: ignored");
            return;
        }
        let mut recv = FileRecv::new(file, offset, len);
        let take = c.held.len().min(usize::try_from(len).unwrap_or(usize::MAX));
        if take > 0 {
            if let Err(e) = recv.store(&c.held[..take]) {
                return self.file_failed(id, e);
            }
            c.held.drain(..take);
        }
        if recv.remaining > 0 {
            c.files.set_receiving(Some(recv));
            // Bytes may be in the socket already, their edge consumed by the read that
            // brought the request for this range.
            self.still_ready.push(id);
        }
        if take > 0 {
            self.with_conn(id, |h, conn, ctx| h.received_to_file(conn, ctx, Ok(take as u64)));
        }
    }

    /// Readable while a range is being received: into the file until `WouldBlock`, the
    /// budget, or the range's end. Returns whether to read on as usual (the range is done
    /// and the budget left).
    pub(super) fn read_to_file(&mut self, id: ConnId, budget: &mut usize) -> bool {
        loop {
            let Reactor { slab, scratch, config, .. } = self;
            let Some(c) = conn_mut(slab, id) else { return false };
            let Some(recv) = c.files.receiving() else { return true };
            if *budget == 0 {
                self.still_ready.push(id);
                return false;
            }
            match recv.receive(&mut c.io, scratch, *budget, config.splice) {
                Ok(0) => {
                    c.files.set_receiving(None);
                    self.input_ended(id);
                    return false;
                }
                Ok(n) => {
                    if recv.remaining == 0 {
                        c.files.set_receiving(None);
                    }
                    c.last_active = self.now_ms;
                    self.stats.bytes_in.add(n as u64);
                    *budget -= n;
                    self.with_conn(id, |h, conn, ctx| h.received_to_file(conn, ctx, Ok(n as u64)));
                    self.apply_effects();
                }
                Err(Failure::Socket(e)) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(Failure::Socket(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(Failure::Socket(e)) => {
                    debug!("{id} ({}): receiving into a file failed: {e}", c.peer);
                    self.close_now(id, close_reason_for(&e));
                    return false;
                }
                Err(Failure::File(e)) => {
                    self.file_failed(id, e);
                    return false;
                }
            }
        }
    }

    /// Writing a received range to its file failed: the protocol hears why, and the
    /// connection closes, since the bytes that were on their way to the file are gone.
    fn file_failed(&mut self, id: ConnId, e: io::Error) {
        if let Some(c) = conn_mut(&mut self.slab, id) {
            warn!("{id} ({}): cannot write received bytes to the file: {e}", c.peer);
            c.files.set_receiving(None);
        }
        self.with_conn(id, |h, conn, ctx| h.received_to_file(conn, ctx, Err(e)));
        self.close_now(id, CloseReason::Error);
    }
}
