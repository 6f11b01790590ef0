//! Unique values the registrar writes into messages: To tags of its responses, and the
//! branch, From tag and Call-ID of its OPTIONS.
//!
//! The crate is sans-IO and draws no random numbers itself: values are SHA-256 of a
//! seed (the caller's secret and the start time) and a counter. They are unique per
//! process and unguessable without the secret, which is what RFC 3261 §8.1.1.7 and
//! §19.3 ask of branches and tags.

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) struct Ids {
    seed: Sha256,
    counter: u64,
}

impl Ids {
    pub(crate) fn new(secret: &[u8], start: SystemTime) -> Ids {
        let nanos = start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut seed = Sha256::new();
        seed.update(b"vss-registrar-ids-v1");
        seed.update(secret);
        seed.update(nanos.to_be_bytes());
        Ids { seed, counter: 0 }
    }

    /// 16 fresh octets.
    pub(crate) fn next_bytes(&mut self) -> [u8; 16] {
        self.counter += 1;
        let mut h = self.seed.clone();
        h.update(self.counter.to_be_bytes());
        let out = h.finalize();
        let mut b = [0u8; 16];
        b.copy_from_slice(&out[..16]);
        b
    }

    /// `len` octets as lowercase hex (at most 16 octets).
    pub(crate) fn hex(&mut self, len: usize) -> String {
        let b = self.next_bytes();
        let mut s = String::with_capacity(len * 2);
        for x in &b[..len.min(16)] {
            s.push(char::from(HEX[usize::from(x >> 4)]));
            s.push(char::from(HEX[usize::from(x & 15)]));
        }
        s
    }

    /// A To or From tag: 64 bits, in hex.
    pub(crate) fn tag(&mut self) -> String {
        self.hex(8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::time::Duration;

    #[test]
    fn values_are_unique_and_depend_on_the_seed() {
        let t = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = Ids::new(b"0123456789abcdef", t);
        let mut b = Ids::new(b"0123456789abcdef", t + Duration::from_nanos(1));
        let seen: HashSet<String> = (0..1000).map(|_| a.tag()).collect();
        assert_eq!(seen.len(), 1000);
        assert!(!seen.contains(&b.tag()));
        assert_eq!(a.hex(16).len(), 32);
    }
}
