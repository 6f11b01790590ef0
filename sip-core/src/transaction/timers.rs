//! One heap of deadlines for every transaction, with lazy cancellation.
//!
//! A transaction holds at most two timers at once (a retransmission timer and a
//! deadline, e.g. A and B, or G and H), each in a [`TimerSlot`] that remembers the id of
//! the heap entry it armed. Cancelling or re-arming only changes the slot; the old heap
//! entry is skipped when it surfaces, since its id no longer matches. The heap is
//! rebuilt when stale entries outnumber live ones, so it never grows without bound.

use super::types::Timer;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// Which slab a timer's transaction lives in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Side {
    Client,
    Server,
}

/// The two timer slots of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Slot {
    /// A, E, G and the 2xx retransmission.
    Retransmit = 0,
    /// B, D, F, H, I, J, K, L, M.
    Deadline = 1,
}

/// A timer that is armed.
#[derive(Clone, Copy, Debug)]
pub(super) struct Armed {
    pub(super) at: Instant,
    pub(super) timer: Timer,
    id: u64,
}

/// A transaction's timers.
#[derive(Debug, Default)]
pub(super) struct TimerSlots {
    slots: [Option<Armed>; 2],
}

impl TimerSlots {
    pub(super) fn get(&self, slot: Slot) -> Option<Armed> {
        self.slots[slot as usize]
    }
}

/// A heap entry: ordered by deadline, then by arming order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub(super) at: Instant,
    id: u64,
    pub(super) side: Side,
    pub(super) index: u32,
    pub(super) slot: Slot,
}

/// The deadlines of every transaction.
pub(super) struct TimerQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    next_id: u64,
    live: usize,
}

impl TimerQueue {
    pub(super) fn new() -> TimerQueue {
        TimerQueue {
            heap: BinaryHeap::new(),
            next_id: 0,
            live: 0,
        }
    }

    /// Arm (or re-arm) `slot` of the transaction at `index`.
    pub(super) fn arm(
        &mut self,
        slots: &mut TimerSlots,
        side: Side,
        index: u32,
        slot: Slot,
        at: Instant,
        timer: Timer,
    ) {
        let id = self.next_id;
        self.next_id += 1;
        if slots.slots[slot as usize]
            .replace(Armed { at, timer, id })
            .is_none()
        {
            self.live += 1;
        }
        self.heap.push(Reverse(Entry {
            at,
            id,
            side,
            index,
            slot,
        }));
    }

    /// Disarm `slot`; its heap entry becomes stale.
    pub(super) fn cancel(&mut self, slots: &mut TimerSlots, slot: Slot) {
        if slots.slots[slot as usize].take().is_some() {
            self.live -= 1;
        }
    }

    /// Disarm both slots.
    pub(super) fn cancel_all(&mut self, slots: &mut TimerSlots) {
        self.cancel(slots, Slot::Retransmit);
        self.cancel(slots, Slot::Deadline);
    }

    /// Whether `entry` is the one its transaction's slot holds now.
    pub(super) fn is_current(entry: &Entry, slots: &TimerSlots) -> bool {
        slots.slots[entry.slot as usize].is_some_and(|a| a.id == entry.id)
    }

    /// Take the timer `entry` names out of its slot, if it is still armed: it fired.
    pub(super) fn fire(&mut self, entry: &Entry, slots: &mut TimerSlots) -> Option<Armed> {
        if !TimerQueue::is_current(entry, slots) {
            return None;
        }
        self.live -= 1;
        slots.slots[entry.slot as usize].take()
    }

    /// The earliest entry, which may be stale.
    pub(super) fn peek(&self) -> Option<&Entry> {
        self.heap.peek().map(|Reverse(e)| e)
    }

    /// Remove and return the earliest entry if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: Instant) -> Option<Entry> {
        match self.heap.peek() {
            Some(Reverse(e)) if e.at <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Remove the earliest entry (the caller found it stale).
    pub(super) fn pop(&mut self) {
        self.heap.pop();
    }

    /// Whether stale entries are numerous enough to be worth a rebuild.
    pub(super) fn wants_compaction(&self) -> bool {
        self.heap.len() > 2 * self.live + 1024
    }

    /// Keep only the entries `current` accepts.
    pub(super) fn compact(&mut self, mut current: impl FnMut(&Entry) -> bool) {
        self.heap.retain(|Reverse(e)| current(e));
    }

    #[cfg(test)]
    pub(super) fn heap_len(&self) -> usize {
        self.heap.len()
    }

    #[cfg(test)]
    pub(super) fn live(&self) -> usize {
        self.live
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rearming_and_cancelling_leave_stale_entries_that_never_fire() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let mut slots = TimerSlots::default();
        q.arm(
            &mut slots,
            Side::Client,
            7,
            Slot::Retransmit,
            t0 + Duration::from_millis(500),
            Timer::A,
        );
        q.arm(
            &mut slots,
            Side::Client,
            7,
            Slot::Deadline,
            t0 + Duration::from_secs(32),
            Timer::B,
        );
        // Re-arm A later: the first entry goes stale.
        q.arm(
            &mut slots,
            Side::Client,
            7,
            Slot::Retransmit,
            t0 + Duration::from_millis(1500),
            Timer::A,
        );
        assert_eq!(q.live(), 2);
        assert_eq!(q.heap_len(), 3);

        let first = q
            .pop_due(t0 + Duration::from_secs(1))
            .map(|e| (e, q.fire(&e, &mut slots)));
        assert!(
            matches!(first, Some((_, None))),
            "the stale A does not fire"
        );
        assert!(q.pop_due(t0 + Duration::from_secs(1)).is_none());

        let e = q.pop_due(t0 + Duration::from_secs(2));
        let fired = e.and_then(|e| q.fire(&e, &mut slots));
        assert_eq!(fired.map(|a| a.timer), Some(Timer::A));
        assert_eq!(q.live(), 1);

        q.cancel(&mut slots, Slot::Deadline);
        assert_eq!(q.live(), 0);
        let e = q.pop_due(t0 + Duration::from_secs(40));
        assert!(e.is_some_and(|e| q.fire(&e, &mut slots).is_none()));
        assert!(q.peek().is_none());
    }

    #[test]
    fn compaction_drops_only_stale_entries() {
        let t0 = Instant::now();
        let mut q = TimerQueue::new();
        let mut slots: Vec<TimerSlots> = (0..3000).map(|_| TimerSlots::default()).collect();
        for (i, s) in slots.iter_mut().enumerate() {
            q.arm(
                s,
                Side::Server,
                i as u32,
                Slot::Deadline,
                t0 + Duration::from_secs(32),
                Timer::J,
            );
        }
        for s in slots.iter_mut().skip(10) {
            q.cancel(s, Slot::Deadline);
        }
        assert!(q.wants_compaction());
        q.compact(|e| TimerQueue::is_current(e, &slots[e.index as usize]));
        assert_eq!(q.heap_len(), 10);
        assert_eq!(q.live(), 10);
        assert!(!q.wants_compaction());
    }
}
