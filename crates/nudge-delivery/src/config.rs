//! Which channels exist, from `NUDGE_*` variables: a channel none of whose variables is set
//! is not configured, a channel with some but not all of its required variables is an error
//! naming the missing one, and `outbox` (records only) and `webhook` (its URL comes with each
//! message) are always there. Secrets may come from a file named by `<VARIABLE>_FILE`.
//!
//! | channel | required | optional |
//! | --- | --- | --- |
//! | email | `NUDGE_SMTP_URL`, `NUDGE_EMAIL_FROM` | `NUDGE_SMTP_MAX_CONNECTIONS` (16), `NUDGE_SMTP_TIMEOUT_SECS` (10), `NUDGE_SMTP_CA_FILE` (PEM) |
//! | sms | `NUDGE_TWILIO_ACCOUNT_SID`, `NUDGE_TWILIO_AUTH_TOKEN`, `NUDGE_TWILIO_FROM` | `NUDGE_TWILIO_BASE_URL`, `NUDGE_TWILIO_TIMEOUT_SECS` (10) |
//! | push | `NUDGE_FCM_CREDENTIALS_FILE` | `NUDGE_FCM_BASE_URL`, `NUDGE_FCM_TIMEOUT_SECS` (10) |
//! | webhook | | `NUDGE_WEBHOOK_SECRET`, `NUDGE_WEBHOOK_TIMEOUT_SECS` (10) |
//!
//! These are the first workspace's channels; any workspace may define its own instead
//! ([`crate::workspace_channels`]), whose secret references reach only `NUDGE_SECRET_*`
//! variables and files in the directory `NUDGE_SECRETS_DIR` names (`/run/secrets`).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use nudge_core::Clock;
use serde_json::json;

use crate::channel::Channel;
use crate::providers::email::{redact_password, EmailChannel, EmailSettings, EmailSetupError};
use crate::providers::http::http_client;
use crate::providers::push::{FcmPushChannel, PushSettings, ServiceAccount, DEFAULT_FCM_BASE_URL};
use crate::providers::sms::{SmsSettings, TwilioSmsChannel, DEFAULT_TWILIO_BASE_URL};
use crate::providers::{OutboxChannel, WebhookChannel, WebhookSettings};
use crate::workspace_channels::{EnvLookup, SecretSources, DEFAULT_SECRETS_DIR};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
const DEFAULT_SMTP_CONNECTIONS: u32 = 16;

/// Why the channel configuration was refused; the variable is named wherever one is at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("the {channel} channel is half configured: {missing} is not set (but {present} is)")]
    Missing {
        channel: &'static str,
        missing: &'static str,
        present: &'static str,
    },
    #[error("{variable}: {reason}")]
    Invalid {
        variable: &'static str,
        reason: String,
    },
    #[error("the HTTP client for providers cannot start: {0}")]
    HttpClient(String),
}

fn invalid(variable: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        variable,
        reason: reason.into(),
    }
}

/// The configured channels, by name.
pub struct ChannelsConfig {
    email: Option<EmailSettings>,
    sms: Option<SmsSettings>,
    push: Option<PushSettings>,
    webhook: WebhookSettings,
    channels: BTreeMap<&'static str, Arc<dyn Channel>>,
    /// Shared by every HTTP provider, the workspaces' channels included.
    client: reqwest::Client,
    /// What workspaces' secret references resolve against.
    references: SecretSources,
}

impl fmt::Debug for ChannelsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChannelsConfig")
            .field("email", &self.email)
            .field("sms", &self.sms)
            .field("push", &self.push)
            .field("webhook", &self.webhook)
            .finish()
    }
}

