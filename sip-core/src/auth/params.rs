//! Printing auth-params back (quoting rules of RFC 3261 §25.1), unknown parameters,
//! and the duplicate checks shared by the typed parsers.

use std::fmt;

use super::error::AuthError;
use super::scan::{RawParam, is_token};

/// Writes `value` as a quoted-string.
///
/// `"` and `\` are escaped. CR and LF cannot appear in a quoted-string even escaped
/// (RFC 3261 §25.1), so each is written as SP: the output can never end the header line
/// early, whatever the value holds. Other control characters are escaped as quoted-pairs.
pub(crate) fn write_quoted(f: &mut fmt::Formatter<'_>, value: &str) -> fmt::Result {
    f.write_str("\"")?;
    let mut plain_from = 0;
    for (i, c) in value.char_indices() {
        let replacement = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\r' | '\n' => " ",
            c if c.is_ascii_control() && c != '\t' => {
                f.write_str(&value[plain_from..i])?;
                write!(f, "\\{c}")?;
                plain_from = i + c.len_utf8();
                continue;
            }
            _ => continue,
        };
        f.write_str(&value[plain_from..i])?;
        f.write_str(replacement)?;
        plain_from = i + c.len_utf8();
    }
    f.write_str(&value[plain_from..])?;
    f.write_str("\"")
}

/// An auth-param this implementation does not interpret, kept so that it prints back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthParam {
    name: String,
    value: String,
    quoted: bool,
}

impl AuthParam {
    /// Builds a parameter; the name must be a token. The value is printed as a token when
    /// `quoted` is false and it is a valid token, and as a quoted-string otherwise.
    pub fn new(
        name: impl Into<String>,
        value: impl Into<String>,
        quoted: bool,
    ) -> Result<Self, AuthError> {
        let name = name.into();
        if !is_token(&name) {
            return Err(AuthError::Malformed("parameter name is not a token"));
        }
        let value = value.into();
        Ok(Self {
            quoted: quoted || !is_token(&value),
            name,
            value,
        })
    }

    pub(crate) fn from_raw(raw: RawParam<'_>) -> Self {
        Self {
            name: raw.name.to_owned(),
            quoted: raw.quoted || !is_token(&raw.value),
            value: raw.value.into_owned(),
        }
    }

    /// The parameter name, as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The value, unquoted and unescaped.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether the value was (or will be) written as a quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.quoted
    }
}

impl fmt::Display for AuthParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.name)?;
        if self.is_quoted() {
            write_quoted(f, &self.value)
        } else {
            f.write_str(&self.value)
        }
    }
}

/// Writes `, name="value"` (or `name="value"` for the first parameter).
pub(crate) struct ParamWriter<'f, 'b> {
    f: &'f mut fmt::Formatter<'b>,
    first: bool,
}

impl<'f, 'b> ParamWriter<'f, 'b> {
    pub(crate) fn new(f: &'f mut fmt::Formatter<'b>) -> Result<Self, fmt::Error> {
        f.write_str("Digest ")?;
        Ok(Self { f, first: true })
    }

    fn sep(&mut self) -> fmt::Result {
        if !self.first {
            self.f.write_str(", ")?;
        }
        self.first = false;
        Ok(())
    }

    pub(crate) fn quoted(&mut self, name: &str, value: &str) -> fmt::Result {
        self.sep()?;
        write!(self.f, "{name}=")?;
        write_quoted(self.f, value)
    }

    pub(crate) fn token(&mut self, name: &str, value: &dyn fmt::Display) -> fmt::Result {
        self.sep()?;
        write!(self.f, "{name}={value}")
    }

    pub(crate) fn param(&mut self, param: &AuthParam) -> fmt::Result {
        self.sep()?;
        write!(self.f, "{param}")
    }
}

/// Collects typed parameters while rejecting duplicates (RFC 7235 §2.1).
pub(crate) fn set_once<'a>(
    slot: &mut Option<RawParam<'a>>,
    param: RawParam<'a>,
) -> Result<(), AuthError> {
    if slot.is_some() {
        return Err(AuthError::DuplicateParameter(param.name.to_owned()));
    }
    *slot = Some(param);
    Ok(())
}

/// Rejects an unknown parameter that repeats an earlier one.
pub(crate) fn push_unknown(
    list: &mut Vec<AuthParam>,
    param: RawParam<'_>,
) -> Result<(), AuthError> {
    if list.iter().any(|p| p.name.eq_ignore_ascii_case(param.name)) {
        return Err(AuthError::DuplicateParameter(param.name.to_owned()));
    }
    list.push(AuthParam::from_raw(param));
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::auth::scan::parse_list;

    struct Q<'a>(&'a str);
    impl fmt::Display for Q<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_quoted(f, self.0)
        }
    }

    #[test]
    fn quoting_never_breaks_the_header_line() {
        assert_eq!(Q("a\"b\\c").to_string(), r#""a\"b\\c""#);
        assert_eq!(Q("a\r\nb").to_string(), "\"a  b\"");
        assert_eq!(Q("é").to_string(), "\"é\"");
        assert_eq!(Q("a\x01b").to_string(), "\"a\\\x01b\"");
        // And what is printed parses back to the same value (except CR/LF).
        let printed = format!("Digest x={}", Q("q\"\\ ,=x"));
        let list = parse_list(&printed).unwrap();
        assert_eq!(list[0].params[0].value, "q\"\\ ,=x");
    }

    #[test]
    fn auth_param_prints_as_token_only_when_it_is_one() {
        assert_eq!(AuthParam::new("a", "b", false).unwrap().to_string(), "a=b");
        assert_eq!(
            AuthParam::new("a", "b c", false).unwrap().to_string(),
            "a=\"b c\""
        );
        assert_eq!(
            AuthParam::new("a", "b", true).unwrap().to_string(),
            "a=\"b\""
        );
        assert!(AuthParam::new("a b", "c", false).is_err());
    }
}
