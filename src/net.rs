//! Socket set-up that mio leaves to us: listen backlog, address reuse, dual-stack IPv6,
//! and name resolution. All of it runs before the loop starts, never inside it.

use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host:port` (or `[v6]:port`). Blocking DNS: call it at start-up only.
pub fn resolve(addr: &str) -> io::Result<Vec<SocketAddr>> {
    let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
    if addrs.is_empty() {
        return Err(io::Error::new(io::ErrorKind::NotFound, format!("{addr}: no address")));
    }
    Ok(addrs)
}

/// A non-blocking TCP listener. `[::]:PORT` accepts IPv4 too (dual-stack); any other IPv6
/// address is IPv6 only, so `127.0.0.1:P` and `[::1]:P` can be bound side by side.
pub fn tcp_listener(addr: SocketAddr, backlog: i32) -> io::Result<mio::net::TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(backlog)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// A non-blocking UDP socket, dual-stack on `[::]` like [`tcp_listener`]. `recv_buffer`
/// sets SO_RCVBUF: a flood from many senders overflows the kernel's default (about 208 KiB)
/// between two turns of the loop, and those datagrams are lost before we ever see them.
pub fn udp_socket(addr: SocketAddr, recv_buffer: Option<usize>) -> io::Result<mio::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(bytes) = recv_buffer {
        socket.set_recv_buffer_size(bytes)?;
    }
    if addr.is_ipv6() {
        socket.set_only_v6(!addr.ip().is_unspecified())?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(mio::net::UdpSocket::from_std(socket.into()))
}

/// Was this error the process or the system running out of file descriptors (or of the
/// kernel memory behind them)? Accept fails this way under load and must not kill a server.
pub(crate) fn is_fd_exhaustion(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOBUFS) | Some(libc::ENOMEM)
    )
}

/// Starts a non-blocking connect, optionally from a chosen local address.
///
/// Binding first is how a load generator spreads connections over 127.0.0.x when one
/// source/destination pair runs out of ephemeral ports. `IP_BIND_ADDRESS_NO_PORT` lets the
/// kernel pick the port at connect time, so ports are unique per 4-tuple rather than per
/// local address (otherwise every bound socket reserves a port for itself).
pub fn tcp_connect(addr: SocketAddr, from: Option<SocketAddr>) -> io::Result<mio::net::TcpStream> {
    let Some(local) = from else { return mio::net::TcpStream::connect(addr) };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_nonblocking(true)?;
    if local.port() == 0 && local.is_ipv4() {
        use std::os::fd::AsRawFd;
        let one: libc::c_int = 1;
        // SAFETY: a valid socket and a pointer to a c_int of the size passed.
        unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_IP,
                libc::IP_BIND_ADDRESS_NO_PORT,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            );
        }
    }
    socket.bind(&local.into())?;
    match socket.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(mio::net::TcpStream::from_std(socket.into()))
}
