//! The protocols sockloop ships, each a sans-IO state machine behind [`crate::Handler`].

pub mod ack;
pub mod chat;
pub mod connect;
pub mod dial;
pub mod echo;
pub mod file;
pub mod framed;
pub mod greet;
pub mod lines;
pub mod ping;
pub mod python;
pub mod relay;
pub mod session;
