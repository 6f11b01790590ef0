//! SDP parse and print cost for an ordinary audio offer.
#![allow(missing_docs, clippy::unwrap_used)]

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sip_core::sdp::SessionDescription;

const OFFER: &[u8] = b"v=0\r\n\
o=- 1955371316 1955371316 IN IP4 10.0.0.5\r\n\
s=Asterisk\r\n\
c=IN IP4 10.0.0.5\r\n\
t=0 0\r\n\
m=audio 14506 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

fn bench(c: &mut Criterion) {
    let body = bytes::Bytes::from_static(OFFER);
    c.bench_function("sdp_parse_audio_offer", |b| {
        b.iter(|| SessionDescription::parse_bytes(black_box(body.clone())))
    });
    let sdp = SessionDescription::parse(OFFER).unwrap();
    let mut out = Vec::with_capacity(512);
    c.bench_function("sdp_print_audio_offer", |b| {
        b.iter(|| {
            out.clear();
            black_box(&sdp).write_to(&mut out);
            black_box(out.len())
        })
    });
    c.bench_function("sdp_rewrite_for_relay", |b| {
        b.iter(|| {
            let mut s = SessionDescription::parse_bytes(black_box(body.clone())).unwrap();
            s.set_connection("203.0.113.5".parse().unwrap());
            s.media_mut()[0].set_port(30000);
            s.bump_version().unwrap();
            s.to_bytes()
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