impl ChannelsConfig {
    /// Reads the variables through `env` (`|name| std::env::var(name).ok()` in production)
    /// and builds the channels; `clock` stamps webhooks, emails and FCM tokens.
    pub fn from_env(
        env: impl Fn(&str) -> Option<String>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, ConfigError> {
        let vars = Vars { env: &env };
        let client = http_client().map_err(|error| ConfigError::HttpClient(error.to_string()))?;
        let mut channels: BTreeMap<&'static str, Arc<dyn Channel>> = BTreeMap::new();
        channels.insert("outbox", Arc::new(OutboxChannel));

        let email = email_settings(&vars)?;
        if let Some(settings) = &email {
            let channel =
                EmailChannel::new(settings.clone(), Arc::clone(&clock)).map_err(|error| {
                    let variable = match error {
                        EmailSetupError::InvalidUrl(_) => "NUDGE_SMTP_URL",
                        EmailSetupError::InvalidFrom(_) => "NUDGE_EMAIL_FROM",
                        EmailSetupError::InvalidCa(_) => "NUDGE_SMTP_CA_FILE",
                    };
                    invalid(variable, error.to_string())
                })?;
            channels.insert("email", Arc::new(channel));
        }
        let sms = sms_settings(&vars)?;
        if let Some(settings) = &sms {
            let channel =
                TwilioSmsChannel::new(client.clone(), settings.clone(), Arc::clone(&clock))
                    .map_err(|reason| invalid("NUDGE_TWILIO_BASE_URL", reason))?;
            channels.insert("sms", Arc::new(channel));
        }
        let push = push_settings(&vars)?;
        if let Some(settings) = &push {
            let channel = FcmPushChannel::new(client.clone(), settings.clone(), Arc::clone(&clock))
                .map_err(|reason| invalid("NUDGE_FCM_CREDENTIALS_FILE", reason))?;
            channels.insert("push", Arc::new(channel));
        }
        let webhook = WebhookSettings {
            secret: vars.secret("NUDGE_WEBHOOK_SECRET", "NUDGE_WEBHOOK_SECRET_FILE")?,
            timeout: vars.seconds("NUDGE_WEBHOOK_TIMEOUT_SECS")?,
        };
        channels.insert(
            "webhook",
            Arc::new(WebhookChannel::new(client.clone(), webhook.clone(), clock)),
        );
        Ok(Self {
            email,
            sms,
            push,
            webhook,
            channels,
            client,
            references: SecretSources::new(
                Arc::new(|name| std::env::var(name).ok()),
                vars.get("NUDGE_SECRETS_DIR")
                    .unwrap_or_else(|| DEFAULT_SECRETS_DIR.to_string()),
            ),
        })
    }

    /// Resolves workspaces' `{env: NUDGE_SECRET_…}` references through `lookup` instead of
    /// the process environment; their files stay confined to the secrets directory.
    pub fn with_references(mut self, lookup: EnvLookup) -> Self {
        self.references = self.references.with_env(lookup);
        self
    }

    /// What workspaces' secret references resolve against.
    pub fn references(&self) -> &SecretSources {
        &self.references
    }

    /// The HTTP client the providers share.
    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// The outbox channel, which only records.
    pub fn outbox(&self) -> Arc<dyn Channel> {
        self.channels
            .get("outbox")
            .cloned()
            .unwrap_or_else(|| Arc::new(OutboxChannel))
    }

    /// The channel of that name (`email`, `sms`, `push`, `webhook`, `outbox`), if configured.
    pub fn channel(&self, name: &str) -> Option<Arc<dyn Channel>> {
        self.channels.get(name).cloned()
    }

    /// The names of the configured channels, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.channels.keys().copied().collect()
    }

