//! What the B2BUA needs to know about slots, asked through a trait so that this crate
//! does not depend on the registrar; the binary adapts the registrar to it.

use sip_core::Uri;
use sip_core::transaction::Peer;

/// One registered contact of a slot.
#[derive(Debug, Clone)]
pub struct Binding {
    /// The Contact URI the slot registered: the Request-URI of INVITEs to it.
    pub contact: Uri,
    /// Where to send them: the address the REGISTER really came from (NAT), with its
    /// transport and connection.
    pub peer: Peer,
    /// The contact's q-value in thousandths (RFC 3261 §20.10), if it gave one.
    pub q: Option<u16>,
}

/// A slot's digest credentials, stored as HA1 hashes (never passwords) for the realm of
/// the B2BUA's domain.
#[derive(Clone, PartialEq, Eq)]
pub struct SlotCredentials {
    /// HA1 for MD5, hex.
    pub ha1_md5: String,
    /// HA1 for SHA-256, hex.
    pub ha1_sha256: String,
}

impl std::fmt::Debug for SlotCredentials {
    /// Never prints the hashes.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SlotCredentials(..)")
    }
}

/// Slot lookups: bindings for routing, credentials for the 407 challenge. Implemented by
/// the binary over the registrar (`Registrar::lookup`, the provisioned slots).
pub trait Locator {
    /// The current bindings of a slot extension (`"6001"`), best first; empty when it
    /// is not registered.
    fn lookup(&self, extension: &str) -> Vec<Binding>;

    /// The credentials of a provisioned slot; `None` for an unknown extension.
    fn credentials(&self, extension: &str) -> Option<SlotCredentials>;
}
