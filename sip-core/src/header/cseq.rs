//! CSeq (RFC 3261 §20.16).

use crate::error::{Error, Result};
use crate::method::Method;
use crate::syntax;
use std::fmt;

/// CSeq: a sequence number and a method (RFC 3261 §20.16).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number, below 2^31 (RFC 3261 §8.1.1.5).
    pub seq: u32,
    /// The method.
    pub method: Method,
}

impl CSeq {
    /// Parse a CSeq value: `1*DIGIT LWS Method`.
    pub fn parse(value: &[u8]) -> Result<CSeq> {
        let bad = |reason| Error::InvalidHeader {
            name: "CSeq",
            reason,
        };
        let (digits, seq) = syntax::leading_digits(value, (1 << 31) - 1);
        if digits == 0 {
            return Err(bad("missing sequence number"));
        }
        let seq = seq.ok_or(Error::OutOfRange("CSeq number"))?;
        let m = syntax::skip_ws(value, digits);
        if m == digits {
            return Err(bad("missing space before method"));
        }
        let method = syntax::trim(&value[m..]);
        if !syntax::TOKEN.all(method) {
            return Err(bad("bad method"));
        }
        Ok(CSeq {
            seq,
            method: Method::from_token(method),
        })
    }
}

impl fmt::Display for CSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.seq, self.method)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq() {
        assert!(
            CSeq::parse(
                b"0009
  INVITE"
                    .as_slice()
            )
            .is_err()
        );
        assert_eq!(
            CSeq::parse(b"0009 INVITE").ok(),
            Some(CSeq {
                seq: 9,
                method: Method::Invite
            })
        );
        assert_eq!(
            CSeq::parse(b"36893488147419103232 REGISTER").err(),
            Some(Error::OutOfRange("CSeq number"))
        );
        assert_eq!(
            CSeq::parse(b"2147483648 INVITE").err(),
            Some(Error::OutOfRange("CSeq number"))
        );
        assert!(CSeq::parse(b"1INVITE").is_err());
        assert!(CSeq::parse(b"INVITE").is_err());
    }
}
