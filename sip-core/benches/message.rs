//! Parse+validate and print costs of typical messages (issue 2 target: ≤ 2 µs to parse
//! and validate an INVITE with SDP).

// criterion_group! generates an undocumented function.
#![allow(missing_docs)]

use bytes::Bytes;
use criterion::{Criterion, black_box, criterion_group, criterion_main};
use sip_core::Message;

/// What a Linphone-like phone sends: 12 headers and an audio offer.
pub const INVITE: &str = "INVITE sip:+14155550123@vss.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.a3f2c91e;rport\r\n\
From: \"Slot 6001\" <sip:6001@vss.example.net>;tag=8fa1c2d3\r\n\
To: <sip:+14155550123@vss.example.net>\r\n\
Call-ID: 5b2f0e1a9c8d7e6f@192.0.2.10\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:6001@192.0.2.10:5060;transport=udp>;expires=3600;+sip.instance=\"<urn:uuid:0d2c3f4e-5a6b-4c7d-8e9f-a0b1c2d3e4f5>\"\r\n\
Max-Forwards: 70\r\n\
User-Agent: LinphoneAndroid/5.2.5 (belle-sip/5.2.94)\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Supported: replaces, outbound, gruu, 100rel\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 318\r\n\
\r\n\
v=0\r\n\
o=6001 3428 1904 IN IP4 192.0.2.10\r\n\
s=Talk\r\n\
c=IN IP4 192.0.2.10\r\n\
t=0 0\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 0 8 101\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=rtcp:7079\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
a=rtcp-fb:* trr-int 1000\r\n";

/// A REGISTER with credentials, as SIPp sends in the registration load test.
pub const REGISTER: &str = "REGISTER sip:vss.example.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-4012-1-2;rport\r\n\
From: <sip:6001@vss.example.net>;tag=4012SIPpTag001\r\n\
To: <sip:6001@vss.example.net>\r\n\
Call-ID: 1-4012@127.0.0.1\r\n\
CSeq: 2 REGISTER\r\n\
Contact: <sip:6001@127.0.0.1:5070>\r\n\
Max-Forwards: 70\r\n\
Expires: 3600\r\n\
Authorization: Digest username=\"6001\",realm=\"vss.example.net\",nonce=\"MTcwMDAwMDAwMC5hYmNkZWYwMTIzNDU2Nzg5\",uri=\"sip:vss.example.net\",response=\"6629fae49393a05397450978507c4ef1\",algorithm=MD5,cnonce=\"0a4f113b\",qop=auth,nc=00000001\r\n\
Content-Length: 0\r\n\
\r\n";

/// A 200 OK to the INVITE, with an answer.
pub const OK: &str = "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.a3f2c91e;rport=5060;received=192.0.2.10\r\n\
Record-Route: <sip:192.0.2.1;lr>\r\n\
From: \"Slot 6001\" <sip:6001@vss.example.net>;tag=8fa1c2d3\r\n\
To: <sip:+14155550123@vss.example.net>;tag=as5f2e7a11\r\n\
Call-ID: 5b2f0e1a9c8d7e6f@192.0.2.10\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:+14155550123@198.51.100.7:5060>\r\n\
Server: Carrier SBC\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 137\r\n\
\r\n\
v=0\r\n\
o=- 1 1 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 40000 RTP/AVP 0 101\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=sendrecv\r\n";

fn bench(c: &mut Criterion) {
    for (name, text) in [
        ("invite_sdp", INVITE),
        ("register", REGISTER),
        ("200_ok", OK),
    ] {
        let raw = Bytes::from_static(text.as_bytes());
        assert!(
            Message::parse_datagram(raw.clone()).is_ok(),
            "{name} must parse"
        );
        c.bench_function(&format!("parse_validate/{name}"), |b| {
            b.iter(|| Message::parse_datagram(black_box(raw.clone())))
        });
        let parsed = Message::parse_datagram(raw.clone()).ok();
        c.bench_function(&format!("print/{name}"), |b| {
            b.iter(|| parsed.as_ref().map(|m| black_box(m).to_bytes()))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
