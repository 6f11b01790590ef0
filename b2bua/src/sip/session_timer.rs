//! Session timers (RFC 4028), per leg: who refreshes, how often, and when a session
//! whose refreshes stopped is dead.

use std::time::Duration;

use bytes::Bytes;
use sip_core::{HeaderName, Headers};

/// Which side of a leg's dialog refreshes (RFC 4028 §7.1 `refresher`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refresher {
    Uac,
    Uas,
}

/// The session timer of one leg.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SessionTimer {
    pub(crate) interval: Duration,
    /// We send the refreshes on this leg (else the peer does and we watch).
    pub(crate) we_refresh: bool,
}

impl SessionTimer {
    /// RFC 4028 §10: the refresher sends its refresh at half the interval.
    pub(crate) fn refresh_in(&self) -> Duration {
        self.interval / 2
    }

    /// RFC 4028 §10: without a refresh, the session ends at the interval minus the
    /// lesser of 32 s and a third of it.
    pub(crate) fn expire_in(&self) -> Duration {
        self.interval - (self.interval / 3).min(Duration::from_secs(32))
    }
}

/// What we ask for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Policy {
    pub(crate) session_expires: Duration,
    pub(crate) min_se: Duration,
}

/// `Session-Expires: delta;refresher=x` (RFC 4028 §4).
pub(crate) fn parse_session_expires(headers: &Headers) -> Option<(u32, Option<Refresher>)> {
    let v = headers.get_value(&HeaderName::SessionExpires)?;
    let text = std::str::from_utf8(v).ok()?;
    let mut parts = text.split(';');
    let secs = parts.next()?.trim().parse().ok()?;
    let mut refresher = None;
    for p in parts {
        if let Some((n, val)) = p.split_once('=')
            && n.trim().eq_ignore_ascii_case("refresher")
        {
            refresher = match val.trim().to_ascii_lowercase().as_str() {
                "uac" => Some(Refresher::Uac),
                "uas" => Some(Refresher::Uas),
                _ => None,
            };
        }
    }
    Some((secs, refresher))
}

/// `Min-SE: delta` (RFC 4028 §5).
pub(crate) fn parse_min_se(headers: &Headers) -> Option<u32> {
    let v = headers.get_value(&HeaderName::MinSe)?;
    std::str::from_utf8(v)
        .ok()?
        .split(';')
        .next()?
        .trim()
        .parse()
        .ok()
}

/// Our answer to a session-timer request received as UAS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UasOutcome {
    /// No session timer on this leg.
    None,
    /// Put these headers in the 2xx and run this timer.
    Timer {
        timer: SessionTimer,
        session_expires: Bytes,
        require_timer: bool,
    },
    /// RFC 4028 §9: the interval is below our minimum; answer 422 with this Min-SE.
    TooSmall(u32),
}

/// RFC 4028 §9: the UAS side of an INVITE, re-INVITE or UPDATE.
pub(crate) fn uas_negotiate(request: &Headers, policy: Option<Policy>) -> UasOutcome {
    let Some(policy) = policy else {
        return UasOutcome::None;
    };
    let ours_min = secs(policy.min_se);
    let uac_supports = request.has_token(&HeaderName::Supported, "timer")
        || request.has_token(&HeaderName::Require, "timer");
    let (interval, asked) = match parse_session_expires(request) {
        Some((se, refresher)) => {
            if se < ours_min {
                return UasOutcome::TooSmall(ours_min);
            }
            // We may lower the interval, never below the request's Min-SE nor ours.
            let floor = parse_min_se(request).unwrap_or(90).max(ours_min);
            (se.min(secs(policy.session_expires)).max(floor), refresher)
        }
        None => (secs(policy.session_expires), None),
    };
    // Without support at the UAC only we can refresh (§9); otherwise keep its choice,
    // and take the job ourselves when it left it open.
    let refresher = match (uac_supports, asked) {
        (true, Some(r)) => r,
        _ => Refresher::Uas,
    };
    let name = if refresher == Refresher::Uac {
        "uac"
    } else {
        "uas"
    };
    UasOutcome::Timer {
        timer: SessionTimer {
            interval: Duration::from_secs(u64::from(interval)),
            we_refresh: refresher == Refresher::Uas,
        },
        session_expires: Bytes::from(format!("{interval};refresher={name}")),
        require_timer: refresher == Refresher::Uac,
    }
}

