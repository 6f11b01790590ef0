//! Scans that test eight or sixteen octets at once (SWAR: SIMD within a register), for
//! the octets a message scan stops at: line ends, header-name ends, quoted-string
//! specials. Safe code only: the words are loaded with `u64::from_le_bytes`.

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

#[cfg(test)]
mod tests {
    use super::*;

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
}
