//! Cutting messages out of byte streams (TCP, TLS): RFC 3261 §18.3 says Content-Length
//! is mandatory there and is what delimits the body. RFC 5626 §3.5.1 keep-alives
//! (CRLFCRLF ping, CRLF pong) are recognised between messages.

use crate::error::Error;
use crate::message::MAX_MESSAGE_SIZE;
use crate::syntax;
use bytes::{Bytes, BytesMut};

/// What the next complete unit in a stream is.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// One whole message (start line, headers, body), ready for
    /// [`crate::message::Message::parse_stream`].
    Message(Bytes),
    /// A CRLFCRLF keep-alive ping; RFC 5626 §4.4.1 answers it with CRLF.
    Ping,
}

/// A buffer that accumulates stream octets and yields complete frames.
#[derive(Debug)]
pub struct StreamFramer {
    buf: BytesMut,
    max: usize,
}

impl Default for StreamFramer {
    fn default() -> Self {
        StreamFramer::new()
    }
}

impl StreamFramer {
    /// A framer that refuses messages above [`MAX_MESSAGE_SIZE`].
    pub fn new() -> StreamFramer {
        StreamFramer::with_max(MAX_MESSAGE_SIZE)
    }

    /// A framer with another size limit.
    pub fn with_max(max: usize) -> StreamFramer {
        StreamFramer {
            buf: BytesMut::with_capacity(4096),
            max,
        }
    }

    /// Append received octets.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The octets received but not yet framed.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The octets received but not yet framed (after an error: the start of the message
    /// that could not be framed, for building its error response).
    pub fn peek(&self) -> &[u8] {
        &self.buf
    }

    /// The next complete frame, `Ok(None)` when more octets are needed, or an error after
    /// which the connection must be answered (400/513 where possible) and closed: the
    /// stream cannot be resynchronised.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        // Keep-alives and stray line ends between messages.
        loop {
            if self.buf.starts_with(b"\r\n\r\n") {
                let _ = self.buf.split_to(4);
                return Ok(Some(Frame::Ping));
            }
            if self.buf.starts_with(b"\r\n") && self.buf.len() >= 4 {
                let _ = self.buf.split_to(2);
                continue;
            }
            if self.buf.first() == Some(&b'\n') {
                let _ = self.buf.split_to(1);
                continue;
            }
            break;
        }
        if self.buf.is_empty()
            || self.buf.as_ref() == b"\r\n"
            || self.buf.as_ref() == b"\r\n\r"
            || self.buf.as_ref() == b"\r"
        {
            return Ok(None);
        }
        let Some(end) = memchr::memmem::find(&self.buf, b"\r\n\r\n") else {
            if self.buf.len() > self.max {
                return Err(Error::TooLarge(self.max));
            }
            return Ok(None);
        };
        let header_end = end + 4;
        let length = content_length(&self.buf[..end])?.ok_or(Error::MissingContentLength)?;
        let total = header_end
            .checked_add(length)
            .ok_or(Error::TooLarge(self.max))?;
        if total > self.max {
            return Err(Error::TooLarge(self.max));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        Ok(Some(Frame::Message(self.buf.split_to(total).freeze())))
    }
}

/// Find Content-Length (or `l`) in a raw header section. Conflicting values are an error
/// (RFC 4475 §3.3.9): the stream cannot be framed.
fn content_length(head: &[u8]) -> Result<Option<usize>, Error> {
    let mut found: Option<usize> = None;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let name_len = syntax::TOKEN.span(line);
        let name = &line[..name_len];
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let colon = syntax::skip_ws(line, name_len);
        if line.get(colon) != Some(&b':') {
            continue;
        }
        let v = syntax::trim(&line[colon + 1..]);
        let n = syntax::parse_u32(v, u32::MAX).ok_or(Error::InvalidHeader {
            name: "Content-Length",
            reason: "not a number",
        })? as usize;
        match found {
            Some(prev) if prev != n => return Err(Error::DuplicateHeader("Content-Length")),
            _ => found = Some(n),
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSG: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";

    #[test]
    fn byte_by_byte() -> Result<(), Error> {
        let mut f = StreamFramer::new();
        let mut frames = Vec::new();
        let stream: Vec<u8> = [b"\r\n\r\n".as_slice(), MSG, MSG].concat();
        for b in stream {
            f.push(&[b]);
            while let Some(fr) = f.next_frame()? {
                frames.push(fr);
            }
        }
        assert_eq!(
            frames,
            vec![
                Frame::Ping,
                Frame::Message(Bytes::from_static(MSG)),
                Frame::Message(Bytes::from_static(MSG))
            ]
        );
        assert_eq!(f.buffered(), 0);
        Ok(())
    }

    #[test]
    fn errors() {
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n");
        assert_eq!(f.next_frame(), Err(Error::MissingContentLength));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(
            f.next_frame(),
            Err(Error::DuplicateHeader("Content-Length"))
        );
        let mut f = StreamFramer::with_max(100);
        f.push(&[b'a'; 101]);
        assert_eq!(f.next_frame(), Err(Error::TooLarge(100)));
        let mut f = StreamFramer::with_max(100);
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 4294967295\r\n\r\n");
        assert_eq!(f.next_frame(), Err(Error::TooLarge(100)));
        let mut f = StreamFramer::new();
        f.push(b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -1\r\n\r\n");
        assert!(f.next_frame().is_err());
    }
}
