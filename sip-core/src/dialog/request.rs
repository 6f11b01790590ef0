//! Requests inside a dialog (RFC 3261 §12.2.1.1) and the ACK for a 2xx (§13.2.2.4).

use super::{Dialog, is_target_refresh};
use crate::error::{Error, Result};
use crate::header::HeaderName;
use crate::message::{Request, Response};
use crate::method::Method;
use crate::uri::Uri;
use bytes::Bytes;

/// CSeq numbers stay below 2^31 (RFC 3261 §8.1.1.5).
const CSEQ_LIMIT: u32 = 1 << 31;

impl Dialog {
    /// A request inside the dialog (RFC 3261 §12.2.1.1): Request-URI and Route from the
    /// remote target and route set (loose or strict routing), From and To with the
    /// dialog's tags, its Call-ID, and the next local CSeq number (the current one for
    /// ACK and CANCEL, which are not numbered on their own). Target refresh requests get
    /// the local contact. The caller adds the top Via with a fresh branch and a body.
    pub fn create_request(&mut self, method: Method) -> Result<Request> {
        let seq = if matches!(method, Method::Ack | Method::Cancel) {
            self.local_seq.ok_or(Error::InvalidHeader {
                name: "CSeq",
                reason: "no request was sent in this dialog",
            })?
        } else {
            let next = self.local_seq.map_or(1, |s| s.saturating_add(1));
            if next >= CSEQ_LIMIT {
                return Err(Error::OutOfRange("CSeq number"));
            }
            self.local_seq = Some(next);
            next
        };
        let refresh = is_target_refresh(&method);
        let mut request = self.build(method, seq)?;
        if refresh && let Some(contact) = &self.local_contact {
            request.headers.push(
                HeaderName::Contact,
                Bytes::copy_from_slice(contact.as_bytes()),
            );
        }
        Ok(request)
    }

    /// The ACK for a 2xx to an INVITE sent in (or creating) this dialog (RFC 3261
    /// §13.2.2.4): built as any request in the dialog, with the CSeq number of the
    /// INVITE. The caller adds a top Via with a new branch, and the SDP answer if the
    /// 2xx carried an offer.
    pub fn create_ack(&self, response: &Response) -> Result<Request> {
        let cseq = response.headers.cseq()?;
        if cseq.method != Method::Invite || !response.status.is_success() {
            return Err(Error::InvalidHeader {
                name: "CSeq",
                reason: "only a 2xx to INVITE is acknowledged outside its transaction",
            });
        }
        self.build(Method::Ack, cseq.seq)
    }

    fn build(&self, method: Method, seq: u32) -> Result<Request> {
        let (uri, routes) = self.target_and_routes()?;
        let mut r = Request::new(method, uri);
        r.headers
            .push(HeaderName::MaxForwards, Bytes::from_static(b"70"));
        for route in routes {
            r.headers.push(HeaderName::Route, route);
        }
        r.headers.push(
            HeaderName::From,
            Bytes::copy_from_slice(self.local_uri.as_bytes()),
        );
        r.headers.push(
            HeaderName::To,
            Bytes::copy_from_slice(self.remote_uri.as_bytes()),
        );
        r.headers.push(HeaderName::CallId, self.id.call_id.clone());
        r.headers
            .push(HeaderName::CSeq, format!("{seq} {}", r.method));
        Ok(r)
    }

    /// The Request-URI and Route values (RFC 3261 §12.2.1.1). Empty route set: the
    /// remote target, no Route. First route loose (`lr`): the remote target, and the
    /// route set as Route. First route strict: its URI as Request-URI, the rest of the
    /// route set and then the remote target as Route.
    fn target_and_routes(&self) -> Result<(Uri, Vec<Bytes>)> {
        let Some(first) = self.route_set.first() else {
            return Ok((self.remote_target.without_headers(), Vec::new()));
        };
        if first.uri().params().contains("lr") {
            let routes = self
                .route_set
                .iter()
                .map(|r| Bytes::copy_from_slice(r.as_bytes()))
                .collect();
            return Ok((self.remote_target.without_headers(), routes));
        }
        let uri = request_uri_from_route(first.uri())?;
        let mut routes: Vec<Bytes> = self.route_set[1..]
            .iter()
            .map(|r| Bytes::copy_from_slice(r.as_bytes()))
            .collect();
        routes.push(Bytes::from(format!("<{}>", self.remote_target)));
        Ok((uri, routes))
    }
}

/// A route URI made fit for a Request-URI: no headers and no `method` parameter
/// (RFC 3261 §12.2.1.1, §19.1.1 table 1).
fn request_uri_from_route(uri: &Uri) -> Result<Uri> {
    let uri = uri.without_headers();
    let params = uri.params();
    if !params.contains("method") {
        return Ok(uri);
    }
    let raw = uri.as_bytes();
    let head_len = raw
        .len()
        .checked_sub(params.as_bytes().len())
        .ok_or(Error::Uri("parameters outside the URI"))?;
    let mut s = raw[..head_len].to_vec();
    for (name, value) in params.iter() {
        if name.eq_ignore_ascii_case(b"method") {
            continue;
        }
        s.push(b';');
        s.extend_from_slice(name);
        if let Some(v) = value {
            s.push(b'=');
            s.extend_from_slice(v);
        }
    }
    Uri::parse(Bytes::from(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_route_uri_loses_method_and_headers() -> Result<()> {
        let u = Uri::parse_str("sip:p1.example.com;method=INVITE;transport=tcp?Subject=x")?;
        let r = request_uri_from_route(&u)?;
        assert_eq!(r.as_bytes(), b"sip:p1.example.com;transport=tcp");
        let plain = Uri::parse_str("sip:p1.example.com;maddr=10.0.0.1")?;
        assert_eq!(
            request_uri_from_route(&plain)?.as_bytes(),
            b"sip:p1.example.com;maddr=10.0.0.1"
        );
        Ok(())
    }
}
