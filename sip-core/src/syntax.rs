//! Character classes and small scanners of the RFC 3261 §25 grammar.
//!
//! Every class is a 256-entry lookup table built at compile time, so a scan is one load
//! and one branch per octet.

mod scan;

pub(crate) use scan::{name_end, name_stop, quoted_end, scan_line};

/// A set of octets, as a lookup table.
#[derive(Clone, Copy)]
pub(crate) struct Class([bool; 256]);

impl Class {
    pub(crate) const fn new(chars: &[u8], alnum: bool) -> Self {
        let mut table = [false; 256];
        let mut i = 0;
        while i < chars.len() {
            table[chars[i] as usize] = true;
            i += 1;
        }
        if alnum {
            let mut c = b'0';
            while c <= b'9' {
                table[c as usize] = true;
                c += 1;
            }
            let mut c = b'a';
            while c <= b'z' {
                table[c as usize] = true;
                table[(c - 32) as usize] = true;
                c += 1;
            }
        }
        Class(table)
    }

    /// Whether `b` belongs to the class.
    #[inline(always)]
    pub(crate) fn has(&self, b: u8) -> bool {
        self.0[b as usize]
    }

    /// Length of the longest prefix of `s` made of class members.
    #[inline]
    pub(crate) fn span(&self, s: &[u8]) -> usize {
        s.iter().position(|&b| !self.has(b)).unwrap_or(s.len())
    }

    /// Whether every octet of a non-empty `s` is in the class.
    #[inline]
    pub(crate) fn all(&self, s: &[u8]) -> bool {
        !s.is_empty() && self.span(s) == s.len()
    }
}

/// token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
pub(crate) const TOKEN: Class = Class::new(b"-.!%*_+`'~", true);

/// Characters of a header parameter value outside quotes: `gen-value = token / host /
/// quoted-string`. `host` brings `[`, `]` and `:` (IPv6 references; RFC 5118 §4.5 also asks
/// to accept an unbracketed IPv6 address in `received`).
pub(crate) const GEN_VALUE: Class = Class::new(b"-.!%*_+`'~[]:", true);

/// user = 1*( unreserved / escaped / user-unreserved ), user-unreserved = "&" "=" "+" "$" "," ";" "?" "/"
pub(crate) const USER: Class = Class::new(b"-_.!~*'()%&=+$,;?/", true);

/// password = *( unreserved / escaped / "&" / "=" / "+" / "$" / "," )
pub(crate) const PASSWORD: Class = Class::new(b"-_.!~*'()%&=+$,", true);

/// Characters inside the brackets of an IPv6 reference (hex digits, `:` and `.` for the
/// embedded IPv4 form). RFC 5118 §4.9 asks to tolerate the three-colon form, so the exact
/// address grammar is checked only when the address is used.
pub(crate) const IPV6: Class = Class::new(b":.0123456789abcdefABCDEF", false);

/// scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
pub(crate) const SCHEME: Class = Class::new(b"+-.", true);

/// Characters allowed in the opaque part of an absoluteURI (RFC 3261 §25.1: uric, plus `/`
/// for hier-part). Excludes white space, `<`, `>`, `"` and controls.
pub(crate) const URIC: Class = Class::new(b";/?:@&=+$,-_.!~*'()%[]#", true);

/// word characters (Call-ID): alphanum / "-" "." "!" "%" "*" "_" "+" "`" "'" "~" "(" ")" "<" ">"
/// ":" "\" DQUOTE "/" "[" "]" "?" "{" "}" — and "@" between the two words.
pub(crate) const CALLID: Class = Class::new(b"-.!%*_+`'~()<>:\\\"/[]?{}@", true);

/// The index of the first `needle` in `hay`. Header pieces are short, where a plain loop
/// beats the set-up cost of a vectorised search; long ones go to `memchr`.
#[inline]
pub(crate) fn find(needle: u8, hay: &[u8]) -> Option<usize> {
    if hay.len() < 32 {
        hay.iter().position(|&b| b == needle)
    } else {
        memchr::memchr(needle, hay)
    }
}

/// Whether `b` is SP or HTAB.
#[inline(always)]
pub(crate) fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Skip SP/HTAB at the start of `s`.
#[inline]
pub(crate) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_wsp(s[i]) {
        i += 1;
    }
    i
}

/// Trim SP/HTAB at both ends.
#[inline]
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let start = skip_ws(s, 0);
    let mut end = s.len();
    while end > start && is_wsp(s[end - 1]) {
        end -= 1;
    }
    &s[start..end]
}

/// Parse an unsigned decimal made only of digits (leading zeros allowed), refusing
/// values above `max`.
pub(crate) fn parse_u32(s: &[u8], max: u32) -> Option<u32> {
    if s.is_empty() {
        return None;
    }
    if s.len() > 10 {
        // More than ten digits can only be in range with leading zeros.
        let Some(first) = s.iter().position(|&b| b != b'0') else {
            return Some(0);
        };
        let digits = &s[first..];
        if digits.len() > 10 {
            return None;
        }
        return parse_u32(digits, max);
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(b - b'0');
    }
    if v > u64::from(max) {
        None
    } else {
        u32::try_from(v).ok()
    }
}

