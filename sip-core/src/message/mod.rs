//! SIP messages: requests and responses, parsed zero-copy from a [`Bytes`] buffer and
//! printed back.
//!
//! Parsing validates as it goes (RFC 3261 §7, §8.2; RFC 4475): a [`Message`] that exists
//! has a well-formed start line, the headers every message needs, single-value headers
//! that appear once, and typed views of Via, From, To, Call-ID, CSeq, Max-Forwards,
//! Content-Length, Contact, Route and Record-Route already parsed and cached.

mod parse;
mod print;
mod start_line;
mod validate;

pub use parse::Framing;

use crate::error::Result;
use crate::header::{HeaderName, Headers, Via};
use crate::method::Method;
use crate::status::StatusCode;
use crate::uri::Uri;
use bytes::Bytes;
use std::fmt;

/// The largest message accepted on any transport (RFC 3261 §18.1.1 sizes aside, a SIP
/// message beyond 64 KiB is an attack or a bug).
pub const MAX_MESSAGE_SIZE: usize = 64 * 1024;

/// A SIP request.
#[derive(Clone)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The Request-URI.
    pub uri: Uri,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body (empty when there is none).
    pub body: Bytes,
}

/// A SIP response.
#[derive(Clone)]
pub struct Response {
    /// The status code.
    pub status: StatusCode,
    /// The reason phrase as received or chosen (UTF-8 allowed, RFC 3261 §25.1).
    pub reason: Bytes,
    /// The header fields, in order.
    pub headers: Headers,
    /// The body.
    pub body: Bytes,
}

/// A request or a response.
#[derive(Clone, Debug)]
pub enum Message {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

impl Message {
    /// Parse and validate a message received in one UDP datagram: Content-Length is
    /// optional and octets beyond it are ignored (RFC 3261 §18.3, RFC 4475 §3.1.1.8).
    pub fn parse_datagram(buf: Bytes) -> Result<Message> {
        parse::parse(buf, Framing::Datagram)
    }

    /// Parse and validate one complete message cut from a stream by
    /// [`crate::framing::StreamFramer`]: Content-Length is required and exact.
    pub fn parse_stream(buf: Bytes) -> Result<Message> {
        parse::parse(buf, Framing::Stream)
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        match self {
            Message::Request(r) => &r.headers,
            Message::Response(r) => &r.headers,
        }
    }

    /// The header fields, for editing.
    pub fn headers_mut(&mut self) -> &mut Headers {
        match self {
            Message::Request(r) => &mut r.headers,
            Message::Response(r) => &mut r.headers,
        }
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        match self {
            Message::Request(r) => &r.body,
            Message::Response(r) => &r.body,
        }
    }

    /// Print the message (see [`Request::to_bytes`]).
    pub fn to_bytes(&self) -> Bytes {
        match self {
            Message::Request(r) => r.to_bytes(),
            Message::Response(r) => r.to_bytes(),
        }
    }
}

impl Request {
    /// A request with no headers and no body.
    pub fn new(method: Method, uri: Uri) -> Request {
        Request {
            method,
            uri,
            headers: Headers::with_capacity(12),
            body: Bytes::new(),
        }
    }

    /// Set the body and its Content-Type (Content-Length is always printed from the body).
    pub fn set_body(&mut self, content_type: &str, body: Bytes) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }

    /// Print the request. Content-Length is always written from the body's length, so
    /// the output frames correctly on any transport.
    pub fn to_bytes(&self) -> Bytes {
        print::request(self)
    }

    /// The top Via (validated messages always have one).
    pub fn top_via(&self) -> Result<&Via> {
        self.headers.top_via()
    }

    /// Whether the request is inside a dialog: its To has a tag (RFC 3261 §12.2.2).
    pub fn in_dialog(&self) -> bool {
        self.headers.to().is_ok_and(|t| t.tag().is_some())
    }
}

impl Response {
    /// A response with a status and its canonical reason, no headers.
    pub fn new(status: StatusCode) -> Response {
        Response {
            status,
            reason: Bytes::from_static(status.canonical_reason().as_bytes()),
            headers: Headers::with_capacity(10),
            body: Bytes::new(),
        }
    }

    /// A response to `request` built as RFC 3261 §8.2.6.1 says: every Via in order,
    /// From, To, Call-ID and CSeq copied, and a Timestamp echoed in a 100
    /// (§8.2.6.1). The caller adds a To tag with [`Response::set_to_tag`] where the
    /// request had none (any response but 100, §8.2.6.2).
    pub fn from_request(request: &Request, status: StatusCode) -> Response {
        let mut r = Response::new(status);
        for h in request.headers.iter() {
            let copy = match h.name() {
                HeaderName::Via
                | HeaderName::From
                | HeaderName::To
                | HeaderName::CallId
                | HeaderName::CSeq => true,
                HeaderName::Timestamp => status == StatusCode::TRYING,
                _ => false,
            };
            if copy {
                r.headers.push_header(h.clone());
            }
        }
        r
    }

    /// Set a reason phrase.
    pub fn with_reason(mut self, reason: &str) -> Response {
        self.reason = Bytes::copy_from_slice(reason.replace(['\r', '\n'], " ").as_bytes());
        self
    }

    /// Add `;tag=` to To unless it already has one.
    pub fn set_to_tag(&mut self, tag: &str) {
        if let Ok(to) = self.headers.to()
            && to.tag().is_none()
        {
            let tagged = to.with_param("tag", Some(tag));
            self.headers
                .set(HeaderName::To, Bytes::copy_from_slice(tagged.as_bytes()));
        }
    }

    /// Set the body and its Content-Type.
    pub fn set_body(&mut self, content_type: &str, body: Bytes) {
        set_body(&mut self.headers, &mut self.body, content_type, body);
    }

    /// Print the response; Content-Length is written from the body's length.
    pub fn to_bytes(&self) -> Bytes {
        print::response(self)
    }
}

fn set_body(headers: &mut Headers, slot: &mut Bytes, content_type: &str, body: Bytes) {
    if body.is_empty() {
        headers.remove(&HeaderName::ContentType);
    } else {
        headers.set(
            HeaderName::ContentType,
            Bytes::copy_from_slice(content_type.as_bytes()),
        );
    }
    *slot = body;
}

/// Check a message built in code (not parsed) with the same rules as received ones:
/// required headers, single-value headers, typed syntax, CSeq method.
pub fn validate(message: &Message) -> Result<()> {
    validate::validate(message)
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Request({} {})", self.method, self.uri)
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Response({} {})",
            self.status,
            String::from_utf8_lossy(&self.reason)
        )
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl From<Request> for Message {
    fn from(r: Request) -> Message {
        Message::Request(r)
    }
}

impl From<Response> for Message {
    fn from(r: Response) -> Message {
        Message::Response(r)
    }
}
