//! Calls-per-second limits: a token bucket fed by the caller's clock.

use std::time::Instant;

/// Allows `rate` events per second on average and bursts of up to `rate`.
#[derive(Debug, Clone)]
pub(crate) struct TokenBucket {
    rate: f64,
    tokens: f64,
    last: Option<Instant>,
}

impl TokenBucket {
    pub(crate) fn new(rate: u32) -> TokenBucket {
        let rate = f64::from(rate.max(1));
        TokenBucket {
            rate,
            tokens: rate,
            last: None,
        }
    }

    fn refill(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt = now.saturating_duration_since(last).as_secs_f64();
            self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        }
        self.last = Some(self.last.map_or(now, |l| l.max(now)));
    }

    /// Whether one more event fits now, without taking it.
    pub(crate) fn check(&mut self, now: Instant) -> bool {
        self.refill(now);
        self.tokens >= 1.0
    }

    /// Take one event if it fits.
    pub(crate) fn try_take(&mut self, now: Instant) -> bool {
        if self.check(now) {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn bucket_allows_rate_per_second() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(3);
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(b.try_take(t0));
        assert!(
            !b.try_take(t0),
            "a fourth call in the same instant is over the limit"
        );
        assert!(!b.try_take(t0 + Duration::from_millis(100)));
        assert!(
            b.try_take(t0 + Duration::from_millis(340)),
            "one token back after 1/3 s"
        );
        assert!(b.try_take(t0 + Duration::from_secs(10)));
        assert!(b.try_take(t0 + Duration::from_secs(10)));
        assert!(b.try_take(t0 + Duration::from_secs(10)));
        assert!(
            !b.try_take(t0 + Duration::from_secs(10)),
            "the burst is capped at the rate"
        );
    }

    #[test]
    fn time_going_backwards_adds_nothing() {
        let t0 = Instant::now() + Duration::from_secs(5);
        let mut b = TokenBucket::new(1);
        assert!(b.try_take(t0));
        assert!(!b.try_take(t0 - Duration::from_secs(3)));
    }
}
