//! Randomness as an input: every tag, branch, Call-ID, cnonce and call id comes from one
//! seedable generator, so a test seeded with a constant replays exactly.

use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A CSPRNG (ChaCha12) seeded by the caller: from the OS in production, a constant in
/// tests.
pub(crate) struct Random(StdRng);

impl Random {
    pub(crate) fn new(seed: [u8; 32]) -> Random {
        Random(StdRng::from_seed(seed))
    }

    pub(crate) fn bytes16(&mut self) -> [u8; 16] {
        let mut b = [0; 16];
        self.0.fill_bytes(&mut b);
        b
    }

    pub(crate) fn u128(&mut self) -> u128 {
        u128::from_le_bytes(self.bytes16())
    }

    /// `n` random octets as lowercase hex.
    pub(crate) fn hex(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n * 2);
        let mut left = n;
        while left > 0 {
            let b = self.bytes16();
            for x in b.iter().take(left) {
                s.push(HEX[usize::from(x >> 4)] as char);
                s.push(HEX[usize::from(x & 15)] as char);
            }
            left = left.saturating_sub(16);
        }
        s
    }

    /// A dialog tag (RFC 3261 §19.3: at least 32 bits of randomness; we use 64).
    pub(crate) fn tag(&mut self) -> String {
        self.hex(8)
    }

    /// A Call-ID (RFC 3261 §8.1.1.4: globally unique), 128 random bits; it carries no
    /// host so that nothing of our topology shows.
    pub(crate) fn call_id(&mut self) -> String {
        self.hex(16)
    }

    /// A branch with the RFC 3261 magic cookie (§8.1.1.7).
    pub(crate) fn branch(&mut self) -> String {
        sip_core::transaction::new_branch(&self.bytes16())
    }

    /// A digest client nonce.
    pub(crate) fn cnonce(&mut self) -> String {
        self.hex(8)
    }

    /// Jitter in `0..max_ms` milliseconds (retry spreading).
    pub(crate) fn below(&mut self, max: u64) -> u64 {
        if max == 0 { 0 } else { self.0.next_u64() % max }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_generators_repeat_and_differ() {
        let (mut a, mut b, mut c) = (
            Random::new([1; 32]),
            Random::new([1; 32]),
            Random::new([2; 32]),
        );
        let (ta, tb, tc) = (a.tag(), b.tag(), c.tag());
        assert_eq!(ta, tb);
        assert_ne!(ta, tc);
        assert_eq!(ta.len(), 16);
        assert_eq!(a.call_id().len(), 32);
        assert!(a.branch().starts_with("z9hG4bK"));
        assert_eq!(a.hex(20).len(), 40);
        assert!(a.below(10) < 10);
        assert_eq!(a.below(0), 0);
    }
}
