//! Every value the configuration rejects, and the error a user sees for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::tests::load_err;

/// File text, environment, the key the error must start with, and words it must hold.
type Case<'a> = (String, Vec<(&'a str, &'a str)>, &'a str, &'a str);

/// Every rejected value: (file text, environment, the key and words the error must hold).
#[test]
fn bad_values_are_errors_naming_key_and_value() {
    let trunk = |extra: &str| format!("[[trunks]]\nname = \"c1\"\naddress = \"h1\"\n{extra}");
    let hub = |name: &str, kind: &str, slots: u32| {
        format!(
            "[[hubs]]\nname = \"{name}\"\nkind = \"{kind}\"\ndriver = \"sim\"\nslots = {slots}\n"
        )
    };
    let cases: Vec<Case> = vec![
        (
            "[registrar]\nwrite_delay_ms = 0".into(),
            vec![],
            "registrar.write_delay_ms",
            "between 1 and 60000",
        ),
        (
            String::new(),
            vec![("VSS_REGISTRAR__WRITE_DELAY_MS", "120000")],
            "registrar.write_delay_ms",
            "between 1 and 60000",
        ),
        (
            "[sip]\nlisten = [\"udp:1.2.3:5060\"]".into(),
            vec![],
            "sip.listen",
            "\"udp:1.2.3:5060\"",
        ),
        (
            "[sip]\nlisten = [\"sctp:0.0.0.0:5060\"]".into(),
            vec![],
            "sip.listen",
            "unknown transport \"sctp\"",
        ),
        (
            "[sip]\nlisten = []".into(),
            vec![],
            "sip.listen",
            "at least one",
        ),
        (
            "[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"udp:0.0.0.0:5060\"]".into(),
            vec![],
            "sip.listen",
            "listed twice",
        ),
        (
            "[sip]\nlisten = [\"tls:0.0.0.0:5061\"]".into(),
            vec![],
            "sip.listen",
            "needs sip.tls_cert",
        ),
        (
            "[sip]\ntls_cert = \"/nonexistent/cert.pem\"".into(),
            vec![],
            "sip.tls_cert",
            "/nonexistent/cert.pem is not a readable file",
        ),
        (
            "[sip]\ndomain = \"bad domain\"".into(),
            vec![],
            "sip.domain",
            "\"bad domain\"",
        ),
        ("[sip]\nt1_ms = 0".into(), vec![], "sip.t1_ms", "at least 1"),
        (
            "[sip]\nt1_ms = 1000\nt2_ms = 900".into(),
            vec![],
            "sip.t2_ms",
            "900 is below sip.t1_ms (1000)",
        ),
        ("[sip]\nt1_ms = -5".into(), vec![], "sip.t1_ms", "-5"),
        (
            String::new(),
            vec![("VSS_SIP__T4_MS", "soon")],
            "sip.t4_ms",
            "\"soon\"",
        ),
        (
            "[sip]\ncoalesce_us = 50000".into(),
            vec![],
            "sip.coalesce_us",
            "50000 is above the maximum, 20000",
        ),
        (
            "[sip]\nuser_agent = \"\"".into(),
            vec![],
            "sip.user_agent",
            "non-empty",
        ),
        (
            "[media]\nrtp_ports = \"40000-30001\"".into(),
            vec![],
            "media.rtp_ports",
            "\"40000-30001\"",
        ),
        (
            "[media]\nrtp_ports = \"30001-39999\"".into(),
            vec![],
            "media.rtp_ports",
            "even",
        ),
        (
            "[media]\nrtp_ports = \"30000-40000\"".into(),
            vec![],
            "media.rtp_ports",
            "odd",
        ),
        (
            "[media]\npublic_ip = \"0.0.0.0\"".into(),
            vec![],
            "media.public_ip",
            "0.0.0.0",
        ),
        (
            "[media]\npublic_ip = \"my.host\"".into(),
            vec![],
            "media.public_ip",
            "\"my.host\"",
        ),
        (
            "[media]\nkernel_forwarding = \"yes\"".into(),
            vec![],
            "media.kernel_forwarding",
            "\"yes\"",
        ),
        (
            String::new(),
            vec![("VSS_MEDIA__KERNEL_FORWARDING", "always")],
            "media.kernel_forwarding",
            "\"always\"",
        ),
        (
            "[media]\nng_listen = \"localhost:22222\"".into(),
            vec![],
            "media.ng_listen",
            "\"localhost:22222\"",
        ),
        (
            "[media]\nmedia_timeout_s = 0".into(),
            vec![],
            "media.media_timeout_s",
            "at least 1",
        ),
        (
            "[media]\nrecord_calls = \"maybe\"".into(),
            vec![],
            "media.record_calls",
            "\"maybe\"",
        ),
        (
            "[database]\nurl = \"mysql://x\"".into(),
            vec![],
            "database.url",
            "\"mysql\"",
        ),
        (
            "[api]\nlisten = \"8083\"".into(),
            vec![],
            "api.listen",
            "\"8083\"",
        ),
        (
            "[api]\njwt_secret = \"short\"".into(),
            vec![],
            "api.jwt_secret",
            "is 5 bytes",
        ),
        (
            "[log]\nfilter = \"vss=loud\"".into(),
            vec![],
            "log.filter",
            "\"vss=loud\"",
        ),
        (
            "[[trunks]]\nname = \"c1\"\naddress = \"\"".into(),
            vec![],
            "trunks[0].address",
            "empty",
        ),
        (
            trunk("transport = \"sctp\""),
            vec![],
            "trunks[0].transport",
            "\"sctp\"",
        ),
        (
            trunk("prefixes = [\"44x\"]"),
            vec![],
            "trunks[0].prefixes",
            "\"44x\"",
        ),
        (
            trunk("prefixes = []"),
            vec![],
            "trunks[0].prefixes",
            "never be used",
        ),
        (
            trunk("password = \"pw\""),
            vec![],
            "trunks[0].password",
            "username is not",
        ),
        (
            trunk("register = true\nusername = \"u\""),
            vec![],
            "trunks[0].register",
            "username and password",
        ),
        (
            format!("{}{}", trunk(""), trunk("")),
            vec![],
            "trunks[1].name",
            "duplicate trunk name \"c1\"",
        ),
        (
            "[[trunks]]\nname = \"c 1\"\naddress = \"h\"".into(),
            vec![],
            "trunks[0].name",
            "\"c 1\"",
        ),
        (hub("a", "auto", 1), vec![], "hubs[0].kind", "\"auto\""),
        (
            hub("a", "AUTO", 0),
            vec![],
            "hubs[0].slots",
            "0 is not from 1 to 999",
        ),
        (hub("a", "MF", 70000), vec![], "hubs[0].slots", "70000"),
        (
            format!("{}{}", hub("a", "MF", 1), hub("a", "LS", 1)),
            vec![],
            "hubs[1].name",
            "duplicate hub name \"a\"",
        ),
        (
            format!("{}{}", hub("a", "LS", 600), hub("b", "LS", 400)),
            vec![],
            "hubs",
            "1000 slots",
        ),
        (
            "[[hubs]]\nname = \"a\"\nkind = \"MF\"\ndriver = \"usb\"\nslots = 1".into(),
            vec![],
            "hubs[0].driver",
            "\"usb\"",
        ),
        (
            "[sip]\nlisten = [\"udp:0.0.0.0:30000\"]".into(),
            vec![],
            "media.rtp_ports",
            "same port as sip.listen[0] (\"udp:0.0.0.0:30000\", in ",
        ),
        (
            "[sip]\nlisten = [\"tcp:127.0.0.1:8083\"]".into(),
            vec![],
            "api.listen",
            "same port as sip.listen[0]",
        ),
    ];
    for (text, env, key, words) in cases {
        let e = load_err(&text, &env);
        assert!(
            e.starts_with(&format!("{key}: ")) && e.contains(words),
            "for {text:?} {env:?}\nexpected `{key}: ...{words}...`\n     got `{e}`"
        );
    }
}
