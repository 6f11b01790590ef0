//! Header field names: canonical spelling, compact forms (RFC 3261 §7.3.3), and
//! case-insensitive comparison (RFC 3261 §7.3.1).

use bytes::Bytes;
use std::fmt;
use std::hash::{Hash, Hasher};

macro_rules! header_names {
    ($($variant:ident => $canon:expr, $lower:expr, $compact:expr;)*) => {
        /// A header field name. Names the stack uses are variants; any other is kept as
        /// received in [`HeaderName::Other`] and compared case-insensitively.
        #[derive(Clone, Debug)]
        #[non_exhaustive]
        pub enum HeaderName {
            $(
                #[doc = concat!("`", $canon, "`")]
                $variant,
            )*
            /// An extension header, with the name as received.
            Other(Bytes),
        }

        /// The known names, in declaration order: lower-case long form and compact letter
        /// (0 when there is none).
        const KNOWN: &[(&[u8], u8)] = &[$(($lower, $compact),)*];

        /// The variant of each entry of `KNOWN`.
        static VARIANTS: [HeaderName; KNOWN.len()] = [$(HeaderName::$variant,)*];

        impl HeaderName {
            /// Classify a header name as received (long or compact form, any case).
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                HeaderName::known_at(name, 0, name.len())
                    .unwrap_or_else(|| HeaderName::Other(Bytes::copy_from_slice(name)))
            }

            /// The variant for the name `s[start..end]` if this stack knows it (long or
            /// compact form, any case). The octets after `end` may be read, not used.
            #[inline]
            pub(crate) fn known_at(s: &[u8], start: usize, end: usize) -> Option<HeaderName> {
                lookup(s.get(start..end)?).map(|i| VARIANTS[i].clone())
            }

            /// The name as this stack prints it: the canonical long form for known
            /// headers, the received spelling for others.
            pub fn as_str(&self) -> &str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(b) => std::str::from_utf8(b).unwrap_or("X-Invalid"),
                }
            }

            /// The canonical name of a known header (for error messages); `"extension"`
            /// for others.
            pub fn static_name(&self) -> &'static str {
                match self {
                    $(HeaderName::$variant => $canon,)*
                    HeaderName::Other(_) => "extension",
                }
            }
        }
    };
}

