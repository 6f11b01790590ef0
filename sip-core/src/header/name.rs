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

        impl HeaderName {
            /// Classify a header name as received (long or compact form, any case).
            pub fn from_bytes(name: &[u8]) -> HeaderName {
                if name.len() == 1 {
                    let c = name[0].to_ascii_lowercase();
                    $(
                        if $compact != 0 && c == $compact {
                            return HeaderName::$variant;
                        }
                    )*
                    return HeaderName::Other(Bytes::copy_from_slice(name));
                }
                let mut buf = [0u8; 32];
                if name.len() > buf.len() {
                    return HeaderName::Other(Bytes::copy_from_slice(name));
                }
                let lower = &mut buf[..name.len()];
                for (d, s) in lower.iter_mut().zip(name) {
                    *d = s.to_ascii_lowercase();
                }
                match &*lower {
                    $($lower => HeaderName::$variant,)*
                    _ => HeaderName::Other(Bytes::copy_from_slice(name)),
                }
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
}
