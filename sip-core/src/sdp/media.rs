//! One media description: the `m=` line and the lines that follow it.

use std::net::IpAddr;

use bytes::Bytes;

use super::attribute::{Attribute, Direction, Fmtp, Rtcp, RtpMap, parse_ptime};
use super::connection::{Connection, parse_u64};
use super::error::SdpError;
use super::text::{as_str, is_line_safe, is_token};
use super::{Line, Val, write_line};

/// A media description (RFC 8866 §5.14): `m=<media> <port>[/<count>] <proto> <fmt> ...`
/// followed by its `i=`, `c=`, `b=`, `k=` and `a=` lines, kept in their order.
///
/// Fields and lines are spans of the parsed body (shared, never copied); lines a setter
/// writes are owned.
#[derive(Debug, Clone)]
pub struct MediaDescription {
    src: Bytes,
    media: (u32, u32),
    port: u16,
    port_count: Option<u16>,
    proto: (u32, u32),
    /// Everything after the proto field, verbatim (`0 8 101`).
    formats: (u32, u32),
    pub(crate) lines: Vec<Line>,
    /// 1-based line number of the `m=` line in the parsed body (0 when built by code).
    pub(crate) line_no: usize,
}

impl MediaDescription {
    /// Parses the `m=` line whose value is `src[start..end]`.
    pub(crate) fn parse(src: &Bytes, start: usize, end: usize, line_no: usize) -> Option<Self> {
        let v = src.get(start..end)?;
        let sp1 = v.iter().position(|&b| b == b' ')?;
        let sp2 = sp1 + 1 + v[sp1 + 1..].iter().position(|&b| b == b' ')?;
        let sp3 = v[sp2 + 1..]
            .iter()
            .position(|&b| b == b' ')
            .map(|i| sp2 + 1 + i);
        let proto_end = sp3.unwrap_or(v.len());
        if sp1 == 0 || proto_end == sp2 + 1 {
            return None;
        }
        let port_field = &v[sp1 + 1..sp2];
        let (port, port_count) = match port_field.iter().position(|&b| b == b'/') {
            Some(i) => (
                parse_u16(&port_field[..i])?,
                Some(parse_u16(&port_field[i + 1..])?),
            ),
            None => (parse_u16(port_field)?, None),
        };
        let formats = match sp3 {
            Some(i) => &v[i + 1..],
            None => &[][..],
        };
        if !formats.is_empty() && formats.split(|&b| b == b' ').any(|f| f.is_empty()) {
            return None;
        }
        let at = |a: usize, b: usize| ((start + a) as u32, (start + b) as u32);
        Some(Self {
            src: src.clone(),
            media: at(0, sp1),
            port,
            port_count,
            proto: at(sp2 + 1, proto_end),
            formats: match sp3 {
                Some(i) => at(i + 1, v.len()),
                None => at(v.len(), v.len()),
            },
            lines: Vec::with_capacity(8),
            line_no,
        })
    }

    fn span(&self, (a, b): (u32, u32)) -> &[u8] {
        self.src.get(a as usize..b as usize).unwrap_or_default()
    }

