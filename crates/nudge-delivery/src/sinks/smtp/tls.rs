//! TLS for the SMTP sink: STARTTLS (RFC 3207) after EHLO, or TLS from the first byte (smtps),
//! with a certificate the caller supplies. It does not verify client certificates.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// Whether and how the sink speaks TLS.
#[derive(Debug, Clone, Default)]
pub enum SmtpSinkTls {
    /// Plain SMTP; `STARTTLS` is answered with `454`.
    #[default]
    Off,
    /// Offers `STARTTLS` in the EHLO answer and upgrades the connection on request.
    StartTls(Arc<ServerConfig>),
    /// TLS from the first byte, as `smtps://` clients expect.
    Implicit(Arc<ServerConfig>),
}

impl SmtpSinkTls {
    /// A server configuration presenting `certificate_chain_pem` (leaf first) with
    /// `private_key_pem`; the reason when either does not parse or they do not match.
    pub fn server_config(
        certificate_chain_pem: &str,
        private_key_pem: &str,
    ) -> Result<Arc<ServerConfig>, String> {
        let chain = CertificateDer::pem_slice_iter(certificate_chain_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| format!("the certificate chain is not PEM: {error}"))?;
        if chain.is_empty() {
            return Err("the certificate chain holds no certificate".into());
        }
        let key = PrivateKeyDer::from_pem_slice(private_key_pem.as_bytes())
            .map_err(|error| format!("the private key is not PEM: {error}"))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| error.to_string())?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| format!("the certificate and key do not make a server: {error}"))?;
        Ok(Arc::new(config))
    }

    pub(crate) fn offers_starttls(&self) -> bool {
        matches!(self, Self::StartTls(_))
    }
}
