//! Environment overrides: `VSS_SECTION__KEY=value` sets `[section] key`.
//!
//! Rules (documented in docs/configuration.md):
//! - `__` separates the parts of a key; names are upper case, keys are matched lower case:
//!   `VSS_SIP__T1_MS=400` sets `sip.t1_ms`.
//! - A value that starts with `[` or `{` is read as a list or inline table
//!   (`VSS_SIP__LISTEN='["udp:0.0.0.0:5060", "tls:0.0.0.0:5061"]'`); any other value is a
//!   string, converted to a number or boolean where the key wants one. Lists of strings also
//!   take a comma-separated string (`VSS_SIP__LISTEN=udp:0.0.0.0:5060,tcp:0.0.0.0:5060`).
//! - `VSS_TRUNKS` and `VSS_HUBS` replace the whole list (`'[{name="c1", address="h", ...}]'`);
//!   `VSS_TRUNKS__0__PASSWORD=...` sets one key of an entry the file already has, which is
//!   how a secret stays out of the file.
//! - Other `VSS_` variables without `__` (`VSS_ADMIN_PASSWORD`, `VSS_TEST_PG_URL`) are not
//!   configuration keys and are left alone, unless they start with a section name
//!   (`VSS_SIP_LISTEN`): that is a typo of `VSS_SIP__LISTEN`, and an error.

use std::sync::Arc;

use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};

use super::error::ConfigError;
use super::{LIST_SECTIONS, SECTIONS};

/// The name figment shows for values from the environment; [`super::error::Origin`] keys
/// on it.
pub(crate) const ENV_PROVIDER_NAME: &str = "environment variable";

/// The prefix of every override.
pub(crate) const PREFIX: &str = "VSS_";

/// A figment provider holding the `VSS_*` overrides, parsed once.
#[derive(Debug, Clone)]
pub(crate) struct EnvOverrides {
    data: Dict,
    /// Which variable set which key path, to name the variable in error messages.
    sources: Arc<Vec<(Vec<String>, String)>>,
}

impl EnvOverrides {
    /// Reads the overrides from `vars`. `base` is the configuration before the environment
    /// (defaults and file): `VSS_TRUNKS__0__PASSWORD` patches the entry `base` holds.
    pub(crate) fn new(vars: &[(String, String)], base: &Figment) -> Result<Self, ConfigError> {
        let mut vars: Vec<&(String, String)> = vars.iter().collect();
        vars.sort();
        let mut data = Dict::new();
        let mut sources = Vec::new();
        let mut indexed = Vec::new();
        for (name, value) in vars {
            let Some(path) = override_path(name)? else {
                continue;
            };
            let is_entry_key = path.len() >= 3
                && LIST_SECTIONS.contains(&path[0].as_str())
                && path[1].parse::<usize>().is_ok();
            if is_entry_key {
                indexed.push((path, name, value));
            } else {
                insert(&mut data, &path, parse_value(value));
                sources.push((path, name.clone()));
            }
        }
        // Entry keys go last, so that VSS_TRUNKS (whole list) and VSS_TRUNKS__0__PASSWORD
        // combine whatever the order of the names.
        for (path, name, value) in indexed {
            let list = &path[0];
            let mut items = match data
                .get(list)
                .cloned()
                .or_else(|| base.find_value(list).ok())
            {
                Some(Value::Array(_, items)) => items,
                _ => {
                    return Err(ConfigError::Environment {
                        name: name.clone(),
                        message: format!("there is no [[{list}]] entry to set a key of"),
                    });
                }
            };
            let index: usize = path[1].parse().unwrap_or(usize::MAX);
            let count = items.len();
            let Some(Value::Dict(_, entry)) = items.get_mut(index) else {
                return Err(ConfigError::Environment {
                    name: name.clone(),
                    message: format!(
                        "there is no {list}[{index}]: {count} [[{list}]] entr{} configured \
                         (entries count from 0)",
                        if count == 1 { "y is" } else { "ies are" }
                    ),
                });
            };
            insert(entry, &path[2..], parse_value(value));
            data.insert(list.clone(), Value::from(items));
            sources.push((path, name.clone()));
        }
        Ok(Self {
            data,
            sources: Arc::new(sources),
        })
    }
}