header_names! {
    Accept => "Accept", b"accept", 0;
    AcceptContact => "Accept-Contact", b"accept-contact", b'a';
    AcceptEncoding => "Accept-Encoding", b"accept-encoding", 0;
    AcceptLanguage => "Accept-Language", b"accept-language", 0;
    AlertInfo => "Alert-Info", b"alert-info", 0;
    Allow => "Allow", b"allow", 0;
    AllowEvents => "Allow-Events", b"allow-events", b'u';
    AuthenticationInfo => "Authentication-Info", b"authentication-info", 0;
    Authorization => "Authorization", b"authorization", 0;
    CallId => "Call-ID", b"call-id", b'i';
    CallInfo => "Call-Info", b"call-info", 0;
    Contact => "Contact", b"contact", b'm';
    ContentDisposition => "Content-Disposition", b"content-disposition", 0;
    ContentEncoding => "Content-Encoding", b"content-encoding", b'e';
    ContentLanguage => "Content-Language", b"content-language", 0;
    ContentLength => "Content-Length", b"content-length", b'l';
    ContentType => "Content-Type", b"content-type", b'c';
    CSeq => "CSeq", b"cseq", 0;
    Date => "Date", b"date", 0;
    ErrorInfo => "Error-Info", b"error-info", 0;
    Event => "Event", b"event", b'o';
    Expires => "Expires", b"expires", 0;
    From => "From", b"from", b'f';
    InReplyTo => "In-Reply-To", b"in-reply-to", 0;
    MaxForwards => "Max-Forwards", b"max-forwards", 0;
    MimeVersion => "MIME-Version", b"mime-version", 0;
    MinExpires => "Min-Expires", b"min-expires", 0;
    MinSe => "Min-SE", b"min-se", 0;
    Organization => "Organization", b"organization", 0;
    PAssertedIdentity => "P-Asserted-Identity", b"p-asserted-identity", 0;
    PPreferredIdentity => "P-Preferred-Identity", b"p-preferred-identity", 0;
    Path => "Path", b"path", 0;
    Priority => "Priority", b"priority", 0;
    Privacy => "Privacy", b"privacy", 0;
    ProxyAuthenticate => "Proxy-Authenticate", b"proxy-authenticate", 0;
    ProxyAuthorization => "Proxy-Authorization", b"proxy-authorization", 0;
    ProxyRequire => "Proxy-Require", b"proxy-require", 0;
    RAck => "RAck", b"rack", 0;
    Reason => "Reason", b"reason", 0;
    RecordRoute => "Record-Route", b"record-route", 0;
    ReferTo => "Refer-To", b"refer-to", b'r';
    ReferredBy => "Referred-By", b"referred-by", b'b';
    RejectContact => "Reject-Contact", b"reject-contact", b'j';
    ReplyTo => "Reply-To", b"reply-to", 0;
    RequestDisposition => "Request-Disposition", b"request-disposition", b'd';
    Require => "Require", b"require", 0;
    RetryAfter => "Retry-After", b"retry-after", 0;
    Route => "Route", b"route", 0;
    RSeq => "RSeq", b"rseq", 0;
    Server => "Server", b"server", 0;
    SessionExpires => "Session-Expires", b"session-expires", b'x';
    Subject => "Subject", b"subject", b's';
    SubscriptionState => "Subscription-State", b"subscription-state", 0;
    Supported => "Supported", b"supported", b'k';
    Timestamp => "Timestamp", b"timestamp", 0;
    To => "To", b"to", b't';
    Unsupported => "Unsupported", b"unsupported", 0;
    UserAgent => "User-Agent", b"user-agent", 0;
    Via => "Via", b"via", b'v';
    Warning => "Warning", b"warning", 0;
    WwwAuthenticate => "WWW-Authenticate", b"www-authenticate", 0;
}

/// Slots of the open-addressing table of long names: a power of two, about twice the
/// number of names, so that probe sequences stay short and always reach an empty slot.
const SLOTS: usize = 128;

/// Where the probe sequence of a long name starts. Length, first and last octet (folded
/// to lower case) spread the known names with few collisions.
const fn slot(len: usize, first: u8, last: u8) -> usize {
    (len * 24 + (first | 0x20) as usize + (last | 0x20) as usize) % SLOTS
}

/// Long names: an index into `KNOWN` plus one, 0 for an empty slot.
static LONG: [u8; SLOTS] = build_long();

/// Compact forms, both cases: an index into `KNOWN` plus one, 0 for none.
static COMPACT: [u8; 256] = build_compact();

const fn build_long() -> [u8; SLOTS] {
    assert!(KNOWN.len() < SLOTS / 2 && KNOWN.len() < 255);
    let mut table = [0u8; SLOTS];
    let mut i = 0;
    while i < KNOWN.len() {
        let name = KNOWN[i].0;
        // `eq_folded` relies on this: letters and `-` only, lower case.
        let mut k = 0;
        while k < name.len() {
            assert!(name[k].is_ascii_lowercase() || name[k] == b'-');
            k += 1;
        }
        assert!(name.len() > 1);
        let mut h = slot(name.len(), name[0], name[name.len() - 1]);
        while table[h] != 0 {
            h = (h + 1) % SLOTS;
        }
        table[h] = (i + 1) as u8;
        i += 1;
    }
    table
}

const fn build_compact() -> [u8; 256] {
    let mut table = [0u8; 256];
    let mut i = 0;
    while i < KNOWN.len() {
        let c = KNOWN[i].1;
        if c != 0 {
            assert!(c.is_ascii_lowercase());
            table[c as usize] = (i + 1) as u8;
            table[c.to_ascii_uppercase() as usize] = (i + 1) as u8;
        }
        i += 1;
    }
    table
}

