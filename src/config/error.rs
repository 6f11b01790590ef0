//! Configuration errors: every one is a single line that names the key, the offending value
//! and where the value came from (a file, an environment variable, or a default).

use std::fmt;
use std::path::PathBuf;

use figment::error::Kind;
use figment::{Figment, Metadata, Profile};

use super::DEMO_PROVIDER_NAME;
use super::env::ENV_PROVIDER_NAME;

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum ConfigError {
    /// The configuration file could not be opened or read.
    #[error("cannot read configuration file {}: {source}", path.display())]
    File {
        /// The file as named on the command line.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// The configuration file is not valid TOML.
    #[error("{origin}: {message}")]
    Syntax {
        /// The file.
        origin: Origin,
        /// The TOML parser's message, on one line.
        message: String,
    },
    /// A key that no section knows (a typo, or a key of a newer version).
    #[error("unknown key `{key}` ({origin}); expected one of: {expected}")]
    UnknownKey {
        /// The key, dotted (`sip.listn`, `trunks[0].pasword`).
        key: String,
        /// Where it was written.
        origin: Origin,
        /// The keys that are valid at that place.
        expected: String,
    },
    /// A key that must be given was not (for example `trunks[0].address`).
    #[error("missing key `{key}` ({origin})")]
    MissingKey {
        /// The key, dotted.
        key: String,
        /// The table the key is missing from.
        origin: Origin,
    },
    /// A key holds a value of the wrong type, or a value the key does not accept.
    #[error("{key}: {message} ({origin})")]
    InvalidValue {
        /// The key, dotted.
        key: String,
        /// What is wrong, quoting the value (secrets are never quoted).
        message: String,
        /// Where the value came from.
        origin: Origin,
    },
    /// An environment variable that looks like an override (`VSS_...`) is malformed.
    #[error("environment variable {name}: {message}")]
    Environment {
        /// The variable's name.
        name: String,
        /// What is wrong with it.
        message: String,
    },
    /// The effective configuration could not be printed as TOML.
    #[error("cannot print the configuration as TOML: {0}")]
    Render(#[from] toml::ser::Error),
}

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Origin {
    /// The built-in default (nothing set it).
    Default,
    /// The defaults of `--demo`.
    Demo,
    /// A TOML file.
    File(PathBuf),
    /// An environment variable, by name.
    Env(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("built-in default"),
            Self::Demo => f.write_str("--demo default"),
            Self::File(p) => write!(f, "in {}", p.display()),
            Self::Env(name) => write!(f, "from environment variable {name}"),
        }
    }
}

impl Origin {
    /// The origin of a value that `metadata`'s provider gave at `path`.
    pub(crate) fn from_metadata(metadata: Option<&Metadata>, path: &[String]) -> Self {
        let Some(md) = metadata else {
            return Self::Default;
        };
        if let Some(file) = md.source.as_ref().and_then(|s| s.file_path()) {
            return Self::File(file.to_path_buf());
        }
        if md.name == ENV_PROVIDER_NAME {
            return Self::Env(md.interpolate(&Profile::Default, path));
        }
        if md.name == DEMO_PROVIDER_NAME {
            return Self::Demo;
        }
        Self::Default
    }
}

/// Formats a figment key path the way users write keys: `trunks[1].address`.
pub(crate) fn dotted(path: &[String]) -> String {
    let mut out = String::new();
    for seg in path {
        if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
            out.push('[');
            out.push_str(seg);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(seg);
        }
    }
    out
}

/// Splits a key written as `trunks[1].address` into figment's path `["trunks", "1", "address"]`.
pub(crate) fn key_path(key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let mut rest = part;
        if let Some(open) = rest.find('[') {
            out.push(rest[..open].to_owned());
            rest = &rest[open..];
            while let Some(inner) = rest.strip_prefix('[') {
                let Some((index, after)) = inner.split_once(']') else {
                    break;
                };
                out.push(index.to_owned());
                rest = after;
            }
        } else {
            out.push(rest.to_owned());
        }
    }
    out
}

