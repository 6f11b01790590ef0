//! Digest algorithms (RFC 7616 §3.4.1–§3.4.3, RFC 8760) and the response computation.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256};

use super::credentials::NonceCount;
use super::error::AuthError;

/// A digest algorithm, named as RFC 7616 §6.1 / RFC 8760 §2.2 register them.
///
/// The `-sess` variants hash the nonce and cnonce into HA1 (RFC 7616 §3.4.2); they need
/// `qop`, and the stored HA1 is the same as for the plain variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// `MD5`: what every SIP device speaks, and the default when `algorithm` is absent.
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 8760 brings it to SIP).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The name as written in an `algorithm=` parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Md5 => "MD5",
            Self::Md5Sess => "MD5-sess",
            Self::Sha256 => "SHA-256",
            Self::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Parses an algorithm name; the comparison ignores ASCII case (RFC 7616 §3.3).
    pub fn parse(name: &str) -> Result<Self, AuthError> {
        [Self::Md5, Self::Md5Sess, Self::Sha256, Self::Sha256Sess]
            .into_iter()
            .find(|alg| alg.as_str().eq_ignore_ascii_case(name))
            .ok_or_else(|| AuthError::UnsupportedAlgorithm(name.to_owned()))
    }

    /// True for the `-sess` variants.
    pub fn is_session(self) -> bool {
        matches!(self, Self::Md5Sess | Self::Sha256Sess)
    }

    /// Length of the digest in octets (its hex form is twice as long).
    pub fn digest_len(self) -> usize {
        match self {
            Self::Md5 | Self::Md5Sess => 16,
            Self::Sha256 | Self::Sha256Sess => 32,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Algorithm {
    type Err = AuthError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// A quality-of-protection value (RFC 7616 §3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Qop {
    /// `auth`: authentication of the method and Request-URI; the only one we compute.
    Auth,
    /// `auth-int`: also covers the body. Parsed, never computed.
    AuthInt,
    /// Any other token, kept so that it prints back unchanged.
    Other(String),
}

impl Qop {
    /// Parses one qop token, ignoring ASCII case for the known values.
    pub fn parse(token: &str) -> Self {
        if token.eq_ignore_ascii_case("auth") {
            Self::Auth
        } else if token.eq_ignore_ascii_case("auth-int") {
            Self::AuthInt
        } else {
            Self::Other(token.to_owned())
        }
    }

    /// The token as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Auth => "auth",
            Self::AuthInt => "auth-int",
            Self::Other(s) => s,
        }
    }
}

impl fmt::Display for Qop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A digest output: at most 32 octets (SHA-256).
#[derive(Clone, Copy)]
pub(crate) struct DigestBytes {
    bytes: [u8; 32],
    len: usize,
}

