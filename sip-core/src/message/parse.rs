//! The message parser and validator (RFC 3261 §7, §8.2.2, §18.3; RFC 4475).

use super::start_line::{StartLine, parse_start_line};
use super::validate::Validator;
use super::{MAX_MESSAGE_SIZE, Message, Request, Response};
use crate::error::{Error, Result};
use crate::header::{Header, HeaderName, Headers};
use crate::syntax;
use bytes::Bytes;

/// How the message was delimited by its transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// One UDP datagram: Content-Length optional; when absent the body runs to the end of
    /// the datagram, when present octets beyond it are ignored (RFC 3261 §18.3).
    Datagram,
    /// One message cut from a byte stream: Content-Length is required and exact.
    Stream,
}

/// Parse and validate one message.
pub(crate) fn parse(buf: Bytes, framing: Framing) -> Result<Message> {
    if buf.len() > MAX_MESSAGE_SIZE {
        return Err(Error::TooLarge(MAX_MESSAGE_SIZE));
    }
    let s: &[u8] = &buf;
    // RFC 3261 §7.5: CRLFs before the start line are ignored (keep-alives on streams).
    let mut pos = s
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(Error::Empty)?;
    let line = syntax::scan_line(s, pos);
    if !line.complete {
        return Err(Error::StartLine("no line end"));
    }
    let start = parse_start_line(&buf, pos, line.end - pos)?;
    pos = line.next;

    let mut headers = Headers::with_capacity(16);
    let mut validator = Validator::default();
    let mut body_start = s.len();
    let mut terminated = false;
    while pos < s.len() {
        if let Some((header, next)) = fast_header_line(&mut headers, &buf, pos) {
            validator.field(header);
            pos = next;
            continue;
        }
        let line = syntax::scan_line(s, pos);
        if !line.complete {
            // The last header line of a datagram may lack its CRLF.
            if framing == Framing::Stream {
                return Err(Error::Unterminated);
            }
            validator.field(push_header_line(
                &mut headers,
                &buf,
                pos,
                line.end,
                line.controls,
            )?);
            break;
        }
        if line.end == pos {
            body_start = line.next;
            terminated = true;
            break;
        }
        let next = line.next;
        if next < s.len() && syntax::is_wsp(s[next]) {
            // Line folding (RFC 3261 §7.3.1): a line starting with white space continues
            // the previous one.
            let (name, value, after) = folded_header_line(s, pos, line.end, next)?;
            validator.field(headers.push_received(name, value));
            pos = after;
            continue;
        }
        validator.field(push_header_line(
            &mut headers,
            &buf,
            pos,
            line.end,
            line.controls,
        )?);
        pos = next;
    }
    if !terminated {
        if framing == Framing::Stream {
            return Err(Error::Unterminated);
        }
        body_start = s.len();
    }

    let available = s.len() - body_start;
    let body = match validator.content_length() {
        Some(Err(e)) => return Err(e.clone()),
        Some(&Ok(n)) => {
            let n = n as usize;
            if n > available {
                return Err(Error::BodyTruncated {
                    declared: n,
                    available,
                });
            }
            if framing == Framing::Stream && n != available {
                return Err(Error::BodyTruncated {
                    declared: n,
                    available,
                });
            }
            buf.slice(body_start..body_start + n)
        }
        None if framing == Framing::Stream => return Err(Error::MissingContentLength),
        None => buf.slice(body_start..),
    };

    let message = match start {
        StartLine::Request(method, uri) => Message::Request(Request {
            method,
            uri,
            headers,
            body,
        }),
        StartLine::Response(status, reason) => Message::Response(Response {
            status,
            reason,
            headers,
            body,
        }),
    };
    validator.finish(&message)?;
    Ok(message)
}

/// `name SWS ":"` at the start of `text`: the name and the index after the colon.
#[inline]
fn header_name(text: &[u8]) -> Result<(HeaderName, usize)> {
    let name_len = syntax::TOKEN.span(text);
    if name_len == 0 {
        return Err(Error::HeaderLine);
    }
    let colon = syntax::skip_ws(text, name_len);
    if text.get(colon) != Some(&b':') {
        return Err(Error::HeaderLine);
    }
    Ok((HeaderName::from_bytes(&text[..name_len]), colon + 1))
}

