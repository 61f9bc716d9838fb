//! The protocols sockloop ships, each a sans-IO state machine behind [`crate::Handler`].

pub mod ack;
pub mod connect;
pub mod echo;
pub mod greet;
