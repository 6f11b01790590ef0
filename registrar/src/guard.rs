//! Brute-force protection: failed guesses counted per source IP in a fixed window; past
//! the threshold the source is refused for a cooling-off period.
//!
//! Memory is bounded by `max_sources`. Recency is kept in a queue of `(ip, stamp)`
//! touches; an entry whose stamp is not the current one is stale and skipped. Eviction
//! takes the least recently touched source, skipping (a bounded number of) sources that
//! are blocked right now, so that a flood of spoofed addresses cannot push a blocked
//! attacker out of the table cheaply.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::Instant;

use crate::config::BruteForceConfig;

/// How many blocked sources eviction steps over before it evicts one anyway.
const EVICTION_PROBES: usize = 8;

struct Source {
    failures: u32,
    window_start: Instant,
    blocked_until: Option<Instant>,
    stamp: u64,
}

/// What a recorded failure did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Counted; the source may go on.
    Counted,
    /// This failure blocked the source.
    Blocked,
}

pub(crate) struct Guard {
    config: BruteForceConfig,
    sources: HashMap<IpAddr, Source>,
    recency: VecDeque<(IpAddr, u64)>,
    stamp: u64,
}

impl Guard {
    pub(crate) fn new(config: BruteForceConfig) -> Guard {
        Guard {
            config,
            sources: HashMap::new(),
            recency: VecDeque::new(),
            stamp: 0,
        }
    }

    fn enabled(&self) -> bool {
        self.config.threshold > 0
    }

