//! Loading as a whole: sources and their order, errors as users see them, printing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

/// A configuration file in its own temporary directory.
struct TomlFile {
    _dir: tempfile::TempDir,
    path: PathBuf,
}

fn toml_file(text: &str) -> TomlFile {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("vss.toml");
    std::fs::write(&path, text).unwrap();
    TomlFile { _dir: dir, path }
}

fn options(file: Option<&Path>, env: &[(&str, &str)]) -> LoadOptions {
    LoadOptions {
        file: file.map(Path::to_path_buf),
        default_file: None,
        demo: false,
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    }
}

pub(super) fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let file = toml_file(text);
    Config::load(&options(Some(&file.path), env))
}

/// Loads `text`, expecting an error; returns its one-line message.
pub(super) fn load_err(text: &str, env: &[(&str, &str)]) -> String {
    let e = load(text, env)
        .expect_err("configuration should be rejected")
        .to_string();
    assert_eq!(e.lines().count(), 1, "{e}");
    e
}

#[test]
fn defaults_are_the_contract_defaults() {
    let c = Config::load(&options(None, &[])).unwrap();
    let listen: Vec<String> = c.sip.listen.iter().map(ToString::to_string).collect();
    assert_eq!(listen, ["udp:0.0.0.0:5060", "tcp:0.0.0.0:5060"]);
    assert_eq!(Some(c.sip.domain.clone()), sip::host_name());
    assert_eq!((c.sip.t1_ms, c.sip.t2_ms, c.sip.t4_ms), (500, 4000, 5000));
    assert_eq!(c.sip.user_agent, concat!("VSS/", env!("CARGO_PKG_VERSION")));
    assert_eq!(
        (c.sip.tls_cert.as_ref(), c.sip.tls_key.as_ref()),
        (None, None)
    );
    assert_eq!(c.media.rtp_ports.to_string(), "30000-39999");
    assert_eq!(c.media.public_ip, None);
    assert_eq!(c.media.ng_listen, Some("127.0.0.1:22222".parse().unwrap()));
    assert_eq!(c.media.recordings_dir, PathBuf::from("./var/recordings"));
    assert!(!c.media.record_calls);
    assert_eq!(c.media.media_timeout_s, 60);
    assert_eq!(
        c.media.kernel_forwarding,
        super::media::KernelForwarding::Auto
    );
    assert_eq!(c.database.url.expose(), "sqlite://./var/vss.db");
    assert_eq!(c.api.listen, "0.0.0.0:8083".parse::<SocketAddr>().unwrap());
    assert!(c.api.jwt_secret.is_none());
    assert_eq!(c.log.filter, "info");
    assert!(c.trunks.is_empty() && c.hubs.is_empty());
    assert_eq!(c, Config::default());
}

#[test]
fn sections_list_matches_the_struct() {
    let config = Config {
        hubs: demo_hubs(),
        trunks: load("[[trunks]]\nname = \"c\"\naddress = \"h\"\n", &[])
            .unwrap()
            .trunks,
        ..Config::default()
    };
    let printed: toml::Table = toml::from_str(&config.to_toml().unwrap()).unwrap();
    let mut keys: Vec<&str> = printed.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut sections = SECTIONS.to_vec();
    sections.sort_unstable();
    assert_eq!(keys, sections);
}

#[test]
fn a_full_file_is_read() {
    let c = load(
        r#"
        [sip]
        listen = ["udp:127.0.0.1:5070"]
        domain = "vss.example.net"
        t1_ms = 250
        user_agent = "Carrier-Test/1"

        [media]
        rtp_ports = "20000-20999"
        public_ip = "203.0.113.5"
        ng_listen = ""
        recordings_dir = "/srv/rec"
        record_calls = true
        media_timeout_s = 30
        kernel_forwarding = "off"

        [database]
        url = "postgres://vss@db.example.net/vss"

        [api]
        listen = "127.0.0.1:9000"

        [log]
        filter = "vss=debug"

        [[trunks]]
        name = "carrier1"
        address = "sip.carrier.example:5060"
        transport = "tcp"
        prefixes = ["44", "+44"]
        username = "acct"
        password = "pw"
        register = true

        [[hubs]]
        name = "auto1"
        kind = "AUTO"
        driver = "local"
        slots = 10
        "#,
        &[],
    )
    .unwrap();
    assert_eq!(c.sip.listen[0].to_string(), "udp:127.0.0.1:5070");
    assert_eq!(c.sip.domain, "vss.example.net");
    assert_eq!((c.sip.t1_ms, c.sip.t2_ms), (250, 4000));
    assert_eq!(c.media.ng_listen, None);
    assert_eq!(c.media.public_ip, Some("203.0.113.5".parse().unwrap()));
    assert!(c.media.record_calls);
    assert_eq!(
        c.media.kernel_forwarding,
        super::media::KernelForwarding::Off
    );
    assert_eq!(c.trunks[0].transport, Transport::Tcp);
    assert_eq!(c.trunks[0].prefixes, ["44", "+44"]);
    assert_eq!(
        c.trunks[0].password.as_ref().map(Secret::expose),
        Some("pw")
    );
    assert_eq!(c.hubs[0].driver, HubDriver::Local);
}

