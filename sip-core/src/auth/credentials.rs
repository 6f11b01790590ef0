//! Authorization / Proxy-Authorization values (RFC 3261 §22.4, RFC 7616 §3.4).

use std::fmt;
use std::str::FromStr;

use super::algorithm::{Algorithm, Qop};
use super::error::AuthError;
use super::params::{self, AuthParam, ParamWriter};
use super::scan::{self, RawParam};

/// The `nc` parameter: the count of requests the client sent with one nonce, written
/// as exactly 8 hex digits (RFC 7616 §3.4).
///
/// The text is kept as received, because the response is computed over the text, not
/// the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NonceCount {
    value: u32,
    text: [u8; 8],
}

impl NonceCount {
    /// The count `value`, written as 8 lowercase hex digits.
    pub fn new(value: u32) -> Self {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut text = [0u8; 8];
        for (i, slot) in text.iter_mut().enumerate() {
            *slot = HEX[((value >> (28 - 4 * i)) & 0xf) as usize];
        }
        Self { value, text }
    }

    /// Parses exactly 8 hex digits (either case).
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        let raw = s.as_bytes();
        if raw.len() != 8 || !raw.iter().all(u8::is_ascii_hexdigit) {
            return Err(AuthError::Malformed("nc is not 8 hex digits"));
        }
        let value = u32::from_str_radix(s, 16)
            .map_err(|_| AuthError::Malformed("nc is not 8 hex digits"))?;
        let mut text = [0u8; 8];
        text.copy_from_slice(raw);
        Ok(Self { value, text })
    }

    /// The count.
    pub fn value(&self) -> u32 {
        self.value
    }

    /// The 8 hex digits as received (or as built by [`NonceCount::new`]).
    pub fn as_str(&self) -> &str {
        // Both constructors only store ASCII hex digits.
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

impl fmt::Display for NonceCount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Digest Authorization or Proxy-Authorization header value.
///
/// `username` and `realm` are plain fields: read them right after parsing to look up
/// the HA1 before calling [`DigestServer::verify`](super::DigestServer::verify). Unknown
/// parameters are kept in `params` and printed back after the known ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name, unquoted.
    pub username: String,
    /// The realm the client answered for.
    pub realm: String,
    /// The server nonce being answered.
    pub nonce: String,
    /// The `uri` parameter: the Request-URI as the client sent it.
    pub uri: String,
    /// The response digest, hex.
    pub response: String,
    /// `algorithm`; absent means MD5 (RFC 7616 §3.4).
    pub algorithm: Option<Algorithm>,
    /// The client nonce; present whenever `qop` is.
    pub cnonce: Option<String>,
    /// The server's opaque value, echoed.
    pub opaque: Option<String>,
    /// The quality of protection chosen; `None` is the RFC 2069 form.
    pub qop: Option<Qop>,
    /// The nonce-count; present whenever `qop` is.
    pub nc: Option<NonceCount>,
    /// Parameters this implementation does not interpret (`userhash`, `username*`, ...).
    pub params: Vec<AuthParam>,
}

impl Credentials {
    /// Parses a header value such as `Digest username="6001", realm="vss", ...`.
    ///
    /// Parameter names are case-insensitive, values may be quoted or not, and each may
    /// appear once. A value of another scheme gives [`AuthError::NotDigest`]. Required:
    /// `username`, `realm`, `nonce`, `uri`, `response`, and `cnonce` and `nc` whenever
    /// `qop` is present (RFC 7616 §3.4).
    pub fn parse(value: &[u8]) -> Result<Self, AuthError> {
        let raw = scan::parse_single_digest(value)?;
        const NAMES: [&str; 10] = [
            "username",
            "realm",
            "nonce",
            "uri",
            "response",
            "algorithm",
            "cnonce",
            "opaque",
            "qop",
            "nc",
        ];
        let mut slots: [Option<RawParam<'_>>; 10] = Default::default();
        let mut extra = Vec::new();
        for p in raw.params {
            match NAMES.iter().position(|n| n.eq_ignore_ascii_case(p.name)) {
                Some(i) => params::set_once(&mut slots[i], p)?,
                None => params::push_unknown(&mut extra, p)?,
            }
        }
        let [
            username,
            realm,
            nonce,
            uri,
            response,
            algorithm,
            cnonce,
            opaque,
            qop,
            nc,
        ] = slots;
        let required = |p: Option<RawParam<'_>>, name| {
            p.map(|p| p.value.into_owned())
                .ok_or(AuthError::MissingParameter(name))
        };
        let creds = Self {
            username: required(username, "username")?,
            realm: required(realm, "realm")?,
            nonce: required(nonce, "nonce")?,
            uri: required(uri, "uri")?,
            response: required(response, "response")?,
            algorithm: algorithm.map(|p| Algorithm::parse(&p.value)).transpose()?,
            cnonce: cnonce.map(|p| p.value.into_owned()),
            opaque: opaque.map(|p| p.value.into_owned()),
            qop: qop.map(|p| Qop::parse(&p.value)),
            nc: nc.map(|p| NonceCount::parse(&p.value)).transpose()?,
            params: extra,
        };
        creds.check_qop_parameters()?;
        Ok(creds)
    }

