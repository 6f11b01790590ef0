//! Printing messages to wire form.

use super::{Request, Response};
use crate::header::{HeaderName, Headers};
use bytes::{BufMut, Bytes, BytesMut};

fn headers_len(headers: &Headers) -> usize {
    headers
        .iter()
        .map(|h| h.name().as_str().len() + h.value().len() + 4)
        .sum()
}

/// Write the headers; Content-Length is written once, from the body's length, in the
/// place of the first one received (or last, when there was none).
fn put_headers(out: &mut BytesMut, headers: &Headers, body_len: usize) {
    let mut wrote_length = false;
    for h in headers.iter() {
        if h.name() == &HeaderName::ContentLength {
            if !wrote_length {
                put_content_length(out, body_len);
                wrote_length = true;
            }
            continue;
        }
        out.put_slice(h.name().as_str().as_bytes());
        out.put_slice(b": ");
        out.put_slice(h.value());
        out.put_slice(b"\r\n");
    }
    if !wrote_length {
        put_content_length(out, body_len);
    }
    out.put_slice(b"\r\n");
}

fn put_content_length(out: &mut BytesMut, n: usize) {
    out.put_slice(b"Content-Length: ");
    let mut buf = itoa_buf(n);
    out.put_slice(buf.as_bytes_mut());
    out.put_slice(b"\r\n");
}

/// A decimal rendering without going through the formatter.
struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes_mut(&mut self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: usize) -> Digits {
    let mut d = Digits {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return d;
        }
    }
}

pub(super) fn request(r: &Request) -> Bytes {
    let method = r.method.as_bytes();
    let uri = r.uri.as_bytes();
    let cap = method.len() + uri.len() + 12 + headers_len(&r.headers) + 24 + r.body.len();
    let mut out = BytesMut::with_capacity(cap);
    out.put_slice(method);
    out.put_u8(b' ');
    out.put_slice(uri);
    out.put_slice(b" SIP/2.0\r\n");
    put_headers(&mut out, &r.headers, r.body.len());
    out.put_slice(&r.body);
    out.freeze()
}

pub(super) fn response(r: &Response) -> Bytes {
    let cap = 16 + r.reason.len() + headers_len(&r.headers) + 24 + r.body.len();
    let mut out = BytesMut::with_capacity(cap);
    out.put_slice(b"SIP/2.0 ");
    let code = r.status.as_u16();
    out.put_slice(&[
        b'0' + (code / 100) as u8,
        b'0' + (code / 10 % 10) as u8,
        b'0' + (code % 10) as u8,
    ]);
    out.put_u8(b' ');
    out.put_slice(&r.reason);
    out.put_slice(b"\r\n");
    put_headers(&mut out, &r.headers, r.body.len());
    out.put_slice(&r.body);
    out.freeze()
}

#[cfg(test)]
mod tests {
    use crate::error::Result;
    use crate::message::Message;
    use bytes::Bytes;

    #[test]
    fn round_trip_normalises() -> Result<()> {
        let text = "INVITE sip:bob@example.com SIP/2.0\r\nv: SIP/2.0/UDP h;branch=z9hG4bK1\r\nf: <sip:a@b>;tag=1\r\nt: <sip:bob@example.com>\r\ni: abc\r\nCSeq: 1 INVITE\r\nc: application/sdp\r\n\r\nv=0\r\n";
        let m = Message::parse_datagram(Bytes::from_static(text.as_bytes()))?;
        let printed = m.to_bytes();
        assert_eq!(
            &printed[..],
            &b"INVITE sip:bob@example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:bob@example.com>\r\nCall-ID: abc\r\nCSeq: 1 INVITE\r\nContent-Type: application/sdp\r\nContent-Length: 5\r\n\r\nv=0\r\n"[..]
        );
        let again = Message::parse_stream(printed.clone())?;
        assert_eq!(again.to_bytes(), printed);
        Ok(())
    }
}
