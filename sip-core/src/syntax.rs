//! Character classes and small scanners of the RFC 3261 §25 grammar.
//!
//! Every class is a 256-entry lookup table built at compile time, so a scan is one load
//! and one branch per octet.

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

/// One line of a message, as found by [`scan_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The index just past the line's text (its CRLF or LF excluded).
    pub(crate) end: usize,
    /// The index where the next line starts.
    pub(crate) next: usize,
    /// Whether the line ended with LF (false: it runs to the end of the buffer).
    pub(crate) complete: bool,
    /// Whether the text holds a CR that does not end the line, or a NUL: octets a
    /// header value may carry only inside a quoted-pair.
    pub(crate) controls: bool,
}

/// 0x01 in every octet of a word.
const ONES: u64 = 0x0101_0101_0101_0101;
/// 0x80 in every octet of a word: where the per-octet flags below live.
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The index of the first octet below 0x20 at or after `i`, or `s.len()`. Header lines
/// hold almost none, so sixteen octets are tested at once, in two words:
/// `(w - 0x20..) & !w & 0x80..` flags octets below 0x20, and the lowest flag is always
/// exact (a borrow only propagates upwards, past a true flag).
#[inline]
fn next_control(s: &[u8], mut i: usize) -> usize {
    let below_space = |w: u64| w.wrapping_sub(ONES * 0x20) & !w & HIGHS;
    while let Some(chunk) = s.get(i..).and_then(<[u8]>::first_chunk::<16>) {
        let (a, b) = chunk.split_at(8);
        let a = below_space(u64::from_le_bytes(a.try_into().unwrap_or_default()));
        let b = below_space(u64::from_le_bytes(b.try_into().unwrap_or_default()));
        if a | b != 0 {
            let bit = if a != 0 {
                a.trailing_zeros()
            } else {
                64 + b.trailing_zeros()
            };
            return i + (bit / 8) as usize;
        }
        i += 16;
    }
    while i < s.len() && s[i] >= 0x20 {
        i += 1;
    }
    i
}

/// The index of the first `:`, SP or HTAB in `s[pos..end]`, or `end`: where a header
/// name stops. Eight octets are tested at once; the loads may read past `end` (the next
/// line), never past `s`.
#[inline]
pub(crate) fn name_end(s: &[u8], pos: usize, end: usize) -> usize {
    let mut i = pos;
    while i < end {
        let Some(chunk) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) else {
            break;
        };
        let w = u64::from_le_bytes(*chunk);
        let hits = zero_octets(w ^ (ONES * u64::from(b':')))
            | zero_octets(w ^ (ONES * u64::from(b' ')))
            | zero_octets(w ^ (ONES * u64::from(b'\t')));
        if hits != 0 {
            return (i + (hits.trailing_zeros() / 8) as usize).min(end);
        }
        i += 8;
    }
    while i < end && !matches!(s[i], b':' | b' ' | b'\t') {
        i += 1;
    }
    i.min(end)
}