    pub(crate) fn write_m_line(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"m=");
        out.extend_from_slice(self.span(self.media));
        out.push(b' ');
        push_u16(out, self.port);
        if let Some(n) = self.port_count {
            out.push(b'/');
            push_u16(out, n);
        }
        out.push(b' ');
        out.extend_from_slice(self.span(self.proto));
        let formats = self.span(self.formats);
        if !formats.is_empty() {
            out.push(b' ');
            out.extend_from_slice(formats);
        }
        out.extend_from_slice(b"\r\n");
        for line in &self.lines {
            write_line(line, &self.src, out);
        }
    }

    /// The media type: `audio`, `video`, `application`, ...
    pub fn media_type(&self) -> &str {
        as_str(self.span(self.media))
    }

    /// The transport port. Zero means the stream is rejected or disabled (RFC 3264 §6).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Rewrites the port (the relay's own port), keeping any port count.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
    }

    /// The `/<number of ports>` suffix, when present.
    pub fn port_count(&self) -> Option<u16> {
        self.port_count
    }

    /// The transport protocol: `RTP/AVP`, `RTP/SAVP`, `UDP/TLS/RTP/SAVPF`, ...
    pub fn proto(&self) -> &str {
        as_str(self.span(self.proto))
    }

    /// The media formats (payload type numbers for RTP), in order of preference.
    pub fn formats(&self) -> impl Iterator<Item = &str> {
        as_str(self.span(self.formats))
            .split(' ')
            .filter(|f| !f.is_empty())
    }

    /// True when the stream is rejected or disabled (port zero, RFC 3264 §5.1).
    pub fn is_rejected(&self) -> bool {
        self.port == 0
    }

    /// The media-level `c=` line, if this description has one.
    pub fn connection(&self) -> Option<&Connection> {
        self.lines.iter().find_map(|l| match l {
            Line::Connection(c) => Some(&**c),
            _ => None,
        })
    }

    /// Sets the media-level connection address: replaces the first `c=` line, or inserts
    /// one where RFC 8866 §5 orders it (after `m=` and any `i=`).
    pub fn set_connection(&mut self, ip: IpAddr) {
        let new = Line::Connection(Box::new(Connection::new(ip)));
        if let Some(slot) = self
            .lines
            .iter_mut()
            .find(|l| matches!(l, Line::Connection(_)))
        {
            *slot = new;
            return;
        }
        let at = self
            .lines
            .iter()
            .take_while(|l| matches!(l, Line::Other { kind: b'i', .. }))
            .count();
        self.lines.insert(at, new);
    }

    /// Removes every media-level `c=` line, so that the session-level one applies.
    pub fn remove_connection(&mut self) {
        self.lines.retain(|l| !matches!(l, Line::Connection(_)));
    }

    /// Every `a=` attribute, in order.
    pub fn attributes(&self) -> impl Iterator<Item = Attribute<'_>> {
        attributes(&self.src, &self.lines)
    }

    /// The first attribute with this name.
    pub fn attribute(&self, name: &str) -> Option<Attribute<'_>> {
        self.attributes().find(|a| a.name == name)
    }

    /// Every well-formed `a=rtpmap` (the parser rejected malformed ones).
    pub fn rtpmaps(&self) -> impl Iterator<Item = RtpMap<'_>> {
        self.attributes()
            .filter(|a| a.name == "rtpmap")
            .filter_map(|a| a.value.and_then(RtpMap::parse))
    }

    /// The `a=rtpmap` of one payload type.
    pub fn rtpmap(&self, payload_type: u8) -> Option<RtpMap<'_>> {
        self.rtpmaps().find(|r| r.payload_type == payload_type)
    }

    /// The `a=fmtp` of one payload type.
    pub fn fmtp(&self, payload_type: u8) -> Option<Fmtp<'_>> {
        self.attributes()
            .filter(|a| a.name == "fmtp")
            .filter_map(|a| a.value.and_then(Fmtp::parse))
            .find(|f| f.payload_type() == Some(payload_type))
    }

    /// `a=ptime` in milliseconds.
    pub fn ptime(&self) -> Option<u32> {
        self.attribute("ptime")
            .and_then(|a| a.value)
            .and_then(parse_ptime)
    }

    /// `a=rtcp` (RFC 3605), when present.
    pub fn rtcp(&self) -> Option<Rtcp> {
        self.attribute("rtcp")
            .and_then(|a| a.value)
            .and_then(Rtcp::parse)
    }

    /// Replaces (or adds, or with `None` removes) the `a=rtcp` attribute.
    pub fn set_rtcp(&mut self, rtcp: Option<&Rtcp>) {
        let line = rtcp.map(|r| attr_line("rtcp", Some(&r.to_string())));
        replace_attribute(&self.src, &mut self.lines, |a| a.name == "rtcp", line);
    }

    /// The direction written at media level, if any (see
    /// [`SessionDescription::media_direction`](super::SessionDescription::media_direction)
    /// for the effective one).
    pub fn direction(&self) -> Option<Direction> {
        direction(&self.src, &self.lines)
    }

    /// Writes this direction at media level, replacing any direction attribute in place.
    pub fn set_direction(&mut self, dir: Direction) {
        replace_attribute(
            &self.src,
            &mut self.lines,
            |a| Direction::from_name(a.name).is_some(),
            Some(attr_line(dir.as_str(), None)),
        );
    }

    /// Removes any media-level direction attribute.
    pub fn remove_direction(&mut self) {
        replace_attribute(
            &self.src,
            &mut self.lines,
            |a| Direction::from_name(a.name).is_some(),
            None,
        );
    }

    /// The RFC 4733 `telephone-event` format offered in this description, if any.
    pub fn telephone_event(&self) -> Option<RtpMap<'_>> {
        self.rtpmaps().find(RtpMap::is_telephone_event)
    }

    /// Removes every attribute with this name (e.g. ICE `candidate` lines that would
    /// point past the relay); returns how many were removed.
    pub fn remove_attributes(&mut self, name: &str) -> usize {
        let before = self.lines.len();
        let src = &self.src;
        self.lines.retain(|l| match l {
            Line::Other { kind: b'a', value } => Attribute::parse(value.get(src)).name != name,
            _ => true,
        });
        before - self.lines.len()
    }

    /// Appends an attribute at the end of this media description.
    pub fn push_attribute(&mut self, name: &str, value: Option<&str>) -> Result<(), SdpError> {
        if !is_token(name) || name.contains(':') {
            return Err(SdpError::InvalidValue("attribute name"));
        }
        if value.is_some_and(|v| !is_line_safe(v)) {
            return Err(SdpError::InvalidValue("attribute value"));
        }
        self.lines.push(attr_line(name, value));
        Ok(())
    }
}

