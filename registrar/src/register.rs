//! RFC 3261 §10.3 steps 6 and 7, the part that reads the request: what the REGISTER
//! asks for (a query, `*`, or a list of contacts with their expiry), checked before
//! anything changes.

use bytes::Bytes;
use sip_core::header::{Contacts, HeaderName};
use sip_core::{Request, StatusCode, Uri};

use crate::config::RegistrarConfig;

/// The longest contact URI kept (bytes); longer ones are refused so that a binding's
/// size stays bounded.
pub(crate) const MAX_CONTACT_LEN: usize = 1024;
/// The longest Call-ID kept.
pub(crate) const MAX_CALL_ID_LEN: usize = 256;
/// User-Agent values are cut to this many characters.
pub(crate) const MAX_USER_AGENT_CHARS: usize = 128;

/// A refusal decided while reading the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reject {
    pub(crate) status: StatusCode,
    pub(crate) reason: &'static str,
}

pub(crate) fn reject(status: StatusCode, reason: &'static str) -> Reject {
    Reject { status, reason }
}

/// One contact of the request, with its expiry decided.
#[derive(Debug, Clone)]
pub(crate) struct ContactUpdate {
    /// The URI, copied out of the request buffer.
    pub(crate) uri: Uri,
    /// Seconds granted; 0 removes the binding.
    pub(crate) expires: u32,
    pub(crate) q: Option<u16>,
}

/// What the REGISTER asks for.
#[derive(Debug)]
pub(crate) enum Plan {
    /// No Contact: list the current bindings (RFC 3261 §10.2.3).
    Query,
    /// `Contact: *` with `Expires: 0`: remove every binding (RFC 3261 §10.2.2).
    RemoveAll,
    /// Add, refresh or remove these contacts.
    Update(Vec<ContactUpdate>),
}

/// Reads the Contact and Expires headers into a [`Plan`], or the response that refuses
/// the request: 400 for a malformed one, 423 (with Min-Expires) for a too short expiry.
pub(crate) fn read_plan(request: &Request, config: &RegistrarConfig) -> Result<Plan, Reject> {
    let expires_header = request
        .headers
        .expires()
        .map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed Expires header"))?;
    let contacts = request
        .headers
        .contacts()
        .map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed Contact header"))?;
    let list = match contacts {
        Contacts::Star => {
            // RFC 3261 §10.3 step 6: `*` is only valid with Expires: 0 (and, as the
            // parser already ensures, alone).
            if expires_header != Some(0) {
                return Err(reject(
                    StatusCode::BAD_REQUEST,
                    "Contact * requires Expires: 0",
                ));
            }
            return Ok(Plan::RemoveAll);
        }
        Contacts::List(list) if list.is_empty() => return Ok(Plan::Query),
        Contacts::List(list) => list,
    };
    let mut updates: Vec<ContactUpdate> = Vec::with_capacity(list.len());
    let mut too_brief = false;
    for c in list {
        let uri = c.uri();
        if !uri.is_sip() {
            return Err(reject(
                StatusCode::BAD_REQUEST,
                "Contact must be a SIP or SIPS URI",
            ));
        }
        if uri.as_bytes().len() > MAX_CONTACT_LEN {
            return Err(reject(StatusCode::BAD_REQUEST, "Contact URI too long"));
        }
        let q = match c.params().get("q") {
            None => None,
            Some(_) => Some(
                c.q()
                    .ok_or_else(|| reject(StatusCode::BAD_REQUEST, "Malformed q-value"))?,
            ),
        };
        // RFC 3261 §10.2.1.1: the contact's expires parameter wins over the header; with
        // neither, the registrar's default applies.
        let asked = c
            .expires()
            .or(expires_header)
            .unwrap_or(config.default_expires);
        // RFC 3261 §10.3 step 7: 423 for a non-zero interval below the minimum.
        if asked > 0 && asked < config.min_expires {
            too_brief = true;
        }
        let expires = asked.min(config.max_expires);
        let owned = Uri::parse(Bytes::copy_from_slice(uri.as_bytes()))
            .map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed Contact header"))?;
        // The same contact twice in one request: the later one wins.
        updates.retain(|u| !u.uri.equivalent(&owned));
        updates.push(ContactUpdate {
            uri: owned,
            expires,
            q,
        });
    }
    if too_brief {
        return Err(reject(StatusCode::INTERVAL_TOO_BRIEF, "Interval Too Brief"));
    }
    Ok(Plan::Update(updates))
}

