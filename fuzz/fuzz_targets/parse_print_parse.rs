//! parse → print → parse: a message that parses prints to something that parses again
//! (as a stream, so its Content-Length must be exact) and prints the same.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sip_core::Message;

fuzz_target!(|data: &[u8]| {
    let Ok(first) = Message::parse_datagram(Bytes::copy_from_slice(data)) else {
        return;
    };
    let printed = first.to_bytes();
    let second = match Message::parse_stream(printed.clone()) {
        Ok(m) => m,
        Err(e) => panic!(
            "reprint does not parse: {e}\n{}",
            String::from_utf8_lossy(&printed)
        ),
    };
    assert_eq!(second.to_bytes(), printed, "printing is not stable");
    // The typed views agree.
    let (a, b) = (first.headers(), second.headers());
    assert_eq!(a.call_id().ok(), b.call_id().ok());
    assert_eq!(a.cseq().ok(), b.cseq().ok());
    assert_eq!(
        a.from().ok().map(|f| f.tag().map(<[u8]>::to_vec)),
        b.from().ok().map(|f| f.tag().map(<[u8]>::to_vec))
    );
    assert_eq!(
        a.top_via().ok().map(|v| v.as_bytes().to_vec()),
        b.top_via().ok().map(|v| v.as_bytes().to_vec())
    );
    assert_eq!(first.body(), second.body());
});