/// Turns figment's error (the first of them, when several) into one [`ConfigError`] line.
pub(crate) fn from_figment(err: figment::Error) -> ConfigError {
    let mut all = err.into_iter();
    let Some(first) = all.next() else {
        return ConfigError::InvalidValue {
            key: String::new(),
            message: "unknown error".into(),
            origin: Origin::Default,
        };
    };
    let origin = Origin::from_metadata(first.metadata.as_ref(), &first.path);
    let key = dotted(&first.path);
    match first.kind {
        Kind::UnknownField(field, expected) => ConfigError::UnknownKey {
            key: if key.is_empty() { field } else { key },
            origin,
            expected: expected.join(", "),
        },
        Kind::MissingField(field) => {
            let mut path = first.path.clone();
            path.push(field.into_owned());
            ConfigError::MissingKey {
                key: dotted(&path),
                origin,
            }
        }
        // A provider that failed as a whole (a TOML syntax error) has no key.
        Kind::Message(message) if first.path.is_empty() => ConfigError::Syntax {
            origin,
            message: one_line(&message),
        },
        kind => ConfigError::InvalidValue {
            key,
            message: describe(&kind),
            origin,
        },
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Message(m) => one_line(m),
        Kind::InvalidType(actual, expected) => {
            format!("expected {}, found {actual}", plain_type(expected))
        }
        Kind::InvalidValue(actual, expected) => {
            format!("invalid value {actual}, expected {}", plain_type(expected))
        }
        Kind::UnknownVariant(found, expected) => {
            format!(
                "unknown value {found:?}, expected one of: {}",
                expected.join(", ")
            )
        }
        other => one_line(&other.to_string()),
    }
}

/// serde names Rust types (`u64`); users know "a whole number".
fn plain_type(expected: &str) -> String {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a whole number (0 or more)".into(),
        "i8" | "i16" | "i32" | "i64" | "isize" => "a whole number".into(),
        "a boolean" | "bool" => "true or false".into(),
        other => other.to_owned(),
    }
}

/// Folds a multi-line message (the TOML parser draws the offending line with `|` and `^`)
/// into one line: the error output is one line by contract.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| {
            // Drop the source excerpt: lines like `|`, `3 | [sip`, `  |     ^`.
            let excerpt = line
                .split_once('|')
                .is_some_and(|(before, _)| before.trim().bytes().all(|b| b.is_ascii_digit()));
            !line.is_empty() && !excerpt
        })
        .collect::<Vec<_>>()
        .join(": ")
}

/// Finds where the value at `key` (written `trunks[1].address`) came from in the merged
/// configuration; a key nobody set has its built-in default.
pub(crate) fn origin_of(figment: &Figment, key: &str) -> Origin {
    let path = key_path(key);
    let Some(first) = path.first() else {
        return Origin::Default;
    };
    let Ok(mut value) = figment.find_value(first) else {
        return Origin::Default;
    };
    for seg in &path[1..] {
        let next = match &value {
            figment::value::Value::Dict(_, dict) => dict.get(seg).cloned(),
            figment::value::Value::Array(_, items) => seg
                .parse::<usize>()
                .ok()
                .and_then(|i| items.get(i).cloned()),
            // A list given as one string (`VSS_SIP__LISTEN=a,b`): its items came with it.
            _ => break,
        };
        match next {
            Some(v) => value = v,
            None => return Origin::Default,
        }
    }
    Origin::from_metadata(figment.get_metadata(value.tag()), &path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_and_split_the_same_way() {
        let path: Vec<String> = ["trunks", "1", "address"].map(String::from).to_vec();
        assert_eq!(dotted(&path), "trunks[1].address");
        assert_eq!(key_path("trunks[1].address"), path);
        assert_eq!(key_path("sip.listen"), ["sip", "listen"]);
        assert_eq!(dotted(&key_path("sip.listen")), "sip.listen");
    }

    #[test]
    fn toml_parser_messages_become_one_line() {
        let msg = "TOML parse error at line 1, column 5\n  |\n1 | [sip\n  |     ^\n\
                   invalid table header\nexpected `.`, `]`\n";
        assert_eq!(
            one_line(msg),
            "TOML parse error at line 1, column 5: invalid table header: expected `.`, `]`"
        );
    }
}
