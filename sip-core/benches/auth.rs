//! Digest authentication costs on the registrar's hot path.
//!
//! `cargo bench -p sip-core --bench auth`

// criterion_group! generates undocumented items; set-up failures may panic in a bench.
#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use sip_core::auth::{
    Algorithm, Challenge, Credentials, DigestServer, Identity, NonceCount, answer_challenge, ha1,
};

const REALM: &str = "vss.example.net";
const URI: &str = "sip:vss.example.net";

fn now() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn server() -> DigestServer {
    DigestServer::new(REALM, &[0x5a; 32], Duration::from_secs(300)).unwrap()
}

/// Credentials with the next nonce-count, made outside the measured part, so that every
/// measured verification succeeds and updates the nonce-count table.
fn next_credentials(challenge: &Challenge, me: &Identity, nc: &mut u32) -> Credentials {
    *nc += 1;
    answer_challenge(
        challenge,
        me,
        "REGISTER",
        URI,
        "0a4f113b",
        NonceCount::new(*nc),
    )
    .unwrap()
}

fn bench_verify(c: &mut Criterion) {
    let me = Identity::with_password("6001", "s3cr3t");
    for alg in [Algorithm::Md5, Algorithm::Sha256] {
        let stored = ha1(alg, "6001", REALM, "s3cr3t");

        let mut s = server();
        let challenge = s.challenge(now(), alg, false);
        let mut nc = 0;
        c.bench_function(&format!("verify {alg} qop=auth"), |b| {
            b.iter_batched(
                || next_credentials(&challenge, &me, &mut nc),
                |cred| s.verify(now(), "REGISTER", URI, &cred, &stored).unwrap(),
                BatchSize::SmallInput,
            )
        });

        // Parse the Authorization value, then verify: the registrar's whole digest cost.
        let mut s = server();
        let challenge = s.challenge(now(), alg, false);
        let mut nc = 0;
        c.bench_function(&format!("parse+verify {alg} qop=auth"), |b| {
            b.iter_batched(
                || next_credentials(&challenge, &me, &mut nc).to_string(),
                |text| {
                    let parsed = Credentials::parse(text.as_bytes()).unwrap();
                    s.verify(now(), "REGISTER", URI, &parsed, &stored).unwrap()
                },
                BatchSize::SmallInput,
            )
        });
    }
}

fn bench_challenge(c: &mut Criterion) {
    let mut s = server();
    c.bench_function("challenge", |b| {
        b.iter(|| s.challenge(black_box(now()), Algorithm::Md5, false))
    });
    c.bench_function("challenge + print", |b| {
        b.iter(|| {
            s.challenge(black_box(now()), Algorithm::Md5, false)
                .to_string()
        })
    });
}

criterion_group!(benches, bench_verify, bench_challenge);
criterion_main!(benches);