#[test]
fn environment_overrides_the_file_which_overrides_defaults() {
    let text = "[sip]\nt1_ms = 250\nt2_ms = 3000\n[media]\nrecord_calls = true\n";
    let c = load(
        text,
        &[
            ("VSS_SIP__T2_MS", "3500"),
            ("VSS_SIP__LISTEN", "udp:0.0.0.0:5070,tcp:0.0.0.0:5070"),
            (
                "VSS_DATABASE__URL",
                "postgres://postgres@127.0.0.1:5432/vss",
            ),
            ("VSS_MEDIA__NG_LISTEN", ""),
        ],
    )
    .unwrap();
    assert_eq!(c.sip.t1_ms, 250, "file over default");
    assert_eq!(c.sip.t2_ms, 3500, "environment over file");
    assert_eq!(c.sip.t4_ms, 5000, "default when nobody sets it");
    assert_eq!(c.sip.coalesce_us, 5000, "default when nobody sets it");
    assert!(c.media.record_calls);
    assert_eq!(c.media.ng_listen, None);
    assert_eq!(c.sip.listen.len(), 2);
    assert_eq!(
        c.database.url.expose(),
        "postgres://postgres@127.0.0.1:5432/vss"
    );
}

#[test]
fn listen_lists_from_the_environment_take_every_documented_form() {
    for value in [
        r#"["udp:0.0.0.0:5070", "tcp:[::]:5070"]"#,
        "[udp:0.0.0.0:5070, tcp:[::]:5070]",
        "udp:0.0.0.0:5070, tcp:[::]:5070",
    ] {
        let c = load("", &[("VSS_SIP__LISTEN", value)]).unwrap();
        let listen: Vec<String> = c.sip.listen.iter().map(ToString::to_string).collect();
        assert_eq!(listen, ["udp:0.0.0.0:5070", "tcp:[::]:5070"], "{value}");
    }
}

#[test]
fn a_trunk_password_can_come_from_the_environment() {
    let text = "[[trunks]]\nname = \"c1\"\naddress = \"h1\"\nusername = \"u\"\n";
    let c = load(text, &[("VSS_TRUNKS__0__PASSWORD", "s3cret")]).unwrap();
    assert_eq!(
        c.trunks[0].password.as_ref().map(Secret::expose),
        Some("s3cret")
    );
    assert_eq!(c.trunks[0].name, "c1");

    let c = load(
        "",
        &[(
            "VSS_TRUNKS",
            r#"[{name="c9", address="192.0.2.9:5080", prefixes=["1"]}]"#,
        )],
    )
    .unwrap();
    assert_eq!(c.trunks[0].address.to_string(), "192.0.2.9:5080");
}

#[test]
fn an_error_in_an_entry_patched_from_the_environment_names_the_right_source() {
    let text = "[[trunks]]\nname = \"c1\"\naddress = \"h1\"\n";
    // The password is the environment's, the missing username the file's entry.
    let e = load_err(text, &[("VSS_TRUNKS__0__PASSWORD", "pw")]);
    assert!(
        e.starts_with("trunks[0].password: is set but username is not"),
        "{e}"
    );
    let e = load_err(text, &[("VSS_TRUNKS__0__PASWORD", "pw")]);
    assert!(e.contains("unknown key `trunks[0].pasword`"), "{e}");
    assert!(e.contains("VSS_TRUNKS__0__PASWORD"), "{e}");
}

