//! Header fields: the list a message carries, and typed views of the headers the stack
//! reads, parsed on first use and cached beside the raw value.

mod cseq;
mod field;
mod name;
mod name_addr;
mod via;

pub use cseq::CSeq;
pub use field::Header;
pub(crate) use field::{CONTENT_LENGTH, MAX_FORWARDS};
pub use name::HeaderName;
pub use name_addr::NameAddr;
pub use via::{MAGIC_COOKIE, Transport, Via};

use crate::error::{Error, Result};
use crate::syntax;
use bytes::Bytes;
use std::fmt;

/// The Contact header of a REGISTER may be `*` (RFC 3261 §10.2.2).
#[derive(Clone, Debug)]
pub enum Contacts<'a> {
    /// `Contact: *`
    Star,
    /// Zero or more addresses, in order.
    List(Vec<&'a NameAddr>),
}

/// The header fields of a message, in order.
#[derive(Clone, Default)]
pub struct Headers {
    list: Vec<Header>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Headers {
        Headers { list: Vec::new() }
    }

    /// Room for `n` headers.
    pub fn with_capacity(n: usize) -> Headers {
        Headers {
            list: Vec::with_capacity(n),
        }
    }

    /// The number of header fields (lines).
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Every header field, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Header> {
        self.list.iter()
    }

    /// The first field named `name`.
    pub fn get(&self, name: &HeaderName) -> Option<&Header> {
        self.list.iter().find(|h| &h.name == name)
    }

    /// The value of the first field named `name`.
    pub fn get_value(&self, name: &HeaderName) -> Option<&Bytes> {
        self.get(name).map(|h| &h.value)
    }

