//! Small text helpers shared by the SDP types.

/// Views bytes the parser already checked as UTF-8 and split at ASCII delimiters.
///
/// The fallback to `""` is unreachable for values produced by the parser; it exists so
/// that no code path can panic on text.
pub(crate) fn as_str(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

/// True when `s` can be written as one SDP token (no space, no line break, not empty).
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b > b' ' && b != 0x7f)
}

/// True when `s` can be written inside one SDP line (no CR, LF or NUL).
pub(crate) fn is_line_safe(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}
