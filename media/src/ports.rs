//! The pool of RTP/RTCP port pairs.

use std::collections::VecDeque;
use std::ops::RangeInclusive;

/// Even RTP ports of the configured range; RTCP uses the odd port above (RFC 3550 §11).
///
/// Freed ports go to the back of the queue, so a port is reused as late as possible and
/// stray packets of an old call rarely reach a new one.
#[derive(Debug)]
pub struct PortAllocator {
    free: VecDeque<u16>,
    capacity: usize,
    range: RangeInclusive<u16>,
}

impl PortAllocator {
    /// A pool over every even port `p` of the range whose `p + 1` is also in the range.
    pub fn new(range: RangeInclusive<u16>) -> Self {
        let (lo, hi) = (*range.start(), *range.end());
        let first = lo.saturating_add(lo % 2);
        let free: VecDeque<u16> = (first..hi)
            .step_by(2)
            .filter(|p| p.checked_add(1).is_some_and(|q| q <= hi))
            .collect();
        let capacity = free.len();
        Self {
            free,
            capacity,
            range,
        }
    }

    /// Takes the least recently used free pair; returns its RTP (even) port.
    pub fn allocate(&mut self) -> Option<u16> {
        self.free.pop_front()
    }

    /// Returns a pair to the pool. Releasing a port twice or one outside the range is
    /// ignored, so a bookkeeping slip can never hand one pair to two calls.
    pub fn release(&mut self, rtp_port: u16) {
        if rtp_port.is_multiple_of(2)
            && self.range.contains(&rtp_port)
            && rtp_port < *self.range.end()
            && !self.free.contains(&rtp_port)
            && self.free.len() < self.capacity
        {
            self.free.push_back(rtp_port);
        }
    }

    /// Free pairs left.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// Pairs in the range.
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_even_odd_inside_the_range() {
        let mut p = PortAllocator::new(30001..=30006);
        assert_eq!(p.capacity(), 2, "30002/30003 and 30004/30005");
        assert_eq!(p.allocate(), Some(30002));
        assert_eq!(p.allocate(), Some(30004));
        assert_eq!(p.allocate(), None);
        p.release(30002);
        p.release(30002);
        assert_eq!(p.available(), 1);
        assert_eq!(p.allocate(), Some(30002));
    }

    #[test]
    fn released_ports_are_reused_last() {
        let mut p = PortAllocator::new(40000..=40007);
        let a = p.allocate().unwrap();
        p.release(a);
        assert_ne!(p.allocate(), Some(a));
    }

    #[test]
    fn odd_or_foreign_release_is_ignored() {
        let mut p = PortAllocator::new(40000..=40001);
        assert_eq!(p.allocate(), Some(40000));
        p.release(40001);
        p.release(50000);
        assert_eq!(p.available(), 0);
    }

    #[test]
    fn top_of_u16_range() {
        let p = PortAllocator::new(65534..=65535);
        assert_eq!(p.capacity(), 1);
    }
}