    /// Every field named `name`.
    pub fn get_all<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a Header> + 'a {
        self.list.iter().filter(move |h| &h.name == name)
    }

    /// Every value of `name`, with comma-separated lists split (outside quotes and `<>`)
    /// and each value trimmed.
    pub fn values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        let split = name.is_list();
        self.get_all(name).flat_map(move |h| {
            let v: &[u8] = &h.value;
            let parts: Box<dyn Iterator<Item = &[u8]>> = if split {
                Box::new(syntax::split_outside_quotes(v, b','))
            } else {
                Box::new(std::iter::once(v))
            };
            parts.map(syntax::trim).filter(|p| !p.is_empty())
        })
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: &HeaderName) -> bool {
        self.get(name).is_some()
    }

    /// How many fields named `name` there are.
    pub fn count(&self, name: &HeaderName) -> usize {
        self.get_all(name).count()
    }

    /// Append a field.
    pub fn push(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        self.list.push(Header::new(name, value.into()));
    }

    /// Append a field received in a message (the parser's path), and return it.
    #[inline(always)]
    pub(crate) fn push_received(&mut self, name: HeaderName, value: Bytes) -> &Header {
        self.list.push(Header::new(name, value));
        let last = self.list.len() - 1;
        &self.list[last]
    }

    /// Append an already built field.
    pub fn push_header(&mut self, header: Header) {
        self.list.push(header);
    }

    /// Insert a field before the first one of the same name (or first of all when there
    /// is none), as a new top Via or Record-Route must go (RFC 3261 §7.3.1 keeps order).
    pub fn push_front(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let at = self.list.iter().position(|h| h.name == name).unwrap_or(0);
        self.list.insert(at, Header::new(name, value.into()));
    }

    /// Replace every field named `name` by one with `value`, keeping the position of
    /// the first one.
    pub fn set(&mut self, name: HeaderName, value: impl Into<Bytes>) {
        let header = Header::new(name, value.into());
        match self.list.iter().position(|h| h.name == header.name) {
            Some(at) => {
                self.list[at] = header;
                let name = self.list[at].name.clone();
                let mut idx = 0;
                self.list.retain(|h| {
                    idx += 1;
                    idx - 1 <= at || h.name != name
                });
            }
            None => self.list.push(header),
        }
    }

    /// Remove every field named `name`; returns how many were removed.
    pub fn remove(&mut self, name: &HeaderName) -> usize {
        let before = self.list.len();
        self.list.retain(|h| &h.name != name);
        before - self.list.len()
    }

    /// Remove the first value of `name`. When the first field holds a comma-separated
    /// list, only its first element goes (e.g. popping a Route or a Via).
    pub fn pop_first_value(&mut self, name: &HeaderName) -> Option<Bytes> {
        let at = self.list.iter().position(|h| &h.name == name)?;
        let value = self.list[at].value.clone();
        let comma = if name.is_list() {
            syntax::find_outside_quotes(&value, b',')
        } else {
            None
        };
        let Some(comma) = comma else {
            self.list.remove(at);
            return Some(value);
        };
        let first = value.slice_ref(syntax::trim(&value[..comma]));
        let rest = value.slice_ref(syntax::trim(&value[comma + 1..]));
        if rest.is_empty() {
            self.list.remove(at);
        } else {
            self.list[at] = Header::new(name.clone(), rest);
        }
        Some(first)
    }

    // ---- typed views --------------------------------------------------------------

    fn single(&self, name: HeaderName, label: &'static str) -> Result<&Header> {
        self.get(&name).ok_or(Error::MissingHeader(label))
    }

    /// Every Via, top first; fails if any is malformed.
    pub fn vias(&self) -> Result<impl Iterator<Item = &Via>> {
        let mut n = 0;
        for h in self.get_all(&HeaderName::Via) {
            n += h.vias()?.len();
        }
        if n == 0 {
            return Err(Error::MissingHeader("Via"));
        }
        Ok(self
            .get_all(&HeaderName::Via)
            .flat_map(|h| h.vias().map(|v| v.iter()).unwrap_or_default()))
    }

    /// The top Via.
    pub fn top_via(&self) -> Result<&Via> {
        let h = self.single(HeaderName::Via, "Via")?;
        h.vias()?.first().ok_or(Error::MissingHeader("Via"))
    }

    /// Replace the top Via value (e.g. after adding `received`/`rport`).
    pub fn set_top_via(&mut self, via: &Via) {
        let Some(at) = self.list.iter().position(|h| h.name == HeaderName::Via) else {
            self.push(HeaderName::Via, Bytes::copy_from_slice(via.as_bytes()));
            return;
        };
        let rest: Vec<Via> = self.list[at]
            .vias()
            .map(|v| v[1..].to_vec())
            .unwrap_or_default();
        let mut value = via.as_bytes().to_vec();
        for v in &rest {
            value.extend_from_slice(b", ");
            value.extend_from_slice(v.as_bytes());
        }
        let mut list = Vec::with_capacity(1 + rest.len());
        list.push(via.clone());
        list.extend(rest);
        self.list[at] = Header::with_vias(Bytes::from(value), list);
    }

    /// From.
    pub fn from(&self) -> Result<&NameAddr> {
        self.single(HeaderName::From, "From")?.addr()
    }

    /// To.
    pub fn to(&self) -> Result<&NameAddr> {
        self.single(HeaderName::To, "To")?.addr()
    }

    /// Call-ID, trimmed.
    pub fn call_id(&self) -> Result<&Bytes> {
        Ok(&self.single(HeaderName::CallId, "Call-ID")?.value)
    }

    /// CSeq.
    pub fn cseq(&self) -> Result<&CSeq> {
        self.single(HeaderName::CSeq, "CSeq")?.cseq()
    }

    /// Max-Forwards (0–255), if present.
    pub fn max_forwards(&self) -> Result<Option<u32>> {
        self.get(&HeaderName::MaxForwards)
            .map(|h| h.number(field::MAX_FORWARDS, false))
            .transpose()
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<u32>> {
        self.get(&HeaderName::ContentLength)
            .map(|h| h.number(field::CONTENT_LENGTH, false))
            .transpose()
    }

    /// Expires (delta-seconds, values beyond 2^32-1 clamped), if present.
    pub fn expires(&self) -> Result<Option<u32>> {
        self.get(&HeaderName::Expires)
            .map(|h| h.number(u32::MAX, true))
            .transpose()
    }

    /// A numeric header (Min-Expires, RSeq, ...), if present.
    pub fn number(&self, name: &HeaderName) -> Result<Option<u32>> {
        self.get(name)
            .map(|h| h.number(u32::MAX, false))
            .transpose()
    }

    /// The Contact header: `*` or the addresses of every Contact field, in order.
    pub fn contacts(&self) -> Result<Contacts<'_>> {
        let mut out = Vec::new();
        let mut star = false;
        for h in self.get_all(&HeaderName::Contact) {
            match h.addrs(true)? {
                None => star = true,
                Some(list) => out.extend(list.iter()),
            }
        }
        if star {
            if !out.is_empty() {
                // RFC 3261 §10.3 step 6: `*` must stand alone.
                return Err(Error::InvalidHeader {
                    name: "Contact",
                    reason: "'*' mixed with addresses",
                });
            }
            return Ok(Contacts::Star);
        }
        Ok(Contacts::List(out))
    }

    /// Every address of every field named `name` (Route, Record-Route, Path, ...).
    pub fn addr_list<'a>(&'a self, name: &'a HeaderName) -> Result<Vec<&'a NameAddr>> {
        let mut out = Vec::new();
        for h in self.get_all(name) {
            if let Some(list) = h.addrs(false)? {
                out.extend(list.iter());
            }
        }
        Ok(out)
    }

    /// Option tags (Require, Proxy-Require, Supported, Unsupported), each trimmed.
    pub fn tokens<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.values(name)
    }

    /// Whether a token list header (Supported, Require, Allow...) contains `tag`.
    pub fn has_token(&self, name: &HeaderName, tag: &str) -> bool {
        self.values(name)
            .any(|t| t.eq_ignore_ascii_case(tag.as_bytes()))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.list.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Headers {
    type Item = &'a Header;
    type IntoIter = std::slice::Iter<'a, Header>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(list: &[(&str, &'static str)]) -> Headers {
        let mut hs = Headers::new();
        for (n, v) in list {
            hs.push(HeaderName::from(*n), Bytes::from_static(v.as_bytes()));
        }
        hs
    }

    #[test]
    fn typed_views_are_cached() -> Result<()> {
        let hs = h(&[
            (
                "Via",
                "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2",
            ),
            ("v", "SIP/2.0/TCP c"),
        ]);
        let hosts: Vec<&[u8]> = hs.vias()?.map(|v| v.host()).collect();
        assert_eq!(hosts, vec![&b"a"[..], b"b", b"c"]);
        let p1 = hs.top_via()? as *const Via;
        let p2 = hs.top_via()? as *const Via;
        assert_eq!(p1, p2);
        Ok(())
    }

    #[test]
    fn contacts_and_star() -> Result<()> {
        let hs = h(&[("Contact", "*")]);
        assert!(matches!(hs.contacts()?, Contacts::Star));
        let hs = h(&[("Contact", "*"), ("m", "<sip:a@b>")]);
        assert!(hs.contacts().is_err());
        let hs = h(&[("Contact", "<sip:a@b>, <sip:c@d>"), ("m", "sip:e@f")]);
        match hs.contacts()? {
            Contacts::List(l) => assert_eq!(l.len(), 3),
            Contacts::Star => panic!("not a star"),
        }
        Ok(())
    }

    #[test]
    fn editing() -> Result<()> {
        let mut hs = h(&[
            ("Via", "SIP/2.0/UDP a, SIP/2.0/UDP b"),
            ("Route", "<sip:r1;lr>, <sip:r2;lr>"),
            ("To", "<sip:x@y>"),
        ]);
        hs.push_front(HeaderName::Via, Bytes::from_static(b"SIP/2.0/UDP top"));
        assert_eq!(hs.top_via()?.host(), b"top");
        assert_eq!(
            hs.pop_first_value(&HeaderName::Via).as_deref(),
            Some(&b"SIP/2.0/UDP top"[..])
        );
        assert_eq!(
            hs.pop_first_value(&HeaderName::Via).as_deref(),
            Some(&b"SIP/2.0/UDP a"[..])
        );
        assert_eq!(hs.top_via()?.host(), b"b");
        assert_eq!(
            hs.pop_first_value(&HeaderName::Route).as_deref(),
            Some(&b"<sip:r1;lr>"[..])
        );
        assert_eq!(hs.addr_list(&HeaderName::Route)?.len(), 1);
        hs.set(HeaderName::To, Bytes::from_static(b"<sip:z@y>;tag=1"));
        assert_eq!(hs.to()?.tag(), Some(&b"1"[..]));
        assert_eq!(hs.remove(&HeaderName::Route), 1);
        let via = Via::parse("SIP/2.0/UDP new;branch=z9hG4bKq")?;
        hs.set_top_via(&via);
        assert_eq!(hs.top_via()?.host(), b"new");
        Ok(())
    }

    #[test]
    fn values_split_lists_only() {
        let hs = h(&[
            ("Supported", "100rel, timer"),
            ("k", "path"),
            ("Authorization", "Digest a=1, b=2"),
        ]);
        let tags: Vec<&[u8]> = hs.values(&HeaderName::Supported).collect();
        assert_eq!(tags, vec![&b"100rel"[..], b"timer", b"path"]);
        assert_eq!(hs.values(&HeaderName::Authorization).count(), 1);
        assert!(hs.has_token(&HeaderName::Supported, "TIMER"));
    }
}
