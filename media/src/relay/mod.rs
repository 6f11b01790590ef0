//! The RTP/RTCP relay: per-call forwarding state ([`session`]; two legs relayed, or one
//! echoed back) driven by a few worker threads over batched socket I/O.

pub(crate) mod batch;
pub mod codec;
#[cfg(test)]
mod echo_tests;
pub mod kernel;
pub mod session;
pub(crate) mod sys;
#[cfg(test)]
mod tests;
pub(crate) mod worker;