    /// The effective settings with secrets redacted, for `check-config`.
    pub fn effective(&self) -> serde_json::Value {
        let seconds = |d: Duration| d.as_secs_f64();
        json!({
            "channels": self.names(),
            "email": self.email.as_ref().map(|e| json!({
                "smtp_url": redact_password(&e.smtp_url),
                "from": e.from,
                "max_connections": e.max_connections,
                "timeout_secs": seconds(e.timeout),
                "private_ca": e.ca_pem.is_some(),
            })),
            "sms": self.sms.as_ref().map(|s| json!({
                "base_url": s.base_url,
                "account_sid": s.account_sid,
                "auth_token": "<redacted>",
                "from": s.from,
                "timeout_secs": seconds(s.timeout),
            })),
            "push": self.push.as_ref().map(|p| json!({
                "base_url": p.base_url,
                "project_id": p.account.project_id,
                "client_email": p.account.client_email,
                "timeout_secs": seconds(p.timeout),
            })),
            "webhook": {
                "signed": self.webhook.secret.is_some(),
                "timeout_secs": seconds(self.webhook.timeout),
            },
            "secrets_dir": self.references.dir().display().to_string(),
        })
    }
}

fn email_settings(vars: &Vars<'_>) -> Result<Option<EmailSettings>, ConfigError> {
    let group = [
        "NUDGE_SMTP_URL",
        "NUDGE_SMTP_URL_FILE",
        "NUDGE_EMAIL_FROM",
        "NUDGE_SMTP_MAX_CONNECTIONS",
        "NUDGE_SMTP_TIMEOUT_SECS",
        "NUDGE_SMTP_CA_FILE",
    ];
    let Some(present) = vars.first_present(&group) else {
        return Ok(None);
    };
    let smtp_url = vars.secret("NUDGE_SMTP_URL", "NUDGE_SMTP_URL_FILE")?;
    let smtp_url = vars.required("email", "NUDGE_SMTP_URL", present, smtp_url)?;
    let from = vars.required(
        "email",
        "NUDGE_EMAIL_FROM",
        present,
        vars.get("NUDGE_EMAIL_FROM"),
    )?;
    let max_connections = match vars.get("NUDGE_SMTP_MAX_CONNECTIONS") {
        None => DEFAULT_SMTP_CONNECTIONS,
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=1024).contains(n))
            .ok_or_else(|| {
                invalid(
                    "NUDGE_SMTP_MAX_CONNECTIONS",
                    format!("'{text}' is not a whole number from 1 to 1024"),
                )
            })?,
    };
    // A CA certificate is public: the file is read as it is, with no `_FILE` indirection.
    let ca_pem = match vars.get("NUDGE_SMTP_CA_FILE") {
        None => None,
        Some(path) => Some(std::fs::read_to_string(path.trim()).map_err(|error| {
            invalid(
                "NUDGE_SMTP_CA_FILE",
                format!("cannot read '{}': {error}", path.trim()),
            )
        })?),
    };
    Ok(Some(EmailSettings {
        smtp_url,
        from,
        max_connections,
        timeout: vars.seconds("NUDGE_SMTP_TIMEOUT_SECS")?,
        ca_pem,
    }))
}

fn sms_settings(vars: &Vars<'_>) -> Result<Option<SmsSettings>, ConfigError> {
    let group = [
        "NUDGE_TWILIO_ACCOUNT_SID",
        "NUDGE_TWILIO_AUTH_TOKEN",
        "NUDGE_TWILIO_AUTH_TOKEN_FILE",
        "NUDGE_TWILIO_FROM",
        "NUDGE_TWILIO_BASE_URL",
        "NUDGE_TWILIO_TIMEOUT_SECS",
    ];
    let Some(present) = vars.first_present(&group) else {
        return Ok(None);
    };
    let account_sid = vars.required(
        "sms",
        "NUDGE_TWILIO_ACCOUNT_SID",
        present,
        vars.get("NUDGE_TWILIO_ACCOUNT_SID"),
    )?;
    let auth_token = vars.secret("NUDGE_TWILIO_AUTH_TOKEN", "NUDGE_TWILIO_AUTH_TOKEN_FILE")?;
    let auth_token = vars.required("sms", "NUDGE_TWILIO_AUTH_TOKEN", present, auth_token)?;
    let from = vars.required(
        "sms",
        "NUDGE_TWILIO_FROM",
        present,
        vars.get("NUDGE_TWILIO_FROM"),
    )?;
    if !account_sid.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(invalid(
            "NUDGE_TWILIO_ACCOUNT_SID",
            format!("'{account_sid}' must be letters and digits"),
        ));
    }
    Ok(Some(SmsSettings {
        base_url: vars
            .get("NUDGE_TWILIO_BASE_URL")
            .unwrap_or_else(|| DEFAULT_TWILIO_BASE_URL.to_string()),
        account_sid,
        auth_token,
        from,
        timeout: vars.seconds("NUDGE_TWILIO_TIMEOUT_SECS")?,
    }))
}

