//! sockloop: one single-threaded readiness reactor on mio, and protocols written as sans-IO
//! state machines behind one [`Handler`] trait. The same loop serves listeners and drives
//! outbound clients, so a server, an interactive client and a 10,000-connection load
//! generator are all the same few hundred lines of loop.
//!
//! ```no_run
//! use sockloop::{Config, Reactor, protocols::echo::Echo};
//! let mut reactor = Reactor::new(Echo, Config::default())?;
//! let addr = reactor.listen("127.0.0.1:7000".parse().unwrap(), 1024)?;
//! println!("listening on {addr}");
//! reactor.run()?;
//! # Ok::<(), std::io::Error>(())
//! ```

mod buffer;
pub mod clock;
pub mod handler;
pub mod id;
pub mod net;
mod plot;
pub mod protocols;
pub mod reactor;
pub mod stats;
mod stdio;
pub mod stress;
pub mod testing;
mod timer;

pub use clock::{Clock, SystemClock, VirtualClock};
pub use handler::{ConnInfo, Context, Handler, Origin};
pub use id::{ConnId, TimerId};
pub use reactor::{Config, Handle, Reactor};
pub use stats::{CloseReason, Stats};
