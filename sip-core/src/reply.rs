//! Answers to requests that could not be parsed or validated.
//!
//! A request refused by the parser still deserves its status code (RFC 3261 §8.2: 400,
//! 505, ...). The response copies the Via, From, To, Call-ID and CSeq lines as received
//! (§8.2.6.1) so that the client can match it to its transaction. A response that fails
//! to parse is never answered, and neither is a request without a Via line: there is no
//! way to route an answer back (§18.2.2).

use crate::error::Error;
use crate::header::HeaderName;
use crate::status::StatusCode;
use crate::syntax;
use bytes::{BufMut, Bytes, BytesMut};

/// The response to send for a request that failed with `error`, or `None` when nothing
/// may be sent (the message was a response, or has no Via). `to_tag` is added to To when
/// it has none (§8.2.6.2).
pub fn error_response(raw: &[u8], error: &Error, to_tag: &str) -> Option<Bytes> {
    let start = raw.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let raw = &raw[start..];
    if raw.len() >= 4 && raw[..4].eq_ignore_ascii_case(b"SIP/") {
        return None;
    }
    let status = StatusCode::from(error);
    let mut copied: Vec<(HeaderName, Vec<u8>)> = Vec::new();
    let mut lines = logical_lines(raw).skip(1);
    for line in lines.by_ref() {
        if line.is_empty() {
            break;
        }
        let name_len = syntax::TOKEN.span(&line);
        let colon = syntax::skip_ws(&line, name_len);
        if name_len == 0 || line.get(colon) != Some(&b':') {
            continue;
        }
        let name = HeaderName::from_bytes(&line[..name_len]);
        let value = syntax::trim(&line[colon + 1..]).to_vec();
        let wanted = match name {
            HeaderName::Via => true,
            HeaderName::From | HeaderName::To | HeaderName::CallId | HeaderName::CSeq => {
                !copied.iter().any(|(n, _)| n == &name)
            }
            _ => false,
        };
        if wanted && value.iter().all(|&b| b >= 0x20 || b == b'\t') {
            copied.push((name, value));
        }
    }
    if !copied.iter().any(|(n, _)| n == &HeaderName::Via) {
        return None;
    }
    let mut out = BytesMut::with_capacity(512);
    out.put_slice(
        format!(
            "SIP/2.0 {} {} ({})\r\n",
            status.as_u16(),
            status.canonical_reason(),
            error
        )
        .as_bytes(),
    );
    for (name, value) in &copied {
        out.put_slice(name.as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(value);
        if name == &HeaderName::To && !has_tag(value) {
            out.put_slice(b";tag=");
            out.put_slice(to_tag.as_bytes());
        }
        out.put_slice(b"\r\n");
    }
    out.put_slice(b"Content-Length: 0\r\n\r\n");
    Some(out.freeze())
}

/// Whether a To value already carries a tag parameter (outside its URI).
fn has_tag(value: &[u8]) -> bool {
    let params = match memchr::memrchr(b'>', value) {
        Some(gt) => &value[gt..],
        None => value,
    };
    params
        .split(|&b| b == b';')
        .skip(1)
        .any(|p| syntax::trim(p).len() >= 3 && syntax::trim(p)[..3].eq_ignore_ascii_case(b"tag"))
}

/// Lines with continuations joined, without their line ends.
fn logical_lines(raw: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut physical = raw
        .split(|&b| b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .peekable();
    std::iter::from_fn(move || {
        let mut line = physical.next()?.to_vec();
        while let Some(next) = physical.peek() {
            if !line.is_empty() && next.first().is_some_and(|&b| syntax::is_wsp(b)) {
                line.push(b' ');
                line.extend_from_slice(syntax::trim(next));
                physical.next();
            } else {
                break;
            }
        }
        Some(line)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_what_matches_the_transaction() {
        let raw = b"INVITE sip:a@b SIP/7.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nv: SIP/2.0/UDP g\r\nTo: <sip:a@b>\r\nFrom: <sip:c@d>;tag=9\r\nCall-ID: x\r\nCSeq: 1\r\n  INVITE\r\nSubject: hi\r\n\r\n";
        let r = error_response(raw, &Error::VersionNotSupported, "t1");
        let text = r
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default();
        assert!(
            text.starts_with("SIP/2.0 505 Version Not Supported"),
            "{text}"
        );
        assert!(text.contains("Via: SIP/2.0/UDP h;branch=z9hG4bK1\r\nVia: SIP/2.0/UDP g\r\n"));
        assert!(text.contains("To: <sip:a@b>;tag=t1\r\n"));
        assert!(text.contains("CSeq: 1 INVITE\r\n"));
        assert!(!text.contains("Subject"));
    }

    #[test]
    fn silent_cases() {
        assert!(
            error_response(b"SIP/2.0 999 x\r\nVia: a\r\n\r\n", &Error::StatusCode, "t").is_none()
        );
        assert!(
            error_response(
                b"INVITE sip:a@b SIP/2.0\r\nTo: x\r\n\r\n",
                &Error::MissingHeader("Via"),
                "t"
            )
            .is_none()
        );
        assert!(error_response(b"", &Error::Empty, "t").is_none());
    }

    #[test]
    fn keeps_existing_tag() {
        let raw = b"BYE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:a@b;x=y>;tag=abc\r\n\r\n";
        let r = error_response(raw, &Error::MissingHeader("Call-ID"), "t1").unwrap_or_default();
        assert!(String::from_utf8_lossy(&r).contains("To: <sip:a@b;x=y>;tag=abc\r\n"));
    }
}
