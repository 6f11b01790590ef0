//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use super::field::List;
use crate::error::{Error, Result};
use crate::params::{self, Params};
use crate::syntax;
use crate::uri::{self, HostKind};
use bytes::Bytes;
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The RFC 3261 branch prefix ("magic cookie", §8.1.1.7).
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// A transport named in a Via sent-protocol or a `transport=` URI parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP.
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
    /// SCTP.
    Sctp,
    /// WebSocket (RFC 7118).
    Ws,
    /// Secure WebSocket (RFC 7118).
    Wss,
    /// Any other transport token (RFC 4475 §3.1.1.10 uses `UNKNOWN`).
    Other,
}

impl Transport {
    /// Classify a transport token (case-insensitive).
    pub fn from_token(t: &[u8]) -> Transport {
        const NAMES: [(&[u8], Transport); 6] = [
            (b"UDP", Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"SCTP", Transport::Sctp),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(t))
            .map_or(Transport::Other, |(_, tr)| *tr)
    }

    /// The token as printed in a Via.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
            Transport::Sctp => "SCTP",
            Transport::Ws => "WS",
            Transport::Wss => "WSS",
            Transport::Other => "UNKNOWN",
        }
    }

    /// Whether messages on this transport are framed by Content-Length in a byte stream.
    pub fn is_stream(self) -> bool {
        !matches!(self, Transport::Udp)
    }

    /// The default port (RFC 3261 §19.1.2, §18.2.2).
    pub fn default_port(self) -> u16 {
        match self {
            Transport::Tls | Transport::Wss => 5061,
            _ => 5060,
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One via-parm: `SIP/2.0/UDP host:port;branch=...`, kept as received.
#[derive(Clone)]
pub struct Via {
    /// The header value holding this via-parm (and maybe others).
    raw: Bytes,
    /// Where this via-parm is in `raw`; the other ranges are relative to its start.
    at: (u32, u32),
    transport: Transport,
    transport_span: (u32, u32),
    host: (u32, u32),
    host_kind: HostKind,
    port: Option<u16>,
    params: (u32, u32),
}

fn span(s: (u32, u32)) -> std::ops::Range<usize> {
    s.0 as usize..s.1 as usize
}

impl Via {
    /// Parse one header value holding one or more via-parms separated by commas. The
    /// usual single via-parm is returned without building a vector.
    pub(super) fn parse_list(value: &Bytes) -> Result<List<Via>> {
        let s: &[u8] = value;
        let bad = |reason| Error::InvalidHeader {
            name: "Via",
            reason,
        };
        let (first, end) = Via::parse_one(value, 0).map_err(bad)?;
        let first = first?;
        let mut i = syntax::skip_ws(s, end);
        if i >= s.len() {
            return Ok(List::One(first));
        }
        let mut all = vec![first];
        loop {
            if s[i] != b',' {
                return Err(bad("junk after via-parm"));
            }
            i = syntax::skip_ws(s, i + 1);
            if i >= s.len() {
                return Err(bad("empty via-parm"));
            }
            let (via, end) = Via::parse_one(value, i).map_err(bad)?;
            all.push(via?);
            i = syntax::skip_ws(s, end);
            if i >= s.len() {
                return Ok(List::Many(all));
            }
        }
    }

    /// Parse a single via-parm given as text (for building messages).
    pub fn parse(text: &str) -> Result<Via> {
        let b = Bytes::copy_from_slice(text.trim().as_bytes());
        match Via::parse_list(&b)? {
            List::One(v) => Ok(v),
            List::Many(_) => Err(Error::InvalidHeader {
                name: "Via",
                reason: "expected one via-parm",
            }),
        }
    }

    /// Build a Via for a request this element sends (RFC 3261 §8.1.1.7, §18.1.1).
    pub fn new(
        transport: Transport,
        host: &str,
        port: Option<u16>,
        branch: &str,
        rport: bool,
    ) -> Result<Via> {
        let mut s = format!("SIP/2.0/{} ", transport.as_str());
        if host.contains(':') && !host.starts_with('[') {
            s.push('[');
            s.push_str(host);
            s.push(']');
        } else {
            s.push_str(host);
        }
        if let Some(p) = port {
            s.push(':');
            s.push_str(&p.to_string());
        }
        s.push_str(";branch=");
        s.push_str(branch);
        if rport {
            s.push_str(";rport");
        }
        Via::parse(&s)
    }

    /// Parse the via-parm starting at `start`; returns it and the index just past it.
    fn parse_one(
        value: &Bytes,
        start: usize,
    ) -> std::result::Result<(Result<Via>, usize), &'static str> {
        let s: &[u8] = value;
        let i = syntax::skip_ws(s, start);
        // sent-protocol = protocol-name SLASH protocol-version SLASH transport; SLASH = SWS "/" SWS
        let (mut j, known_version) = match s.get(i..i + 8) {
            Some(p) if p.eq_ignore_ascii_case(b"SIP/2.0/") => (i + 8, true),
            _ => sent_protocol_slow(s, i)?,
        };
        let t_len = syntax::TOKEN.span(&s[j..]);
        if t_len == 0 {
            return Err("missing transport");
        }
        let transport_span = (j as u32, (j + t_len) as u32);
        let transport = Transport::from_token(&s[j..j + t_len]);
        j += t_len;
        let k = syntax::skip_ws(s, j);
        if k == j {
            return Err("missing space before sent-by");
        }
        let (host_len, host_kind) = uri::scan_host(&s[k..])?;
        let host = (k as u32, (k + host_len) as u32);
        let mut m = k + host_len;
        let mut port = None;
        let c = syntax::skip_ws(s, m);
        if s.get(c) == Some(&b':') {
            let p = syntax::skip_ws(s, c + 1);
            let (digits, value) = syntax::leading_digits(&s[p..], u32::from(u16::MAX));
            if digits == 0 {
                return Err("bad port");
            }
            port = Some(value.ok_or("bad port")? as u16);
            m = p + digits;
        }
        let plen = params::scan_header_params(&s[m..])?;
        let params = (m as u32, (m + plen) as u32);
        let end = m + plen;
        if !known_version {
            // RFC 3261 §8.2.2 / RFC 4475 §3.1.2.16: an unknown version is answered 505.
            return Ok((Err(Error::VersionNotSupported), end));
        }
        let base = i as u32;
        let rebase = |r: (u32, u32)| (r.0 - base, r.1 - base);
        Ok((
            Ok(Via {
                raw: value.clone(),
                at: (base, end as u32),
                transport,
                transport_span: rebase(transport_span),
                host: rebase(host),
                host_kind,
                port,
                params: rebase(params),
            }),
            end,
        ))
    }

    /// The via-parm as received.
    pub fn as_bytes(&self) -> &[u8] {
        self.raw
            .get(self.at.0 as usize..self.at.1 as usize)
            .unwrap_or_default()
    }

    /// The transport.
    pub fn transport(&self) -> Transport {
        self.transport
    }

    /// The transport token as received.
    pub fn transport_str(&self) -> &[u8] {
        &self.as_bytes()[span(self.transport_span)]
    }

    /// The sent-by host, as received.
    pub fn host(&self) -> &[u8] {
        &self.as_bytes()[span(self.host)]
    }

    /// The kind of the sent-by host.
    pub fn host_kind(&self) -> HostKind {
        self.host_kind
    }

    /// The sent-by port, if given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// The parameters.
    pub fn params(&self) -> Params<'_> {
        Params::new(&self.as_bytes()[span(self.params)])
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&[u8]> {
        self.params().value("branch")
    }

    /// Whether the branch carries the RFC 3261 magic cookie and something after it, so
    /// that it identifies the transaction (RFC 3261 §17.2.3; RFC 4475 §3.2.1 sends a bare
    /// cookie, which must fall back to RFC 2543 matching).
    pub fn has_rfc3261_branch(&self) -> bool {
        self.branch().is_some_and(|b| {
            b.len() > MAGIC_COOKIE.len()
                && b[..MAGIC_COOKIE.len()].eq_ignore_ascii_case(MAGIC_COOKIE.as_bytes())
        })
    }

    /// The `received` parameter.
    pub fn received(&self) -> Option<&[u8]> {
        self.params().value("received")
    }

    /// The `rport` parameter: `None` if absent, `Some(None)` if present without a value
    /// (the client asks for it, RFC 3581 §3), `Some(Some(port))` once filled in.
    pub fn rport(&self) -> Option<Option<u16>> {
        self.params().get("rport").map(|v| {
            v.and_then(|p| syntax::parse_u32(p, 65535))
                .map(|p| p as u16)
        })
    }

    /// The `maddr` parameter.
    pub fn maddr(&self) -> Option<&[u8]> {
        self.params().value("maddr")
    }

    /// The sent-by host as an IP address, if it is one.
    pub fn host_ip(&self) -> Option<IpAddr> {
        uri::host_ip(self.host(), self.host_kind)
    }

    /// The Via a server keeps after receiving a request from `source` (RFC 3261 §18.2.1,
    /// RFC 3581 §4): `received` is added when the sent-by host is not the source address,
    /// and an empty `rport` is filled with the source port (which also forces `received`).
    pub fn stamped(&self, source: SocketAddr) -> Via {
        let wants_rport = matches!(self.rport(), Some(None));
        let host_matches = self.host_ip() == Some(source.ip());
        if host_matches && !wants_rport {
            return self.clone();
        }
        let mut out = String::with_capacity(self.as_bytes().len() + 40);
        let head = &self.as_bytes()[..self.params.0 as usize];
        out.push_str(&String::from_utf8_lossy(head));
        for (name, value) in self.params().iter() {
            if name.eq_ignore_ascii_case(b"received") || name.eq_ignore_ascii_case(b"rport") {
                continue;
            }
            out.push(';');
            out.push_str(&String::from_utf8_lossy(name));
            if let Some(v) = value {
                out.push('=');
                out.push_str(&String::from_utf8_lossy(v));
            }
        }
        out.push_str(";received=");
        out.push_str(&source.ip().to_string());
        if wants_rport {
            out.push_str(";rport=");
            out.push_str(&source.port().to_string());
        }
        Via::parse(&out).unwrap_or_else(|_| self.clone())
    }

    /// Where a response to the request carrying this Via goes (RFC 3261 §18.2.2, RFC 3581
    /// §4) when it is not sent back on the connection it came in on: `received` (or the
    /// sent-by host), and `rport` (or the sent-by port, or the transport's default).
    /// Returns the host as text (it may need DNS resolution) and the port.
    pub fn response_target(&self) -> (String, u16) {
        let host = match self.maddr().or(self.received()) {
            Some(h) => String::from_utf8_lossy(h).into_owned(),
            None => String::from_utf8_lossy(self.host()).into_owned(),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = match self.rport() {
            Some(Some(p)) => p,
            _ => self.port.unwrap_or_else(|| self.transport.default_port()),
        };
        (host, port)
    }
}

/// `protocol-name SLASH protocol-version SLASH` spelled other than `SIP/2.0/` (white
/// space around the slashes, another version): returns the index of the transport and
/// whether the protocol is SIP/2.0. Another version is not an error here; the caller
/// answers it with 505 once the rest has parsed.
fn sent_protocol_slow(s: &[u8], i: usize) -> std::result::Result<(usize, bool), &'static str> {
    let name_len = syntax::TOKEN.span(&s[i..]);
    if name_len == 0 {
        return Err("missing protocol name");
    }
    let mut j = syntax::skip_ws(s, i + name_len);
    if s.get(j) != Some(&b'/') {
        return Err("missing '/' in sent-protocol");
    }
    j = syntax::skip_ws(s, j + 1);
    let ver_len = syntax::TOKEN.span(&s[j..]);
    if ver_len == 0 {
        return Err("missing protocol version");
    }
    let version = &s[j..j + ver_len];
    j = syntax::skip_ws(s, j + ver_len);
    if s.get(j) != Some(&b'/') {
        return Err("missing '/' in sent-protocol");
    }
    let sip_2_0 = s[i..i + name_len].eq_ignore_ascii_case(b"SIP") && version == b"2.0";
    Ok((syntax::skip_ws(s, j + 1), sip_2_0))
}

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.as_bytes()))
    }
}

