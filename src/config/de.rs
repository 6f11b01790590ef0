//! Deserializers for values written in more than one way (lists as one string, `""` for
//! "unset"), with error messages that quote the value.

use std::fmt;
use std::marker::PhantomData;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::{Deserialize, Serializer};

/// Deserializes a list given either as a sequence (`["a", "b"]` in TOML) or as one string
/// of comma-separated items (`a,b`, handy in environment variables). A string wrapped in
/// `[ ]` is taken as a list too, so `[udp:[::]:5060]` works although figment's own
/// parser cannot read brackets inside an unquoted item.
pub(crate) fn string_or_list<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: fmt::Display,
{
    struct ListVisitor<T>(PhantomData<T>);

    impl<'de, T> Visitor<'de> for ListVisitor<T>
    where
        T: FromStr,
        T::Err: fmt::Display,
    {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of strings or one comma-separated string")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            let trimmed = s.trim();
            let inner = trimmed
                .strip_prefix('[')
                .and_then(|t| t.strip_suffix(']'))
                .unwrap_or(trimmed);
            inner
                .split(',')
                .map(|item| {
                    let item = item.trim();
                    let item = item
                        .strip_prefix('"')
                        .and_then(|i| i.strip_suffix('"'))
                        .unwrap_or(item);
                    item.parse::<T>().map_err(E::custom)
                })
                .collect()
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while let Some(item) = seq.next_element::<String>()? {
                out.push(item.parse::<T>().map_err(de::Error::custom)?);
            }
            Ok(out)
        }
    }

    d.deserialize_any(ListVisitor(PhantomData))
}

/// Serializes an optional socket address as its text, and `None` as `""` (the value that
/// disables the listener), so the printed configuration shows the key either way.
pub(crate) mod optional_socket_addr {
    use super::*;

    /// Serializes `None` as `""`.
    pub(crate) fn serialize<S: Serializer>(
        v: &Option<SocketAddr>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(addr) => s.collect_str(addr),
            None => s.serialize_str(""),
        }
    }

    /// Deserializes `""` as `None`.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<SocketAddr>, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim();
        if s.is_empty() {
            return Ok(None);
        }
        let addr: SocketAddr = s.parse().map_err(|_| {
            de::Error::custom(format!(
                "invalid socket address {s:?} (expected IP:PORT, e.g. 127.0.0.1:22222, or \"\" to disable)"
            ))
        })?;
        Ok(Some(addr))
    }
}

/// Deserializes an optional IP address; `""` means unset.
pub(crate) fn optional_ip<'de, D: Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let s = String::deserialize(d)?;
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    s.parse().map(Some).map_err(|_| {
        de::Error::custom(format!(
            "invalid IP address {s:?} (expected e.g. 203.0.113.5 or 2001:db8::5)"
        ))
    })
}

/// Deserializes a socket address (`IP:PORT`) with an error message that shows the value.
pub(crate) fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let s = String::deserialize(d)?;
    let addr: SocketAddr = s.trim().parse().map_err(|_| {
        de::Error::custom(format!(
            "invalid socket address {s:?} (expected IP:PORT, e.g. 0.0.0.0:8083)"
        ))
    })?;
    Ok(addr)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    use crate::config::values::ListenAddr;

    #[derive(Debug, Deserialize)]
    struct Listens {
        #[serde(deserialize_with = "string_or_list")]
        listen: Vec<ListenAddr>,
    }

    #[test]
    fn lists_come_as_sequences_or_comma_strings() {
        let want = vec![
            "udp:0.0.0.0:5060".parse::<ListenAddr>().unwrap(),
            "tcp:[::]:5060".parse().unwrap(),
        ];
        for toml_text in [
            r#"listen = ["udp:0.0.0.0:5060", "tcp:[::]:5060"]"#,
            r#"listen = "udp:0.0.0.0:5060, tcp:[::]:5060""#,
            r#"listen = "[udp:0.0.0.0:5060,tcp:[::]:5060]""#,
            r#"listen = "[\"udp:0.0.0.0:5060\", \"tcp:[::]:5060\"]""#,
        ] {
            let l: Listens = toml::from_str(toml_text).unwrap();
            assert_eq!(l.listen, want, "{toml_text}");
        }
        let e = toml::from_str::<Listens>(r#"listen = "udp:0.0.0.0:5060,bogus""#).unwrap_err();
        assert!(e.to_string().contains("\"bogus\""), "{e}");
        let e = toml::from_str::<Listens>("listen = 5").unwrap_err();
        assert!(e.to_string().contains("comma-separated"), "{e}");
    }
}