/// The index in `KNOWN` of a name received in any case, long or compact.
#[inline]
fn lookup(name: &[u8]) -> Option<usize> {
    match name {
        [] => None,
        [c] => (COMPACT[usize::from(*c)] as usize).checked_sub(1),
        [first, .., last] => {
            let mut h = slot(name.len(), *first, *last);
            loop {
                let i = (LONG[h] as usize).checked_sub(1)?;
                let known = KNOWN[i].0;
                if known.len() == name.len() && eq_folded(name, known) {
                    return Some(i);
                }
                h = (h + 1) % SLOTS;
            }
        }
    }
}

/// Whether `name` is `lower` (letters and `-`, lower case, same length) in any case.
/// Only letters get the 0x20 case bit, so no other octet can pass for `-` (0x0D | 0x20
/// would). Names of eight octets and more are compared a word at a time, the last word
/// overlapping the one before it; shorter ones in two overlapping halves.
#[inline]
fn eq_folded(name: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if name.len() != n {
        return false;
    }
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if !eq_folded_word(word(name, at), word(lower, at)) {
                return false;
            }
            at += 8;
        }
        return eq_folded_word(word(name, n - 8), word(lower, n - 8));
    }
    if n >= 4 {
        return eq_folded_word(half(name, 0), half(lower, 0))
            && eq_folded_word(half(name, n - 4), half(lower, n - 4));
    }
    name.iter()
        .zip(lower)
        .all(|(&x, &y)| eq_folded_word(u64::from(x), u64::from(y)))
}

/// Octets `at..at + 8` of `s` as a little-endian word (0 past the end, never reached).
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    s.get(at..)
        .and_then(<[u8]>::first_chunk::<8>)
        .map_or(0, |c| u64::from_le_bytes(*c))
}

/// Octets `at..at + 4` of `s` as a little-endian word (0 past the end, never reached).
#[inline(always)]
fn half(s: &[u8], at: usize) -> u64 {
    s.get(at..)
        .and_then(<[u8]>::first_chunk::<4>)
        .map_or(0, |c| u64::from(u32::from_le_bytes(*c)))
}

/// Whether the octets of `x` equal those of `lower` once letters are folded to lower
/// case: bit 6 marks a letter in `lower`, and shifted down it is that octet's case bit.
#[inline(always)]
fn eq_folded_word(x: u64, lower: u64) -> bool {
    x | ((lower >> 1) & 0x2020_2020_2020_2020) == lower
}

impl HeaderName {
    /// Whether the header's grammar is a comma-separated list, so that several values
    /// may share one line (RFC 3261 §7.3.1). Authorization-style headers are excluded:
    /// their commas separate parameters, not values.
    pub fn is_list(&self) -> bool {
        matches!(
            self,
            HeaderName::Accept
                | HeaderName::AcceptContact
                | HeaderName::AcceptEncoding
                | HeaderName::AcceptLanguage
                | HeaderName::AlertInfo
                | HeaderName::Allow
                | HeaderName::AllowEvents
                | HeaderName::CallInfo
                | HeaderName::Contact
                | HeaderName::ContentEncoding
                | HeaderName::ContentLanguage
                | HeaderName::ErrorInfo
                | HeaderName::InReplyTo
                | HeaderName::PAssertedIdentity
                | HeaderName::PPreferredIdentity
                | HeaderName::Path
                | HeaderName::ProxyRequire
                | HeaderName::Reason
                | HeaderName::RecordRoute
                | HeaderName::RejectContact
                | HeaderName::Require
                | HeaderName::Route
                | HeaderName::Supported
                | HeaderName::Unsupported
                | HeaderName::Via
                | HeaderName::Warning
        )
    }

    /// Whether at most one value of the header may appear (RFC 3261 §20; RFC 4475 §3.3.8).
    pub fn is_single(&self) -> bool {
        matches!(
            self,
            HeaderName::CallId
                | HeaderName::ContentLength
                | HeaderName::ContentType
                | HeaderName::CSeq
                | HeaderName::Expires
                | HeaderName::From
                | HeaderName::MaxForwards
                | HeaderName::MinExpires
                | HeaderName::To
                | HeaderName::RSeq
                | HeaderName::RAck
                | HeaderName::SessionExpires
                | HeaderName::MinSe
        )
    }
}