#[test]
fn demo_adds_three_simulated_hubs_under_file_and_environment() {
    let mut opts = options(None, &[]);
    opts.demo = true;
    let c = Config::load(&opts).unwrap();
    assert_eq!(c.hubs, demo_hubs());
    let summary: Vec<(&str, HubKind, u16)> = c
        .hubs
        .iter()
        .map(|h| (h.name.as_str(), h.kind, h.slots))
        .collect();
    assert_eq!(
        summary,
        [
            ("auto1", HubKind::Auto, 10),
            ("mf1", HubKind::Mf, 20),
            ("ls1", HubKind::Ls, 5)
        ]
    );
    assert!(c.hubs.iter().all(|h| h.driver == HubDriver::Sim));
    assert_eq!(c.database.url.expose(), "sqlite://./var/vss.db");

    let file = toml_file("[[hubs]]\nname = \"mine\"\nkind = \"LS\"\ndriver = \"sim\"\nslots = 2\n");
    opts.file = Some(file.path.clone());
    let c = Config::load(&opts).unwrap();
    assert_eq!(c.hubs.len(), 1, "a file's [[hubs]] replaces the demo's");
    opts.env = vec![("VSS_HUBS__0__SLOTS".into(), "3".into())];
    assert_eq!(Config::load(&opts).unwrap().hubs[0].slots, 3);
}

#[test]
fn the_default_file_is_read_only_when_present() {
    let file = toml_file("[sip]\ndomain = \"from-default-file.example\"\n");
    let mut opts = options(None, &[]);
    opts.default_file = Some(file.path.clone());
    assert_eq!(
        Config::load(&opts).unwrap().sip.domain,
        "from-default-file.example"
    );
    assert_eq!(opts.provenance().file.as_deref(), Some(file.path.as_path()));
    opts.default_file = Some(file.path.with_file_name("absent.toml"));
    assert!(Config::load(&opts).is_ok());
    assert_eq!(opts.provenance().file, None);
}

#[test]
fn unknown_keys_in_the_file_are_named_with_the_file() {
    let file = toml_file("[sip]\nlisten = \"udp:0.0.0.0:5060\"\nlistn = 1\n");
    let e = Config::load(&options(Some(&file.path), &[]))
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("unknown key `sip.listn`"), "{e}");
    assert!(e.contains(&file.path.display().to_string()), "{e}");
    assert!(e.contains("expected one of: listen, domain"), "{e}");

    let e = load_err("[sipp]\nlisten = 1\n", &[]);
    assert!(
        e.starts_with("unknown key `sipp`") && e.contains("sip, registrar, b2bua, media"),
        "{e}"
    );
    let e = load_err(
        "[[trunks]]\nname = \"a\"\naddress = \"h\"\nbogus = 1\n",
        &[],
    );
    assert!(e.starts_with("unknown key `trunks[0].bogus`"), "{e}");
    let e = load_err("top = 1\n", &[]);
    assert!(e.starts_with("unknown key `top`"), "{e}");
}

#[test]
fn unknown_keys_in_the_environment_are_named_with_the_variable() {
    let e = load_err("", &[("VSS_SIP__LISTN", "udp:0.0.0.0:5060")]);
    assert!(e.starts_with("unknown key `sip.listn`"), "{e}");
    assert!(
        e.contains("from environment variable VSS_SIP__LISTN"),
        "{e}"
    );
    let e = load_err("", &[("VSS_NOPE__KEY", "1")]);
    assert!(
        e.contains("unknown key `nope`") && e.contains("VSS_NOPE__KEY"),
        "{e}"
    );
    let e = load_err("", &[("VSS_MEDIA_RTP_PORTS", "1-2")]);
    assert!(e.contains("did you mean VSS_MEDIA__RTP_PORTS?"), "{e}");
}

#[test]
fn missing_keys_are_named() {
    let e = load_err("[[trunks]]\nname = \"a\"\n", &[]);
    assert!(e.starts_with("missing key `trunks[0].address`"), "{e}");
    let e = load_err("[[hubs]]\nname = \"a\"\nkind = \"MF\"\nslots = 1\n", &[]);
    assert!(e.starts_with("missing key `hubs[0].driver`"), "{e}");
}

#[test]
fn toml_syntax_errors_are_one_line_with_the_position() {
    let e = load_err("[sip\nlisten = 1\n", &[]);
    assert!(e.contains("vss.toml") && e.contains("line 1"), "{e}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let e = Config::load(&options(Some(Path::new("/nonexistent/vss.toml")), &[]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("cannot read configuration file /nonexistent/vss.toml"),
        "{e}"
    );
}

