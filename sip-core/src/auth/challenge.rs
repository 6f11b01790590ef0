//! WWW-Authenticate / Proxy-Authenticate values (RFC 3261 §22.4, RFC 7616 §3.3).

use std::fmt;
use std::str::FromStr;

use super::algorithm::{Algorithm, Qop};
use super::error::AuthError;
use super::params::{self, AuthParam, ParamWriter};
use super::scan::{self, RawChallenge, RawParam};

/// A Digest challenge: the value of a WWW-Authenticate or Proxy-Authenticate header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The protection space; shown to users and part of HA1.
    pub realm: String,
    /// The server nonce.
    pub nonce: String,
    /// Opaque data the client must echo unchanged.
    pub opaque: Option<String>,
    /// `algorithm`; absent means MD5 (RFC 7616 §3.3).
    pub algorithm: Option<Algorithm>,
    /// The `qop` options offered, in the server's order; empty when the directive is
    /// absent (an RFC 2069 server).
    pub qop: Vec<Qop>,
    /// `stale=true`: the previous nonce expired but the password was right, so the
    /// client retries without asking the user again.
    pub stale: bool,
    /// The `domain` directive (space-separated URIs), kept as text.
    pub domain: Option<String>,
    /// Parameters this implementation does not interpret (`charset`, `userhash`, ...).
    pub params: Vec<AuthParam>,
}

impl Challenge {
    /// Parses a header value holding exactly one Digest challenge.
    ///
    /// Parameter names are case-insensitive, values may be quoted or not, each may
    /// appear once, and unknown parameters are kept. Another scheme gives
    /// [`AuthError::NotDigest`]; an unknown `algorithm` gives
    /// [`AuthError::UnsupportedAlgorithm`], so that a client skips that challenge.
    pub fn parse(value: &[u8]) -> Result<Self, AuthError> {
        Self::from_raw(scan::parse_single_digest(value)?)
    }

    /// Parses a header value that may hold several challenges of any scheme
    /// (RFC 7235 §4.1 allows `Basic realm="x", Digest realm="y", ...` in one field) and
    /// returns each Digest one in order, or the reason it cannot be used. Challenges of
    /// other schemes are skipped.
    pub fn parse_all(value: &[u8]) -> Result<Vec<Result<Self, AuthError>>, AuthError> {
        let value =
            std::str::from_utf8(value).map_err(|_| AuthError::Malformed("not valid UTF-8"))?;
        Ok(scan::parse_list(value)?
            .into_iter()
            .filter(|raw| raw.scheme.eq_ignore_ascii_case("Digest"))
            .map(|raw| {
                if raw.token68 {
                    Err(AuthError::Malformed(
                        "Digest takes parameters, not a token68",
                    ))
                } else {
                    Self::from_raw(raw)
                }
            })
            .collect())
    }

    fn from_raw(raw: RawChallenge<'_>) -> Result<Self, AuthError> {
        const NAMES: [&str; 6] = ["realm", "nonce", "opaque", "algorithm", "qop", "stale"];
        let mut slots: [Option<RawParam<'_>>; 6] = Default::default();
        let mut domain = None;
        let mut extra = Vec::new();
        for p in raw.params {
            if p.name.eq_ignore_ascii_case("domain") {
                params::set_once(&mut domain, p)?;
                continue;
            }
            match NAMES.iter().position(|n| n.eq_ignore_ascii_case(p.name)) {
                Some(i) => params::set_once(&mut slots[i], p)?,
                None => params::push_unknown(&mut extra, p)?,
            }
        }
        let [realm, nonce, opaque, algorithm, qop, stale] = slots;
        Ok(Self {
            realm: realm
                .map(|p| p.value.into_owned())
                .ok_or(AuthError::MissingParameter("realm"))?,
            nonce: nonce
                .map(|p| p.value.into_owned())
                .ok_or(AuthError::MissingParameter("nonce"))?,
            opaque: opaque.map(|p| p.value.into_owned()),
            algorithm: algorithm.map(|p| Algorithm::parse(&p.value)).transpose()?,
            // qop-options is a quoted, comma-separated list (RFC 7616 §3.3); some devices
            // separate with spaces only, and a token cannot hold either.
            qop: qop
                .map(|p| {
                    p.value
                        .split(|c: char| c == ',' || c.is_ascii_whitespace())
                        .filter(|t| !t.is_empty())
                        .map(Qop::parse)
                        .collect()
                })
                .unwrap_or_default(),
            // RFC 7616 §3.3: "true" in any case; anything else means false.
            stale: stale.is_some_and(|p| p.value.eq_ignore_ascii_case("true")),
            domain: domain.map(|p| p.value.into_owned()),
            params: extra,
        })
    }

    /// The algorithm in effect: the one named, else MD5.
    pub fn effective_algorithm(&self) -> Algorithm {
        self.algorithm.unwrap_or(Algorithm::Md5)
    }

    /// True when the challenge offers `qop=auth`.
    pub fn offers_auth(&self) -> bool {
        self.qop.contains(&Qop::Auth)
    }
}

impl FromStr for Challenge {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s.as_bytes())
    }
}

