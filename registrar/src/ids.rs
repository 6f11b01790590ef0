//! Unique values the registrar writes into messages: To tags of its responses, and the
//! branch, From tag and Call-ID of its OPTIONS.
//!
//! The crate is sans-IO and draws no random numbers itself: branches and Call-IDs are
//! SHA-256 of a seed (the caller's secret and the start time) and a counter, unique per
//! process and unguessable without the secret (RFC 3261 §8.1.1.7). To tags of responses
//! only need to be unique (a REGISTER creates no dialog, RFC 3261 §19.3), and one goes
//! out with every response, so they come from SplitMix64 over the seeded counter: a
//! bijection, hence never repeating within 2^64 responses, at a fraction of the cost.

use sha2::{Digest, Sha256};
use std::time::{SystemTime, UNIX_EPOCH};

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) struct Ids {
    seed: Sha256,
    counter: u64,
    tag_state: u64,
}

impl Ids {
    pub(crate) fn new(secret: &[u8], start: SystemTime) -> Ids {
        let nanos = start.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let mut seed = Sha256::new();
        seed.update(b"vss-registrar-ids-v1");
        seed.update(secret);
        seed.update(nanos.to_be_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&seed.clone().finalize()[..8]);
        Ids {
            seed,
            counter: 0,
            tag_state: u64::from_be_bytes(first),
        }
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
        // SplitMix64 (Steele, Lea, Flood 2014).
        self.tag_state = self.tag_state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.tag_state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let mut s = String::with_capacity(16);
        for b in z.to_be_bytes() {
            s.push(char::from(HEX[usize::from(b >> 4)]));
            s.push(char::from(HEX[usize::from(b & 15)]));
        }
        s
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
