//! TLS server settings (RFC 3261 §26.2; SIP over TLS on 5061) from PEM files.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::{self, pki_types};

/// Build the acceptor from a PEM certificate chain and a PEM private key.
pub(crate) fn load_tls_config(cert: &Path, key: &Path) -> anyhow::Result<TlsAcceptor> {
    let cert_pem = std::fs::read(cert)
        .with_context(|| format!("sip.tls_cert: cannot read {}", cert.display()))?;
    let key_pem = std::fs::read(key)
        .with_context(|| format!("sip.tls_key: cannot read {}", key.display()))?;
    let chain: Vec<pki_types::CertificateDer<'static>> =
        rustls_pemfile::certs(&mut cert_pem.as_slice())
            .collect::<Result<_, _>>()
            .with_context(|| {
                format!(
                    "sip.tls_cert: {} is not a PEM certificate chain",
                    cert.display()
                )
            })?;
    if chain.is_empty() {
        anyhow::bail!("sip.tls_cert: {} holds no certificate", cert.display());
    }
    let key_der = rustls_pemfile::private_key(&mut key_pem.as_slice())
        .with_context(|| format!("sip.tls_key: {} is not a PEM private key", key.display()))?
        .ok_or_else(|| anyhow::anyhow!("sip.tls_key: {} holds no private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key_der)
        .context("sip.tls_cert and sip.tls_key do not form a usable pair")?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}
