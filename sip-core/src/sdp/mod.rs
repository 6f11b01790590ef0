//! SDP (RFC 8866, formerly RFC 4566): parse and print the parts a media relay needs.
//!
//! The parser models `v=`, `o=`, `c=`, `m=` and the attributes a relay reads or rewrites
//! (`rtpmap`, `fmtp`, `ptime`, `rtcp`, and the direction attributes). Every other line is
//! kept verbatim in its place, so `print(parse(x)) == x` for a well-formed body with CRLF
//! line endings (LF-only bodies are accepted and printed back with CRLF).
//!
//! The body is parsed from `&[u8]` or [`bytes::Bytes`]; lines and fields are sub-slices of
//! the body, so a parse allocates only the line tables.
//!
//! ```
//! use sip_core::sdp::{Direction, SessionDescription};
//!
//! let body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.10\r\ns=-\r\nc=IN IP4 192.0.2.10\r\nt=0 0\r\n\
//!              m=audio 40000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\n\
//!              a=sendonly\r\n";
//! let mut sdp = SessionDescription::parse(body)?;
//! assert_eq!(sdp.media()[0].port(), 40000);
//! assert!(sdp.is_hold(0));
//! sdp.set_connection("203.0.113.5".parse().unwrap());
//! sdp.media_mut()[0].set_port(30000);
//! sdp.media_mut()[0].set_direction(Direction::SendRecv);
//! sdp.bump_version()?;
//! assert!(sdp.to_string().contains("m=audio 30000 RTP/AVP 0 101\r\n"));
//! # Ok::<(), sip_core::sdp::SdpError>(())
//! ```

mod attribute;
mod connection;
mod error;
mod media;
#[cfg(test)]
mod tests;
mod text;

use std::fmt;
use std::net::IpAddr;

use bytes::Bytes;

pub use attribute::{Attribute, Direction, Fmtp, Rtcp, RtpMap};
pub use connection::{AddrType, Address, Connection, Origin};
pub use error::SdpError;
pub use media::MediaDescription;

use attribute::parse_ptime;
use media::{attr_line, attributes, replace_attribute};
use text::as_str;

/// One line of a description, typed where a relay needs it and verbatim otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Line {
    // Boxed: these are large and appear once or twice per body, while `Other` lines are
    // many; a small `Line` keeps the line tables compact.
    Origin(Box<Origin>),
    Connection(Box<Connection>),
    /// Any other line: its type letter and the value after `=`, verbatim.
    Other {
        kind: u8,
        value: Val,
    },
}

/// A line's value: a span of the parsed body (no copy, no reference count per line), or
/// text a setter wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Span(u32, u32),
    Owned(Bytes),
}

impl Val {
    pub(crate) fn get<'a>(&'a self, src: &'a [u8]) -> &'a [u8] {
        match self {
            Val::Span(a, b) => src.get(*a as usize..*b as usize).unwrap_or_default(),
            Val::Owned(b) => b,
        }
    }
}

