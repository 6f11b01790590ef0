//! Stateless nonces: the issue time and a sequence number, authenticated with
//! HMAC-SHA256 under a secret, so that any node holding the secret can check a nonce
//! without remembering it, also after a restart.
//!
//! Layout before base64url (no padding, 38 characters on the wire):
//! `issued_at_micros: u64 BE | sequence: u32 BE | tag: 16 octets`, where
//! `tag = HMAC-SHA256(secret, "vss-digest-nonce-v1" | len(realm) | realm | issued_at |
//! sequence)` truncated to 128 bits (RFC 2104 §5 allows truncation to half the output;
//! 2^-128 forgery odds are far beyond what a nonce needs). Binding the realm stops a
//! nonce issued for one realm being replayed against another that shares the secret.
//! The sequence number makes nonces issued in the same microsecond differ, because the
//! nonce-count table is keyed by nonce.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::error::AuthError;

const DOMAIN: &[u8] = b"vss-digest-nonce-v1";
const PAYLOAD_LEN: usize = 12;
const TAG_LEN: usize = 16;
const RAW_LEN: usize = PAYLOAD_LEN + TAG_LEN;
/// The encoded length: 28 octets in unpadded base64.
pub(crate) const ENCODED_LEN: usize = 38;

/// What an authentic nonce says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NonceInfo {
    /// Microseconds since the UNIX epoch at which the nonce was issued.
    pub(crate) issued_at_us: u64,
    /// Distinguishes nonces issued in the same microsecond by one server.
    pub(crate) sequence: u32,
}

impl NonceInfo {
    /// A key that is unique per nonce under one secret (the tag is a function of it).
    pub(crate) fn key(self) -> u128 {
        (u128::from(self.issued_at_us) << 32) | u128::from(self.sequence)
    }
}

/// Issues and checks nonces for one realm under one secret.
#[derive(Clone)]
pub(crate) struct NonceKey {
    /// HMAC state with the key and the realm already absorbed; cloned per nonce, which
    /// saves two compression rounds on every call.
    mac: Hmac<Sha256>,
}

impl NonceKey {
    pub(crate) fn new(secret: &[u8], realm: &str) -> Result<Self, AuthError> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
            .map_err(|_| AuthError::InvalidConfig("secret cannot key HMAC-SHA256"))?;
        mac.update(DOMAIN);
        let realm_len = u64::try_from(realm.len()).unwrap_or(u64::MAX);
        mac.update(&realm_len.to_be_bytes());
        mac.update(realm.as_bytes());
        Ok(Self { mac })
    }

    fn tag(&self, payload: &[u8; PAYLOAD_LEN]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(payload);
        mac
    }

    pub(crate) fn issue(&self, info: NonceInfo) -> String {
        let payload = payload(info);
        let tag = self.tag(&payload).finalize().into_bytes();
        let mut raw = [0u8; RAW_LEN];
        raw[..PAYLOAD_LEN].copy_from_slice(&payload);
        raw[PAYLOAD_LEN..].copy_from_slice(&tag[..TAG_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks that `nonce` was issued under this key; the tag comparison is constant-time.
    pub(crate) fn check(&self, nonce: &str) -> Result<NonceInfo, AuthError> {
        if nonce.len() != ENCODED_LEN {
            return Err(AuthError::InvalidNonce);
        }
        // base64's slice decoder wants room for its conservative length estimate.
        let mut raw = [0u8; RAW_LEN + 3];
        let len = URL_SAFE_NO_PAD
            .decode_slice(nonce, &mut raw)
            .map_err(|_| AuthError::InvalidNonce)?;
        if len != RAW_LEN {
            return Err(AuthError::InvalidNonce);
        }
        let mut payload = [0u8; PAYLOAD_LEN];
        payload.copy_from_slice(&raw[..PAYLOAD_LEN]);
        self.tag(&payload)
            .verify_truncated_left(&raw[PAYLOAD_LEN..RAW_LEN])
            .map_err(|_| AuthError::InvalidNonce)?;
        let mut at = [0u8; 8];
        at.copy_from_slice(&payload[..8]);
        let mut seq = [0u8; 4];
        seq.copy_from_slice(&payload[8..]);
        Ok(NonceInfo {
            issued_at_us: u64::from_be_bytes(at),
            sequence: u32::from_be_bytes(seq),
        })
    }
}

fn payload(info: NonceInfo) -> [u8; PAYLOAD_LEN] {
    let mut p = [0u8; PAYLOAD_LEN];
    p[..8].copy_from_slice(&info.issued_at_us.to_be_bytes());
    p[8..].copy_from_slice(&info.sequence.to_be_bytes());
    p
}

/// Microseconds since the UNIX epoch; times before it count as the epoch itself.
pub(crate) fn micros(t: SystemTime) -> u64 {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// The inverse of [`micros`].
pub(crate) fn from_micros(us: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros(us)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn key(secret: &[u8], realm: &str) -> NonceKey {
        NonceKey::new(secret, realm).unwrap()
    }

    const INFO: NonceInfo = NonceInfo {
        issued_at_us: 1_700_000_000_123_456,
        sequence: 7,
    };

    #[test]
    fn issued_nonce_checks_and_has_the_documented_length() {
        let k = key(b"0123456789abcdef", "vss");
        let n = k.issue(INFO);
        assert_eq!(n.len(), ENCODED_LEN);
        assert!(
            n.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_')
        );
        assert_eq!(k.check(&n).unwrap(), INFO);
        // Another node with the same secret and realm accepts it (restart, cluster).
        assert_eq!(key(b"0123456789abcdef", "vss").check(&n).unwrap(), INFO);
    }

    #[test]
    fn other_secret_or_realm_is_rejected() {
        let n = key(b"0123456789abcdef", "vss").issue(INFO);
        assert_eq!(
            key(b"0123456789abcdeX", "vss").check(&n),
            Err(AuthError::InvalidNonce)
        );
        assert_eq!(
            key(b"0123456789abcdef", "vss2").check(&n),
            Err(AuthError::InvalidNonce)
        );
    }

    #[test]
    fn every_single_character_change_is_rejected() {
        let k = key(b"0123456789abcdef", "vss");
        let n = k.issue(INFO);
        for i in 0..n.len() {
            for c in [b'A', b'z', b'0', b'-', b'_'] {
                let mut bytes = n.clone().into_bytes();
                if bytes[i] == c {
                    continue;
                }
                bytes[i] = c;
                let tampered = String::from_utf8(bytes).unwrap();
                assert_eq!(
                    k.check(&tampered),
                    Err(AuthError::InvalidNonce),
                    "{tampered}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_rejected_without_panicking() {
        let k = key(b"0123456789abcdef", "vss");
        for bad in [
            "",
            "x",
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            &"A".repeat(200),
        ] {
            assert_eq!(k.check(bad), Err(AuthError::InvalidNonce), "{bad}");
        }
        // Right length, multi-byte characters.
        let odd = "é".repeat(19);
        assert_eq!(k.check(&odd), Err(AuthError::InvalidNonce));
    }

    #[test]
    fn time_conversion_round_trips() {
        let t = from_micros(INFO.issued_at_us);
        assert_eq!(micros(t), INFO.issued_at_us);
        assert_eq!(micros(UNIX_EPOCH - Duration::from_secs(5)), 0);
    }
}