    /// RFC 7616 §3.4: cnonce and nc MUST be sent with qop, and MUST NOT without it.
    pub(crate) fn check_qop_parameters(&self) -> Result<(), AuthError> {
        if self.qop.is_some() {
            if self.cnonce.as_deref().is_none_or(str::is_empty) {
                return Err(AuthError::MissingParameter("cnonce"));
            }
            if self.nc.is_none() {
                return Err(AuthError::MissingParameter("nc"));
            }
        } else if self.nc.is_some() {
            return Err(AuthError::MissingParameter("qop"));
        }
        Ok(())
    }

    /// The algorithm in effect: the one named, else MD5.
    pub fn effective_algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }
}

impl FromStr for Credentials {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for Credentials {
    /// Prints in RFC 3261 §25.1 form: quoted strings for the string values, tokens for
    /// `algorithm`, `qop` and `nc`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = ParamWriter::new(f)?;
        w.quoted("username", &self.username)?;
        w.quoted("realm", &self.realm)?;
        w.quoted("nonce", &self.nonce)?;
        w.quoted("uri", &self.uri)?;
        w.quoted("response", &self.response)?;
        if let Some(alg) = self.algorithm {
            w.token("algorithm", &alg)?;
        }
        if let Some(cnonce) = &self.cnonce {
            w.quoted("cnonce", cnonce)?;
        }
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if let Some(qop) = &self.qop {
            // A qop token read from the wire may not be a token (it could have been
            // quoted); print it quoted then, so the output stays parseable.
            if scan::is_token(qop.as_str()) {
                w.token("qop", qop)?;
            } else {
                w.quoted("qop", qop.as_str())?;
            }
        }
        if let Some(nc) = &self.nc {
            w.token("nc", nc)?;
        }
        for p in &self.params {
            w.param(p)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const RFC3261: &str = "Digest username=\"bob\", realm=\"biloxi.com\", \
        nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", \
        qop=auth, nc=00000001, cnonce=\"0a4f113b\", \
        response=\"6629fae49393a05397450978507c4ef1\", \
        opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"";

    #[test]
    fn parses_rfc3261_example() {
        let c = Credentials::parse(RFC3261.as_bytes()).unwrap();
        assert_eq!(c.username, "bob");
        assert_eq!(c.realm, "biloxi.com");
        assert_eq!(c.uri, "sip:bob@biloxi.com");
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc.unwrap().value(), 1);
        assert_eq!(c.cnonce.as_deref(), Some("0a4f113b"));
        assert_eq!(
            c.opaque.as_deref(),
            Some("5ccc069c403ebaf9f0171e9517f40e41")
        );
        assert_eq!(c.algorithm, None);
        assert_eq!(c.effective_algorithm(), Algorithm::Md5);
    }

    #[test]
    fn print_parse_round_trip() {
        let c = Credentials::parse(RFC3261.as_bytes()).unwrap();
        let printed = c.to_string();
        assert_eq!(
            printed,
            "Digest username=\"bob\", realm=\"biloxi.com\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:bob@biloxi.com\", \
             response=\"6629fae49393a05397450978507c4ef1\", cnonce=\"0a4f113b\", \
             opaque=\"5ccc069c403ebaf9f0171e9517f40e41\", qop=auth, nc=00000001"
        );
        assert_eq!(Credentials::parse(printed.as_bytes()).unwrap(), c);
    }