pub(crate) fn attributes<'a>(
    src: &'a [u8],
    lines: &'a [Line],
) -> impl Iterator<Item = Attribute<'a>> {
    lines.iter().filter_map(move |l| match l {
        Line::Other { kind: b'a', value } => Some(Attribute::parse(value.get(src))),
        _ => None,
    })
}

pub(crate) fn direction(src: &[u8], lines: &[Line]) -> Option<Direction> {
    attributes(src, lines).find_map(|a| Direction::from_name(a.name))
}

pub(crate) fn attr_line(name: &str, value: Option<&str>) -> Line {
    let text = match value {
        Some(v) => format!("{name}:{v}"),
        None => name.to_owned(),
    };
    Line::Other {
        kind: b'a',
        value: Val::Owned(Bytes::from(text)),
    }
}

/// Replaces the first attribute matching `pred` with `new` (or removes it when `new` is
/// `None`), drops any further matches, and appends `new` when nothing matched.
pub(crate) fn replace_attribute(
    src: &[u8],
    lines: &mut Vec<Line>,
    pred: impl Fn(&Attribute<'_>) -> bool,
    new: Option<Line>,
) {
    let matches = |l: &Line| match l {
        Line::Other { kind: b'a', value } => pred(&Attribute::parse(value.get(src))),
        _ => false,
    };
    match lines.iter().position(matches) {
        Some(first) => {
            let mut i = 0;
            lines.retain(|l| {
                let keep = i <= first || !matches(l);
                i += 1;
                keep
            });
            match new {
                Some(n) => lines[first] = n,
                None => {
                    lines.remove(first);
                }
            }
        }
        None => {
            if let Some(n) = new {
                lines.push(n);
            }
        }
    }
}

fn parse_u16(b: &[u8]) -> Option<u16> {
    parse_u64(b).and_then(|v| u16::try_from(v).ok())
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    let mut buf = [0u8; 5];
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

impl PartialEq for MediaDescription {
    /// Two descriptions are equal when they print the same.
    fn eq(&self, other: &Self) -> bool {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        self.write_m_line(&mut a);
        other.write_m_line(&mut b);
        a == b
    }
}

impl Eq for MediaDescription {}