/// The index of the first `:`, SP, HTAB or octet below 0x20 at or after `pos`, or
/// `s.len()`: where a header name stops, eight octets at a time.
#[inline]
pub(crate) fn name_stop(s: &[u8], pos: usize) -> usize {
    let mut i = pos;
    while let Some(chunk) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*chunk);
        let hits = zero_octets(w ^ (ONES * u64::from(b':')))
            | zero_octets(w ^ (ONES * u64::from(b' ')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && !matches!(s[i], b':' | b' ' | 0..=0x1f) {
        i += 1;
    }
    i
}

/// The line starting at `pos`: it ends at LF, and a CR just before the LF belongs to
/// the line end (RFC 3261 §7 uses CRLF; a bare LF is tolerated, as RFC 3261 §7.5 hints
/// and most stacks do). One pass finds the end and notes stray CR and NUL octets.
#[inline]
pub(crate) fn scan_line(s: &[u8], pos: usize) -> Line {
    let mut i = pos;
    let mut controls = false;
    loop {
        i = next_control(s, i);
        match s.get(i) {
            None => {
                return Line {
                    end: s.len(),
                    next: s.len(),
                    complete: false,
                    controls,
                };
            }
            Some(b'\n') => {
                return Line {
                    end: i,
                    next: i + 1,
                    complete: true,
                    controls,
                };
            }
            Some(b'\r') if s.get(i + 1) == Some(&b'\n') => {
                return Line {
                    end: i,
                    next: i + 2,
                    complete: true,
                    controls,
                };
            }
            Some(b'\r' | 0) => controls = true,
            Some(_) => {}
        }
        i += 1;
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

/// Given `s[i] == '"'`, return the index just past the closing quote of the quoted-string
/// (RFC 3261 §25.1: qdtext or quoted-pair; quoted-pair excludes CR and LF).
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    loop {
        j = next_quote_special(s, j);
        match *s.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => {
                let next = *s.get(j + 1)?;
                if next == b'\r' || next == b'\n' {
                    return None;
                }
                j += 2;
            }
            b'\r' | b'\n' => return None,
            // Other controls pass as text, as they always have here.
            _ => j += 1,
        }
    }
}

/// Flags the zero octets of `w` (the lowest flag is exact, as in [`next_control`]).
#[inline(always)]
fn zero_octets(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

/// The index of the first `"`, `\`, or octet below 0x20 at or after `i`, or `s.len()`:
/// the octets a quoted-string scan must look at, found eight at a time. The lowest flag of
/// the union is exact, since each predicate's lowest flag is.
#[inline]
fn next_quote_special(s: &[u8], mut i: usize) -> usize {
    while let Some(chunk) = s.get(i..).and_then(<[u8]>::first_chunk::<8>) {
        let w = u64::from_le_bytes(*chunk);
        let hits = zero_octets(w ^ (ONES * u64::from(b'"')))
            | zero_octets(w ^ (ONES * u64::from(b'\\')))
            | (w.wrapping_sub(ONES * 0x20) & !w & HIGHS);
        if hits != 0 {
            return i + (hits.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && !matches!(s[i], b'"' | b'\\' | 0..=0x1f) {
        i += 1;
    }
    i
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
    fn quoted_strings() {
        assert_eq!(quoted_end(br#""a\"b" x"#, 0), Some(6));
        assert_eq!(quoted_end(br#""abc"#, 0), None);
        assert_eq!(quoted_end(b"\"a\\", 0), None);
        // Every special octet at every offset around the 8-octet steps.
        for at in 1..20 {
            let mut text = vec![b'x'; 24];
            text[0] = b'"';
            text[at] = b'"';
            assert_eq!(quoted_end(&text, 0), Some(at + 1), "quote at {at}");
            text[at] = b'\\';
            text[at + 1] = b'"';
            text[at + 3] = b'"';
            assert_eq!(quoted_end(&text, 0), Some(at + 4), "escaped quote at {at}");
            for stop in [b'\r', b'\n'] {
                let mut text = vec![b'y'; 24];
                text[0] = b'"';
                text[at] = stop;
                text.push(b'"');
                assert_eq!(quoted_end(&text, 0), None, "{stop} at {at}");
                if at > 1 {
                    text[at - 1] = b'\\';
                    assert_eq!(quoted_end(&text, 0), None, "escaped {stop} at {at}");
                }
            }
            let mut text = vec![0u8; 24];
            text[0] = b'"';
            text[at] = b'"';
            assert_eq!(quoted_end(&text, 0), Some(at + 1), "NUL text before {at}");
        }
        let utf8 = "\"D\u{e9}j\u{e0} vu \u{1f600}\" <sip:x>";
        assert_eq!(quoted_end(utf8.as_bytes(), 0), utf8.find(" <"));
    }

    #[test]
    fn escapes() {
        assert_eq!(&*unescape(b"cal%6Cer"), b"caller");
        assert_eq!(&*unescape(b"%00"), b"\0");
        assert_eq!(&*unescape(b"%Z%45"), b"%ZE");
    }

    #[test]
    fn lines() {
        let line = |s: &[u8], pos| {
            let l = scan_line(s, pos);
            (l.end, l.next, l.complete, l.controls)
        };
        assert_eq!(line(b"ab\r\ncd", 0), (2, 4, true, false));
        assert_eq!(line(b"ab\r\ncd", 4), (6, 6, false, false));
        assert_eq!(line(b"ab\ncd", 0), (2, 3, true, false));
        assert_eq!(line(b"\r\n", 0), (0, 2, true, false));
        assert_eq!(line(b"", 0), (0, 0, false, false));
        // Stray CR and NUL anywhere, before or after an 8-octet boundary.
        for at in 0..20 {
            for bad in [b'\r', 0] {
                let mut text = vec![b'x'; 20];
                text[at] = bad;
                text.extend_from_slice(b"\r\nnext");
                assert_eq!(line(&text, 0), (20, 22, true, true), "{bad} at {at}");
            }
            // Tabs and other controls are neither line ends nor flagged.
            let mut text = vec![b'y'; 20];
            text[at] = b'\t';
            text.extend_from_slice(b"\n");
            assert_eq!(line(&text, 0), (20, 21, true, false));
        }
        assert_eq!(line(b"abc\r\r\n", 0), (4, 6, true, true));
        assert_eq!(line(b"abc\r", 0), (4, 4, false, true));
        // Octets above 0x7F (UTF-8) are ordinary text.
        assert!(line("h\u{e9}llo w\u{f6}rld \u{1f600}\r\n".as_bytes(), 0).2);
        assert_eq!(
            line("\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\r\n".as_bytes(), 0),
            (10, 12, true, false)
        );
    }

    #[test]
    fn header_name_ends() {
        let text = b"Content-Length: 0\r\nVia : x\r\nSubject\t: y\r\nno-colon-at-all\r\n";
        assert_eq!(name_end(text, 0, 17), 14);
        assert_eq!(name_end(text, 19, 27), 22);
        assert_eq!(name_end(text, 28, 39), 35);
        // The search stops at the line end even when the next line has a colon.
        assert_eq!(name_end(text, 41, 56), 56);
        assert_eq!(name_end(text, 0, 10), 10);
        for len in 0..20 {
            let mut text = vec![b'a'; len];
            text.push(b':');
            assert_eq!(name_end(&text, 0, text.len()), len);
            assert_eq!(name_end(&text, 0, len), len);
        }
    }

    #[test]
    fn header_name_stops() {
        let text = b"Content-Length: 0\r\nVia : x\r\nSubject\t: y\r\nno-colon\r\nx";
        assert_eq!(name_stop(text, 0), 14);
        assert_eq!(name_stop(text, 19), 22);
        assert_eq!(name_stop(text, 28), 35);
        assert_eq!(name_stop(text, 41), 49);
        assert_eq!(name_stop(text, 51), 52);
        for len in 0..20 {
            for stop in [b':', b' ', b'\t', b'\r', b'\n', 0] {
                let mut text = vec![b'a'; len];
                text.push(stop);
                text.extend_from_slice(b"zzzzzzzzz:");
                assert_eq!(name_stop(&text, 0), len, "{stop} after {len}");
            }
        }
    }

    #[test]
    fn split_commas() {
        let v: Vec<&[u8]> =
            split_outside_quotes(br#""a,b" <sip:x,y@h>;p=1, <sip:z>"#, b',').collect();
        assert_eq!(v, vec![&br#""a,b" <sip:x,y@h>;p=1"#[..], &b" <sip:z>"[..]]);
    }
}
