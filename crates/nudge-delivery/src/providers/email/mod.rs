//! Email over SMTP with lettre: pooled async connections (tokio, rustls) configured by a
//! lettre connection URL (`smtp://` plain, `smtp://…?tls=required` or `?tls=opportunistic`
//! for STARTTLS, `smtps://` for TLS, `user:pass@` for AUTH). SMTP 4xx, timeouts and
//! connection failures are transient, 5xx permanent. TLS trusts the public roots and, for a
//! server with a private or self-signed certificate, the CA certificates given in PEM; a
//! `tls=required` or `smtps://` URL never falls back to plaintext.
//!
//! An SMTP server takes no idempotency key. The window for a duplicate is the time between
//! the server accepting the final `.` of DATA and its `250` reaching us: a retry after a
//! connection lost (or timed out) in that window sends the message again, with the same
//! `Message-ID`, which lets receiving systems recognise it.

mod compose;
mod pool;
mod target;

use std::error::Error as _;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use lettre::message::Mailbox;
use nudge_core::Clock;

use super::http::human;
use crate::channel::{permanent, transient, Channel, Outcome, OutgoingMessage};
use pool::{SendError, SmtpPool};
use target::SmtpTarget;

pub use compose::message_id;

/// How to reach the SMTP server.
#[derive(Clone)]
pub struct EmailSettings {
    /// A lettre connection URL; may carry a password.
    pub smtp_url: String,
    /// The `From` mailbox, e.g. `Shop <hello@shop.example>`.
    pub from: String,
    /// Most SMTP sessions open at once; further sends wait for one.
    pub max_connections: u32,
    /// Limit for connecting (with STARTTLS and AUTH), and again for sending one message.
    pub timeout: Duration,
    /// CA certificates (PEM) TLS trusts besides the public roots, for a private CA.
    pub ca_pem: Option<String>,
}

impl fmt::Debug for EmailSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailSettings")
            .field("smtp_url", &redact_password(&self.smtp_url))
            .field("from", &self.from)
            .field("max_connections", &self.max_connections)
            .field("timeout", &self.timeout)
            .field("private_ca", &self.ca_pem.is_some())
            .finish()
    }
}

/// Hides the password of `scheme://user:password@host…`.
pub fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_string(),
    }
}

/// Whether `url` is an SMTP URL the email channel can use; the reason when not.
pub(crate) fn check_smtp_url(url: &str) -> Result<(), String> {
    SmtpTarget::parse(url, None).map(drop)
}

/// Whether `pem` holds CA certificates the email channel can trust; the reason when not.
pub(crate) fn check_ca_pem(pem: &str) -> Result<(), String> {
    target::private_ca(pem).map(drop)
}

/// Why email settings cannot make a channel.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmailSetupError {
    #[error("the SMTP URL is invalid: {0}")]
    InvalidUrl(String),
    #[error("the From address is invalid: {0}")]
    InvalidFrom(String),
    #[error("the CA certificate is invalid: {0}")]
    InvalidCa(String),
}

pub struct EmailChannel {
    from: Mailbox,
    pool: SmtpPool,
    timeout: Duration,
    clock: Arc<dyn Clock>,
}

impl EmailChannel {
    pub fn new(settings: EmailSettings, clock: Arc<dyn Clock>) -> Result<Self, EmailSetupError> {
        let from: Mailbox = settings.from.trim().parse().map_err(|error| {
            EmailSetupError::InvalidFrom(format!("'{}': {error}", settings.from))
        })?;
        if let Some(pem) = &settings.ca_pem {
            check_ca_pem(pem).map_err(EmailSetupError::InvalidCa)?;
        }
        let target = SmtpTarget::parse(&settings.smtp_url, settings.ca_pem.as_deref()).map_err(
            |reason| {
                EmailSetupError::InvalidUrl(format!(
                    "'{}': {reason}",
                    redact_password(&settings.smtp_url)
                ))
            },
        )?;
        let max_connections = settings.max_connections.max(1) as usize;
        Ok(Self {
            from,
            pool: SmtpPool::new(target, max_connections, settings.timeout),
            timeout: settings.timeout,
            clock,
        })
    }

    async fn deliver(&self, message: &OutgoingMessage) -> Outcome {
        let composed = match compose::compose(&self.from, message, self.clock.now()) {
            Ok(composed) => composed,
            Err(reason) => return permanent(reason),
        };
        let data = composed.email.formatted();
        match self.pool.send(composed.email.envelope(), &data).await {
            Ok(()) => Outcome::Sent {
                provider_message_id: Some(composed.message_id),
                response: None,
            },
            Err(SendError::TimedOut) => {
                transient(format!("smtp timed out after {}", human(self.timeout)))
            }
            Err(SendError::Connect(error)) => transient(format!("smtp connection failed: {error}")),
            Err(SendError::Smtp(error)) => smtp_failure(&error),
        }
    }
}

impl Channel for EmailChannel {
    fn send<'a>(&'a self, message: &'a OutgoingMessage) -> BoxFuture<'a, Outcome> {
        Box::pin(self.deliver(message))
    }
}

/// `smtp 550 5.1.1 mailbox unknown` and the like; 4xx transient, 5xx permanent.
fn smtp_failure(error: &lettre::transport::smtp::Error) -> Outcome {
    let detail = error
        .source()
        .map(|source| source.to_string())
        .unwrap_or_default();
    if let Some(code) = error.status() {
        let reason = format!("smtp {code} {detail}").trim_end().to_string();
        return if error.is_permanent() {
            permanent(reason)
        } else {
            transient(reason)
        };
    }
    if error.is_client() {
        // Our side cannot do what the server requires (an AUTH mechanism, 8BITMIME), or the
        // server does not offer what the URL requires (STARTTLS): no plaintext fallback.
        return permanent(format!("smtp client error: {detail}"));
    }
    if let Some(tls) = tls_failure(error) {
        // Usually a certificate no trusted CA signed; retried, since the fix is in the
        // server's or our configuration, not in the message.
        return transient(format!("smtp TLS handshake failed: {tls}"));
    }
    transient(format!("smtp {error}"))
}

/// The TLS error behind `error`, however lettre classed it (the STARTTLS upgrade reports a
/// connection error, implicit TLS a TLS one).
fn tls_failure(error: &lettre::transport::smtp::Error) -> Option<String> {
    let mut source = error.source();
    while let Some(cause) = source {
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        // An I/O error's `source` skips the error it wraps.
        let wrapped = cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        source = wrapped.or_else(|| cause.source());
    }
    error.is_tls().then(|| {
        error
            .source()
            .map_or_else(|| error.to_string(), |source| source.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::redact_password;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_password("smtps://mailer:s3cret@smtp.example:465"),
            "smtps://mailer:<redacted>@smtp.example:465"
        );
        assert_eq!(
            redact_password("smtp://127.0.0.1:25"),
            "smtp://127.0.0.1:25"
        );
    }
}
