//! The digest-uri check (RFC 7616 §3.4.6): does `uri=` name the Request-URI?
//!
//! Exact equality passes at once. Otherwise both are compared as SIP-style URIs,
//! `scheme:[userinfo@]hostport[;params][?headers]`, following the spirit of RFC 3261
//! §19.1.4:
//! - the scheme and the host/port compare ignoring ASCII case;
//! - the user part compares case-sensitively, with `%XX` escapes equal to the octet
//!   they encode (so `sip:%36001@h` matches `sip:6001@h`);
//! - URI parameters and headers are ignored: proxies and clients add or reorder
//!   `;transport=`, `;ob`, `;lr` without changing what the request is for, and some
//!   devices echo them differently in `uri=`.
//!
//! A port is never defaulted (`sip:h` and `sip:h:5060` differ, as in RFC 3261). Values
//! without a scheme (HTTP-style `/dir/index.html`) must match exactly.

/// True when `digest_uri` names `request_uri` under the rules above.
pub(crate) fn matches(digest_uri: &str, request_uri: &str) -> bool {
    if digest_uri == request_uri {
        return true;
    }
    match (Parts::split(digest_uri), Parts::split(request_uri)) {
        (Some(a), Some(b)) => {
            a.scheme.eq_ignore_ascii_case(b.scheme)
                && a.host_port.eq_ignore_ascii_case(b.host_port)
                && unescaped_eq(a.user_info, b.user_info)
        }
        _ => false,
    }
}

struct Parts<'a> {
    scheme: &'a str,
    user_info: Option<&'a str>,
    host_port: &'a str,
}

impl<'a> Parts<'a> {
    fn split(uri: &'a str) -> Option<Self> {
        let uri = uri.trim();
        // Some devices send the name-addr form `<sip:...>`.
        let uri = uri
            .strip_prefix('<')
            .and_then(|u| u.strip_suffix('>'))
            .unwrap_or(uri);
        let (scheme, rest) = uri.split_once(':')?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return None;
        }
        // The user part may hold ';' and '?' (RFC 3261 §25.1 user-unreserved) but never
        // an unescaped '@', so the '@' is found first and parameters are cut only from
        // the host part.
        let (user_info, host_rest) = match rest.find('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let end = host_rest.find([';', '?']).unwrap_or(host_rest.len());
        let host_port = &host_rest[..end];
        if host_port.is_empty() {
            return None;
        }
        Some(Self {
            scheme,
            user_info,
            host_port,
        })
    }
}

fn unescaped_eq(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => Unescape::new(a).eq(Unescape::new(b)),
        _ => false,
    }
}

/// Iterates the octets of a URI component with `%XX` escapes decoded; a `%` that does not
/// start a valid escape stands for itself.
struct Unescape<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Unescape<'a> {
    fn new(s: &'a str) -> Self {
        Self {
            bytes: s.as_bytes(),
            pos: 0,
        }
    }
}

impl Iterator for Unescape<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let c = *self.bytes.get(self.pos)?;
        if c == b'%' {
            let hex = self.bytes.get(self.pos + 1..self.pos + 3);
            let decoded = hex
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(d) = decoded {
                self.pos += 3;
                return Some(d);
            }
        }
        self.pos += 1;
        Some(c)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::matches;

    #[test]
    fn equal_uris_match() {
        assert!(matches("sip:vss.example.net", "sip:vss.example.net"));
        assert!(matches("/dir/index.html", "/dir/index.html"));
    }

    #[test]
    fn case_of_scheme_and_host_is_ignored() {
        assert!(matches("SIP:VSS.Example.NET", "sip:vss.example.net"));
        assert!(matches(
            "sip:6001@VSS.example.net:5060",
            "sip:6001@vss.example.net:5060"
        ));
    }

    #[test]
    fn user_part_is_case_sensitive_but_escapes_are_decoded() {
        assert!(!matches("sip:Bob@h", "sip:bob@h"));
        assert!(matches("sip:%36001@h", "sip:6001@h"));
        assert!(matches("sip:a%2cb@h", "sip:a%2Cb@h"));
        assert!(!matches("sip:a%zzb@h", "sip:a%zzc@h"));
        assert!(matches("sip:100%@h", "sip:100%@h;x"));
    }

    #[test]
    fn parameters_and_headers_are_ignored() {
        assert!(matches(
            "sip:vss.example.net;transport=tcp",
            "sip:vss.example.net"
        ));
        assert!(matches("sip:9001@h;user=phone?subject=x", "sip:9001@h;lr"));
        assert!(matches("<sip:h>", "sip:h"));
        // A ';' inside the user part belongs to the user.
        assert!(!matches("sip:a;b@h", "sip:a@h"));
    }

    #[test]
    fn different_targets_do_not_match() {
        assert!(!matches("sip:h", "sip:h:5060"));
        assert!(!matches("sip:6001@h", "sip:6002@h"));
        assert!(!matches("sip:h", "sips:h"));
        assert!(!matches("sip:a@h", "sip:h"));
        assert!(!matches("sip:other.net", "sip:vss.example.net"));
        assert!(!matches("/dir/index.html", "/dir/INDEX.html"));
        assert!(!matches("", "sip:h"));
        assert!(!matches("sip:@", "sip:h"));
    }
}