impl DigestBytes {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// The lowercase hex form (RFC 7616 §3.4.1: "LHEX").
    pub(crate) fn hex(&self) -> HexDigest {
        let mut out = HexDigest {
            text: [0; 64],
            len: self.len * 2,
        };
        for (i, b) in self.as_bytes().iter().enumerate() {
            out.text[2 * i] = HEX[usize::from(b >> 4)];
            out.text[2 * i + 1] = HEX[usize::from(b & 0x0f)];
        }
        out
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// A lowercase hex digest kept on the stack, so that the verify path does not allocate.
#[derive(Clone, Copy)]
pub(crate) struct HexDigest {
    text: [u8; 64],
    len: usize,
}

impl HexDigest {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.text[..self.len]
    }

    pub(crate) fn as_str(&self) -> &str {
        // Only ASCII hex digits are ever written into `text`.
        std::str::from_utf8(self.as_bytes()).unwrap_or_default()
    }

    /// Accepts a hex digest of exactly `alg`'s length in either case and keeps it
    /// lowercase, because the lowercase text is what gets hashed.
    pub(crate) fn parse(alg: Algorithm, hex: &str) -> Option<Self> {
        let raw = hex.as_bytes();
        if raw.len() != alg.digest_len() * 2 {
            return None;
        }
        let mut out = HexDigest {
            text: [0; 64],
            len: raw.len(),
        };
        for (dst, &c) in out.text.iter_mut().zip(raw) {
            if !c.is_ascii_hexdigit() {
                return None;
            }
            *dst = c.to_ascii_lowercase();
        }
        Some(out)
    }
}

/// Decodes a hex digest of `alg`'s length into bytes; `None` if it is not one.
pub(crate) fn decode_hex(alg: Algorithm, hex: &str) -> Option<DigestBytes> {
    let raw = hex.as_bytes();
    if raw.len() != alg.digest_len() * 2 {
        return None;
    }
    let mut out = DigestBytes {
        bytes: [0; 32],
        len: alg.digest_len(),
    };
    for (dst, pair) in out.bytes.iter_mut().zip(raw.chunks_exact(2)) {
        let hi = hex_value(pair[0])?;
        let lo = hex_value(pair[1])?;
        *dst = (hi << 4) | lo;
    }
    Some(out)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// H(data) of RFC 7616 §3.4, fed piece by piece so that nothing is concatenated on the heap.
pub(crate) enum Hasher {
    Md5(Md5),
    Sha256(Sha256),
}

impl Hasher {
    pub(crate) fn new(alg: Algorithm) -> Self {
        match alg {
            Algorithm::Md5 | Algorithm::Md5Sess => Self::Md5(Md5::new()),
            Algorithm::Sha256 | Algorithm::Sha256Sess => Self::Sha256(Sha256::new()),
        }
    }

    pub(crate) fn update(&mut self, data: &[u8]) -> &mut Self {
        match self {
            Self::Md5(h) => h.update(data),
            Self::Sha256(h) => h.update(data),
        }
        self
    }

    /// Feeds `parts` separated by `:`, the separator of every digest formula.
    pub(crate) fn colon_joined(&mut self, parts: &[&[u8]]) -> &mut Self {
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                self.update(b":");
            }
            self.update(part);
        }
        self
    }

    pub(crate) fn finalize(self) -> DigestBytes {
        let mut out = DigestBytes {
            bytes: [0; 32],
            len: 0,
        };
        match self {
            Self::Md5(h) => {
                out.bytes[..16].copy_from_slice(&h.finalize());
                out.len = 16;
            }
            Self::Sha256(h) => {
                out.bytes.copy_from_slice(&h.finalize());
                out.len = 32;
            }
        }
        out
    }
}

fn hash_joined(alg: Algorithm, parts: &[&[u8]]) -> DigestBytes {
    let mut h = Hasher::new(alg);
    h.colon_joined(parts);
    h.finalize()
}

/// HA1 = H(username ":" realm ":" password), lowercase hex (RFC 7616 §3.4.2).
///
/// This is the value a registrar stores instead of the password, one per algorithm
/// family: the `-sess` variants use the same stored value and mix the nonce and cnonce
/// in at response time.
pub fn ha1(algorithm: Algorithm, username: &str, realm: &str, password: &str) -> String {
    hash_joined(
        algorithm,
        &[username.as_bytes(), realm.as_bytes(), password.as_bytes()],
    )
    .hex()
    .as_str()
    .to_owned()
}

/// The `qop=auth` part of a response computation.
#[derive(Debug, Clone, Copy)]
pub struct QopAuth<'a> {
    /// The nonce-count, hashed exactly as it is written in `nc=`.
    pub nc: &'a NonceCount,
    /// The client nonce, unquoted.
    pub cnonce: &'a str,
}

/// Everything the `response` parameter is computed from (RFC 7616 §3.4.1).
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    /// The algorithm named in the challenge.
    pub algorithm: Algorithm,
    /// HA1 as hex (see [`ha1`]); either case is accepted.
    pub ha1: &'a str,
    /// The request method (`REGISTER`, `INVITE`, ...). RFC 3261 §22.4: for ACK and
    /// CANCEL this is still the method of the request being sent.
    pub method: &'a str,
    /// The `uri` parameter value, exactly as sent.
    pub uri: &'a str,
    /// The server nonce, unquoted.
    pub nonce: &'a str,
    /// `Some` for `qop=auth`; `None` for the RFC 2069 form used by old devices.
    pub qop: Option<QopAuth<'a>>,
}