pub(crate) fn write_line(line: &Line, src: &[u8], out: &mut Vec<u8>) {
    let (kind, value): (u8, &[u8]) = match line {
        Line::Origin(o) => (b'o', o.raw()),
        Line::Connection(c) => (b'c', c.raw()),
        Line::Other { kind, value } => (*kind, value.get(src)),
    };
    out.push(kind);
    out.push(b'=');
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A parsed session description: session-level lines, then media descriptions.
///
/// Equality means "prints the same".
#[derive(Debug, Clone)]
pub struct SessionDescription {
    /// The parsed body; unmodelled lines are spans of it.
    src: Bytes,
    /// Session-level lines in order, starting with `v=`.
    lines: Vec<Line>,
    media: Vec<MediaDescription>,
    /// Empty lines after the last line; some stacks (RFC 4475 multi01) end the body with
    /// one, and a round trip keeps them.
    trailing_blank: usize,
}

impl SessionDescription {
    /// Parses a body given as bytes (copied once into a shared buffer).
    pub fn parse(body: &[u8]) -> Result<Self, SdpError> {
        Self::parse_bytes(Bytes::copy_from_slice(body))
    }

    /// Parses a body held in [`Bytes`] without copying it.
    pub fn parse_bytes(body: Bytes) -> Result<Self, SdpError> {
        if u32::try_from(body.len()).is_err() {
            return Err(SdpError::TooLarge);
        }
        // Almost every body is ASCII, and the ASCII check is much cheaper than UTF-8 decoding.
        if !is_ascii(&body)
            && let Err(e) = std::str::from_utf8(&body)
        {
            let line = 1 + memchr::memchr_iter(b'\n', &body[..e.valid_up_to()]).count();
            return Err(SdpError::NotUtf8 { line });
        }
        let mut lines: Vec<Line> = Vec::with_capacity(8);
        let mut media: Vec<MediaDescription> = Vec::new();
        let mut line_no = 0usize;
        let mut blank_at: Option<usize> = None;
        let mut blanks = 0usize;
        let mut pos = 0usize;
        // One iterator over the whole body amortises memchr's set-up across all lines.
        let mut newlines = memchr::memchr_iter(b'\n', &body);
        let mut has_origin = false;
        while pos < body.len() {
            let end = newlines.next().unwrap_or(body.len());
            let next = end + 1;
            let mut stop = end;
            if stop > pos && body[stop - 1] == b'\r' {
                stop -= 1;
            }
            line_no += 1;
            let start = pos;
            let raw = &body[start..stop];
            pos = next;
            if raw.is_empty() {
                blank_at.get_or_insert(line_no);
                blanks += 1;
                continue;
            }
            if let Some(line) = blank_at {
                return Err(SdpError::EmptyLine { line });
            }
            if raw.len() < 2 || raw[1] != b'=' || !raw[0].is_ascii_lowercase() {
                return Err(SdpError::MalformedLine { line: line_no });
            }
            let kind = raw[0];
            let span = Val::Span((start + 2) as u32, stop as u32);
            if line_no == 1 {
                // RFC 8866 §5.1: the description starts with v=0.
                if kind != b'v' || &raw[2..] != b"0" {
                    return Err(SdpError::BadVersion { line: 1 });
                }
                lines.push(Line::Other { kind, value: span });
                continue;
            }
            let line = match kind {
                b'm' => {
                    let m = MediaDescription::parse(&body, start + 2, stop, line_no)
                        .ok_or(SdpError::BadMedia { line: line_no })?;
                    media.push(m);
                    continue;
                }
                b'c' => Line::Connection(Box::new(
                    Connection::parse(&body.slice(start + 2..stop))
                        .ok_or(SdpError::BadConnection { line: line_no })?,
                )),
                b'o' if media.is_empty() && !has_origin => {
                    has_origin = true;
                    Line::Origin(Box::new(
                        Origin::parse(&body.slice(start + 2..stop))
                            .ok_or(SdpError::BadOrigin { line: line_no })?,
                    ))
                }
                b'a' => {
                    check_attribute(&raw[2..], line_no)?;
                    Line::Other { kind, value: span }
                }
                _ => Line::Other { kind, value: span },
            };
            match media.last_mut() {
                Some(m) => m.lines.push(line),
                None => lines.push(line),
            }
        }
        if line_no == 0 || lines.is_empty() {
            return Err(SdpError::Empty);
        }
        if !has_origin {
            return Err(SdpError::MissingOrigin);
        }
        let session_c = lines.iter().any(|l| matches!(l, Line::Connection(_)));
        if !session_c {
            // RFC 8866 §5.7: a c= line MUST be at session level or in every media description.
            if let Some(m) = media
                .iter()
                .find(|m| !m.is_rejected() && m.connection().is_none())
            {
                return Err(SdpError::MissingConnection { line: m.line_no });
            }
        }
        Ok(Self {
            src: body,
            lines,
            media,
            trailing_blank: blanks,
        })
    }

    /// Prints the description with CRLF line endings.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        Bytes::from(out)
    }

    /// Appends the printed description to `out`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        for line in &self.lines {
            write_line(line, &self.src, out);
        }
        for m in &self.media {
            m.write_m_line(out);
        }
        for _ in 0..self.trailing_blank {
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The `o=` line.
    pub fn origin(&self) -> Option<&Origin> {
        self.lines.iter().find_map(|l| match l {
            Line::Origin(o) => Some(&**o),
            _ => None,
        })
    }

    /// Increments the `o=` session version, as RFC 3264 §8 requires for every changed
    /// offer or answer in the same session.
    pub fn bump_version(&mut self) -> Result<u64, SdpError> {
        let o = self.origin_mut().ok_or(SdpError::MissingOrigin)?;
        let v = o
            .version()
            .checked_add(1)
            .ok_or(SdpError::VersionOverflow)?;
        o.set_version(v);
        Ok(v)
    }

    /// Sets the `o=` session version (a relay keeps its own counter per leg).
    pub fn set_version(&mut self, version: u64) -> Result<(), SdpError> {
        self.origin_mut()
            .ok_or(SdpError::MissingOrigin)?
            .set_version(version);
        Ok(())
    }

    /// Rewrites the `o=` address (a relay hides the peer's address there too).
    pub fn set_origin_address(&mut self, ip: IpAddr) -> Result<(), SdpError> {
        self.origin_mut()
            .ok_or(SdpError::MissingOrigin)?
            .set_address(ip);
        Ok(())
    }

    fn origin_mut(&mut self) -> Option<&mut Origin> {
        self.lines.iter_mut().find_map(|l| match l {
            Line::Origin(o) => Some(&mut **o),
            _ => None,
        })
    }

    /// The session-level `c=` line.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match l {
            Line::Connection(c) => Some(&**c),
            _ => None,
        })
    }

    /// Sets the session-level connection address, replacing the `c=` line or inserting one
    /// where RFC 8866 §5 orders it (before `b=`, `t=`, `r=`, `z=`, `k=` and `a=`), and
    /// rewrites every media-level `c=` line too, so that no peer address survives.
    pub fn set_connection(&mut self, ip: IpAddr) {
        let new = Line::Connection(Box::new(Connection::new(ip)));
        match self
            .lines
            .iter_mut()
            .find(|l| matches!(l, Line::Connection(_)))
        {
            Some(slot) => *slot = new,
            None => {
                let at = self
                    .lines
                    .iter()
                    .position(|l| matches!(l, Line::Other { kind, .. } if b"btrzka".contains(kind)))
                    .unwrap_or(self.lines.len());
                self.lines.insert(at, new);
            }
        }
        for m in &mut self.media {
            if m.connection().is_some() {
                m.set_connection(ip);
            }
        }
    }

    /// Session-level attributes, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        attributes(&self.src, &self.lines)
    }

    /// The first session-level attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.attributes().find(|a| a.name == name)
    }

    /// The session-level direction attribute, if one is written.
    pub fn direction(&self) -> Option<Direction> {
        media::direction(&self.src, &self.lines)
    }

    /// Writes (or with `None` removes) the session-level direction attribute.
    pub fn set_direction(&mut self, dir: Option<Direction>) {
        replace_attribute(
            &self.src,
            &mut self.lines,
            |a| Direction::from_name(a.name).is_some(),
            dir.map(|d| attr_line(d.as_str(), None)),
        );
    }

    /// Session-level `a=ptime`, which some endpoints write there.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .and_then(|a| a.value)
            .and_then(parse_ptime)
    }

    /// The media descriptions, in order.
    pub fn media(&self) -> &[MediaDescription] {
        &self.media
    }

    /// The media descriptions, for rewriting.
    pub fn media_mut(&mut self) -> &mut [MediaDescription] {
        &mut self.media
    }

    /// The connection that applies to media description `index`: its own `c=` line, else
    /// the session's (RFC 8866 §5.7).
    pub fn media_connection(&self, index: usize) -> Option<&Connection> {
        self.media
            .get(index)
            .and_then(MediaDescription::connection)
            .or_else(|| self.connection())
    }

    /// The effective direction of media description `index`: media level, else session
    /// level, else `sendrecv` (RFC 8866 §6.7, RFC 3264 §5.1).
    pub fn media_direction(&self, index: usize) -> Direction {
        self.media
            .get(index)
            .and_then(MediaDescription::direction)
            .or_else(|| self.direction())
            .unwrap_or(Direction::SendRecv)
    }

    /// True when the writer of this description puts stream `index` on hold: it is
    /// `sendonly` or `inactive` (RFC 3264 §8.4), or its address is `0.0.0.0` (RFC 2543).
    pub fn is_hold(&self, index: usize) -> bool {
        matches!(
            self.media_direction(index),
            Direction::SendOnly | Direction::Inactive
        ) || self
            .media_connection(index)
            .is_some_and(Connection::is_hold)
    }
}

