//! A provisioned slot: its extension, its hub, and its digest credentials as HA1 hashes.

use std::fmt;

use sip_core::auth::{Algorithm, ha1};

use crate::extension::{Extension, SlotKind};

/// A slot that may register: the extension (its AOR user and digest username), the hub it
/// sits in, and HA1 = H(username:realm:password) for MD5 and for SHA-256 (RFC 7616
/// §3.4.2). The password itself is never kept.
#[derive(Clone, PartialEq, Eq)]
pub struct Slot {
    extension: Extension,
    hub: Option<String>,
    realm: String,
    ha1_md5: String,
    ha1_sha256: String,
}

/// Why stored HA1 values cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("slot {extension}: {what} is not a lowercase hex digest of the right length")]
pub struct BadHa1 {
    /// The slot.
    pub extension: Extension,
    /// Which hash is wrong (`ha1_md5` or `ha1_sha256`).
    pub what: &'static str,
}

fn is_hex_digest(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

impl Slot {
    /// A slot whose credentials are computed from `password` for `realm` (the SIP
    /// domain). The password is dropped once hashed.
    pub fn with_password(
        extension: Extension,
        hub: Option<String>,
        realm: &str,
        password: &str,
    ) -> Slot {
        let user = extension.to_string();
        Slot {
            extension,
            hub,
            realm: realm.to_owned(),
            ha1_md5: ha1(Algorithm::Md5, &user, realm, password),
            ha1_sha256: ha1(Algorithm::Sha256, &user, realm, password),
        }
    }

    /// A slot from stored hashes (the `slots` table), checked to be hex digests of the
    /// right lengths (32 and 64 characters).
    pub fn from_ha1(
        extension: Extension,
        hub: Option<String>,
        realm: String,
        ha1_md5: String,
        ha1_sha256: String,
    ) -> Result<Slot, BadHa1> {
        let bad = |what| BadHa1 { extension, what };
        if !is_hex_digest(&ha1_md5, 32) {
            return Err(bad("ha1_md5"));
        }
        if !is_hex_digest(&ha1_sha256, 64) {
            return Err(bad("ha1_sha256"));
        }
        Ok(Slot {
            extension,
            hub,
            realm,
            ha1_md5,
            ha1_sha256,
        })
    }

    /// The extension.
    pub fn extension(&self) -> Extension {
        self.extension
    }

    /// The hub kind, from the extension's range.
    pub fn kind(&self) -> SlotKind {
        self.extension.kind()
    }

    /// The hub's name, if given.
    pub fn hub(&self) -> Option<&str> {
        self.hub.as_deref()
    }

    /// The realm the HA1 values were computed for; they only verify in that realm.
    pub fn realm(&self) -> &str {
        &self.realm
    }

    /// HA1 for MD5 (and MD5-sess), lowercase hex.
    pub fn ha1_md5(&self) -> &str {
        &self.ha1_md5
    }

    /// HA1 for SHA-256 (and SHA-256-sess), lowercase hex.
    pub fn ha1_sha256(&self) -> &str {
        &self.ha1_sha256
    }

    /// The HA1 to verify credentials of `algorithm` with.
    pub fn ha1_for(&self, algorithm: Algorithm) -> &str {
        match algorithm {
            Algorithm::Sha256 | Algorithm::Sha256Sess => &self.ha1_sha256,
            _ => &self.ha1_md5,
        }
    }
}

impl fmt::Debug for Slot {
    /// Never prints the hashes: an HA1 is as good as the password within its realm.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("extension", &self.extension)
            .field("hub", &self.hub)
            .field("realm", &self.realm)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hashes_match_the_digest_definition() {
        let ext = Extension::new(6001).unwrap();
        let s = Slot::with_password(ext, Some("auto1".into()), "vss.test", "pw");
        assert_eq!(s.ha1_md5(), ha1(Algorithm::Md5, "6001", "vss.test", "pw"));
        assert_eq!(s.ha1_sha256().len(), 64);
        assert_eq!(s.ha1_for(Algorithm::Sha256Sess), s.ha1_sha256());
        assert_eq!(s.ha1_for(Algorithm::Md5Sess), s.ha1_md5());
        assert_eq!(s.kind(), SlotKind::Auto);
        let debug = format!("{s:?}");
        assert!(!debug.contains(s.ha1_md5()), "{debug}");
    }

    #[test]
    fn stored_hashes_are_checked() {
        let ext = Extension::new(7001).unwrap();
        let good = Slot::with_password(ext, None, "r", "x");
        let back = Slot::from_ha1(
            ext,
            None,
            "r".into(),
            good.ha1_md5().into(),
            good.ha1_sha256().into(),
        );
        assert_eq!(back.as_ref(), Ok(&good));
        let e = Slot::from_ha1(
            ext,
            None,
            "r".into(),
            "XYZ".into(),
            good.ha1_sha256().into(),
        );
        assert_eq!(e.err().map(|e| e.what), Some("ha1_md5"));
        let e = Slot::from_ha1(
            ext,
            None,
            "r".into(),
            good.ha1_md5().into(),
            good.ha1_md5().into(),
        );
        assert_eq!(e.err().map(|e| e.what), Some("ha1_sha256"));
    }
}