    #[test]
    fn odd_spacing_case_and_escapes_round_trip() {
        let v = "dIgEsT   USERNAME = \"we\\\"ird\\\\user\" ,REALM=\"r\",\r\n NONCE=\"n\",\
                 Uri=\"sip:r\",RESPONSE=\"abc\" , Algorithm=sha-256,QOP=\"auth\",\
                 NC=0000000A,CNonce=\"c\",userhash=false , x-Vendor=\"a, b\"";
        let c = Credentials::parse(v.as_bytes()).unwrap();
        assert_eq!(c.username, "we\"ird\\user");
        assert_eq!(c.algorithm, Some(Algorithm::Sha256));
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.nc.unwrap().value(), 10);
        assert_eq!(c.nc.unwrap().as_str(), "0000000A");
        assert_eq!(c.params.len(), 2);
        assert_eq!(c.params[1].value(), "a, b");
        let again = Credentials::parse(c.to_string().as_bytes()).unwrap();
        assert_eq!(again, c);
    }

    #[test]
    fn rfc2069_form_without_qop() {
        let v = "Digest username=\"Mufasa\", realm=\"testrealm@host.com\", \
                 nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"/dir/index.html\", \
                 response=\"1949323746fe6a43ef61f9606e7febea\"";
        let c = Credentials::parse(v.as_bytes()).unwrap();
        assert_eq!(
            (c.qop.as_ref(), c.nc, c.cnonce.as_ref()),
            (None, None, None)
        );
        assert_eq!(Credentials::parse(c.to_string().as_bytes()).unwrap(), c);
    }

    #[test]
    fn missing_fields_are_named() {
        let full = [
            ("username", "username=\"u\""),
            ("realm", "realm=\"r\""),
            ("nonce", "nonce=\"n\""),
            ("uri", "uri=\"sip:r\""),
            ("response", "response=\"00\""),
        ];
        for (i, (name, _)) in full.iter().enumerate() {
            let rest: Vec<_> = full
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, (_, p))| *p)
                .collect();
            let v = format!("Digest {}", rest.join(", "));
            assert_eq!(
                Credentials::parse(v.as_bytes()),
                Err(AuthError::MissingParameter(name))
            );
        }
        let base = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"0\"";
        assert_eq!(
            Credentials::parse(format!("{base}, qop=auth, nc=00000001").as_bytes()),
            Err(AuthError::MissingParameter("cnonce"))
        );
        assert_eq!(
            Credentials::parse(format!("{base}, qop=auth, cnonce=\"\", nc=00000001").as_bytes()),
            Err(AuthError::MissingParameter("cnonce"))
        );
        assert_eq!(
            Credentials::parse(format!("{base}, qop=auth, cnonce=\"c\"").as_bytes()),
            Err(AuthError::MissingParameter("nc"))
        );
        assert_eq!(
            Credentials::parse(format!("{base}, nc=00000001").as_bytes()),
            Err(AuthError::MissingParameter("qop"))
        );
    }

    #[test]
    fn bad_values_are_rejected() {
        let base = "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"sip:r\", response=\"0\"";
        for nc in ["1", "000000001", "0000000g", "\"\""] {
            let v = format!("{base}, qop=auth, cnonce=\"c\", nc={nc}");
            assert!(
                matches!(
                    Credentials::parse(v.as_bytes()),
                    Err(AuthError::Malformed(_))
                ),
                "nc={nc}"
            );
        }
        assert_eq!(
            Credentials::parse(format!("{base}, algorithm=SHA-512-256").as_bytes()),
            Err(AuthError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
        assert_eq!(
            Credentials::parse(format!("{base}, Realm=\"x\"").as_bytes()),
            Err(AuthError::DuplicateParameter("Realm".into()))
        );
        assert_eq!(
            Credentials::parse(format!("{base}, foo=1, FOO=2").as_bytes()),
            Err(AuthError::DuplicateParameter("FOO".into()))
        );
    }

    #[test]
    fn rfc4475_regaut01_is_not_digest() {
        let err = Credentials::parse(b"NoOneKnowsThisScheme opaque-data=here").unwrap_err();
        assert_eq!(
            err,
            AuthError::NotDigest {
                scheme: "NoOneKnowsThisScheme".into()
            }
        );
        assert!(matches!(
            Credentials::parse(b"Basic dXNlcjpwYXNz"),
            Err(AuthError::NotDigest { .. })
        ));
    }

    #[test]
    fn nonce_count_text() {
        assert_eq!(NonceCount::new(1).as_str(), "00000001");
        assert_eq!(NonceCount::new(0xdeadbeef).as_str(), "deadbeef");
        assert_eq!(NonceCount::parse("FFFFFFFF").unwrap().value(), u32::MAX);
    }
}