/// Computes the `response` parameter as lowercase hex.
///
/// With qop=auth: `KD(H(A1), nonce:nc:cnonce:auth:H(A2))`; without qop (RFC 2069):
/// `KD(H(A1), nonce:H(A2))`, where `A2 = method:uri` and `KD(s, d) = H(s:d)`.
pub fn response(input: &ResponseInput<'_>) -> Result<String, AuthError> {
    Ok(compute_response(input)?.hex().as_str().to_owned())
}

pub(crate) fn compute_response(input: &ResponseInput<'_>) -> Result<DigestBytes, AuthError> {
    let alg = input.algorithm;
    let stored = HexDigest::parse(alg, input.ha1).ok_or(AuthError::InvalidHa1)?;
    let ha1 = if alg.is_session() {
        // RFC 7616 §3.4.2: A1 = H(user:realm:passwd):nonce:cnonce for the -sess variants;
        // a cnonce only exists with a qop, so -sess without qop cannot be computed.
        let qop = input.qop.ok_or(AuthError::MissingParameter("qop"))?;
        hash_joined(
            alg,
            &[
                stored.as_bytes(),
                input.nonce.as_bytes(),
                qop.cnonce.as_bytes(),
            ],
        )
        .hex()
    } else {
        stored
    };
    let ha2 = hash_joined(alg, &[input.method.as_bytes(), input.uri.as_bytes()]).hex();
    let mut h = Hasher::new(alg);
    match input.qop {
        Some(qop) => h.colon_joined(&[
            ha1.as_bytes(),
            input.nonce.as_bytes(),
            qop.nc.as_str().as_bytes(),
            qop.cnonce.as_bytes(),
            b"auth",
            ha2.as_bytes(),
        ]),
        None => h.colon_joined(&[ha1.as_bytes(), input.nonce.as_bytes(), ha2.as_bytes()]),
    };
    Ok(h.finalize())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    // RFC 7616 §3.9.1: the same request answered with MD5 and with SHA-256.
    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";

    fn rfc7616(alg: Algorithm) -> String {
        let ha1 = ha1(alg, "Mufasa", "http-auth@example.org", "Circle of Life");
        let nc = NonceCount::new(1);
        response(&ResponseInput {
            algorithm: alg,
            ha1: &ha1,
            method: "GET",
            uri: "/dir/index.html",
            nonce: RFC7616_NONCE,
            qop: Some(QopAuth {
                nc: &nc,
                cnonce: RFC7616_CNONCE,
            }),
        })
        .unwrap()
    }

    #[test]
    fn rfc7616_md5_example() {
        assert_eq!(rfc7616(Algorithm::Md5), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_example() {
        assert_eq!(
            rfc7616(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    // RFC 2617 §3.5, the example RFC 3261 §22.4 copies into its SIP Authorization header.
    #[test]
    fn rfc2617_classic_md5_example() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let nc = NonceCount::new(1);
        let got = response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: Some(QopAuth {
                nc: &nc,
                cnonce: "0a4f113b",
            }),
        })
        .unwrap();
        assert_eq!(got, "6629fae49393a05397450978507c4ef1");
    }

    // A SIP REGISTER as a slot sends it; expected values computed independently with
    // Python's hashlib from the RFC 7616 formulas.
    #[test]
    fn sip_register_md5_with_and_without_qop() {
        let ha1 = ha1(Algorithm::Md5, "6001", "vss.example.net", "s3cr3t");
        assert_eq!(ha1, "534c4b88e5a1f108d1d6b6ec2fb68882");
        let nc = NonceCount::new(1);
        let mut input = ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            method: "REGISTER",
            uri: "sip:vss.example.net",
            nonce: "MTIzNDU2Nzg5MGFiY2RlZg",
            qop: Some(QopAuth {
                nc: &nc,
                cnonce: "0a4f113b",
            }),
        };
        assert_eq!(
            response(&input).unwrap(),
            "cacb15b079abc6eae8b7c1a689376b81"
        );
        input.qop = None;
        assert_eq!(
            response(&input).unwrap(),
            "3fc3c1453386818a1303c5dc8c05aa93"
        );
    }

    // RFC 2069 §2.4's printed response is known to be wrong (erratum); this is the value
    // of its formula over its inputs, computed independently with Python's hashlib.
    #[test]
    fn rfc2069_form() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "CircleOfLife",
        );
        let got = response(&ResponseInput {
            algorithm: Algorithm::Md5,
            ha1: &ha1,
            method: "GET",
            uri: "/dir/index.html",
            nonce: "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            qop: None,
        })
        .unwrap();
        assert_eq!(got, "1949323746fe6a43ef61f9606e7febea");
    }

    // MD5-sess and SHA-256-sess over the RFC 7616 §3.9.1 inputs; expected values
    // computed independently with Python's hashlib (A1 = H(user:realm:pw):nonce:cnonce).
    #[test]
    fn session_variants() {
        assert_eq!(
            rfc7616(Algorithm::Md5Sess),
            "e783283f46242139c486a698fec7211d"
        );
        assert_eq!(
            rfc7616(Algorithm::Sha256Sess),
            "2fd51b3a77ad75bad6afad6003e818d767133c46d9e2749e7f5232ae1ea3efd7"
        );
    }

    #[test]
    fn session_variant_needs_qop() {
        let ha1 = ha1(Algorithm::Md5Sess, "a", "r", "p");
        let err = response(&ResponseInput {
            algorithm: Algorithm::Md5Sess,
            ha1: &ha1,
            method: "REGISTER",
            uri: "sip:r",
            nonce: "n",
            qop: None,
        })
        .unwrap_err();
        assert_eq!(err, AuthError::MissingParameter("qop"));
    }

    #[test]
    fn uppercase_ha1_is_accepted_and_wrong_length_rejected() {
        let lower = ha1(
            Algorithm::Md5,
            "Mufasa",
            "http-auth@example.org",
            "Circle of Life",
        );
        let upper = lower.to_ascii_uppercase();
        let nc = NonceCount::new(1);
        let mk = |ha1: &str, alg| {
            response(&ResponseInput {
                algorithm: alg,
                ha1,
                method: "GET",
                uri: "/dir/index.html",
                nonce: RFC7616_NONCE,
                qop: Some(QopAuth {
                    nc: &nc,
                    cnonce: RFC7616_CNONCE,
                }),
            })
        };
        assert_eq!(
            mk(&upper, Algorithm::Md5).unwrap(),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
        assert_eq!(mk(&lower, Algorithm::Sha256), Err(AuthError::InvalidHa1));
        assert_eq!(mk("zz", Algorithm::Md5), Err(AuthError::InvalidHa1));
    }

    #[test]
    fn algorithm_names_parse_case_insensitively() {
        assert_eq!(Algorithm::parse("md5").unwrap(), Algorithm::Md5);
        assert_eq!(Algorithm::parse("sha-256").unwrap(), Algorithm::Sha256);
        assert_eq!(
            Algorithm::parse("SHA-256-SESS").unwrap(),
            Algorithm::Sha256Sess
        );
        assert_eq!(Algorithm::parse("MD5-Sess").unwrap(), Algorithm::Md5Sess);
        assert_eq!(
            Algorithm::parse("SHA-512-256"),
            Err(AuthError::UnsupportedAlgorithm("SHA-512-256".into()))
        );
        assert!(Algorithm::parse("").is_err());
    }

    #[test]
    fn hex_helpers_reject_non_hex() {
        assert!(decode_hex(Algorithm::Md5, "0123456789abcdef0123456789ABCDEF").is_some());
        assert!(decode_hex(Algorithm::Md5, "0123456789abcdef0123456789abcdeg").is_none());
        assert!(HexDigest::parse(Algorithm::Md5, "0123456789abcdef0123456789abcdeg").is_none());
    }
}
