//! The B2BUA's own deadlines (ring, session timer, max duration, persistence wait,
//! reliable provisional retransmission, trunk pings and registrations).
//!
//! Entries are never removed from the heap: the owner keeps the deadline it currently
//! wants for each kind and ignores a fired entry that no longer matches it. Re-arming is
//! then one push, and a stale entry costs one pop.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use crate::call::CallTimer;

/// Who a deadline belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Target {
    /// A call, by its internal key.
    Call(u64, CallTimer),
    /// A trunk's OPTIONS ping.
    TrunkOptions(usize),
    /// A trunk's registration (refresh or retry).
    TrunkRegister(usize),
}

#[derive(Default)]
pub(crate) struct TimerQueue {
    heap: BinaryHeap<Reverse<(Instant, u64, Target)>>,
    seq: u64,
}

impl TimerQueue {
    pub(crate) fn push(&mut self, at: Instant, target: Target) {
        self.seq = self.seq.wrapping_add(1);
        self.heap.push(Reverse((at, self.seq, target)));
    }

    /// The earliest deadline (maybe of a stale entry: waking for it is harmless).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _, _))| *at)
    }

    /// The next entry due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Target)> {
        match self.heap.peek() {
            Some(Reverse((at, _, _))) if *at <= now => {
                self.heap.pop().map(|Reverse((at, _, t))| (at, t))
            }
            _ => None,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Drop entries that `live` says are stale, when they dominate the heap.
    pub(crate) fn compact(&mut self, live: impl Fn(&Instant, &Target) -> bool) {
        let old = std::mem::take(&mut self.heap);
        self.heap = old
            .into_iter()
            .filter(|Reverse((at, _, t))| live(at, t))
            .collect();
    }
}

/// Per-owner record of the deadline each timer kind currently wants.
#[derive(Debug, Clone)]
pub(crate) struct Deadlines<K: Copy + PartialEq> {
    armed: Vec<(K, Instant)>,
}

impl<K: Copy + PartialEq> Default for Deadlines<K> {
    fn default() -> Self {
        Deadlines { armed: Vec::new() }
    }
}

impl<K: Copy + PartialEq> Deadlines<K> {
    /// Set (or move) the deadline of `kind`; returns whether the heap needs an entry.
    pub(crate) fn arm(&mut self, kind: K, at: Instant) {
        match self.armed.iter_mut().find(|(k, _)| *k == kind) {
            Some(e) => e.1 = at,
            None => self.armed.push((kind, at)),
        }
    }

    pub(crate) fn disarm(&mut self, kind: K) {
        self.armed.retain(|(k, _)| *k != kind);
    }

    pub(crate) fn get(&self, kind: K) -> Option<Instant> {
        self.armed
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, at)| *at)
    }

    /// Whether a fired entry is the current one; if so it is consumed.
    pub(crate) fn fire(&mut self, kind: K, at: Instant) -> bool {
        if self.get(kind) == Some(at) {
            self.disarm(kind);
            true
        } else {
            false
        }
    }

    pub(crate) fn clear(&mut self) {
        self.armed.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn entries_come_out_in_order_and_stale_ones_are_recognised() {
        let t0 = Instant::now();
        let mut q = TimerQueue::default();
        q.push(t0 + Duration::from_secs(2), Target::TrunkOptions(1));
        q.push(t0 + Duration::from_secs(1), Target::TrunkOptions(0));
        assert_eq!(q.next(), Some(t0 + Duration::from_secs(1)));
        assert!(q.pop_due(t0).is_none());
        assert_eq!(
            q.pop_due(t0 + Duration::from_secs(5)),
            Some((t0 + Duration::from_secs(1), Target::TrunkOptions(0)))
        );
        let mut d: Deadlines<u8> = Deadlines::default();
        d.arm(1, t0);
        d.arm(1, t0 + Duration::from_secs(1));
        assert!(!d.fire(1, t0), "the moved deadline's old entry is stale");
        assert!(d.fire(1, t0 + Duration::from_secs(1)));
        assert!(!d.fire(1, t0 + Duration::from_secs(1)), "fired once only");
        q.compact(|_, t| *t != Target::TrunkOptions(1));
        assert_eq!(q.len(), 0);
    }
}
