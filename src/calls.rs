//! Calls in `vss serve`: the B2BUA built from the configuration, the registrar adapted
//! to its `Locator`, and its finished calls turned into durable CDRs.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use b2bua::{
    B2bua, Binding, CallDirection, CallEnded, CallerId, Locator, SlotCredentials, TrunkCredentials,
};
use cdr::{
    CallRecord, CdrWriter, Db, DbOptions, Direction, Disposition, HangupSide, LegQuality, Recording,
};
use chrono::{DateTime, Utc};
use registrar::{Extension, Registrar};

use crate::config::Config;
use crate::sip::transport::BoundAddr;

/// The registrar as the B2BUA sees it: bindings to ring and credentials to challenge.
pub(crate) struct RegistrarLocator<'a>(pub(crate) &'a Registrar);

fn extension(text: &str) -> Option<Extension> {
    Extension::from_digits(text.as_bytes())
}

impl Locator for RegistrarLocator<'_> {
    fn lookup(&self, ext: &str) -> Vec<Binding> {
        let Some(ext) = extension(ext) else {
            return Vec::new();
        };
        self.0
            .lookup(ext)
            .into_iter()
            .map(|b| Binding {
                contact: b.contact().clone(),
                peer: b.source(),
                q: b.q(),
            })
            .collect()
    }

    fn credentials(&self, ext: &str) -> Option<SlotCredentials> {
        let slot = self.0.slot(extension(ext)?)?;
        Some(SlotCredentials {
            ha1_md5: slot.ha1_md5().to_owned(),
            ha1_sha256: slot.ha1_sha256().to_owned(),
        })
    }
}

/// Build the B2BUA: limits and timers from `[b2bua]`, our addresses from the bound
/// listeners, trunks from `[[trunks]]` with their addresses resolved now.
pub(crate) async fn b2bua(
    config: &Config,
    bound: &[BoundAddr],
    advertised: IpAddr,
    secret: &[u8],
    media: Arc<dyn media::MediaControl>,
    echo: Option<Arc<dyn b2bua::EchoMedia>>,
) -> anyhow::Result<B2bua> {
    let listen = bound
        .iter()
        .map(|b| {
            let mut l = b2bua::LocalAddr::new(b.transport, b.addr);
            if b.addr.ip().is_unspecified() {
                l.advertise = Some(advertised.to_string());
            }
            l
        })
        .collect();
    let c = &config.b2bua;
    let mut b = b2bua::B2buaConfig::new(config.sip.domain.clone(), listen, secret);
    b.nonce_lifetime = Duration::from_secs(c.nonce_lifetime_s);
    b.max_calls = c.max_calls;
    b.max_cps = c.max_cps;
    b.retry_after = c.retry_after_s;
    b.ring_timeout = Duration::from_secs(c.ring_timeout_s);
    b.trunk_answer_timeout = Duration::from_secs(c.trunk_answer_timeout_s);
    b.max_duration = (c.max_duration_s > 0).then(|| Duration::from_secs(c.max_duration_s));
    b.persist_timeout = Duration::from_millis(c.persist_timeout_ms);
    b.session_expires = (c.session_expires_s > 0).then(|| Duration::from_secs(c.session_expires_s));
    b.min_se = Duration::from_secs(c.min_se_s);
    b.record_calls = config.media.record_calls;
    b.echo_number = c.echo_number.clone();
    b.user_agent = Some(config.sip.user_agent.clone());
    b.trunks = trunks(config).await?;
    let seed: [u8; 32] = rand::random();
    B2bua::new(b, media, echo, Instant::now(), SystemTime::now(), seed).context("b2bua settings")
}

/// `[[trunks]]` with each `address` resolved (DNS A/AAAA; a carrier given by IP needs
/// no DNS). A trunk that does not resolve stops the start-up: calls would fail silently.
async fn trunks(config: &Config) -> anyhow::Result<Vec<b2bua::TrunkConfig>> {
    let mut out = Vec::with_capacity(config.trunks.len());
    for (i, t) in config.trunks.iter().enumerate() {
        let port = t.address.port.unwrap_or(match t.transport {
            crate::config::Transport::Tls => 5061,
            _ => 5060,
        });
        let host = t
            .address
            .host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let addresses: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .with_context(|| format!("trunks[{i}].address {:?}: cannot resolve", t.address.host))?
            .collect();
        let mut tc = b2bua::TrunkConfig::new(t.name.clone(), t.address.host.clone(), addresses);
        tc.port = t.address.port;
        tc.transport = match t.transport {
            crate::config::Transport::Udp => sip_core::Transport::Udp,
            crate::config::Transport::Tcp => sip_core::Transport::Tcp,
            crate::config::Transport::Tls => sip_core::Transport::Tls,
        };
        tc.prefixes = t.prefixes.clone();
        tc.credentials = match (&t.username, &t.password) {
            (Some(u), Some(p)) => Some(TrunkCredentials {
                username: u.clone(),
                password: p.expose().to_owned(),
            }),
            _ => None,
        };
        tc.register = t.register;
        tc.register_expires = t.register_expires_s;
        tc.caller_id = CallerId {
            from_user: t.from_user.clone(),
            from_display: t.from_display.clone(),
            pai: t.pai.clone(),
        };
        tc.inbound_acl = t
            .inbound_acl
            .iter()
            .map(|n| {
                n.parse()
                    .map_err(|e| anyhow::anyhow!("trunks[{i}].inbound_acl: {e}"))
            })
            .collect::<anyhow::Result<_>>()?;
        tc.dids = t.dids.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        tc.max_calls = t.max_calls;
        tc.max_cps = t.max_cps;
        tc.options_interval =
            (t.options_interval_s > 0).then(|| Duration::from_secs(t.options_interval_s));
        tracing::info!(trunk = %t.name, addresses = ?tc.addresses, "trunk");
        out.push(tc);
    }
    Ok(out)
}

