//! The one-pass scanner against a plain reference: the straightforward multi-pass reading
//! of RFC 3261 §25.1 that this crate used before (find `:`, find `@`, check each part
//! against its class, split parameters and headers). Hundreds of thousands of mutated
//! URIs must get the same verdict and the same parts from both.

use super::scan::{Context, Parts, scan, scan_host};
use super::{HostKind, Scheme};
use crate::syntax::{self, Class};

/// The parts as text, for comparing the two readings.
#[derive(Debug, PartialEq, Eq)]
struct Reading<'a> {
    scheme: Scheme,
    user: Option<&'a [u8]>,
    password: Option<&'a [u8]>,
    host: &'a [u8],
    host_kind: HostKind,
    port: Option<u16>,
    params: &'a [u8],
    headers: Option<&'a [u8]>,
}

fn reading<'a>(s: &'a [u8], p: &Parts) -> Reading<'a> {
    let s = &s[..usize::from(p.len)];
    Reading {
        scheme: p.scheme,
        user: p.user.map(|x| x.get(s)),
        password: p.password.map(|x| x.get(s)),
        host: p.host.get(s),
        host_kind: p.host_kind,
        port: p.port,
        params: p.params.get(s),
        headers: p.headers.map(|x| x.get(s)),
    }
}

const USER: Class = Class::new(b"-_.!~*'()%&=+$,;?/", true);
const PASSWORD: Class = Class::new(b"-_.!~*'()%&=+$,", true);
const PARAMCHAR: Class = Class::new(b"-_.!~*'()%[]/:&+$", true);
const HNV: Class = Class::new(b"-_.!~*'()%[]/?:+$", true);
const HOSTNAME: Class = Class::new(b"-._", true);

fn escapes_valid(s: &[u8]) -> bool {
    let mut i = 0;
    while let Some(p) = s[i..].iter().position(|&b| b == b'%') {
        let at = i + p;
        match (s.get(at + 1), s.get(at + 2)) {
            (Some(a), Some(b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => i = at + 3,
            _ => return false,
        }
    }
    true
}

fn reference_host(s: &[u8]) -> Option<(usize, HostKind)> {
    if s.first() == Some(&b'[') {
        let close = s.iter().position(|&b| b == b']')?;
        let inner = &s[1..close];
        if !syntax::IPV6.all(inner) || !inner.contains(&b':') {
            return None;
        }
        return Some((close + 1, HostKind::Ipv6));
    }
    let mut len = 0;
    let mut dots = 0;
    let mut digits_only = true;
    let mut prev_dot = true;
    while len < s.len() && HOSTNAME.has(s[len]) {
        if s[len] == b'.' {
            if prev_dot {
                return None;
            }
            dots += 1;
            prev_dot = true;
        } else {
            digits_only &= s[len].is_ascii_digit();
            prev_dot = false;
        }
        len += 1;
    }
    let host = &s[..len];
    if len == 0 || host[0] == b'-' || host[len - 1] == b'-' {
        return None;
    }
    if digits_only && dots == 3 && !prev_dot {
        let ok = host
            .split(|&b| b == b'.')
            .all(|o| o.len() <= 3 && syntax::parse_u32(o, 255).is_some());
        return ok.then_some((len, HostKind::Ipv4));
    }
    Some((len, HostKind::Domain))
}

fn reference(s: &[u8], addr_spec: bool) -> Option<Reading<'_>> {
    let colon = s.iter().position(|&b| b == b':')?;
    let name = &s[..colon];
    if name.is_empty() || !name[0].is_ascii_alphabetic() || !syntax::SCHEME.all(name) {
        return None;
    }
    let scheme = match name.to_ascii_lowercase().as_slice() {
        b"sip" => Scheme::Sip,
        b"sips" => Scheme::Sips,
        b"tel" => Scheme::Tel,
        _ => Scheme::Other,
    };
    let header_syntax = |t: &[u8]| t.iter().any(|&b| b == b',' || b == b'?' || b == b';');
    if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
        let rest = &s[colon + 1..];
        if !syntax::URIC.all(rest) || (addr_spec && header_syntax(rest)) {
            return None;
        }
        return Some(Reading {
            scheme,
            user: None,
            password: None,
            host: rest,
            host_kind: HostKind::Domain,
            port: None,
            params: b"",
            headers: None,
        });
    }
    let mut i = colon + 1;
    let (mut user, mut password) = (None, None);
    if let Some(at) = s[i..].iter().position(|&b| b == b'@') {
        let info = &s[i..i + at];
        let (u, p) = match info.iter().position(|&b| b == b':') {
            Some(c) => (&info[..c], Some(&info[c + 1..])),
            None => (info, None),
        };
        if !USER.all(u) || !escapes_valid(u) || (addr_spec && header_syntax(u)) {
            return None;
        }
        if let Some(p) = p
            && (!(p.is_empty() || PASSWORD.all(p)) || !escapes_valid(p))
        {
            return None;
        }
        user = Some(u);
        password = p;
        i += at + 1;
    }
    let (host_len, host_kind) = reference_host(&s[i..])?;
    let host = &s[i..i + host_len];
    i += host_len;
    let mut port = None;
    if s.get(i) == Some(&b':') {
        let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        port = Some(syntax::parse_u32(&s[i + 1..i + 1 + digits], 65535)? as u16);
        i += 1 + digits;
    }
    let params_end = s[i..]
        .iter()
        .position(|&b| b == b'?')
        .map_or(s.len(), |q| i + q);
    let params = &s[i..params_end];
    if !params.is_empty() {
        if params[0] != b';' {
            return None;
        }
        for p in params[1..].split(|&b| b == b';') {
            let (n, v) = match p.iter().position(|&b| b == b'=') {
                Some(eq) => (&p[..eq], Some(&p[eq + 1..])),
                None => (p, None),
            };
            if !PARAMCHAR.all(n) || !escapes_valid(n) {
                return None;
            }
            if v.is_some_and(|v| !PARAMCHAR.all(v) || !escapes_valid(v)) {
                return None;
            }
        }
    }
    let mut headers = None;
    if params_end < s.len() {
        if addr_spec {
            return None;
        }
        let h = &s[params_end + 1..];
        for pair in h.split(|&b| b == b'&') {
            let eq = pair.iter().position(|&b| b == b'=')?;
            let (n, v) = (&pair[..eq], &pair[eq + 1..]);
            if !HNV.all(n) || !(v.is_empty() || HNV.all(v)) || !escapes_valid(pair) {
                return None;
            }
        }
        headers = Some(h);
    }
    Some(Reading {
        scheme,
        user,
        password,
        host,
        host_kind,
        port,
        params,
        headers,
    })
}

