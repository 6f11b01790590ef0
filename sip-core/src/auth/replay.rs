//! The nonce-count table: the only state a digest server keeps.
//!
//! RFC 7616 §3.4: the server remembers, per nonce, the highest `nc` it accepted and
//! rejects anything not greater (a replayed request). Entries are needed only while
//! their nonce is fresh, because a stale nonce is refused before the table is asked.
//!
//! The table holds at most `capacity` nonces. When it is full after dropping expired
//! entries, the nonce that was *first used* longest ago is evicted and the table
//! remembers the newest issue time it has evicted (the "floor"). A nonce that is not in
//! the table and was issued at or before the floor may have been evicted, so it is
//! answered with [`AuthError::StaleNonce`]: the client re-authenticates with a fresh
//! nonce (no password prompt), and an evicted nonce can never be replayed. The same
//! floor lets a server refuse, once, nonces it issued before a restart.

use std::collections::{HashMap, VecDeque};

use super::error::AuthError;
use super::nonce::NonceInfo;

#[derive(Debug, Clone, Copy)]
struct Entry {
    issued_at_us: u64,
    highest_nc: u32,
}

#[derive(Debug)]
pub(crate) struct NonceCounts {
    entries: HashMap<u128, Entry>,
    /// Keys in first-use order; may hold keys already pruned from `entries`.
    order: VecDeque<u128>,
    capacity: usize,
    floor_us: Option<u64>,
}

impl NonceCounts {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            floor_us: None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Accepts `nc` for the nonce if it is greater than every count accepted before.
    ///
    /// `expires_before_us`: entries issued before this instant are expired and may go.
    pub(crate) fn accept(
        &mut self,
        nonce: NonceInfo,
        nc: u32,
        expires_before_us: u64,
    ) -> Result<(), AuthError> {
        let key = nonce.key();
        if let Some(entry) = self.entries.get_mut(&key) {
            if nc <= entry.highest_nc {
                return Err(AuthError::NonceReplay);
            }
            entry.highest_nc = nc;
            return Ok(());
        }
        if self
            .floor_us
            .is_some_and(|floor| nonce.issued_at_us <= floor)
        {
            return Err(AuthError::StaleNonce);
        }
        self.expire_front(expires_before_us);
        while self.entries.len() >= self.capacity {
            self.evict_one();
        }
        self.entries.insert(
            key,
            Entry {
                issued_at_us: nonce.issued_at_us,
                highest_nc: nc,
            },
        );
        self.order.push_back(key);
        Ok(())
    }

    /// Cheap, amortised O(1) clean-up: drops expired entries from the old end.
    fn expire_front(&mut self, expires_before_us: u64) {
        while let Some(&key) = self.order.front() {
            match self.entries.get(&key) {
                None => {
                    self.order.pop_front();
                }
                Some(e) if e.issued_at_us < expires_before_us => {
                    self.entries.remove(&key);
                    self.order.pop_front();
                }
                Some(_) => break,
            }
        }
    }

    fn evict_one(&mut self) {
        while let Some(key) = self.order.pop_front() {
            if let Some(e) = self.entries.remove(&key) {
                self.raise_floor(e.issued_at_us);
                return;
            }
        }
    }

    /// Treat every unseen nonce issued at or before `issued_at_us` as stale.
    pub(crate) fn raise_floor(&mut self, issued_at_us: u64) {
        self.floor_us = Some(self.floor_us.map_or(issued_at_us, |f| f.max(issued_at_us)));
    }

    /// Full clean-up, O(entries): drops every expired entry wherever it sits.
    pub(crate) fn prune(&mut self, expires_before_us: u64) {
        self.entries
            .retain(|_, e| e.issued_at_us >= expires_before_us);
        let entries = &self.entries;
        self.order.retain(|k| entries.contains_key(k));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn nonce(issued_at_us: u64, sequence: u32) -> NonceInfo {
        NonceInfo {
            issued_at_us,
            sequence,
        }
    }

    #[test]
    fn counts_must_increase_per_nonce() {
        let mut t = NonceCounts::new(10);
        let a = nonce(100, 0);
        let b = nonce(100, 1);
        t.accept(a, 1, 0).unwrap();
        assert_eq!(t.accept(a, 1, 0), Err(AuthError::NonceReplay));
        t.accept(a, 2, 0).unwrap();
        t.accept(a, 5, 0).unwrap();
        assert_eq!(t.accept(a, 3, 0), Err(AuthError::NonceReplay));
        // Another nonce has its own count.
        t.accept(b, 1, 0).unwrap();
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn capacity_is_a_hard_bound_and_evicted_nonces_turn_stale() {
        let mut t = NonceCounts::new(3);
        for i in 0..3 {
            t.accept(nonce(10 + i, 0), 1, 0).unwrap();
        }
        t.accept(nonce(20, 0), 1, 0).unwrap();
        assert_eq!(t.len(), 3);
        // The evicted nonce (issued at 10) cannot be replayed; it is stale instead.
        assert_eq!(t.accept(nonce(10, 0), 2, 0), Err(AuthError::StaleNonce));
        // Unseen nonces issued no later than the evicted one are stale too.
        assert_eq!(t.accept(nonce(9, 3), 1, 0), Err(AuthError::StaleNonce));
        // Newer unseen nonces are still welcome, and the bound holds.
        for i in 0..50 {
            t.accept(nonce(100 + i, 0), 1, 0).unwrap();
            assert!(t.len() <= 3);
        }
        // Remembered entries keep working.
        assert_eq!(t.accept(nonce(149, 0), 1, 0), Err(AuthError::NonceReplay));
        t.accept(nonce(149, 0), 2, 0).unwrap();
    }

    #[test]
    fn expired_entries_make_room_without_raising_the_floor() {
        let mut t = NonceCounts::new(2);
        t.accept(nonce(10, 0), 1, 0).unwrap();
        t.accept(nonce(11, 0), 1, 0).unwrap();
        // At 50 everything issued before 40 is expired.
        t.accept(nonce(45, 0), 1, 40).unwrap();
        assert_eq!(t.len(), 1);
        assert_eq!(t.floor_us, None);
    }

    #[test]
    fn prune_drops_expired_entries_anywhere() {
        let mut t = NonceCounts::new(10);
        // First-use order differs from issue order.
        t.accept(nonce(50, 0), 1, 0).unwrap();
        t.accept(nonce(10, 0), 1, 0).unwrap();
        t.accept(nonce(60, 0), 1, 0).unwrap();
        t.prune(40);
        assert_eq!(t.len(), 2);
        assert_eq!(t.order.len(), 2);
        t.prune(u64::MAX);
        assert_eq!(t.len(), 0);
        assert!(t.order.is_empty());
    }

    #[test]
    fn floor_rejects_unseen_older_nonces_only() {
        let mut t = NonceCounts::new(10);
        t.accept(nonce(5, 0), 1, 0).unwrap();
        t.raise_floor(10);
        assert_eq!(t.accept(nonce(8, 0), 1, 0), Err(AuthError::StaleNonce));
        // Seen before the floor was raised: still tracked.
        t.accept(nonce(5, 0), 2, 0).unwrap();
        t.accept(nonce(11, 0), 1, 0).unwrap();
    }
}
