//! Bencode, the encoding of rtpengine's ng protocol: integers `i42e`, byte strings
//! `4:spam`, lists `l...e` and dictionaries `d...e`.

/// A decoded bencode value. Dictionaries keep their order (rtpengine does not sort keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An integer.
    Int(i64),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Value>),
    /// A dictionary, in wire order.
    Dict(Vec<(Vec<u8>, Value)>),
}

/// Why a message could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BencodeError {
    /// The input ended inside a value.
    #[error("bencode truncated")]
    Truncated,
    /// A byte that starts no value, or a malformed integer or length.
    #[error("bencode syntax error at offset {0}")]
    Syntax(usize),
    /// Lists or dictionaries nested deeper than [`MAX_DEPTH`].
    #[error("bencode nested too deeply")]
    TooDeep,
    /// Bytes left after the top-level value.
    #[error("trailing bytes after bencode value")]
    Trailing,
}

/// Deepest nesting accepted; ng messages use three or four levels.
pub const MAX_DEPTH: usize = 32;

impl Value {
    /// A byte string from text.
    pub fn str(s: &str) -> Self {
        Value::Bytes(s.as_bytes().to_vec())
    }

    /// Looks a key up in a dictionary.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Dict(d) => d.iter().find(|(k, _)| k == key.as_bytes()).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as UTF-8 text, if it is a byte string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Bytes(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }

    /// The value as raw bytes, if it is a byte string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The value as an integer (also accepts a decimal byte string, as rtpengine does).
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            _ => None,
        }
    }

    /// The value as a list.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Appends the encoding of this value to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Value::Int(i) => {
                out.push(b'i');
                out.extend_from_slice(i.to_string().as_bytes());
                out.push(b'e');
            }
            Value::Bytes(b) => {
                out.extend_from_slice(b.len().to_string().as_bytes());
                out.push(b':');
                out.extend_from_slice(b);
            }
            Value::List(l) => {
                out.push(b'l');
                for v in l {
                    v.encode(out);
                }
                out.push(b'e');
            }
            Value::Dict(d) => {
                out.push(b'd');
                for (k, v) in d {
                    Value::Bytes(k.clone()).encode(out);
                    v.encode(out);
                }
                out.push(b'e');
            }
        }
    }
}

/// Builds a dictionary from `(key, value)` pairs.
pub fn dict<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Dict(
        pairs
            .into_iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v))
            .collect(),
    )
}

/// Decodes exactly one value spanning all of `input`.
pub fn decode(input: &[u8]) -> Result<Value, BencodeError> {
    let mut pos = 0;
    let v = decode_at(input, &mut pos, 0)?;
    if pos != input.len() {
        return Err(BencodeError::Trailing);
    }
    Ok(v)
}

fn decode_at(input: &[u8], pos: &mut usize, depth: usize) -> Result<Value, BencodeError> {
    if depth > MAX_DEPTH {
        return Err(BencodeError::TooDeep);
    }
    let c = *input.get(*pos).ok_or(BencodeError::Truncated)?;
    match c {
        b'i' => {
            *pos += 1;
            let end = find(input, *pos, b'e')?;
            let text =
                std::str::from_utf8(&input[*pos..end]).map_err(|_| BencodeError::Syntax(*pos))?;
            let v = text
                .parse::<i64>()
                .map_err(|_| BencodeError::Syntax(*pos))?;
            *pos = end + 1;
            Ok(Value::Int(v))
        }
        b'0'..=b'9' => {
            let colon = find(input, *pos, b':')?;
            let text =
                std::str::from_utf8(&input[*pos..colon]).map_err(|_| BencodeError::Syntax(*pos))?;
            let len = text
                .parse::<usize>()
                .map_err(|_| BencodeError::Syntax(*pos))?;
            let start = colon + 1;
            let end = start.checked_add(len).ok_or(BencodeError::Syntax(*pos))?;
            let bytes = input.get(start..end).ok_or(BencodeError::Truncated)?;
            *pos = end;
            Ok(Value::Bytes(bytes.to_vec()))
        }
        b'l' => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                match input.get(*pos) {
                    None => return Err(BencodeError::Truncated),
                    Some(b'e') => {
                        *pos += 1;
                        return Ok(Value::List(items));
                    }
                    Some(_) => items.push(decode_at(input, pos, depth + 1)?),
                }
            }
        }
        b'd' => {
            *pos += 1;
            let mut items = Vec::new();
            loop {
                match input.get(*pos) {
                    None => return Err(BencodeError::Truncated),
                    Some(b'e') => {
                        *pos += 1;
                        return Ok(Value::Dict(items));
                    }
                    Some(_) => {
                        let at = *pos;
                        let Value::Bytes(k) = decode_at(input, pos, depth + 1)? else {
                            return Err(BencodeError::Syntax(at));
                        };
                        let v = decode_at(input, pos, depth + 1)?;
                        items.push((k, v));
                    }
                }
            }
        }
        _ => Err(BencodeError::Syntax(*pos)),
    }
}

fn find(input: &[u8], from: usize, b: u8) -> Result<usize, BencodeError> {
    input
        .get(from..)
        .and_then(|s| s.iter().position(|&x| x == b))
        .map(|i| from + i)
        .ok_or(BencodeError::Truncated)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let wire = b"d7:command5:offer3:sdp5:v=0\r\n5:flagsl13:trust-addresse3:inti-42ee";
        let v = decode(wire).unwrap();
        assert_eq!(v.get("command").unwrap().as_str(), Some("offer"));
        assert_eq!(v.get("int").unwrap().as_int(), Some(-42));
        assert_eq!(
            v.get("flags").unwrap().as_list().unwrap()[0].as_str(),
            Some("trust-address")
        );
        let mut out = Vec::new();
        v.encode(&mut out);
        assert_eq!(out, wire);
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            &b""[..],
            b"d",
            b"d7:command",
            b"5:ab",
            b"i12",
            b"ixe",
            b"x",
            b"di1e1:ae",
            b"4:spamX",
            b"99999999999999999999999:a",
        ] {
            assert!(decode(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
        let deep = "l".repeat(100) + &"e".repeat(100);
        assert_eq!(decode(deep.as_bytes()), Err(BencodeError::TooDeep));
    }
}
