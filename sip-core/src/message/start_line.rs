//! The start line: Request-Line or Status-Line (RFC 3261 §7.1, §7.2).

use crate::error::{Error, Result};
use crate::method::Method;
use crate::status::StatusCode;
use crate::syntax;
use crate::uri::{Context, Scheme, Uri};
use bytes::Bytes;

/// What a start line holds.
pub(super) enum StartLine {
    /// Method and Request-URI.
    Request(Method, Uri),
    /// Status code and reason phrase.
    Response(StatusCode, Bytes),
}

/// Parse the start line at `buf[pos..pos + len]` (its line end excluded).
pub(super) fn parse_start_line(buf: &Bytes, pos: usize, len: usize) -> Result<StartLine> {
    let line = &buf[pos..pos + len];
    if line.len() > 4 && line[..4].eq_ignore_ascii_case(b"SIP/") {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let sp = if line.starts_with(b"SIP/2.0 ") {
            7
        } else {
            let sp = syntax::find(b' ', line).ok_or(Error::StartLine("no status code"))?;
            check_version(&line[..sp])?;
            sp
        };
        let rest = &line[sp + 1..];
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits != 3 {
            return Err(Error::StatusCode);
        }
        let code = syntax::parse_u32(&rest[..3], 999).ok_or(Error::StatusCode)?;
        let status = u16::try_from(code)
            .ok()
            .and_then(StatusCode::from_u16)
            .ok_or(Error::StatusCode)?;
        let reason = match rest.get(3) {
            None => Bytes::new(),
            Some(b' ') => buf.slice(pos + sp + 5..pos + len),
            Some(_) => return Err(Error::StatusCode),
        };
        if reason.iter().any(|&b| b < 0x20 && b != b'\t') {
            return Err(Error::StartLine("control character in reason phrase"));
        }
        return Ok(StartLine::Response(status, reason));
    }
    // Request-Line = Method SP Request-URI SP SIP-Version (single SPs, RFC 4475 §3.1.2.9/10)
    if let Some(start) = canonical_request_line(buf, pos, len) {
        return Ok(start);
    }
    let sp1 = syntax::find(b' ', line).ok_or(Error::StartLine("no Request-URI"))?;
    let method = &line[..sp1];
    if !syntax::TOKEN.all(method) {
        return Err(Error::StartLine("bad method"));
    }
    let sp2 =
        syntax::find(b' ', &line[sp1 + 1..]).ok_or(Error::StartLine("no SIP-Version"))? + sp1 + 1;
    let version = &line[sp2 + 1..];
    if version.contains(&b' ') || version.contains(&b'\t') {
        return Err(Error::StartLine("extra white space in Request-Line"));
    }
    let uri_text = &line[sp1 + 1..sp2];
    if uri_text.is_empty() {
        return Err(Error::StartLine("extra white space in Request-Line"));
    }
    check_version(version)?;
    let uri =
        Uri::parse_in(buf, pos + sp1 + 1, pos + sp2, Context::Whole).map_err(Error::RequestUri)?;
    if uri.headers().is_some() && matches!(uri.scheme(), Scheme::Sip | Scheme::Sips) {
        // RFC 3261 §19.1.1 table: headers are not allowed in a Request-URI (RFC 4475 §3.1.2.11).
        return Err(Error::RequestUri("headers not allowed in Request-URI"));
    }
    Ok(StartLine::Request(Method::from_token(method), uri))
}

/// `Method SP Request-URI SP "SIP/2.0"` read in one pass: the method as a run of token
/// octets, the version as the line's last eight octets, and the URI scanned in between
/// (a URI holds no space, so it cannot hide a second one). `None` for any other line:
/// the general path reads it and gives the error.
#[inline]
fn canonical_request_line(buf: &Bytes, pos: usize, len: usize) -> Option<StartLine> {
    let line = &buf[pos..pos + len];
    let method_len = syntax::TOKEN.span(line);
    if method_len == 0 || line.get(method_len) != Some(&b' ') || !line.ends_with(b" SIP/2.0") {
        return None;
    }
    let (start, end) = (pos + method_len + 1, pos + len - 8);
    if end <= start {
        return None;
    }
    let uri = Uri::parse_in(buf, start, end, Context::Whole).ok()?;
    if uri.headers().is_some() && matches!(uri.scheme(), Scheme::Sip | Scheme::Sips) {
        return None;
    }
    Some(StartLine::Request(
        Method::from_token(&line[..method_len]),
        uri,
    ))
}

/// SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT; only 2.0 is served (505 otherwise).
fn check_version(v: &[u8]) -> Result<()> {
    if v.len() < 4 || !v[..4].eq_ignore_ascii_case(b"SIP/") {
        return Err(Error::StartLine("bad SIP-Version"));
    }
    let n = &v[4..];
    let dot = syntax::find(b'.', n).ok_or(Error::StartLine("bad SIP-Version"))?;
    let (major, minor) = (&n[..dot], &n[dot + 1..]);
    if major.is_empty() || minor.is_empty() || !major.iter().chain(minor).all(u8::is_ascii_digit) {
        return Err(Error::StartLine("bad SIP-Version"));
    }
    if n != b"2.0" {
        return Err(Error::VersionNotSupported);
    }
    Ok(())
}
