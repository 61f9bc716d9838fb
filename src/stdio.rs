//! The process's stdin and stdout as one reactor "connection", so an interactive client
//! (like `nc`) needs no second thread: typed lines are readiness events like any socket's.
//!
//! Both descriptors are switched to non-blocking while the reactor owns them and put back
//! as they were on drop, so the shell does not inherit a non-blocking terminal. A regular
//! file or `/dev/null` cannot be polled (epoll says EPERM); such a side is simply treated
//! as always ready, which is true of files.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::RawFd;

const STDIN: RawFd = 0;
const STDOUT: RawFd = 1;

pub(crate) struct Stdio {
    saved_flags: [Option<libc::c_int>; 2],
    pub(crate) in_pollable: bool,
    pub(crate) out_pollable: bool,
    out_registered: bool,
}

fn set_nonblocking(fd: RawFd) -> Option<libc::c_int> {
    // SAFETY: fcntl on a descriptor we do not own only reads and sets its status flags.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags < 0 {
            return None;
        }
        if flags & libc::O_NONBLOCK == 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Some(flags)
    }
}

fn cvt(n: isize) -> io::Result<usize> {
    if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
}

impl Stdio {
    /// Registers stdin for reading under `token`, and finds out whether stdout can be polled.
    pub(crate) fn open(registry: &Registry, token: Token) -> io::Result<Stdio> {
        let saved_flags = [set_nonblocking(STDIN), set_nonblocking(STDOUT)];
        let in_pollable = match registry.register(&mut SourceFd(&STDIN), token, Interest::READABLE) {
            Ok(()) => true,
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
            Err(e) => return Err(e),
        };
        let out_pollable = match registry.register(&mut SourceFd(&STDOUT), token, Interest::WRITABLE) {
            Ok(()) => {
                registry.deregister(&mut SourceFd(&STDOUT))?;
                true
            }
            Err(e) if e.raw_os_error() == Some(libc::EPERM) => false,
            // The same open file as stdin (a terminal on both): already watched; treat
            // stdout as writable-when-asked through stdin's registration being readable only.
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => false,
            Err(e) => return Err(e),
        };
        Ok(Stdio { saved_flags, in_pollable, out_pollable, out_registered: false })
    }

    /// Asks for (or stops asking for) a wake-up when stdout can take more bytes.
    pub(crate) fn want_writable(&mut self, registry: &Registry, token: Token, want: bool) -> io::Result<()> {
        if !self.out_pollable || want == self.out_registered {
            return Ok(());
        }
        if want {
            registry.register(&mut SourceFd(&STDOUT), token, Interest::WRITABLE)?;
        } else {
            registry.deregister(&mut SourceFd(&STDOUT))?;
        }
        self.out_registered = want;
        Ok(())
    }

    pub(crate) fn close(&mut self, registry: &Registry) {
        if self.in_pollable {
            let _ = registry.deregister(&mut SourceFd(&STDIN));
            self.in_pollable = false;
        }
        let _ = self.want_writable(registry, Token(0), false);
    }
}

impl io::Read for Stdio {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        cvt(unsafe { libc::read(STDIN, buf.as_mut_ptr().cast(), buf.len()) })
    }
}

impl io::Write for Stdio {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        cvt(unsafe { libc::write(STDOUT, buf.as_ptr().cast(), buf.len()) })
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Stdio {
    fn drop(&mut self) {
        for (fd, flags) in [STDIN, STDOUT].into_iter().zip(self.saved_flags) {
            if let Some(flags) = flags {
                // SAFETY: restores the flags read in `open` on the same descriptor.
                unsafe { libc::fcntl(fd, libc::F_SETFL, flags) };
            }
        }
    }
}