impl PartialEq for HeaderName {
    fn eq(&self, other: &HeaderName) -> bool {
        match (self, other) {
            (HeaderName::Other(a), HeaderName::Other(b)) => a.eq_ignore_ascii_case(b),
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b),
        }
    }
}

impl Eq for HeaderName {}

impl Hash for HeaderName {
    fn hash<H: Hasher>(&self, state: &mut H) {
        std::mem::discriminant(self).hash(state);
        if let HeaderName::Other(b) = self {
            for c in b.iter() {
                state.write_u8(c.to_ascii_lowercase());
            }
        }
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for HeaderName {
    fn from(s: &str) -> HeaderName {
        HeaderName::from_bytes(s.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_and_case() {
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"M"), HeaderName::Contact);
        assert_eq!(
            HeaderName::from_bytes(b"MaX-fOrWaRdS"),
            HeaderName::MaxForwards
        );
        assert_eq!(HeaderName::from_bytes(b"i"), HeaderName::CallId);
        assert_eq!(
            HeaderName::from_bytes(b"X-Foo"),
            HeaderName::from_bytes(b"x-foo")
        );
        assert_ne!(HeaderName::from_bytes(b"C%6Fntact"), HeaderName::Contact);
        assert_eq!(HeaderName::from_bytes(b"X-Foo").as_str(), "X-Foo");
        assert_eq!(HeaderName::CallId.as_str(), "Call-ID");
    }

    #[test]
    fn every_known_name_in_every_form() {
        for (i, (lower, compact)) in KNOWN.iter().enumerate() {
            let canon = VARIANTS[i].as_str();
            assert_eq!(canon.as_bytes().to_ascii_lowercase(), *lower);
            for form in [
                canon.to_owned(),
                canon.to_ascii_uppercase(),
                String::from_utf8_lossy(lower).into_owned(),
            ] {
                let name = HeaderName::from_bytes(form.as_bytes());
                assert!(!matches!(name, HeaderName::Other(_)), "{form}");
                assert_eq!(name.as_str(), canon);
            }
            if *compact != 0 {
                assert_eq!(HeaderName::from_bytes(&[*compact]).as_str(), canon);
                assert_eq!(
                    HeaderName::from_bytes(&[compact.to_ascii_uppercase()]).as_str(),
                    canon
                );
            }
        }
    }

    #[test]
    fn near_misses_are_extensions() {
        for other in [
            &b"Call\rID"[..],
            b"Content\rLength",
            b"Via ",
            b"Vias",
            b"Vi",
            b"Contact-",
            b"Content-Lengtx",
            b"Content_Length",
            b"Z",
            b"q",
            b"",
            b"Authentication-Infos",
            b"Max-Forwards-And-Then-Some-More-Text",
        ] {
            assert!(
                matches!(HeaderName::from_bytes(other), HeaderName::Other(_)),
                "{}",
                String::from_utf8_lossy(other)
            );
        }
        assert_eq!(
            HeaderName::from_bytes(b"Content_Length").as_str(),
            "Content_Length"
        );
    }

    #[test]
    fn names_inside_lines() {
        // The words read past the name's end; what follows must not matter.
        for (line, end) in [
            (&b"Via: SIP/2.0/UDP h"[..], 3),
            (b"Vias: x", 4),
            (b"Content-Length: 0", 14),
            (b"Content-Lengthy: 0", 15),
            (b"P-Preferred-Identity: <sip:a@b>", 20),
            (b"To", 2),
            (b"cseq", 4),
        ] {
            let got = HeaderName::known_at(line, 0, end);
            let alone = HeaderName::from_bytes(&line[..end]);
            assert_eq!(got.is_some(), !matches!(alone, HeaderName::Other(_)));
            if let Some(name) = &got {
                assert_eq!(name, &alone);
            }
            // At an offset, and with the text ending right after the name.
            let mut shifted = b"xx".to_vec();
            shifted.extend_from_slice(&line[..end]);
            assert_eq!(HeaderName::known_at(&shifted, 2, end + 2), got);
        }
    }
}