/// The common header line, `Name: value` ending in CRLF or LF with no continuation,
/// appended to `headers` in one pass: the name is read up to its colon, then the value
/// is scanned for its line end (and stray CR or NUL) from there, so no octet is crossed
/// twice. Returns the field and where the next line starts, or `None`, having done
/// nothing, for any other line (empty, folded, unterminated, malformed): the general
/// path takes those and gives the errors.
#[inline(always)]
fn fast_header_line<'h>(
    headers: &'h mut Headers,
    buf: &Bytes,
    pos: usize,
) -> Option<(&'h Header, usize)> {
    let s: &[u8] = buf;
    let name_end = syntax::name_stop(s, pos);
    // Only a colon right after the name; SWS before it goes the general way.
    if name_end == pos || s.get(name_end) != Some(&b':') {
        return None;
    }
    let name = match HeaderName::known_at(s, pos, name_end) {
        Some(name) => name,
        None if syntax::TOKEN.all(&s[pos..name_end]) => {
            HeaderName::Other(Bytes::copy_from_slice(&s[pos..name_end]))
        }
        None => return None,
    };
    let mut start = name_end + 1;
    if s.get(start) == Some(&b' ') {
        start += 1;
    }
    if s.get(start).is_some_and(|&b| syntax::is_wsp(b)) {
        start = syntax::skip_ws(s, start);
    }
    let line = syntax::scan_line(s, start);
    let folded = s.get(line.next).is_some_and(|&b| syntax::is_wsp(b));
    if !line.complete || line.controls || folded {
        return None;
    }
    let mut stop = line.end;
    while stop > start && syntax::is_wsp(s[stop - 1]) {
        stop -= 1;
    }
    let value = buf.slice(start.min(stop)..stop);
    Some((headers.push_received(name, value), line.next))
}

/// One header line `name SWS ":" value` spanning `buf[pos..end]`, appended to `headers`.
/// `controls` says that the line holds a stray CR or a NUL (see [`syntax::scan_line`]).
#[inline(always)]
fn push_header_line<'h>(
    headers: &'h mut Headers,
    buf: &Bytes,
    pos: usize,
    end: usize,
    controls: bool,
) -> Result<&'h Header> {
    let s: &[u8] = buf;
    // A known name is a token by construction; any other is checked.
    let name_end = syntax::name_end(s, pos, end);
    let raw_name = &s[pos..name_end];
    let name = match HeaderName::known_at(s, pos, name_end) {
        Some(name) => name,
        None if syntax::TOKEN.all(raw_name) => HeaderName::Other(Bytes::copy_from_slice(raw_name)),
        None => return Err(Error::HeaderLine),
    };
    // Nearly every line is `Name: value`; SWS around the colon takes the longer way.
    // Lines end at CR or LF, which stop the skips.
    let mut colon = name_end;
    if s.get(colon) != Some(&b':') {
        colon = syntax::skip_ws(s, name_end);
        if colon >= end || s[colon] != b':' {
            return Err(Error::HeaderLine);
        }
    }
    let mut start = colon + 1;
    if s.get(start) == Some(&b' ') {
        start += 1;
    }
    if s.get(start).is_some_and(|&b| syntax::is_wsp(b)) {
        start = syntax::skip_ws(s, start);
    }
    let start = start.min(end);
    let mut stop = end;
    while stop > start && syntax::is_wsp(s[stop - 1]) {
        stop -= 1;
    }
    let value = buf.slice(start..stop);
    // A bare CR, or a NUL outside a quoted-pair, cannot be in a header value (lines end
    // at LF, so no LF remains).
    if controls && !quoted_controls_only(&value) {
        return Err(Error::HeaderLine);
    }
    Ok(headers.push_received(name, value))
}

/// A header line continued on the lines after it (RFC 3261 §7.3.1): each continuation
/// becomes one SP followed by its trimmed text. `buf[pos..end]` is the first line and
/// `next` the start of the first continuation; returns the header and where the next
/// line starts.
fn folded_header_line(
    s: &[u8],
    pos: usize,
    end: usize,
    mut next: usize,
) -> Result<(HeaderName, Bytes, usize)> {
    let mut text = s[pos..end].to_vec();
    while next < s.len() && syntax::is_wsp(s[next]) {
        let cont = syntax::scan_line(s, next);
        text.push(b' ');
        text.extend_from_slice(syntax::trim(&s[next..cont.end]));
        next = cont.next;
    }
    let (name, after) = header_name(&text)?;
    let value = syntax::trim(&text[after..]);
    if memchr::memchr2(b'\r', 0, value).is_some() && !quoted_controls_only(value) {
        return Err(Error::HeaderLine);
    }
    Ok((name, Bytes::copy_from_slice(value), next))
}

