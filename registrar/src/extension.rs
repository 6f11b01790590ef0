//! The numbering plan of slots (CONTRACT.md, "Numbering plan"): which extensions are
//! slots and which hub kind each range belongs to.

use std::fmt;
use std::str::FromStr;

/// The kind of hub a slot sits in; each owns one extension range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SlotKind {
    /// AUTO hubs: extensions 6001–6999.
    Auto,
    /// MF hubs: extensions 7001–7999.
    Mf,
    /// LS hubs: extensions 8001–8999.
    Ls,
}

impl SlotKind {
    /// The name used in CSV files, the database and the API: `AUTO`, `MF` or `LS`.
    pub fn as_str(self) -> &'static str {
        match self {
            SlotKind::Auto => "AUTO",
            SlotKind::Mf => "MF",
            SlotKind::Ls => "LS",
        }
    }

    /// Reads `AUTO`, `MF` or `LS`, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<SlotKind> {
        [SlotKind::Auto, SlotKind::Mf, SlotKind::Ls]
            .into_iter()
            .find(|k| k.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The extensions of this kind, inclusive.
    pub fn range(self) -> (u16, u16) {
        match self {
            SlotKind::Auto => (6001, 6999),
            SlotKind::Mf => (7001, 7999),
            SlotKind::Ls => (8001, 8999),
        }
    }
}

impl fmt::Display for SlotKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A slot extension: a number in 6001–6999, 7001–7999 or 8001–8999.
///
/// Only these numbers can register; the type makes any other value unrepresentable, so
/// a location lookup can never be asked for a service number or a carrier number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Extension(u16);

impl Extension {
    /// The extension `n`, if it is in a slot range.
    pub fn new(n: u16) -> Option<Extension> {
        Self::kind_of(n).map(|_| Extension(n))
    }

    fn kind_of(n: u16) -> Option<SlotKind> {
        [SlotKind::Auto, SlotKind::Mf, SlotKind::Ls]
            .into_iter()
            .find(|k| {
                let (lo, hi) = k.range();
                (lo..=hi).contains(&n)
            })
    }

    /// Reads an extension written as exactly four ASCII digits (a SIP user part or a
    /// CSV field); `"06001"`, `"+6001"` and `" 6001"` are not extensions.
    pub fn from_digits(s: &[u8]) -> Option<Extension> {
        if s.len() != 4 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = s.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        Extension::new(n)
    }

    /// The number.
    pub fn number(self) -> u16 {
        self.0
    }

    /// The hub kind whose range holds this extension.
    pub fn kind(self) -> SlotKind {
        // Every constructed value lies in a range; AUTO is never reached as a fallback.
        Self::kind_of(self.0).unwrap_or(SlotKind::Auto)
    }
}

impl fmt::Display for Extension {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Why a text is not a slot extension.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a slot extension (6001-6999, 7001-7999 or 8001-8999)")]
pub struct NotAnExtension(pub String);

impl FromStr for Extension {
    type Err = NotAnExtension;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Extension::from_digits(s.as_bytes()).ok_or_else(|| NotAnExtension(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_the_numbering_plan() {
        for (n, kind) in [
            (6001, Some(SlotKind::Auto)),
            (6999, Some(SlotKind::Auto)),
            (7001, Some(SlotKind::Mf)),
            (7999, Some(SlotKind::Mf)),
            (8001, Some(SlotKind::Ls)),
            (8999, Some(SlotKind::Ls)),
            (6000, None),
            (7000, None),
            (8000, None),
            (9001, None),
            (5999, None),
            (0, None),
        ] {
            assert_eq!(Extension::new(n).map(Extension::kind), kind, "{n}");
        }
    }

    #[test]
    fn only_four_plain_digits_parse() {
        assert_eq!("6001".parse::<Extension>().map(Extension::number), Ok(6001));
        for bad in [
            "06001", "+6001", " 6001", "6001 ", "60a1", "", "9001", "6000",
        ] {
            assert!(bad.parse::<Extension>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn kinds_read_case_insensitively() {
        assert_eq!(SlotKind::parse("auto"), Some(SlotKind::Auto));
        assert_eq!(SlotKind::parse(" MF "), Some(SlotKind::Mf));
        assert_eq!(SlotKind::parse("Ls"), Some(SlotKind::Ls));
        assert_eq!(SlotKind::parse("FXS"), None);
        assert_eq!(SlotKind::Ls.to_string(), "LS");
    }
}
