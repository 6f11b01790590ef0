//! Registration with a carrier (RFC 3261 §10.2): REGISTER with our contact, answer its
//! challenge, refresh before expiry, retry with growing backoff after a failure.

use std::time::{Duration, Instant};

use bytes::Bytes;
use sip_core::transaction::{ClientKey, Peer};
use sip_core::{HeaderName, Method, Request, Response, StatusCode};

use super::TrunkState;
use crate::random::Random;
use crate::sip::auth;
use crate::sip::msg::{BuildError, Locals, NewRequest, name_addr, new_request};

const FIRST_BACKOFF: Duration = Duration::from_secs(30);
const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// What a REGISTER result means for the trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RegisterStep {
    /// Send this REGISTER now (a challenge was answered, or Min-Expires obeyed).
    Resend,
    /// Registered until the given time; refresh is scheduled.
    Registered(Duration),
    /// Failed; a retry is scheduled after the backoff.
    Failed(StatusCode),
}

pub(crate) struct Registration {
    call_id: String,
    from_tag: String,
    cseq: u32,
    expires: u32,
    /// The credentials header answering the last challenge, for the next attempt.
    auth: Option<(HeaderName, Bytes)>,
    /// Challenges answered for the current attempt.
    challenges: u8,
    pub(crate) key: Option<ClientKey>,
    pub(crate) due: Option<Instant>,
    registered_until: Option<Instant>,
    backoff: Duration,
}

impl Registration {
    pub(crate) fn new(now: Instant, rng: &mut Random) -> Registration {
        Registration {
            // RFC 3261 §10.2: one Call-ID for every registration of this client, and
            // CSeq growing across them, so the registrar orders them.
            call_id: rng.call_id(),
            from_tag: rng.tag(),
            cseq: 0,
            expires: 0,
            auth: None,
            challenges: 0,
            key: None,
            due: Some(now),
            registered_until: None,
            backoff: FIRST_BACKOFF,
        }
    }

    pub(crate) fn is_registered(&self) -> bool {
        self.registered_until.is_some()
    }

    /// The REGISTER to send now.
    pub(crate) fn request(
        &mut self,
        trunk: &TrunkState,
        locals: &Locals,
        rng: &mut Random,
    ) -> Result<(Request, Peer), BuildError> {
        let creds = trunk
            .config
            .credentials
            .as_ref()
            .ok_or(BuildError::Sip("registration without credentials".into()))?;
        if self.expires == 0 {
            self.expires = trunk.config.register_expires;
        }
        let peer = trunk
            .peers()
            .next()
            .ok_or(BuildError::Sip("trunk without address".into()))?;
        let uri = trunk.uri(None)?;
        let aor = format!("sip:{}@{}", creds.username, trunk.config.host);
        let from = name_addr(None, &aor, Some(&self.from_tag));
        let to = name_addr(None, &aor, None);
        self.cseq = self.cseq.wrapping_add(1).max(1);
        let mut r = new_request(NewRequest {
            method: Method::Register,
            uri,
            from: &from,
            to: &to,
            call_id: &self.call_id,
            cseq: self.cseq,
        });
        r.headers.push(
            HeaderName::Contact,
            locals.contact(peer.transport, Some(&creds.username))?,
        );
        r.headers
            .push(HeaderName::Expires, Bytes::from(self.expires.to_string()));
        if let Some((name, value)) = &self.auth {
            r.headers.push(name.clone(), value.clone());
        }
        locals.stamp_via(&mut r, &peer, &rng.branch())?;
        locals.add_user_agent(&mut r);
        Ok((r, peer))
    }

    /// The final response to our REGISTER (`None`: the transaction timed out or could
    /// not be sent).
    pub(crate) fn handle_result(
        &mut self,
        now: Instant,
        trunk: &super::TrunkConfig,
        response: Option<&Response>,
        request_uri: &str,
        rng: &mut Random,
    ) -> RegisterStep {
        self.key = None;
        let Some(resp) = response else {
            return self.fail(now, StatusCode::REQUEST_TIMEOUT, rng);
        };
        let status = resp.status;
        if status.is_success() {
            let granted = granted_expires(resp).unwrap_or(self.expires).max(1);
            let secs = u64::from(granted);
            self.registered_until = Some(now + Duration::from_secs(secs));
            // Refresh a minute ahead, or at four fifths of a short expiry.
            let refresh = secs.saturating_sub(60).max(secs * 4 / 5).max(1);
            self.due = Some(now + Duration::from_secs(refresh));
            // The next refresh starts afresh (the carrier challenges it again).
            self.challenges = 0;
            self.auth = None;
            self.backoff = FIRST_BACKOFF;
            return RegisterStep::Registered(Duration::from_secs(secs));
        }
        if (status == StatusCode::UNAUTHORIZED || status == StatusCode::PROXY_AUTHENTICATION_REQUIRED)
            // One answer per challenge; a second only when the nonce was just stale.
            && (self.challenges == 0 || (self.challenges == 1 && auth::is_stale(resp)))
            && let Some(creds) = &trunk.credentials
            && let Some(answer) = auth::answer_carrier(resp, creds, "REGISTER", request_uri, &rng.cnonce())
        {
            self.challenges += 1;
            self.auth = Some(answer);
            self.due = Some(now);
            return RegisterStep::Resend;
        }
        if status == StatusCode::INTERVAL_TOO_BRIEF
            && let Ok(Some(min)) = resp.headers.number(&HeaderName::MinExpires)
            && min > self.expires
        {
            // RFC 3261 §10.2.8: retry with at least Min-Expires.
            self.expires = min;
            self.due = Some(now);
            return RegisterStep::Resend;
        }
        self.fail(now, status, rng)
    }

    fn fail(&mut self, now: Instant, status: StatusCode, rng: &mut Random) -> RegisterStep {
        self.registered_until = None;
        self.auth = None;
        self.challenges = 0;
        let jitter = Duration::from_millis(rng.below(1000));
        self.due = Some(now + self.backoff + jitter);
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        RegisterStep::Failed(status)
    }

    /// The refresh or retry time came: forget a registration that has expired.
    pub(crate) fn on_due(&mut self, now: Instant) {
        if self.registered_until.is_some_and(|u| u <= now) {
            self.registered_until = None;
        }
    }
}

/// The expiry the registrar granted: our contact's `expires` parameter, else Expires.
fn granted_expires(resp: &Response) -> Option<u32> {
    if let Ok(sip_core::header::Contacts::List(list)) = resp.headers.contacts()
        && let Some(e) = list.iter().find_map(|c| c.expires())
    {
        return Some(e);
    }
    resp.headers.expires().ok().flatten()
}