/// The Call-ID of the request, if it is short enough to keep.
pub(crate) fn call_id(request: &Request) -> Result<&str, Reject> {
    let id = request
        .headers
        .call_id()
        .map_err(|_| reject(StatusCode::BAD_REQUEST, "Missing Call-ID"))?;
    if id.len() > MAX_CALL_ID_LEN {
        return Err(reject(StatusCode::BAD_REQUEST, "Call-ID too long"));
    }
    // The parser admits only word characters in a Call-ID, which are ASCII.
    std::str::from_utf8(id).map_err(|_| reject(StatusCode::BAD_REQUEST, "Malformed Call-ID"))
}

/// The User-Agent, cut to [`MAX_USER_AGENT_CHARS`] characters.
pub(crate) fn user_agent(request: &Request) -> Option<String> {
    let v = request.headers.get_value(&HeaderName::UserAgent)?;
    let text = String::from_utf8_lossy(v);
    Some(text.chars().take(MAX_USER_AGENT_CHARS).collect())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use sip_core::Message;

    fn req(extra: &str) -> Request {
        let text = format!(
            "REGISTER sip:vss.test SIP/2.0\r\n\
             Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1\r\n\
             Max-Forwards: 70\r\n\
             To: <sip:6001@vss.test>\r\n\
             From: <sip:6001@vss.test>;tag=1\r\n\
             Call-ID: abc\r\n\
             CSeq: 1 REGISTER\r\n\
             {extra}\
             Content-Length: 0\r\n\r\n"
        );
        match Message::parse_datagram(Bytes::from(text)).unwrap() {
            Message::Request(r) => r,
            Message::Response(_) => unreachable!(),
        }
    }

    fn plan(extra: &str) -> Result<Plan, Reject> {
        read_plan(&req(extra), &RegistrarConfig::new("vss.test"))
    }

    fn updates(extra: &str) -> Vec<(String, u32, Option<u16>)> {
        match plan(extra).unwrap() {
            Plan::Update(u) => u
                .into_iter()
                .map(|u| (u.uri.to_string(), u.expires, u.q))
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn expiry_comes_from_param_then_header_then_default_and_is_capped() {
        assert_eq!(
            updates("Contact: <sip:a@h>\r\n"),
            [("sip:a@h".into(), 3600, None)]
        );
        assert_eq!(
            updates("Expires: 120\r\nContact: <sip:a@h>, <sip:b@h>;expires=300;q=0.5\r\n"),
            [
                ("sip:a@h".into(), 120, None),
                ("sip:b@h".into(), 300, Some(500))
            ]
        );
        assert_eq!(
            updates("Contact: <sip:a@h>;expires=999999\r\n"),
            [("sip:a@h".into(), 7200, None)]
        );
        assert_eq!(
            updates("Expires: 0\r\nContact: <sip:a@h>\r\n"),
            [("sip:a@h".into(), 0, None)]
        );
    }

    #[test]
    fn too_brief_is_423_but_zero_is_always_allowed() {
        assert_eq!(
            plan("Contact: <sip:a@h>;expires=59\r\n")
                .unwrap_err()
                .status,
            StatusCode::INTERVAL_TOO_BRIEF
        );
        assert!(plan("Contact: <sip:a@h>;expires=0, <sip:b@h>;expires=60\r\n").is_ok());
    }

    #[test]
    fn star_needs_expires_zero() {
        assert!(matches!(
            plan("Expires: 0\r\nContact: *\r\n"),
            Ok(Plan::RemoveAll)
        ));
        for bad in ["Contact: *\r\n", "Expires: 10\r\nContact: *\r\n"] {
            assert_eq!(plan(bad).unwrap_err().status, StatusCode::BAD_REQUEST);
        }
    }

    #[test]
    fn malformed_values_are_400() {
        for bad in [
            "Contact: <sip:a@h>;q=2\r\n",
            "Contact: <tel:+15551234>\r\n",
            "Expires: soon\r\nContact: <sip:a@h>\r\n",
        ] {
            assert_eq!(
                plan(bad).unwrap_err().status,
                StatusCode::BAD_REQUEST,
                "{bad}"
            );
        }
        let long = format!("Contact: <sip:{}@h>\r\n", "a".repeat(MAX_CONTACT_LEN));
        assert_eq!(plan(&long).unwrap_err().status, StatusCode::BAD_REQUEST);
    }

    #[test]
    fn no_contact_is_a_query_and_duplicates_collapse() {
        assert!(matches!(plan(""), Ok(Plan::Query)));
        assert_eq!(
            updates("Contact: <sip:a@H>;expires=100, <sip:a@h>;expires=200\r\n"),
            [("sip:a@h".into(), 200, None)]
        );
    }

    #[test]
    fn user_agent_is_cut() {
        let r = req(&format!("User-Agent: {}\r\n", "x".repeat(500)));
        assert_eq!(user_agent(&r).map(|s| s.len()), Some(MAX_USER_AGENT_CHARS));
    }
}