#[test]
fn errors_say_where_the_value_came_from() {
    let e = load_err("[sip]\nt1_ms = 0\n", &[]);
    assert!(e.ends_with("vss.toml)"), "{e}");
    let e = load_err("", &[("VSS_SIP__T1_MS", "0")]);
    assert!(
        e.ends_with("(from environment variable VSS_SIP__T1_MS)"),
        "{e}"
    );
    let e = load_err("[sip]\nt1_ms = 5000\n", &[]);
    assert!(
        e.starts_with("sip.t2_ms") && e.ends_with("(built-in default)"),
        "{e}"
    );
    // A clash names both keys and where each value came from.
    let e = load_err("", &[("VSS_SIP__LISTEN", "udp:0.0.0.0:30000")]);
    assert_eq!(
        e,
        "media.rtp_ports: \"30000-39999\" uses the same port as sip.listen[0] \
         (\"udp:0.0.0.0:30000\", from environment variable VSS_SIP__LISTEN) (built-in default)"
    );
}

#[test]
fn secrets_are_masked_when_printed() {
    let text = r#"
        [database]
        url = "postgres://vss:dbpass@db/vss"
        [api]
        jwt_secret = "jwt-secret-jwt-secret-jwt-secret-jwt"
        [[trunks]]
        name = "c1"
        address = "h1"
        username = "acct"
        password = "trunkpass"
    "#;
    let c = load(text, &[]).unwrap();
    let printed = c.to_toml().unwrap();
    let debug = format!("{c:?}");
    for secret in ["dbpass", "jwt-secret", "trunkpass"] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(
        printed.contains("url = \"postgres://vss:***@db/vss\""),
        "{printed}"
    );
    assert!(printed.contains("jwt_secret = \"***\""), "{printed}");
    assert!(printed.contains("password = \"***\""), "{printed}");
    assert!(printed.contains("username = \"acct\""), "{printed}");
}

#[test]
fn the_printed_configuration_loads_back_the_same() {
    let text = r#"
        [sip]
        listen = ["udp:127.0.0.1:5070", "tcp:[::1]:5070"]
        domain = "vss.example.net"
        [media]
        ng_listen = ""
        public_ip = "2001:db8::5"
        [[trunks]]
        name = "c1"
        address = "[2001:db8::1]:5060"
        prefixes = ["", "44"]
        [[hubs]]
        name = "auto1"
        kind = "AUTO"
        driver = "sim"
        slots = 3
    "#;
    let mut opts = options(None, &[]);
    opts.demo = true;
    for original in [
        load(text, &[]).unwrap(),
        Config::default(),
        Config::load(&opts).unwrap(),
    ] {
        let printed = original.to_toml().unwrap();
        let again = load(&printed, &[]).unwrap_or_else(|e| panic!("{e}\n{printed}"));
        assert_eq!(again, original, "{printed}");
    }

    // Secrets print as "***", and that is what comes back.
    let with_secret =
        "[[trunks]]\nname = \"c1\"\naddress = \"h1\"\nusername = \"u\"\npassword = \"pw\"\n";
    let original = load(with_secret, &[]).unwrap();
    let again = load(&original.to_toml().unwrap(), &[]).unwrap();
    let mut expected = original.clone();
    expected.trunks[0].password = Some(Secret::from("***"));
    assert_eq!(again, expected);
}

#[test]
fn trunk_defaults_and_a_complete_tls_setup_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert, "-----BEGIN CERTIFICATE-----\n").unwrap();
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    let text = format!(
        "[sip]\nlisten = [\"udp:0.0.0.0:5060\", \"tcp:0.0.0.0:5060\", \"tls:0.0.0.0:5061\"]\n\
         tls_cert = {:?}\ntls_key = {:?}\n[[trunks]]\nname = \"c1\"\naddress = \"h1\"\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    let c = load(&text, &[]).unwrap();
    assert_eq!(c.sip.listen[2].transport, Transport::Tls);
    assert_eq!(c.sip.tls_cert.as_deref(), Some(cert.as_path()));
    let t = &c.trunks[0];
    assert_eq!(
        (t.transport, t.prefixes.as_slice()),
        (Transport::Udp, &[String::new()][..])
    );
    assert_eq!(
        (t.username.as_deref(), t.password.is_none(), t.register),
        (None, true, false)
    );
    assert_eq!(t.address.port, None);
}