impl PartialEq for SessionDescription {
    fn eq(&self, other: &Self) -> bool {
        self.to_bytes() == other.to_bytes()
    }
}

impl Eq for SessionDescription {}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(512);
        self.write_to(&mut out);
        f.write_str(as_str(&out))
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = SdpError;

    fn from_str(s: &str) -> Result<Self, SdpError> {
        Self::parse(s.as_bytes())
    }
}

/// `<[u8]>::is_ascii`, eight bytes at a time (the standard one runs byte by byte on
/// short inputs here, and this check covers every byte of every body).
fn is_ascii(b: &[u8]) -> bool {
    let mut chunks = b.chunks_exact(8);
    let mut acc = 0u64;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        acc |= u64::from_ne_bytes(w);
    }
    acc & 0x8080_8080_8080_8080 == 0 && chunks.remainder().iter().all(u8::is_ascii)
}

/// Checks the attributes this module gives typed access to, so that a typed accessor
/// never meets a malformed value.
fn check_attribute(value: &[u8], line: usize) -> Result<(), SdpError> {
    if !(value.starts_with(b"rtpmap")
        || value.starts_with(b"fmtp")
        || value.starts_with(b"ptime")
        || value.starts_with(b"rtcp"))
    {
        return Ok(());
    }
    // One UTF-8 view for the name and value (the body was validated already).
    let text = text::as_str(value);
    let a = match text.bytes().position(|b| b == b':') {
        Some(i) => Attribute {
            name: &text[..i],
            value: Some(&text[i + 1..]),
        },
        None => Attribute {
            name: text,
            value: None,
        },
    };
    let ok = match (a.name, a.value) {
        ("rtpmap", Some(v)) => RtpMap::parse(v).is_some(),
        ("fmtp", Some(v)) => Fmtp::parse(v).is_some(),
        ("ptime", Some(v)) => parse_ptime(v).is_some(),
        ("rtcp", Some(v)) => Rtcp::parse(v).is_some(),
        ("rtpmap" | "fmtp" | "ptime" | "rtcp", None) => false,
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        let name = match a.name {
            "rtpmap" => "rtpmap",
            "fmtp" => "fmtp",
            "ptime" => "ptime",
            _ => "rtcp",
        };
        Err(SdpError::BadAttribute { line, name })
    }
}