    /// How many sources are tracked.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether `ip` is in its cooling-off period at `now`.
    pub(crate) fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        self.sources
            .get(&ip)
            .and_then(|s| s.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Counts one failed guess from `ip`.
    pub(crate) fn record_failure(&mut self, ip: IpAddr, now: Instant) -> Verdict {
        if !self.enabled() {
            return Verdict::Counted;
        }
        if !self.sources.contains_key(&ip) && self.sources.len() >= self.config.max_sources {
            self.evict(now);
        }
        self.stamp += 1;
        let stamp = self.stamp;
        let cfg = &self.config;
        let s = self.sources.entry(ip).or_insert(Source {
            failures: 0,
            window_start: now,
            blocked_until: None,
            stamp,
        });
        s.stamp = stamp;
        if s.blocked_until.is_some_and(|until| now >= until) {
            // The cooling-off is over: start afresh.
            s.blocked_until = None;
            s.failures = 0;
            s.window_start = now;
        }
        if now.saturating_duration_since(s.window_start) > cfg.window {
            s.failures = 0;
            s.window_start = now;
        }
        s.failures = s.failures.saturating_add(1);
        let verdict = if s.blocked_until.is_none() && s.failures >= cfg.threshold {
            s.blocked_until = Some(now + cfg.cooldown);
            Verdict::Blocked
        } else {
            Verdict::Counted
        };
        self.recency.push_back((ip, stamp));
        self.compact_recency();
        verdict
    }

    /// Drops sources whose window and cooling-off are both over.
    pub(crate) fn sweep(&mut self, now: Instant) {
        let window = self.config.window;
        self.sources.retain(|_, s| match s.blocked_until {
            Some(until) => now < until,
            None => now.saturating_duration_since(s.window_start) <= window,
        });
        self.compact_recency();
    }

    /// Keeps the recency queue within twice the live entries (stale touches pile up when
    /// one source fails repeatedly).
    fn compact_recency(&mut self) {
        if self.recency.len() <= 2 * self.sources.len() + 64 {
            return;
        }
        let sources = &self.sources;
        self.recency
            .retain(|(ip, stamp)| sources.get(ip).is_some_and(|s| s.stamp == *stamp));
    }

    fn evict(&mut self, now: Instant) {
        let mut spared = Vec::new();
        while let Some((ip, stamp)) = self.recency.pop_front() {
            let Some(s) = self.sources.get(&ip) else {
                continue;
            };
            if s.stamp != stamp {
                continue;
            }
            let blocked = s.blocked_until.is_some_and(|until| now < until);
            if blocked && spared.len() < EVICTION_PROBES {
                spared.push((ip, stamp));
                continue;
            }
            self.sources.remove(&ip);
            break;
        }
        if self.sources.len() >= self.config.max_sources {
            // Only blocked sources were found: evict the oldest of them.
            if let Some((ip, _)) = spared.first().copied() {
                self.sources.remove(&ip);
                spared.remove(0);
            }
        }
        // The spared keep their age: back to the front, in order.
        for entry in spared.into_iter().rev() {
            self.recency.push_front(entry);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn cfg(threshold: u32, max_sources: usize) -> BruteForceConfig {
        BruteForceConfig {
            threshold,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
            max_sources,
        }
    }

    fn ip(n: u32) -> IpAddr {
        IpAddr::from(n.to_be_bytes())
    }

    #[test]
    fn blocks_at_the_threshold_for_the_cooldown() {
        let t0 = Instant::now();
        let mut g = Guard::new(cfg(3, 100));
        assert_eq!(g.record_failure(ip(1), t0), Verdict::Counted);
        assert_eq!(g.record_failure(ip(1), t0), Verdict::Counted);
        assert!(!g.is_blocked(ip(1), t0));
        assert_eq!(g.record_failure(ip(1), t0), Verdict::Blocked);
        assert!(g.is_blocked(ip(1), t0 + Duration::from_secs(299)));
        assert!(!g.is_blocked(ip(2), t0));
        // Further failures while blocked neither extend the block nor report it again.
        assert_eq!(
            g.record_failure(ip(1), t0 + Duration::from_secs(10)),
            Verdict::Counted
        );
        assert!(!g.is_blocked(ip(1), t0 + Duration::from_secs(300)));
        // After the cooldown the count starts from zero.
        let t1 = t0 + Duration::from_secs(301);
        assert_eq!(g.record_failure(ip(1), t1), Verdict::Counted);
        assert!(!g.is_blocked(ip(1), t1));
    }

    #[test]
    fn failures_outside_the_window_do_not_add_up() {
        let t0 = Instant::now();
        let mut g = Guard::new(cfg(3, 100));
        g.record_failure(ip(1), t0);
        g.record_failure(ip(1), t0 + Duration::from_secs(30));
        let late = t0 + Duration::from_secs(61);
        assert_eq!(g.record_failure(ip(1), late), Verdict::Counted);
        assert!(!g.is_blocked(ip(1), late));
        g.sweep(late + Duration::from_secs(61));
        assert_eq!(g.len(), 0);
    }

    #[test]
    fn memory_is_bounded_and_blocked_sources_are_spared() {
        let t0 = Instant::now();
        let mut g = Guard::new(cfg(2, 10));
        g.record_failure(ip(0), t0);
        assert_eq!(g.record_failure(ip(0), t0), Verdict::Blocked);
        for n in 1..1000 {
            g.record_failure(ip(n), t0);
            assert!(g.len() <= 10);
        }
        assert!(
            g.is_blocked(ip(0), t0),
            "a spoofing flood evicted the attacker"
        );
        assert!(g.recency.len() <= 2 * g.len() + 64 + 1);
    }

    #[test]
    fn a_table_full_of_blocked_sources_still_admits_new_ones() {
        let t0 = Instant::now();
        let mut g = Guard::new(cfg(1, 4));
        for n in 0..20 {
            assert_eq!(g.record_failure(ip(n), t0), Verdict::Blocked);
            assert!(g.len() <= 4);
        }
        assert!(g.is_blocked(ip(19), t0));
    }

    #[test]
    fn threshold_zero_is_off() {
        let t0 = Instant::now();
        let mut g = Guard::new(cfg(0, 10));
        for _ in 0..100 {
            g.record_failure(ip(1), t0);
        }
        assert!(!g.is_blocked(ip(1), t0));
        assert_eq!(g.len(), 0);
    }
}
