//! Errors raised while parsing or editing a session description.

/// Why a session description was rejected or could not be edited.
///
/// Every parse error names the 1-based line number of the offending line, so that the
/// B2BUA can log it before answering 488 Not Acceptable Here (RFC 3261 §13.3.1.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SdpError {
    /// The body holds no line at all.
    #[error("SDP body is empty")]
    Empty,
    /// The body is larger than 4 GiB (offsets into it are 32-bit).
    #[error("SDP body too large")]
    TooLarge,
    /// The body is not UTF-8 (RFC 8866 §5 makes UTF-8 the default character set).
    #[error("SDP line {line}: not valid UTF-8")]
    NotUtf8 {
        /// 1-based line number.
        line: usize,
    },
    /// A line is not of the form `<type>=<value>` with a single lower-case letter type.
    #[error("SDP line {line}: not of the form <type>=<value>")]
    MalformedLine {
        /// 1-based line number.
        line: usize,
    },
    /// The first line is not `v=0` (RFC 8866 §5.1).
    #[error("SDP line {line}: expected v=0 as the first line")]
    BadVersion {
        /// 1-based line number.
        line: usize,
    },
    /// The `o=` line does not have six fields or a numeric session version (RFC 8866 §5.2).
    #[error("SDP line {line}: malformed o= line")]
    BadOrigin {
        /// 1-based line number.
        line: usize,
    },
    /// The `c=` line is malformed (RFC 8866 §5.7).
    #[error("SDP line {line}: malformed c= line")]
    BadConnection {
        /// 1-based line number.
        line: usize,
    },
    /// The `m=` line is malformed: missing fields or a port outside 0..=65535 (RFC 8866 §5.14).
    #[error("SDP line {line}: malformed m= line")]
    BadMedia {
        /// 1-based line number.
        line: usize,
    },
    /// An attribute this module models (`rtpmap`, `fmtp`, `ptime`, `rtcp`) has a value
    /// that does not follow its grammar.
    #[error("SDP line {line}: malformed a={name} attribute")]
    BadAttribute {
        /// 1-based line number.
        line: usize,
        /// The attribute name.
        name: &'static str,
    },
    /// A blank line appears before the end of the body.
    #[error("SDP line {line}: empty line inside the description")]
    EmptyLine {
        /// 1-based line number.
        line: usize,
    },
    /// No `o=` line (RFC 8866 §5.2: it is required, and RFC 3264 relies on it).
    #[error("SDP has no o= line")]
    MissingOrigin,
    /// A media description with a non-zero port has no `c=` line, and neither has the
    /// session (RFC 8866 §5.7: one of them MUST be present).
    #[error("SDP media description at line {line} has no connection address")]
    MissingConnection {
        /// 1-based line number of the `m=` line.
        line: usize,
    },
    /// The session version cannot be incremented (it is already `u64::MAX`).
    #[error("SDP o= session version cannot be incremented")]
    VersionOverflow,
    /// A setter was given a value that cannot be written into SDP (for example an
    /// attribute name with spaces or a line break).
    #[error("value cannot be written into SDP: {0}")]
    InvalidValue(&'static str),
}