fn push_settings(vars: &Vars<'_>) -> Result<Option<PushSettings>, ConfigError> {
    let group = [
        "NUDGE_FCM_CREDENTIALS_FILE",
        "NUDGE_FCM_BASE_URL",
        "NUDGE_FCM_TIMEOUT_SECS",
    ];
    let Some(present) = vars.first_present(&group) else {
        return Ok(None);
    };
    let path = vars.required(
        "push",
        "NUDGE_FCM_CREDENTIALS_FILE",
        present,
        vars.get("NUDGE_FCM_CREDENTIALS_FILE"),
    )?;
    let text = std::fs::read_to_string(&path).map_err(|error| {
        invalid(
            "NUDGE_FCM_CREDENTIALS_FILE",
            format!("cannot read '{path}': {error}"),
        )
    })?;
    let account = ServiceAccount::from_json(&text)
        .map_err(|reason| invalid("NUDGE_FCM_CREDENTIALS_FILE", format!("'{path}': {reason}")))?;
    Ok(Some(PushSettings {
        base_url: vars
            .get("NUDGE_FCM_BASE_URL")
            .unwrap_or_else(|| DEFAULT_FCM_BASE_URL.to_string()),
        account,
        timeout: vars.seconds("NUDGE_FCM_TIMEOUT_SECS")?,
    }))
}

/// Reads variables; an empty value counts as unset.
struct Vars<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.env)(name).filter(|value| !value.trim().is_empty())
    }

    fn first_present(&self, names: &[&'static str]) -> Option<&'static str> {
        names.iter().copied().find(|name| self.get(name).is_some())
    }

    fn required(
        &self,
        channel: &'static str,
        missing: &'static str,
        present: &'static str,
        value: Option<String>,
    ) -> Result<String, ConfigError> {
        value.ok_or(ConfigError::Missing {
            channel,
            missing,
            present,
        })
    }

    /// `name`, or the trimmed contents of the file `file_name` names; not both.
    fn secret(
        &self,
        name: &'static str,
        file_name: &'static str,
    ) -> Result<Option<String>, ConfigError> {
        match (self.get(name), self.get(file_name)) {
            (Some(_), Some(_)) => Err(invalid(
                file_name,
                format!("set either {name} or {file_name}, not both"),
            )),
            (Some(value), None) => Ok(Some(value)),
            (None, Some(path)) => std::fs::read_to_string(&path)
                .map(|text| Some(text.trim().to_string()))
                .map_err(|error| invalid(file_name, format!("cannot read '{path}': {error}"))),
            (None, None) => Ok(None),
        }
    }

    /// A duration in seconds (fractions allowed, above 0 and at most an hour); 10 s if unset.
    fn seconds(&self, name: &'static str) -> Result<Duration, ConfigError> {
        let Some(text) = self.get(name) else {
            return Ok(DEFAULT_TIMEOUT);
        };
        text.trim()
            .parse::<f64>()
            .ok()
            .filter(|seconds| *seconds > 0.0 && *seconds <= 3600.0)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| {
                invalid(
                    name,
                    format!("'{text}' is not a number of seconds above 0 and at most 3600"),
                )
            })
    }
}
