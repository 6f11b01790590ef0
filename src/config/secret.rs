//! Secrets and the database URL: values that must never be printed as they are.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::values::ValueError;

/// The text that replaces a secret wherever the configuration is printed.
pub(crate) const MASK: &str = "***";

/// A secret (password, signing key). It never shows in `Debug` output or in the printed
/// configuration; code that needs the value calls [`Secret::expose`].
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub(crate) struct Secret(String);

impl Secret {
    /// The secret itself, for the code that uses it (digest, JWT signing).
    #[allow(
        dead_code,
        reason = "read by `vss serve` (control API, trunk registration), which lands next"
    )]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// Length in bytes, for validation without exposing the value.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(MASK)
    }
}

/// The database the server stores its state in: `sqlite://PATH`, `sqlite::memory:` or
/// `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`. A password in the URL is masked whenever the
/// URL is printed.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DatabaseUrl(String);

impl DatabaseUrl {
    /// The URL as configured, password included, for the code that connects.
    #[allow(
        dead_code,
        reason = "read by `vss serve` and `vss migrate`, which land next"
    )]
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// The URL with any password replaced by `***`.
    pub(crate) fn masked(&self) -> String {
        let url = &self.0;
        let Some(scheme_end) = url.find("://") else {
            return url.clone();
        };
        let rest_start = scheme_end + 3;
        let rest = &url[rest_start..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..authority_end];
        let mut out = String::with_capacity(url.len());
        out.push_str(&url[..rest_start]);
        match authority.rsplit_once('@') {
            Some((userinfo, host)) => {
                match userinfo.split_once(':') {
                    Some((user, _password)) => {
                        out.push_str(user);
                        out.push(':');
                        out.push_str(MASK);
                    }
                    None => out.push_str(userinfo),
                }
                out.push('@');
                out.push_str(host);
            }
            None => out.push_str(authority),
        }
        let tail = &rest[authority_end..];
        match tail.split_once('?') {
            // libpq also takes the password as a query parameter.
            Some((path, query)) => {
                out.push_str(path);
                out.push('?');
                let params: Vec<String> = query
                    .split('&')
                    .map(|kv| match kv.split_once('=') {
                        Some((k, _)) if k.eq_ignore_ascii_case("password") => {
                            format!("{k}={MASK}")
                        }
                        _ => kv.to_owned(),
                    })
                    .collect();
                out.push_str(&params.join("&"));
            }
            None => out.push_str(tail),
        }
        out
    }
}

/// The embedded default: a SQLite file beside the other runtime data in `./var`.
impl Default for DatabaseUrl {
    fn default() -> Self {
        Self("sqlite://./var/vss.db".to_owned())
    }
}

impl FromStr for DatabaseUrl {
    type Err = ValueError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let is_sqlite = s.starts_with("sqlite:") && s.len() > "sqlite:".len();
        let is_postgres = ["postgres://", "postgresql://"]
            .iter()
            .any(|p| s.starts_with(p) && s.len() > p.len());
        if is_sqlite || is_postgres {
            Ok(Self(s.to_owned()))
        } else {
            // Only the scheme is quoted: the rest may hold a password.
            let scheme = s.split_once(':').map_or(s, |(scheme, _)| scheme);
            Err(ValueError(format!(
                "unsupported database URL (scheme {scheme:?}): expected sqlite://PATH or \
                 postgres://USER@HOST/DB"
            )))
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DatabaseUrl").field(&self.masked()).finish()
    }
}

impl Serialize for DatabaseUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.masked())
    }
}

impl<'de> Deserialize<'de> for DatabaseUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(
            toml::to_string(
                &[("k", &s)]
                    .into_iter()
                    .collect::<std::collections::BTreeMap<_, _>>()
            )
            .unwrap()
            .trim(),
            "k = \"***\""
        );
        assert_eq!(s.expose(), "hunter2");
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn database_url_masks_passwords() {
        let cases = [
            ("sqlite://./var/vss.db", "sqlite://./var/vss.db"),
            ("sqlite::memory:", "sqlite::memory:"),
            ("postgres://vss@db/vss", "postgres://vss@db/vss"),
            (
                "postgres://vss:s3cret@db:5432/vss",
                "postgres://vss:***@db:5432/vss",
            ),
            ("postgresql://u:p@h", "postgresql://u:***@h"),
            (
                "postgres://u@h/db?sslmode=require&password=s3cret",
                "postgres://u@h/db?sslmode=require&password=***",
            ),
        ];
        for (url, masked) in cases {
            let u: DatabaseUrl = url.parse().unwrap();
            assert_eq!(u.masked(), masked);
            assert_eq!(u.expose(), url);
            assert!(!format!("{u:?}").contains("s3cret"));
        }
    }

    #[test]
    fn database_url_rejects_other_schemes_without_echoing_secrets() {
        for url in [
            "mysql://u:s3cret@h/db",
            "",
            "postgres://",
            "sqlite:",
            "./vss.db",
        ] {
            let e = url.parse::<DatabaseUrl>().unwrap_err().0;
            assert!(e.contains("unsupported database URL"), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }
}
