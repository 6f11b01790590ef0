//! The checks every parsed message passes (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475).

use super::Message;
use crate::error::{Error, Result};
use crate::header::HeaderName;
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

/// The checks every message passes (RFC 3261 §8.1.1, §8.2.2, §20; RFC 4475). One pass
/// over the fields parses and caches every typed view the stack reads.
pub(crate) fn validate(message: &Message) -> Result<()> {
    let headers = message.headers();
    let mut seen = [0u8; 13];
    let mut verdict = Verdict::default();
    let mut vias = 0;
    let mut cseq_method = None;
    let mut star = false;
    let mut addresses = false;
    for h in headers.iter() {
        let name = h.name();
        if let Some(i) = single_index(name) {
            seen[i] = seen[i].saturating_add(1);
            if seen[i] > 1 {
                verdict.note(
                    Check::Duplicates,
                    Error::DuplicateHeader(name.static_name()),
                );
                continue;
            }
        }
        match name {
            HeaderName::Via => {
                vias += verdict
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
                cseq_method = verdict
                    .note_result(Check::CSeq, h.cseq())
                    .map(|c| &c.method);
            }
            // Max-Forwards is not required, for RFC 2543 peers (RFC 4475 §3.4.1).
            HeaderName::MaxForwards => {
                verdict.note_result(Check::MaxForwards, h.number(255, false));
            }
            HeaderName::ContentLength => {
                verdict.note_result(Check::ContentLength, h.number(u32::MAX, false));
            }
            HeaderName::Contact => match verdict.note_result(Check::Addresses, h.addrs(true)) {
                Some(None) => star = true,
                Some(Some(_)) => addresses = true,
                None => {}
            },
            HeaderName::Route | HeaderName::RecordRoute => {
                verdict.note_result(Check::Addresses, h.addrs(false));
            }
            _ => {}
        }
    }
    // Required in every request and response (RFC 3261 §8.1.1).
    for (check, index, label) in [
        (Check::From, FROM, "From"),
        (Check::To, TO, "To"),
        (Check::CallId, CALL_ID, "Call-ID"),
        (Check::CSeq, CSEQ, "CSeq"),
    ] {
        if seen[index] == 0 {
            verdict.note(check, Error::MissingHeader(label));
        }
    }
    if vias == 0 {
        verdict.note(Check::Via, Error::MissingHeader("Via"));
    }
    if star && addresses {
        // RFC 3261 §10.3 step 6: `*` must stand alone.
        verdict.note(
            Check::Addresses,
            Error::InvalidHeader {
                name: "Contact",
                reason: "'*' mixed with addresses",
            },
        );
    }
    if let Some((_, error)) = verdict.0 {
        return Err(error);
    }
    if let (Message::Request(r), Some(method)) = (message, cseq_method)
        && *method != r.method
    {
        return Err(Error::CSeqMismatch);
    }
    Ok(())
}