/// A small deterministic generator (xorshift64*), so that failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const SEEDS: &[&str] = &[
    "sip:alice@example.com",
    "sip:alice:secret@Example.COM:5070;transport=tcp;lr?subject=hi&x=",
    "sips:+14155550123@vss.example.net;user=phone",
    "sip:192.0.2.10:5060;transport=udp",
    "sip:[2001:db8::10]:5070;maddr=[2001:db8::1]",
    "sip:user;par=u%40example.net@example.com",
    "sip:%61lice@atlanta.com;%6C%72;n%61me=v%61lue%25%34%31",
    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too.(doesn't-it)@example.com",
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E&Subject=a",
    "sip:host.example.com.",
    "sip:255.255.255.255",
    "sip:256.0.0.1;lr",
    "sip:a@1.2.3",
    "tel:+1-201-555-0123;phone-context=example.com",
    "urn:service:sos",
    "soap.beep://192.0.2.103:3002",
    "sip:user:@host",
    "sip::pw@host",
    "sip:host:00000000000000005060",
    "sip:010.000.0.255:5060",
    "sip:1.2.3.0255",
    "sip:1.2.3.4.;lr",
    "SIP:a@B.example.COM",
    "Sips:a@b",
    "sip:-a.b",
    "sip:a-.b",
];

const ALPHABET: &[u8] = b"sip:@;?=&%:[].-_/,> <\"0123456789aAfFzZ+~!*'()$\tx";

fn mutate(rng: &mut Rng, text: &mut Vec<u8>) {
    for _ in 0..=rng.below(3) {
        let c = ALPHABET[rng.below(ALPHABET.len())];
        match rng.below(3) {
            0 => {
                let at = rng.below(text.len() + 1);
                text.insert(at, c);
            }
            1 if !text.is_empty() => {
                let at = rng.below(text.len());
                text[at] = c;
            }
            _ if !text.is_empty() => {
                let at = rng.below(text.len());
                text.remove(at);
            }
            _ => text.push(c),
        }
    }
}

fn check(text: &[u8]) -> usize {
    let shown = || String::from_utf8_lossy(text).into_owned();
    let mut accepted = 0;
    for (ctx, addr_spec) in [(Context::Whole, false), (Context::AddrSpec, true)] {
        let new = scan(text, ctx).ok().map(|p| reading(text, &p));
        let old = reference(text, addr_spec);
        assert_eq!(new, old, "{ctx:?} {}", shown());
        accepted += usize::from(new.is_some());
    }
    // Inside `<>`: the reference reads up to the first `>`; the scanner must stop there.
    let inner_end = text.iter().position(|&b| b == b'>');
    let mut angled = text.to_vec();
    if inner_end.is_none() {
        angled.extend_from_slice(b">;tag=1@x");
    }
    let inner = &angled[..inner_end.unwrap_or(text.len())];
    let new = scan(&angled, Context::Angle)
        .ok()
        .filter(|p| angled.get(usize::from(p.len)) == Some(&b'>'))
        .map(|p| reading(&angled, &p));
    assert_eq!(new, reference(inner, false), "Angle {}", shown());
    accepted
}

#[test]
fn seeds_read_the_same() {
    for seed in SEEDS {
        check(seed.as_bytes());
    }
}

#[test]
fn mutations_read_the_same() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    let rounds = 200_000;
    for _ in 0..rounds {
        let mut text = SEEDS[rng.below(SEEDS.len())].as_bytes().to_vec();
        mutate(&mut rng, &mut text);
        accepted += check(&text);
    }
    // Both verdicts must be exercised, or the comparison proves little.
    assert!(
        accepted > rounds / 4 && accepted < rounds * 2 - rounds / 4,
        "{accepted}"
    );
}

#[test]
fn hosts_read_the_same() {
    // Hosts alone, of every length around the 8-octet steps of the scanner, from an
    // alphabet heavy in the octets whose handling differs: dots, digits, case, `-`, `_`.
    const HOST: &[u8] = b"a.1.2.5.0.9.z.A.Z.-._.:;>x.9.";
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    for _ in 0..200_000 {
        let len = rng.below(24);
        let text: Vec<u8> = (0..len).map(|_| HOST[rng.below(HOST.len())]).collect();
        let new = scan_host(&text).ok();
        assert_eq!(
            new,
            reference_host(&text),
            "{}",
            String::from_utf8_lossy(&text)
        );
    }
    for ok in [
        "255.255.255.255",
        "0.0.0.0",
        "1.2.3.4.",
        "a.b.c.d.e.f.g.h.i",
        "x",
    ] {
        assert!(scan_host(ok.as_bytes()).is_ok(), "{ok}");
    }
}
