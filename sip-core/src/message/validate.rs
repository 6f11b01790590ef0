//! The checks every parsed message passes (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475).

use super::Message;
use crate::error::{Error, Result};
use crate::header::{CONTENT_LENGTH, Header, HeaderName, MAX_FORWARDS};
use crate::method::Method;
use crate::syntax;

/// Index of a single-value header in the duplicate counter, if it is one.
fn single_index(name: &HeaderName) -> Option<usize> {
    Some(match name {
        HeaderName::CallId => 0,
        HeaderName::ContentLength => 1,
        HeaderName::ContentType => 2,
        HeaderName::CSeq => 3,
        HeaderName::Expires => 4,
        HeaderName::From => 5,
        HeaderName::MaxForwards => 6,
        HeaderName::MinExpires => 7,
        HeaderName::To => 8,
        HeaderName::RSeq => 9,
        HeaderName::RAck => 10,
        HeaderName::SessionExpires => 11,
        HeaderName::MinSe => 12,
        _ => return None,
    })
}

const CALL_ID: usize = 0;
const CSEQ: usize = 3;
const FROM: usize = 5;
const TO: usize = 8;

/// The checks of [`validate`], in the order their failures are reported: when a message
/// has several faults, the one of the earliest check is the answer (a Via with an unknown
/// version is a 505 even if From is also malformed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Check {
    Duplicates,
    Via,
    From,
    To,
    CallId,
    CSeq,
    MaxForwards,
    ContentLength,
    Addresses,
}

/// The fault of the earliest check seen so far.
#[derive(Default)]
struct Verdict(Option<(Check, Error)>);

impl Verdict {
    fn note(&mut self, check: Check, error: Error) {
        if self.0.as_ref().is_none_or(|(c, _)| check < *c) {
            self.0 = Some((check, error));
        }
    }

    fn note_result<T>(&mut self, check: Check, result: Result<T>) -> Option<T> {
        result.map_err(|e| self.note(check, e)).ok()
    }
}

/// The checks every message passes (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475), field by
/// field: the parser hands each field over as soon as it is cut, while its octets are
/// still in cache, and every typed view the stack reads is parsed and cached on the way.
/// Faults are collected, not returned, so that the earliest check answers whatever the
/// order of the fields.
#[derive(Default)]
pub(crate) struct Validator {
    seen: [u8; 13],
    verdict: Verdict,
    vias: usize,
    cseq_method: Option<Method>,
    content_length: Option<Result<u32>>,
    star: bool,
    addresses: bool,
}

impl Validator {
    /// Check one field (in message order).
    #[inline(always)]
    pub(crate) fn field(&mut self, h: &Header) {
        let name = h.name();
        if let Some(i) = single_index(name) {
            self.seen[i] = self.seen[i].saturating_add(1);
            if self.seen[i] > 1 {
                self.verdict.note(
                    Check::Duplicates,
                    Error::DuplicateHeader(name.static_name()),
                );
                return;
            }
        }
        let verdict = &mut self.verdict;
        match name {
            HeaderName::Via => {
                self.vias += verdict
                    .note_result(Check::Via, h.vias())
                    .map_or(0, <[_]>::len);
            }
            HeaderName::From => {
                verdict.note_result(Check::From, h.addr());
            }
            HeaderName::To => {
                verdict.note_result(Check::To, h.addr());
            }
            HeaderName::CallId => {
                let id = h.value();
                if id.is_empty() || !syntax::CALLID.all(id) {
                    verdict.note(
                        Check::CallId,
                        Error::InvalidHeader {
                            name: "Call-ID",
                            reason: "bad Call-ID",
                        },
                    );
                }
            }
            HeaderName::CSeq => {
                self.cseq_method = verdict
                    .note_result(Check::CSeq, h.cseq())
                    .map(|c| c.method.clone());
            }
            // Max-Forwards is not required, for RFC 2543 peers (RFC 4475 §3.4.1).
            HeaderName::MaxForwards => {
                verdict.note_result(Check::MaxForwards, h.number(MAX_FORWARDS, false));
            }
            HeaderName::ContentLength => {
                let n = h.number(CONTENT_LENGTH, false);
                verdict.note_result(Check::ContentLength, n.clone());
                self.content_length = Some(n);
            }
            HeaderName::Contact => match verdict.note_result(Check::Addresses, h.addrs(true)) {
                Some(None) => self.star = true,
                Some(Some(_)) => self.addresses = true,
                None => {}
            },
            HeaderName::Route | HeaderName::RecordRoute => {
                verdict.note_result(Check::Addresses, h.addrs(false));
            }
            _ => {}
        }
    }

    /// The first Content-Length: absent, its value, or why it is not one.
    pub(crate) fn content_length(&self) -> Option<&Result<u32>> {
        self.content_length.as_ref()
    }

    /// The verdict once every field of `message` went through [`Validator::field`].
    pub(crate) fn finish(mut self, message: &Message) -> Result<()> {
        let verdict = &mut self.verdict;
        // Required in every request and response (RFC 3261 §8.1.1).
        for (check, index, label) in [
            (Check::From, FROM, "From"),
            (Check::To, TO, "To"),
            (Check::CallId, CALL_ID, "Call-ID"),
            (Check::CSeq, CSEQ, "CSeq"),
        ] {
            if self.seen[index] == 0 {
                verdict.note(check, Error::MissingHeader(label));
            }
        }
        if self.vias == 0 {
            verdict.note(Check::Via, Error::MissingHeader("Via"));
        }
        if self.star && self.addresses {
            // RFC 3261 §10.3 step 6: `*` must stand alone.
            verdict.note(
                Check::Addresses,
                Error::InvalidHeader {
                    name: "Contact",
                    reason: "'*' mixed with addresses",
                },
            );
        }
        if let Some((_, error)) = self.verdict.0 {
            return Err(error);
        }
        if let (Message::Request(r), Some(method)) = (message, &self.cseq_method)
            && *method != r.method
        {
            return Err(Error::CSeqMismatch);
        }
        Ok(())
    }
}

/// Check a whole message (one built in code rather than parsed).
pub(crate) fn validate(message: &Message) -> Result<()> {
    let mut validator = Validator::default();
    for h in message.headers().iter() {
        validator.field(h);
    }
    validator.finish(message)
}
