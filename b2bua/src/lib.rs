//! B2BUA (flow F-03): calls between slots, services and carrier trunks.
//!
//! This crate will hold the two-leg call model (a server leg toward the caller, a client
//! leg toward the callee, with topology hiding), routing by the numbering plan, carrier
//! trunks with failover and limits, originate (click-to-call), overload protection, and
//! the `CallEvent`s consumed by the CDR writer and the control API.
//!
//! It is filled by the B2BUA issue; until then it holds nothing.
