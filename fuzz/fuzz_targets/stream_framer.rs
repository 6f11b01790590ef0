//! A byte stream cut at arbitrary points: framing never panics, never yields a frame
//! larger than the limit, and gives the same frames however the stream is split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sip_core::framing::{Frame, StreamFramer};

fn frames(chunks: &[&[u8]]) -> (Vec<Frame>, bool) {
    let mut f = StreamFramer::new();
    let mut out = Vec::new();
    for c in chunks {
        f.push(c);
        loop {
            match f.next_frame() {
                Ok(Some(frame)) => {
                    if let Frame::Message(m) = &frame {
                        assert!(m.len() <= sip_core::message::MAX_MESSAGE_SIZE);
                        let _ = sip_core::Message::parse_stream(m.clone());
                    }
                    out.push(frame);
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len().max(1);
    let body = &data[1..];
    let split = split.min(body.len());
    let (whole, whole_err) = frames(&[body]);
    let (parts, parts_err) = frames(&[&body[..split], &body[split..]]);
    if !whole_err && !parts_err {
        assert_eq!(whole, parts);
    }
});
