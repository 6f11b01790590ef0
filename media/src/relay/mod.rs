//! The RTP/RTCP relay: per-call forwarding state ([`session`]) driven by a few worker
//! threads over batched socket I/O.

pub mod codec;
pub mod session;
pub(crate) mod sys;
#[cfg(test)]
mod tests;
pub(crate) mod worker;
