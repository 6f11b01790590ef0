//! Timer values and limits of the transaction layer (RFC 3261 §17, Table 4 of §A).

use super::error::TransactionError;
use std::time::Duration;

/// Settings of a [`super::TransactionLayer`].
///
/// The timers of RFC 3261 are all derived from T1, T2 and T4 (Appendix A), except
/// Timer D, which the RFC fixes at "> 32 s" for unreliable transports.
#[derive(Clone, Debug)]
pub struct Config {
    /// T1, the round-trip time estimate: the first retransmission interval (default 500 ms).
    pub t1: Duration,
    /// T2, the longest retransmission interval for non-INVITE requests and INVITE
    /// responses (default 4 s).
    pub t2: Duration,
    /// T4, the longest time a message stays in the network (default 5 s).
    pub t4: Duration,
    /// Timer D, how long an INVITE client transaction waits for retransmitted final
    /// responses over an unreliable transport (default 32 s, RFC 3261 §17.1.1.2).
    pub timer_d: Duration,
    /// Whether an INVITE server transaction answers 100 (Trying) at once. RFC 3261
    /// §17.2.1 allows skipping it only when the TU answers within 200 ms.
    pub send_trying: bool,
    /// The most live transactions (client and server together). A new request beyond
    /// it is refused statelessly with 503 and Retry-After, never buffered.
    pub max_transactions: usize,
    /// The Retry-After value, in seconds, of the 503 sent under overload.
    pub retry_after: u32,
    /// Answer every request at the address and port it came from, as if its top Via
    /// asked for `rport` (RFC 3581; Kamailio's `force_rport`). RFC 3261 §18.2.2 alone
    /// sends UDP responses to the Via sent-by port, which a client behind NAT never
    /// receives. Default false (the RFC behaviour); `vss serve` turns it on.
    pub force_rport: bool,
    /// Secret bytes that make the To tags the layer invents (in its own answers to
    /// CANCEL and under overload) unpredictable. Fill it from a random source.
    pub tag_secret: [u8; 16],
    /// Requests the TU answers without a server transaction (RFC 3261 §8.2.7, "stateless
    /// UAS behavior", whose example is issuing unauthenticated challenges): for a new
    /// request this returns true for, the layer keeps no state and hands it over as
    /// [`super::Event::Stateless`]; a retransmission is simply handed over again. Only
    /// for requests whose answer does not depend on having seen them before (a 401
    /// challenge, a 404): the TU must not change state on them. Default `None`.
    pub stateless: Option<fn(&crate::message::Request) -> bool>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
            timer_d: Duration::from_secs(32),
            send_trying: true,
            max_transactions: 100_000,
            retry_after: 5,
            force_rport: false,
            tag_secret: [0; 16],
            stateless: None,
        }
    }
}

impl Config {
    /// Check that the values make a working state machine.
    pub fn validate(&self) -> Result<(), TransactionError> {
        if self.t1.is_zero() {
            return Err(TransactionError::Config("T1 must be positive"));
        }
        if self.t2 < self.t1 {
            return Err(TransactionError::Config("T2 must not be shorter than T1"));
        }
        if self.t4.is_zero() {
            return Err(TransactionError::Config("T4 must be positive"));
        }
        if self.max_transactions == 0 {
            return Err(TransactionError::Config(
                "max_transactions must be at least 1",
            ));
        }
        // 64*T1 must fit in a Duration.
        if self.t1.checked_mul(64).is_none() {
            return Err(TransactionError::Config("T1 is too large"));
        }
        Ok(())
    }

    /// 64*T1: Timers B, F, H, L and M, and the 2xx retransmission limit.
    pub(super) fn t1x64(&self) -> Duration {
        self.t1 * 64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_rfc_values() {
        let c = Config::default();
        assert_eq!(c.t1, Duration::from_millis(500));
        assert_eq!(c.t2, Duration::from_secs(4));
        assert_eq!(c.t4, Duration::from_secs(5));
        assert_eq!(c.t1x64(), Duration::from_secs(32));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_unusable_values() {
        let zero_t1 = Config {
            t1: Duration::ZERO,
            ..Config::default()
        };
        assert!(zero_t1.validate().is_err());
        let short_t2 = Config {
            t2: Duration::from_millis(100),
            ..Config::default()
        };
        assert!(short_t2.validate().is_err());
        let none = Config {
            max_transactions: 0,
            ..Config::default()
        };
        assert!(none.validate().is_err());
        let huge = Config {
            t1: Duration::MAX,
            t2: Duration::MAX,
            ..Config::default()
        };
        assert!(huge.validate().is_err());
    }
}