impl fmt::Display for Challenge {
    /// Prints `Digest realm="..", nonce="..", opaque="..", algorithm=.., qop="..",
    /// stale=true`, then `domain` and unknown parameters; `stale` only when true.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut w = ParamWriter::new(f)?;
        w.quoted("realm", &self.realm)?;
        if let Some(domain) = &self.domain {
            w.quoted("domain", domain)?;
        }
        w.quoted("nonce", &self.nonce)?;
        if let Some(opaque) = &self.opaque {
            w.quoted("opaque", opaque)?;
        }
        if let Some(alg) = self.algorithm {
            w.token("algorithm", &alg)?;
        }
        if !self.qop.is_empty() {
            let list: Vec<&str> = self.qop.iter().map(Qop::as_str).collect();
            w.quoted("qop", &list.join(","))?;
        }
        if self.stale {
            w.token("stale", &"true")?;
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

    #[test]
    fn parses_rfc7616_example() {
        let v = "Digest\r\n realm=\"http-auth@example.org\",\r\n qop=\"auth, auth-int\",\r\n \
                 algorithm=SHA-256,\r\n nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\
                 \r\n opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\"";
        let c = Challenge::parse(v.as_bytes()).unwrap();
        assert_eq!(c.realm, "http-auth@example.org");
        assert_eq!(c.qop, vec![Qop::Auth, Qop::AuthInt]);
        assert_eq!(c.algorithm, Some(Algorithm::Sha256));
        assert_eq!(c.nonce, "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v");
        assert_eq!(
            c.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
        assert!(!c.stale);
        assert!(c.offers_auth());
    }

    #[test]
    fn print_parse_round_trip() {
        let c = Challenge {
            realm: "vss \"main\" \\ realm".into(),
            nonce: "abc".into(),
            opaque: Some("o".into()),
            algorithm: Some(Algorithm::Md5),
            qop: vec![Qop::Auth],
            stale: true,
            domain: Some("sip:a sip:b".into()),
            params: vec![AuthParam::new("charset", "UTF-8", false).unwrap()],
        };
        let printed = c.to_string();
        assert_eq!(
            printed,
            "Digest realm=\"vss \\\"main\\\" \\\\ realm\", domain=\"sip:a sip:b\", \
             nonce=\"abc\", opaque=\"o\", algorithm=MD5, qop=\"auth\", stale=true, \
             charset=UTF-8"
        );
        assert_eq!(Challenge::parse(printed.as_bytes()).unwrap(), c);
    }

    #[test]
    fn odd_spacing_and_case() {
        let v = "DIGEST   REALM   =   vss.example.net ,nonce=\"n\",STALE=TRUE,\
                 Algorithm=\"md5\",qop=auth ,  x-foo = \"bar\"";
        let c = Challenge::parse(v.as_bytes()).unwrap();
        assert_eq!(c.realm, "vss.example.net");
        assert!(c.stale);
        assert_eq!(c.algorithm, Some(Algorithm::Md5));
        assert_eq!(c.qop, vec![Qop::Auth]);
        assert_eq!(c.params[0].name(), "x-foo");
        assert_eq!(Challenge::parse(c.to_string().as_bytes()).unwrap(), c);
    }

    #[test]
    fn stale_values_other_than_true_are_false() {
        for v in ["false", "FALSE", "yes", "\"\""] {
            let s = format!("Digest realm=\"r\", nonce=\"n\", stale={v}");
            assert!(!Challenge::parse(s.as_bytes()).unwrap().stale, "{v}");
        }
    }

    #[test]
    fn required_and_invalid_parameters() {
        assert_eq!(
            Challenge::parse(b"Digest nonce=\"n\""),
            Err(AuthError::MissingParameter("realm"))
        );
        assert_eq!(
            Challenge::parse(b"Digest realm=\"r\""),
            Err(AuthError::MissingParameter("nonce"))
        );
        assert_eq!(
            Challenge::parse(b"Digest realm=\"r\", nonce=\"n\", algorithm=SHA-512-256"),
            Err(AuthError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
        assert_eq!(
            Challenge::parse(b"Digest realm=\"r\", nonce=\"n\", NONCE=\"m\""),
            Err(AuthError::DuplicateParameter("NONCE".into()))
        );
        assert_eq!(
            Challenge::parse(b"Basic realm=\"r\""),
            Err(AuthError::NotDigest {
                scheme: "Basic".into()
            })
        );
    }

    #[test]
    fn several_challenges_in_one_value() {
        let v = b"Basic realm=\"x\", Digest realm=\"r\", nonce=\"a\", algorithm=SHA-256, \
                  Digest realm=\"r\", nonce=\"b\", algorithm=SHA-512-256, \
                  Digest realm=\"r\", nonce=\"c\"";
        let all = Challenge::parse_all(v).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].as_ref().unwrap().nonce, "a");
        assert!(matches!(all[1], Err(AuthError::UnsupportedAlgorithm(_))));
        assert_eq!(all[2].as_ref().unwrap().nonce, "c");
        assert!(matches!(
            Challenge::parse(v),
            Err(AuthError::NotDigest { .. })
        ));
        assert!(matches!(
            Challenge::parse(&v[17..]),
            Err(AuthError::Malformed(_))
        ));
    }
}
