//! Registrar (flow F-09): slot registration over SIP.
//!
//! This crate will hold the REGISTER handling of RFC 3261 §10 for provisioned slots
//! (extensions 6001–8999): digest authentication against stored HA1 hashes, bindings
//! with expiry, brute-force protection, NAT-aware contacts, persistence of the location
//! table, and `BindingEvent`s plus a `lookup(aor)` for call routing.
//!
//! It is filled by the registrar issue; until then it holds nothing.