/// Open the CDR database (migrating it) and start the journal and its shipper. The
/// database may be down: records wait in the journal until it is back.
pub(crate) async fn cdr_writer(config: &Config) -> anyhow::Result<CdrWriter> {
    let url = config.database.url.expose();
    let db = Db::connect_lazy(url, &DbOptions::default()).with_context(|| {
        format!(
            "database.url {}: not usable for CDRs",
            config.database.url.masked()
        )
    })?;
    cdr::migrate(&db).await.context("CDR migrations")?;
    CdrWriter::start(&config.cdr.journal_dir, db, cdr::WriterConfig::default()).with_context(|| {
        format!(
            "cannot open the CDR journal in {}",
            config.cdr.journal_dir.display()
        )
    })
}

fn utc(t: SystemTime) -> DateTime<Utc> {
    DateTime::<Utc>::from(t)
}

/// The CDR of a finished call. The call id is the B2BUA's UUID.
pub(crate) fn record(ended: &CallEnded, node: &str) -> CallRecord {
    let direction = match ended.direction {
        CallDirection::Outbound | CallDirection::Originate => Direction::Outbound,
        CallDirection::Inbound => Direction::Inbound,
        _ => Direction::Internal,
    };
    let disposition = match ended.disposition {
        b2bua::Disposition::Answered => Disposition::Answered,
        b2bua::Disposition::NoAnswer => Disposition::NoAnswer,
        b2bua::Disposition::Busy => Disposition::Busy,
        b2bua::Disposition::Failed => Disposition::Failed,
        b2bua::Disposition::Cancelled => Disposition::Cancelled,
    };
    let hangup_side = match ended.hangup {
        b2bua::HangupSide::Caller => HangupSide::Caller,
        b2bua::HangupSide::Callee => HangupSide::Callee,
        b2bua::HangupSide::System => HangupSide::System,
    };
    // The first audio stream: legs[0] is the caller's side, legs[1] the callee's.
    let quality = |leg: usize| -> LegQuality {
        let stats = ended
            .media
            .as_ref()
            .and_then(|m| m.streams.first())
            .map(|s| &s.legs[leg]);
        let mut q = LegQuality::default();
        if let Some(s) = stats {
            q.loss = s.remote_fraction_lost.or_else(|| {
                let total = s.rtp_packets + s.lost;
                (total > 0).then(|| s.lost as f64 / total as f64)
            });
            q.jitter_ms = Some(s.jitter_ms);
            q.mos = s.mos;
        }
        q
    };
    CallRecord {
        call_id: uuid::Uuid::from_u128(ended.call.as_u128()),
        a_leg_call_id: ended.a_call_id.clone().unwrap_or_default(),
        b_leg_call_id: ended.b_call_id.clone(),
        direction,
        start: utc(ended.start),
        answer: ended.answer.map(utc),
        end: utc(ended.end),
        disposition,
        sip_code: ended.sip_code,
        sip_reason: ended.reason.clone(),
        hangup_side,
        src: ended.src.clone(),
        dst: ended.dst.clone(),
        slot: ended.slot.clone(),
        // The hub of a slot is known to the control API's slot table, which is not
        // wired yet.
        hub: None,
        trunk: ended.trunk.clone(),
        campaign_id: ended.campaign_id.clone(),
        lead_id: ended.lead_id.clone(),
        attempt: None,
        codec: ended.codec.clone(),
        a_quality: quality(0),
        b_quality: quality(1),
        recording: ended.recording.as_ref().map(|rec| Recording {
            path: rec.path.display().to_string(),
            complete: rec.complete && rec.gaps == 0,
        }),
        node: node.to_owned(),
    }
}
