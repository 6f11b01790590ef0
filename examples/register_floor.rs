//! The cheapest REGISTER responder there can be, to measure what the kernel and SIPp
//! alone cost per registration on a machine (BENCHMARKS.md, registrar): one blocking
//! UDP socket, `recv_from` and `send_to`, canned answers built by copying Via, From, To,
//! Call-ID, CSeq and Contact: 401 to a REGISTER without Authorization, 200 to one with
//! it. No parsing worth the name, no digest check, no state, no database. Never use it
//! for anything but that measurement.
//!
//! ```text
//! cargo run --release --example register_floor -- 127.0.0.1:5099 &
//! sipp 127.0.0.1:5099 -sf tests/sipp/register_auth.xml -inf USERS.csv -key domain vss.test \
//!   -i 127.0.0.1 -p 0 -t u1 -r 1000 -rp 1000 -m 30000 -l 1000 -default_behaviors all,-bye
//! ```
//! and read the responder's utime + stime from `/proc/PID/stat` before and after.

use std::net::UdpSocket;

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5099".into());
    let socket = UdpSocket::bind(&addr)?;
    eprintln!("register_floor: answering REGISTERs on {addr}");
    let mut buf = vec![0u8; 65_536];
    loop {
        let (n, from) = socket.recv_from(&mut buf)?;
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut copied = String::new();
        let mut authorized = false;
        for line in text.split("\r\n") {
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("authorization:") {
                authorized = true;
            }
            if ["via:", "from:", "call-id:", "cseq:"]
                .iter()
                .any(|h| lower.starts_with(h))
            {
                copied.push_str(line);
                copied.push_str("\r\n");
            } else if lower.starts_with("to:") {
                copied.push_str(line);
                copied.push_str(";tag=floor\r\n");
            } else if lower.starts_with("contact:") {
                copied.push_str(line);
                copied.push_str(";expires=3600\r\n");
            }
        }
        let response = if authorized {
            format!("SIP/2.0 200 OK\r\n{copied}Content-Length: 0\r\n\r\n")
        } else {
            format!(
                "SIP/2.0 401 Unauthorized\r\n{copied}WWW-Authenticate: Digest realm=\"vss.test\", \
                 nonce=\"0123456789abcdef\", qop=\"auth\"\r\nContent-Length: 0\r\n\r\n"
            )
        };
        // A lost answer is SIPp's to retransmit for; the measurement shows it.
        let _ = socket.send_to(response.as_bytes(), from);
    }
}