impl fmt::Debug for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Via({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &'static str) -> Result<Vec<Via>> {
        let list = Via::parse_list(&Bytes::from_static(s.as_bytes()))?;
        Ok(list.as_slice().to_vec())
    }

    #[test]
    fn tortuous() -> Result<()> {
        let v = list("SIP  /   2.0 /UDP    192.0.2.2;branch=390skdjuw")?;
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].transport(), Transport::Udp);
        assert_eq!(v[0].host(), b"192.0.2.2");
        assert_eq!(v[0].branch(), Some(&b"390skdjuw"[..]));
        assert!(!v[0].has_rfc3261_branch());
        let v = list(
            "SIP  / 2.0  / TCP     spindle.example.com   ;  branch  =   z9hG4bK9ikj8  , SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239",
        )?;
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].transport(), Transport::Tcp);
        assert_eq!(v[0].branch(), Some(&b"z9hG4bK9ikj8"[..]));
        assert_eq!(v[1].host(), b"192.168.255.111");
        assert_eq!(v[1].branch(), Some(&b"z9hG4bK30239"[..]));
        let v = list(
            "SIP/2.0/UDP first.example.com: 4000;ttl=16;maddr=224.2.0.1 ;branch=z9hG4bKa7c6a8dlze.1",
        )?;
        assert_eq!(v[0].port(), Some(4000));
        assert_eq!(v[0].maddr(), Some(&b"224.2.0.1"[..]));
        Ok(())
    }

    #[test]
    fn ipv6_and_received() -> Result<()> {
        let v =
            list("SIP/2.0/UDP [2001:db8::9:1];received=[2001:db8::9:255];branch=z9hG4bKas3-111")?;
        assert_eq!(v[0].host_kind(), HostKind::Ipv6);
        assert_eq!(v[0].received(), Some(&b"[2001:db8::9:255]"[..]));
        let v = list("SIP/2.0/UDP [2001:db8::9:1];received=2001:db8::9:255;branch=z9hG4bKas3")?;
        assert_eq!(v[0].received(), Some(&b"2001:db8::9:255"[..]));
        assert_eq!(v[0].response_target(), ("2001:db8::9:255".to_owned(), 5060));
        Ok(())
    }

    #[test]
    fn rejects() {
        assert!(list("SIP/2.0/UDP 192.0.2.15;;,;,,").is_err());
        assert!(list("SIP/2.0/UDP").is_err());
        assert!(list("SIP/2.0 UDP host").is_err());
        assert!(list("SIP/2.0/UDP host,").is_err());
        assert_eq!(
            list("SIP/7.0/UDP host;branch=z9hG4bK1").err(),
            Some(Error::VersionNotSupported)
        );
    }

    #[test]
    fn rport_and_received() -> Result<()> {
        let v = Via::parse("SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;rport")?;
        assert_eq!(v.rport(), Some(None));
        let src: SocketAddr = "203.0.113.9:40000".parse().map_err(|_| Error::Empty)?;
        let s = v.stamped(src);
        assert_eq!(
            s.as_bytes(),
            b"SIP/2.0/UDP 10.0.0.1:5062;branch=z9hG4bKx;received=203.0.113.9;rport=40000"
        );
        assert_eq!(s.response_target(), ("203.0.113.9".to_owned(), 40000));
        let same = Via::parse("SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bKx")?;
        assert_eq!(same.stamped(src).as_bytes(), same.as_bytes());
        let named = Via::parse("SIP/2.0/TLS pc33.example.com;branch=z9hG4bKx")?;
        assert_eq!(named.stamped(src).received(), Some(&b"203.0.113.9"[..]));
        assert_eq!(named.response_target().1, 5061);
        Ok(())
    }

    #[test]
    fn build() -> Result<()> {
        let v = Via::new(Transport::Tcp, "192.0.2.1", Some(5060), "z9hG4bKabc", true)?;
        assert_eq!(
            v.as_bytes(),
            b"SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKabc;rport"
        );
        assert!(v.has_rfc3261_branch());
        Ok(())
    }
}
