//! The servers sockloop is measured against, run in the same benchmark as child processes.
//!
//! - `tokio`: the idiomatic async echo server on a `current_thread` runtime (one task per
//!   connection, each with its own 16 KiB buffer).
//! - `mio`: a minimal hand-written mio echo server in the style of mio's own example: a
//!   HashMap of streams, read into one buffer, write back, queue what the socket refuses.
//!   It has no abstractions at all, so it is the floor our reactor's overhead is measured from.
//!
//! Both set TCP_NODELAY, as sockloop does, so the comparison is about the loop alone.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::SocketAddr;

pub fn tokio_echo(addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        ready(listener.local_addr()?);
        loop {
            let (mut stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    })
}

struct Client {
    stream: mio::net::TcpStream,
    pending: Vec<u8>,
    writable: bool,
}

pub fn mio_echo(addr: SocketAddr, ready: impl FnOnce(SocketAddr)) -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};
    const SERVER: Token = Token(usize::MAX);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut listener = mio::net::TcpListener::bind(addr)?;
    poll.registry().register(&mut listener, SERVER, Interest::READABLE)?;
    ready(listener.local_addr()?);
    let mut clients: HashMap<Token, Client> = HashMap::new();
    let mut next = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == SERVER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let token = Token(next);
                            next += 1;
                            poll.registry().register(&mut stream, token, Interest::READABLE)?;
                            clients.insert(token, Client { stream, pending: Vec::new(), writable: false });
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            let token = event.token();
            let Some(c) = clients.get_mut(&token) else { continue };
            let mut done = false;
            if event.is_writable() && !c.pending.is_empty() {
                match c.stream.write(&c.pending) {
                    Ok(n) => drop(c.pending.drain(..n)),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => done = true,
                }
            }
            if event.is_readable() {
                loop {
                    match c.stream.read(&mut buf) {
                        Ok(0) => {
                            done = true;
                            break;
                        }
                        Ok(n) => {
                            let mut from = 0;
                            if c.pending.is_empty() {
                                match c.stream.write(&buf[..n]) {
                                    Ok(w) => from = w,
                                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                                    Err(_) => {
                                        done = true;
                                        break;
                                    }
                                }
                            }
                            c.pending.extend_from_slice(&buf[from..n]);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(_) => {
                            done = true;
                            break;
                        }
                    }
                }
            }
            if done {
                clients.remove(&token);
            } else if c.writable == c.pending.is_empty() {
                // Ask for WRITABLE only while something is queued, and only on a change.
                c.writable = !c.pending.is_empty();
                let interest =
                    if c.writable { Interest::READABLE | Interest::WRITABLE } else { Interest::READABLE };
                poll.registry().reregister(&mut c.stream, token, interest)?;
            }
        }
    }
}
