//! The errors of the protocol core, each mapped to the status code that answers it.

use crate::status::StatusCode;

/// Why a message or a request was refused.
///
/// Every variant maps to the SIP status code that answers a request refused for that
/// reason (`From<&Error> for StatusCode`). A *response* that fails to parse or validate is
/// never answered: RFC 3261 §16.7/§18.1.2 leave nothing to send, so it is dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The datagram or stream held nothing but white space.
    #[error("empty message")]
    Empty,
    /// The message is larger than the transport accepts.
    #[error("message larger than {0} octets")]
    TooLarge(usize),
    /// The header section is not terminated by an empty line (stream transports).
    #[error("header section not terminated")]
    Unterminated,
    /// The request or status line does not follow RFC 3261 §7.1/§7.2.
    #[error("malformed start line: {0}")]
    StartLine(&'static str),
    /// The SIP-Version is well-formed but is not `SIP/2.0` (RFC 3261 §8.2.2 → 505).
    #[error("SIP version not supported")]
    VersionNotSupported,
    /// The status code of a response is outside 100–699 or not three digits.
    #[error("status code out of range")]
    StatusCode,
    /// The Request-URI is malformed.
    #[error("malformed Request-URI: {0}")]
    RequestUri(&'static str),
    /// A URI in a header is malformed.
    #[error("malformed URI: {0}")]
    Uri(&'static str),
    /// A header line has no name or no colon.
    #[error("malformed header line")]
    HeaderLine,
    /// A header value does not follow its grammar.
    #[error("malformed {name} header: {reason}")]
    InvalidHeader {
        /// The header's canonical name.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A header required by RFC 3261 §8.1.1 is missing.
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    /// A header that allows one value appears more than once (RFC 4475 §3.3.8).
    #[error("more than one {0} header")]
    DuplicateHeader(&'static str),
    /// The CSeq method is not the request method (RFC 3261 §8.1.1.5).
    #[error("CSeq method does not match the request method")]
    CSeqMismatch,
    /// A numeric value is outside its range.
    #[error("{0} out of range")]
    OutOfRange(&'static str),
    /// Content-Length announces more octets than were received (RFC 3261 §18.3).
    #[error("Content-Length {declared} larger than the {available} octets received")]
    BodyTruncated {
        /// The value of Content-Length.
        declared: usize,
        /// The octets after the header section.
        available: usize,
    },
    /// A message on a stream transport has no Content-Length (RFC 3261 §18.3).
    #[error("Content-Length is required on stream transports")]
    MissingContentLength,
    /// The Request-URI scheme is not one this element serves (RFC 3261 §8.2.1 → 416).
    #[error("unsupported URI scheme")]
    UnsupportedUriScheme,
    /// Require or Proxy-Require names extensions that are not supported (RFC 3261 §8.2.2.3 → 420).
    #[error("unsupported extensions required: {0}")]
    BadExtension(String),
    /// Max-Forwards reached zero on a request that would be forwarded (RFC 3261 §16.3 → 483).
    #[error("too many hops")]
    TooManyHops,
    /// The request looped back to this element (RFC 3261 §16.3 → 482).
    #[error("loop detected")]
    LoopDetected,
    /// No dialog or transaction matches an in-dialog request or a CANCEL (→ 481).
    #[error("call or transaction does not exist")]
    NoSuchCallOrTransaction,
    /// The CSeq of an in-dialog request is lower than the last one seen (RFC 3261 §12.2.2 → 500).
    #[error("CSeq out of order")]
    CSeqOutOfOrder,
}

impl From<&Error> for StatusCode {
    fn from(e: &Error) -> StatusCode {
        match e {
            Error::VersionNotSupported => StatusCode::VERSION_NOT_SUPPORTED,
            Error::TooLarge(_) => StatusCode::MESSAGE_TOO_LARGE,
            Error::UnsupportedUriScheme => StatusCode::UNSUPPORTED_URI_SCHEME,
            Error::BadExtension(_) => StatusCode::BAD_EXTENSION,
            Error::TooManyHops => StatusCode::TOO_MANY_HOPS,
            Error::LoopDetected => StatusCode::LOOP_DETECTED,
            Error::NoSuchCallOrTransaction => StatusCode::CALL_DOES_NOT_EXIST,
            Error::CSeqOutOfOrder => StatusCode::SERVER_INTERNAL_ERROR,
            Error::Empty
            | Error::Unterminated
            | Error::StartLine(_)
            | Error::StatusCode
            | Error::RequestUri(_)
            | Error::Uri(_)
            | Error::HeaderLine
            | Error::InvalidHeader { .. }
            | Error::MissingHeader(_)
            | Error::DuplicateHeader(_)
            | Error::CSeqMismatch
            | Error::OutOfRange(_)
            | Error::BodyTruncated { .. }
            | Error::MissingContentLength => StatusCode::BAD_REQUEST,
        }
    }
}

impl From<Error> for StatusCode {
    fn from(e: Error) -> StatusCode {
        StatusCode::from(&e)
    }
}

/// The result type of the protocol core.
pub type Result<T, E = Error> = std::result::Result<T, E>;
