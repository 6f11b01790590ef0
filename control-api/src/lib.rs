//! Control API: the REST and WebSocket interface that operators, supervisors and CRMs use.
//!
//! This crate will hold the HTTP server (axum), authentication and roles, the slot state
//! machine, calls and campaigns (the autodialer), monitoring, and the audit log. It is the
//! only crate that speaks HTTP.
//!
//! It is filled by the control API issues; until then it holds nothing.
