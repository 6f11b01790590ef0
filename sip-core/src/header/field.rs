//! One header field and the typed view cached beside its value.

use super::{CSeq, HeaderName, NameAddr, Via};
use crate::error::{Error, Result};
use crate::syntax;
use bytes::Bytes;
use std::cell::OnceCell;
use std::fmt;

/// The values of a list header. Nearly every Via and Contact line holds one value, which
/// is kept inline rather than in a vector of its own.
#[derive(Clone)]
pub(super) enum List<T> {
    /// A single value.
    One(T),
    /// Two or more values, in order.
    Many(Vec<T>),
}

impl<T> List<T> {
    /// The values, in order.
    pub(super) fn as_slice(&self) -> &[T] {
        match self {
            List::One(x) => std::slice::from_ref(x),
            List::Many(v) => v,
        }
    }
}

/// A cached typed view of a header value.
#[derive(Clone)]
pub(super) enum Parsed {
    Vias(List<Via>),
    /// Addresses: From and To hold exactly one, Contact, Route and their kin one or more.
    Addrs(List<NameAddr>),
    Star,
    CSeq(CSeq),
    Number(u32),
}

/// One header field: a name, its value as received (folding removed), and a typed view
/// filled on first use.
#[derive(Clone)]
pub struct Header {
    pub(super) name: HeaderName,
    pub(super) value: Bytes,
    pub(super) parsed: OnceCell<Parsed>,
}

impl Header {
    /// A header from a name and a value (the value must not contain CR or LF).
    #[inline]
    pub fn new(name: HeaderName, value: Bytes) -> Header {
        Header {
            name,
            value,
            parsed: OnceCell::new(),
        }
    }

    /// The name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The value, trimmed of surrounding white space.
    pub fn value(&self) -> &Bytes {
        &self.value
    }

    /// The value as text (lossy for non-UTF-8 octets).
    pub fn value_str(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.value)
    }

    fn typed(&self, parse: impl FnOnce(&Bytes) -> Result<Parsed>) -> Result<&Parsed> {
        if let Some(p) = self.parsed.get() {
            return Ok(p);
        }
        let p = parse(&self.value)?;
        Ok(self.parsed.get_or_init(|| p))
    }

    /// The via-parms of a Via line.
    pub(crate) fn vias(&self) -> Result<&[Via]> {
        match self.typed(parse_vias)? {
            Parsed::Vias(v) => Ok(v.as_slice()),
            _ => Err(Error::InvalidHeader {
                name: "Via",
                reason: "not a Via",
            }),
        }
    }

    /// The one address of a From or To line.
    pub(crate) fn addr(&self) -> Result<&NameAddr> {
        let name = self.name.static_name();
        match self.typed(|v| parse_addr(v, name))? {
            Parsed::Addrs(List::One(a)) => Ok(a),
            _ => Err(Error::InvalidHeader {
                name,
                reason: "not an address",
            }),
        }
    }

    /// The addresses of a Contact, Route, Record-Route (...) line; `None` for a Contact `*`
    /// when `allow_star`.
    pub(crate) fn addrs(&self, allow_star: bool) -> Result<Option<&[NameAddr]>> {
        let name = self.name.static_name();
        match self.typed(|v| parse_addrs(v, name, allow_star))? {
            Parsed::Star => Ok(None),
            Parsed::Addrs(a) => Ok(Some(a.as_slice())),
            _ => Err(Error::InvalidHeader {
                name,
                reason: "not an address list",
            }),
        }
    }

    /// A decimal value up to `max`; beyond it an error, or `max` when `clamp`.
    pub(crate) fn number(&self, max: u32, clamp: bool) -> Result<u32> {
        let name = self.name.static_name();
        let parse = |v: &Bytes| match parse_number(v, max, name) {
            Err(Error::OutOfRange(_)) if clamp => Ok(Parsed::Number(max)),
            other => other,
        };
        match self.typed(parse)? {
            Parsed::Number(n) => Ok(*n),
            _ => Err(Error::InvalidHeader {
                name,
                reason: "not a number",
            }),
        }
    }

    /// The CSeq of a CSeq line.
    pub(crate) fn cseq(&self) -> Result<&CSeq> {
        match self.typed(|v| CSeq::parse(v).map(Parsed::CSeq))? {
            Parsed::CSeq(c) => Ok(c),
            _ => Err(Error::InvalidHeader {
                name: "CSeq",
                reason: "not a CSeq",
            }),
        }
    }

    /// A Via line whose typed view is already known (the top one after stamping).
    pub(super) fn with_vias(value: Bytes, vias: Vec<Via>) -> Header {
        let header = Header::new(HeaderName::Via, value);
        let list = match <[Via; 1]>::try_from(vias) {
            Ok([one]) => List::One(one),
            Err(many) => List::Many(many),
        };
        let _ = header.parsed.set(Parsed::Vias(list));
        header
    }
}

/// The largest Max-Forwards (RFC 3261 §20.22: 0–255).
pub(crate) const MAX_FORWARDS: u32 = 255;
/// The largest Content-Length this stack reads.
pub(crate) const CONTENT_LENGTH: u32 = u32::MAX;

fn parse_vias(v: &Bytes) -> Result<Parsed> {
    Via::parse_list(v).map(Parsed::Vias)
}

fn parse_addr(v: &Bytes, name: &'static str) -> Result<Parsed> {
    NameAddr::parse_single(v, name).map(|a| Parsed::Addrs(List::One(a)))
}

fn parse_addrs(v: &Bytes, name: &'static str, allow_star: bool) -> Result<Parsed> {
    if allow_star && syntax::trim(v) == b"*" {
        return Ok(Parsed::Star);
    }
    NameAddr::parse_list(v, name).map(Parsed::Addrs)
}

/// A value of digits only, up to `max` (`OutOfRange` beyond it).
fn parse_number(v: &[u8], max: u32, name: &'static str) -> Result<Parsed> {
    let t = syntax::trim(v);
    let (digits, value) = syntax::leading_digits(t, max);
    if digits == 0 || digits != t.len() {
        return Err(Error::InvalidHeader {
            name,
            reason: "not a number",
        });
    }
    value.map(Parsed::Number).ok_or(Error::OutOfRange(name))
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.value_str())
    }
}