/// The headers of a session-timer request we send as UAC (RFC 4028 §7.1): initial
/// INVITEs leave the refresher to the UAS; refreshes name ourselves.
pub(crate) fn uac_headers(
    policy: Policy,
    interval: Option<Duration>,
    refresh: bool,
) -> [(HeaderName, Bytes); 2] {
    let se = secs(interval.unwrap_or(policy.session_expires));
    let value = if refresh {
        format!("{se};refresher=uac")
    } else {
        se.to_string()
    };
    [
        (HeaderName::SessionExpires, Bytes::from(value)),
        (
            HeaderName::MinSe,
            Bytes::from(secs(policy.min_se).to_string()),
        ),
    ]
}

/// RFC 4028 §7.2: what a 2xx to our session-timer request says. No Session-Expires:
/// the UAS does not take part and there is no session timer on the leg.
pub(crate) fn uac_result(response: &Headers) -> Option<SessionTimer> {
    let (se, refresher) = parse_session_expires(response)?;
    if se == 0 {
        return None;
    }
    Some(SessionTimer {
        interval: Duration::from_secs(u64::from(se)),
        // A 2xx without the parameter is malformed; refreshing ourselves is the safe way.
        we_refresh: refresher != Some(Refresher::Uas),
    })
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(lines: &[(&str, &str)]) -> Headers {
        let mut h = Headers::new();
        for (n, v) in lines {
            h.push(
                HeaderName::from_bytes(n.as_bytes()),
                Bytes::copy_from_slice(v.as_bytes()),
            );
        }
        h
    }

    fn policy() -> Option<Policy> {
        Some(Policy {
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        })
    }

    #[test]
    fn uas_keeps_the_uac_refresher_and_enforces_min_se() {
        let h = headers(&[
            ("Supported", "timer"),
            ("Session-Expires", "600;refresher=uac"),
        ]);
        match uas_negotiate(&h, policy()) {
            UasOutcome::Timer {
                timer,
                session_expires,
                require_timer,
            } => {
                assert_eq!(timer.interval, Duration::from_secs(600));
                assert!(!timer.we_refresh);
                assert_eq!(&session_expires[..], b"600;refresher=uac");
                assert!(require_timer);
            }
            other => panic!("{other:?}"),
        }
        let small = headers(&[("Session-Expires", "30")]);
        assert_eq!(uas_negotiate(&small, policy()), UasOutcome::TooSmall(90));
        assert_eq!(uas_negotiate(&small, None), UasOutcome::None);
    }

    #[test]
    fn uas_refreshes_for_a_uac_without_support() {
        let h = headers(&[("Session-Expires", "7200;refresher=uac")]);
        match uas_negotiate(&h, policy()) {
            UasOutcome::Timer {
                timer,
                session_expires,
                require_timer,
            } => {
                assert!(timer.we_refresh);
                assert_eq!(timer.interval, Duration::from_secs(1800), "lowered to ours");
                assert_eq!(&session_expires[..], b"1800;refresher=uas");
                assert!(!require_timer);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn uac_reads_the_answer() {
        let t = uac_result(&headers(&[("Session-Expires", "120;refresher=uas")]));
        assert_eq!(
            t,
            Some(SessionTimer {
                interval: Duration::from_secs(120),
                we_refresh: false
            })
        );
        let t = uac_result(&headers(&[("x", "120;refresher=uac")]));
        assert_eq!(t.map(|t| t.expire_in()), Some(Duration::from_secs(88)));
        assert_eq!(uac_result(&headers(&[])), None);
        let p = Policy {
            session_expires: Duration::from_secs(1800),
            min_se: Duration::from_secs(90),
        };
        let h = uac_headers(p, None, true);
        assert_eq!(&h[0].1[..], b"1800;refresher=uac");
        assert_eq!(&h[1].1[..], b"90");
        assert_eq!(parse_min_se(&headers(&[("Min-SE", "300")])), Some(300));
    }
}
