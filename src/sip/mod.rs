//! SIP in `vss serve`: sockets, the core task, and the answers of RFC 3261 §8.2.

pub(crate) mod server;
pub(crate) mod transport;
pub(crate) mod uas;