impl Provider for EnvOverrides {
    fn metadata(&self) -> Metadata {
        let sources = Arc::clone(&self.sources);
        Metadata::named(ENV_PROVIDER_NAME).interpolater(move |_: &Profile, keys: &[&str]| {
            let starts_with = |long: &[String], short: &[&str]| {
                long.len() >= short.len() && short.iter().zip(long).all(|(a, b)| a == b)
            };
            // The variable that set the longest prefix of the key is the one to blame; for
            // an unknown section (`VSS_NOPE__KEY` fails at `nope`), the one below the key.
            sources
                .iter()
                .filter(|(path, _)| {
                    path.len() <= keys.len() && path.iter().zip(keys).all(|(a, b)| a == b)
                })
                .max_by_key(|(path, _)| path.len())
                .or_else(|| sources.iter().find(|(path, _)| starts_with(path, keys)))
                .map(|(_, name)| name.clone())
                .unwrap_or_else(|| format!("{PREFIX}{}", keys.join("__").to_uppercase()))
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Ok(Profile::Default.collect(self.data.clone()))
    }
}

/// The names of the variables among `vars` that override configuration keys, sorted.
pub(crate) fn override_names(vars: &[(String, String)]) -> Vec<String> {
    let mut names: Vec<String> = vars
        .iter()
        .filter(|(name, _)| matches!(override_path(name), Ok(Some(_))))
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// The key path a variable overrides, `None` when it is not an override at all.
fn override_path(name: &str) -> Result<Option<Vec<String>>, ConfigError> {
    let Some(rest) = name.strip_prefix(PREFIX) else {
        return Ok(None);
    };
    let lower = rest.to_ascii_lowercase();
    if !lower.contains("__") {
        if SECTIONS.contains(&lower.as_str()) {
            return Ok(Some(vec![lower]));
        }
        if let Some(section) = SECTIONS
            .iter()
            .find(|s| lower.starts_with(&format!("{s}_")))
        {
            let key = &rest[section.len() + 1..];
            return Err(ConfigError::Environment {
                name: name.to_owned(),
                message: format!(
                    "section and key are separated by two underscores: did you mean \
                     {PREFIX}{}__{key}?",
                    section.to_ascii_uppercase()
                ),
            });
        }
        return Ok(None);
    }
    let path: Vec<String> = lower.split("__").map(str::to_owned).collect();
    if path.iter().any(String::is_empty) {
        return Err(ConfigError::Environment {
            name: name.to_owned(),
            message: "empty key part (a `__` at the start or end, or `____`)".into(),
        });
    }
    Ok(Some(path))
}

/// Structured values (`[...]`, `{...}`) are parsed by figment's lenient parser; anything
/// else stays a string, exactly as given, so a password like `1.50` is not turned into a
/// number. Numeric and boolean keys still take it (the configuration is extracted with
/// figment's lossy number and boolean conversion).
fn parse_value(raw: &str) -> Value {
    let trimmed = raw.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        match raw.trim().parse::<Value>() {
            Ok(v) => v,
            Err(never) => match never {},
        }
    } else {
        Value::from(raw.to_owned())
    }
}

fn insert(dict: &mut Dict, path: &[String], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut cur = dict;
    for key in parents {
        let slot = cur
            .entry(key.clone())
            .or_insert_with(|| Value::from(Dict::new()));
        if !matches!(slot, Value::Dict(..)) {
            *slot = Value::from(Dict::new());
        }
        let Value::Dict(_, next) = slot else {
            return;
        };
        cur = next;
    }
    cur.insert(last.clone(), value);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn data(pairs: &[(&str, &str)]) -> Value {
        let env = EnvOverrides::new(&vars(pairs), &Figment::new()).unwrap();
        Value::from(env.data)
    }

    #[test]
    fn nested_keys_and_raw_strings() {
        let v = data(&[
            ("VSS_SIP__T1_MS", "400"),
            ("VSS_API__JWT_SECRET", "1.50"),
            ("VSS_MEDIA__NG_LISTEN", ""),
        ]);
        assert_eq!(v.find_ref("sip.t1_ms").and_then(Value::as_str), Some("400"));
        assert_eq!(
            v.find_ref("api.jwt_secret").and_then(Value::as_str),
            Some("1.50")
        );
        assert_eq!(
            v.find_ref("media.ng_listen").and_then(Value::as_str),
            Some("")
        );
    }

    #[test]
    fn structured_values_are_parsed() {
        let v = data(&[
            (
                "VSS_SIP__LISTEN",
                r#"["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]"#,
            ),
            (
                "VSS_HUBS",
                r#"[{name="a", kind="AUTO", driver="sim", slots=3}]"#,
            ),
        ]);
        let listen = v.find_ref("sip.listen").and_then(Value::as_array).unwrap();
        assert_eq!(listen.len(), 2);
        let hubs = v.find_ref("hubs").and_then(Value::as_array).unwrap();
        assert_eq!(hubs[0].find_ref("slots").and_then(Value::to_u128), Some(3));
    }

    #[test]
    fn other_vss_variables_are_left_alone() {
        let v = data(&[
            ("VSS_ADMIN_PASSWORD", "x"),
            ("VSS_TEST_PG_URL", "postgres://x"),
            ("PATH", "/bin"),
            ("vss_sip__listen", "lower case is not ours"),
        ]);
        assert_eq!(v.as_dict().map(Dict::len), Some(0));
        let names = override_names(&vars(&[
            ("VSS_ADMIN_PASSWORD", "x"),
            ("VSS_SIP__T1_MS", "400"),
            ("VSS_HUBS", "[]"),
        ]));
        assert_eq!(names, ["VSS_HUBS", "VSS_SIP__T1_MS"]);
    }

    #[test]
    fn single_underscore_after_a_section_is_an_error() {
        let e = EnvOverrides::new(&vars(&[("VSS_SIP_LISTEN", "x")]), &Figment::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("VSS_SIP_LISTEN"), "{e}");
        assert!(e.contains("did you mean VSS_SIP__LISTEN"), "{e}");
    }

    #[test]
    fn empty_key_parts_are_an_error() {
        for name in ["VSS_SIP__", "VSS___SIP", "VSS_SIP____LISTEN"] {
            let e = EnvOverrides::new(&vars(&[(name, "x")]), &Figment::new()).unwrap_err();
            assert!(e.to_string().contains(name), "{e}");
        }
    }

    #[test]
    fn entry_keys_patch_the_list_from_the_file() {
        use figment::providers::{Format, Toml};
        let base = Figment::new().merge(Toml::string(
            "[[trunks]]\nname = \"c1\"\naddress = \"h1\"\n[[trunks]]\nname = \"c2\"\naddress = \"h2\"\n",
        ));
        let env = EnvOverrides::new(&vars(&[("VSS_TRUNKS__1__PASSWORD", "pw")]), &base).unwrap();
        let v = Value::from(env.data.clone());
        let trunks = v.find_ref("trunks").and_then(Value::as_array).unwrap();
        assert_eq!(trunks.len(), 2);
        assert_eq!(
            trunks[1].find_ref("password").and_then(Value::as_str),
            Some("pw")
        );
        assert_eq!(
            trunks[1].find_ref("name").and_then(Value::as_str),
            Some("c2")
        );
        assert!(trunks[0].find_ref("password").is_none());

        let e = EnvOverrides::new(&vars(&[("VSS_TRUNKS__2__PASSWORD", "pw")]), &base)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("VSS_TRUNKS__2__PASSWORD") && e.contains("no trunks[2]"),
            "{e}"
        );
        let e = EnvOverrides::new(&vars(&[("VSS_HUBS__0__SLOTS", "3")]), &base)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no [[hubs]] entry"), "{e}");
    }

    #[test]
    fn whole_list_and_entry_key_combine() {
        let v = data(&[
            ("VSS_TRUNKS__0__PASSWORD", "pw"),
            ("VSS_TRUNKS", r#"[{name="c1", address="h1"}]"#),
        ]);
        let trunks = v.find_ref("trunks").and_then(Value::as_array).unwrap();
        assert_eq!(
            trunks[0].find_ref("password").and_then(Value::as_str),
            Some("pw")
        );
        assert_eq!(
            trunks[0].find_ref("name").and_then(Value::as_str),
            Some("c1")
        );
    }

    #[test]
    fn errors_name_the_variable_that_set_the_key() {
        let env = EnvOverrides::new(
            &vars(&[("VSS_SIP__T1_MS", "x"), ("VSS_TRUNKS", "[{}]")]),
            &Figment::new(),
        )
        .unwrap();
        let md = env.metadata();
        assert_eq!(
            md.interpolate(&Profile::Default, &["sip", "t1_ms"]),
            "VSS_SIP__T1_MS"
        );
        assert_eq!(
            md.interpolate(&Profile::Default, &["trunks", "0", "name"]),
            "VSS_TRUNKS"
        );
    }
}