/// RFC 4475 §3.1.1.2 puts NUL inside a quoted-pair of a display name; that is legal.
fn quoted_controls_only(v: &[u8]) -> bool {
    let mut i = 0;
    let mut in_quote = false;
    while i < v.len() {
        match v[i] {
            b'"' => in_quote = !in_quote,
            b'\\' if in_quote => i += 1,
            b'\r' | b'\n' | 0 => return false,
            _ => {}
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::method::Method;
    use crate::status::StatusCode;

    fn dg(s: &str) -> Result<Message> {
        Message::parse_datagram(Bytes::copy_from_slice(s.as_bytes()))
    }

    const OPTIONS: &str = "OPTIONS sip:user@example.com SIP/2.0\r\n\
        Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK776asdhds\r\n\
        Max-Forwards: 70\r\n\
        To: <sip:user@example.com>\r\n\
        From: Alice <sip:alice@example.com>;tag=1928301774\r\n\
        Call-ID: a84b4c76e66710@pc33.example.com\r\n\
        CSeq: 63104 OPTIONS\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn options() -> Result<()> {
        let Message::Request(r) = dg(OPTIONS)? else {
            panic!("not a request")
        };
        assert_eq!(r.method, Method::Options);
        assert_eq!(r.headers.cseq()?.seq, 63104);
        assert_eq!(r.headers.from()?.tag(), Some(&b"1928301774"[..]));
        assert_eq!(r.headers.max_forwards()?, Some(70));
        assert!(r.body.is_empty());
        Ok(())
    }

    #[test]
    fn start_line_errors() {
        assert_eq!(
            dg(&OPTIONS.replace("SIP/2.0\r\n", "SIP/7.0\r\n")).err(),
            Some(Error::VersionNotSupported)
        );
        assert!(matches!(
            dg(&OPTIONS.replace("OPTIONS sip", "OPTIONS  sip")).err(),
            Some(Error::StartLine(_))
        ));
        assert!(matches!(
            dg(&OPTIONS.replace("SIP/2.0\r\nVia", "SIP/2.0  \r\nVia")).err(),
            Some(Error::StartLine(_))
        ));
        assert!(matches!(
            dg(&OPTIONS.replace("SIP/2.0\r\nVia", "\r\nVia")).err(),
            Some(Error::StartLine(_))
        ));
        assert!(matches!(
            dg(&OPTIONS.replace("sip:user@example.com SIP", "<sip:user@example.com> SIP")).err(),
            Some(Error::RequestUri(_))
        ));
        // Lines the one-pass reading of a canonical Request-Line leaves to the general
        // path get its verdicts.
        for (from, to) in [
            (
                "sip:user@example.com SIP/2.0",
                "sip:user@example.com  SIP/2.0",
            ),
            (
                "sip:user@example.com SIP/2.0",
                "sip:us er@example.com SIP/2.0",
            ),
            (
                "sip:user@example.com SIP/2.0",
                "sip:user@example.com SIP/2.0 ",
            ),
            ("OPTIONS sip:", "OPT@IONS sip:"),
        ] {
            assert!(
                matches!(
                    dg(&OPTIONS.replace(from, to)).err(),
                    Some(Error::StartLine(_))
                ),
                "{to}"
            );
        }
        assert!(matches!(
            dg(&OPTIONS.replace("example.com SIP/2.0", "example.com?Subject=x SIP/2.0")).err(),
            Some(Error::RequestUri(_))
        ));
        assert!(dg(&OPTIONS.replace(" SIP/2.0\r\nVia", " sip/2.0\r\nVia")).is_ok());
        assert_eq!(
            dg(&OPTIONS.replace(" SIP/2.0\r\nVia", " SIP/2.1\r\nVia")).err(),
            Some(Error::VersionNotSupported)
        );
        assert_eq!(dg("").err(), Some(Error::Empty));
        assert_eq!(dg("\r\n\r\n").err(), Some(Error::Empty));
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            dg(&OPTIONS.replace("CSeq: 63104 OPTIONS", "CSeq: 63104 INVITE")).err(),
            Some(Error::CSeqMismatch)
        );
        assert_eq!(
            dg(&OPTIONS.replace("Call-ID: a84b4c76e66710@pc33.example.com\r\n", "")).err(),
            Some(Error::MissingHeader("Call-ID"))
        );
        assert_eq!(
            dg(&OPTIONS.replace(
                "Max-Forwards: 70\r\n",
                "Max-Forwards: 70\r\nMax-Forwards: 69\r\n"
            ))
            .err(),
            Some(Error::DuplicateHeader("Max-Forwards"))
        );
        assert_eq!(
            dg(&OPTIONS.replace("Max-Forwards: 70", "Max-Forwards: 300")).err(),
            Some(Error::OutOfRange("Max-Forwards"))
        );
        assert!(matches!(
            dg(&OPTIONS.replace("Content-Length: 0", "Content-Length: -1")).err(),
            Some(Error::InvalidHeader { .. })
        ));
        assert!(matches!(
            dg(&OPTIONS.replace("Content-Length: 0", "Content-Length: 10")).err(),
            Some(Error::BodyTruncated { .. })
        ));
        assert_eq!(
            dg(&OPTIONS.replace("Max-Forwards: 70\r\n", "Bogus line\r\n")).err(),
            Some(Error::HeaderLine)
        );
    }

    #[test]
    fn earliest_check_answers() {
        // Fields in any order: the Via check comes first, so an unknown version is a 505
        // even when From, further up, is broken too.
        let text = OPTIONS
            .replace("From: Alice", "From: Alice <sip:bad")
            .replace("Via: SIP/2.0/UDP", "Via: SIP/7.0/UDP");
        let text = text.replacen("Via:", "X-Via:", 1).replace(
            "Call-ID:",
            "Via: SIP/7.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\nCall-ID:",
        );
        assert_eq!(dg(&text).err(), Some(Error::VersionNotSupported));
        // A duplicate beats everything else.
        let dup = OPTIONS
            .replace(
                "CSeq: 63104 OPTIONS",
                "CSeq: 63104 OPTIONS\r\nCSeq: 1 OPTIONS",
            )
            .replace("Via: SIP/2.0/UDP", "Via: SIP/7.0/UDP");
        assert_eq!(dg(&dup).err(), Some(Error::DuplicateHeader("CSeq")));
        // Missing headers are reported in the order RFC 3261 §8.1.1 lists them.
        let bare = "OPTIONS sip:a@b SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
        assert_eq!(dg(bare).err(), Some(Error::MissingHeader("Via")));
        let no_to = OPTIONS.replace("To: <sip:user@example.com>\r\n", "");
        assert_eq!(dg(&no_to).err(), Some(Error::MissingHeader("To")));
        // A CSeq that does not parse is not mistaken for a method mismatch.
        let bad_cseq = OPTIONS.replace("CSeq: 63104 OPTIONS", "CSeq: x OPTIONS");
        assert!(matches!(
            dg(&bad_cseq).err(),
            Some(Error::InvalidHeader { name: "CSeq", .. })
        ));
        let contacts = OPTIONS.replace(
            "Content-Length: 0",
            "Contact: *\r\nContact: <sip:a@b>\r\nContent-Length: 0",
        );
        assert!(matches!(
            dg(&contacts).err(),
            Some(Error::InvalidHeader {
                name: "Contact",
                ..
            })
        ));
    }

    #[test]
    fn bodies_and_framing() -> Result<()> {
        let with_body = OPTIONS.replace(
            "Content-Length: 0\r\n\r\n",
            "Content-Length: 4\r\n\r\nabcdEXTRA",
        );
        assert_eq!(dg(&with_body)?.body().as_ref(), b"abcd");
        let no_cl = OPTIONS.replace("Content-Length: 0\r\n\r\n", "\r\nall of it");
        assert_eq!(dg(&no_cl)?.body().as_ref(), b"all of it");
        assert_eq!(
            Message::parse_stream(Bytes::copy_from_slice(no_cl.as_bytes())).err(),
            Some(Error::MissingContentLength)
        );
        let lf_only = OPTIONS.replace("\r\n", "\n");
        assert!(dg(&lf_only).is_ok());
        let keepalive = format!("\r\n\r\n{OPTIONS}");
        assert!(dg(&keepalive).is_ok());
        Ok(())
    }

    #[test]
    fn responses() -> Result<()> {
        let resp = "SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nTo: <sip:a@b>;tag=2\r\nFrom: <sip:c@d>;tag=1\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n\r\n";
        let Message::Response(r) = dg(resp)? else {
            panic!("not a response")
        };
        assert_eq!(r.status, StatusCode::RINGING);
        assert_eq!(&r.reason[..], b"Ringing");
        assert_eq!(
            dg(&resp.replace("180 Ringing", "4294967301 Ringing")).err(),
            Some(Error::StatusCode)
        );
        assert_eq!(
            dg(&resp.replace("180 Ringing", "099 Early")).err(),
            Some(Error::StatusCode)
        );
        let empty_reason = resp.replace("180 Ringing", "100 ");
        assert!(dg(&empty_reason).is_ok());
        Ok(())
    }

    #[test]
    fn folding() -> Result<()> {
        let folded = OPTIONS.replace("CSeq: 63104 OPTIONS", "CSeq: 63104\r\n   OPTIONS");
        let m = dg(&folded)?;
        assert_eq!(
            m.headers().call_id()?.as_ref(),
            b"a84b4c76e66710@pc33.example.com"
        );
        assert_eq!(
            m.headers().get_value(&HeaderName::CSeq).map(|v| v.as_ref()),
            Some(&b"63104 OPTIONS"[..])
        );
        Ok(())
    }
}
