//! Call detail records (flow F-13).
//!
//! This crate will hold the durable CDR store: a local journal synced before a call's
//! final response, batched shipping into PostgreSQL or SQLite through sqlx, migrations,
//! an Asterisk-compatible `cdr` view, and a query API. It knows nothing of SIP.
//!
//! It is filled by the CDR issue; until then it holds nothing.