/// The run of digits at the start of `s`: its length, and its value when that is at most
/// `max` (leading zeros allowed, any number of them). One pass, no allocation; the sum
/// saturates above `u32::MAX`, which no `max` reaches.
#[inline]
pub(crate) fn leading_digits(s: &[u8], max: u32) -> (usize, Option<u32>) {
    let mut value: u64 = 0;
    let mut n = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        value = (value * 10 + u64::from(d)).min(1 << 32);
        n += 1;
    }
    let value = u32::try_from(value).ok().filter(|&v| v <= max);
    (n, value)
}

/// Decode the value of one hex digit.
#[inline]
pub(crate) fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode `%HEX HEX` escapes (RFC 3261 §19.1.4: escaped and unescaped forms are
/// equivalent). Invalid escapes are kept as they are.
pub(crate) fn unescape(s: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if find(b'%', s).is_none() {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(a), Some(b)) = (
                s.get(i + 1).copied().and_then(hex_val),
                s.get(i + 2).copied().and_then(hex_val),
            )
        {
            out.push(a << 4 | b);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// The index of the first `sep` outside quoted strings and angle brackets.
pub(crate) fn find_outside_quotes(s: &[u8], sep: u8) -> Option<usize> {
    let first = split_outside_quotes(s, sep).next()?;
    (first.len() < s.len()).then_some(first.len())
}

/// Split `s` on `sep` where it stands outside quoted strings and angle brackets.
/// Used for comma-separated header values (RFC 3261 §7.3.1).
pub(crate) fn split_outside_quotes(s: &[u8], sep: u8) -> SplitOutside<'_> {
    SplitOutside {
        s,
        pos: 0,
        sep,
        done: false,
    }
}

/// Iterator of [`split_outside_quotes`].
pub(crate) struct SplitOutside<'a> {
    s: &'a [u8],
    pos: usize,
    sep: u8,
    done: bool,
}

impl<'a> Iterator for SplitOutside<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.done {
            return None;
        }
        let s = self.s;
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        while i < s.len() {
            match s[i] {
                b'"' if !angle => match quoted_end(s, i) {
                    Some(end) => {
                        i = end;
                        continue;
                    }
                    // An unterminated quote: the rest is one (invalid) element.
                    None => break,
                },
                b'<' => angle = true,
                b'>' => angle = false,
                c if c == self.sep && !angle => {
                    self.pos = i + 1;
                    return Some(&s[start..i]);
                }
                _ => {}
            }
            i += 1;
        }
        self.done = true;
        Some(&s[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_class() {
        assert!(TOKEN.all(b"!interesting-Method0123456789_*+`.%indeed'~"));
        assert!(!TOKEN.all(b"a b"));
        assert!(!TOKEN.all(b""));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0009", u32::MAX), Some(9));
        assert_eq!(parse_u32(b"00000000000000000070", 255), Some(70));
        assert_eq!(parse_u32(b"0000000000000", 255), Some(0));
        assert_eq!(parse_u32(b"0000000000000x", 255), None);
        assert_eq!(parse_u32(b"4294967296", u32::MAX), None);
        assert_eq!(parse_u32(b"4294967295", u32::MAX), Some(u32::MAX));
        assert_eq!(parse_u32(b"-1", 10), None);
        assert_eq!(parse_u32(b"", 10), None);
        assert_eq!(parse_u32(b"256", 255), None);
    }

    #[test]
    fn digit_runs() {
        assert_eq!(leading_digits(b"70", 255), (2, Some(70)));
        assert_eq!(leading_digits(b"256 x", 255), (3, None));
        assert_eq!(
            leading_digits(b"0000000000000000000000000070", 255),
            (28, Some(70))
        );
        assert_eq!(
            leading_digits(b"99999999999999999999999", u32::MAX),
            (23, None)
        );
        assert_eq!(
            leading_digits(b"4294967295", u32::MAX),
            (10, Some(u32::MAX))
        );
        assert_eq!(leading_digits(b"4294967296", u32::MAX), (10, None));
        assert_eq!(leading_digits(b"x1", 9).0, 0);
        assert_eq!(leading_digits(b"", 9).0, 0);
        // The same verdicts as parse_u32 on every digit string it reads.
        for text in [
            "0",
            "00",
            "9",
            "255",
            "0255",
            "65535",
            "65536",
            "2147483647",
            "2147483648",
        ] {
            for max in [0, 255, 65535, (1 << 31) - 1, u32::MAX] {
                assert_eq!(
                    leading_digits(text.as_bytes(), max).1,
                    parse_u32(text.as_bytes(), max),
                    "{text} {max}"
                );
            }
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(&*unescape(b"cal%6Cer"), b"caller");
        assert_eq!(&*unescape(b"%00"), b"\0");
        assert_eq!(&*unescape(b"%Z%45"), b"%ZE");
    }

    #[test]
    fn split_commas() {
        let v: Vec<&[u8]> =
            split_outside_quotes(br#""a,b" <sip:x,y@h>;p=1, <sip:z>"#, b',').collect();
        assert_eq!(v, vec![&br#""a,b" <sip:x,y@h>;p=1"#[..], &b" <sip:z>"[..]]);
    }
}
