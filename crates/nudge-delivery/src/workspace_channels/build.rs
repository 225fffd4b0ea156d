//! Building a working channel from a workspace's definition: secrets resolved on the server
//! (`NUDGE_SECRET_*` variables, files in the secrets directory), then the same provider clients the environment's channels use. An email
//! channel gets its own SMTP pool. Errors name the definition's field.

use std::sync::Arc;

use nudge_core::Clock;

use super::definition::{ChannelDefinition, FieldError};
use super::secret::SecretSources;
use crate::channel::Channel;
use crate::providers::email::{EmailChannel, EmailSettings, EmailSetupError};
use crate::providers::push::{FcmPushChannel, PushSettings, ServiceAccount, DEFAULT_FCM_BASE_URL};
use crate::providers::sms::{SmsSettings, TwilioSmsChannel};
use crate::providers::{WebhookChannel, WebhookSettings};

/// The channel `definition` describes, ready to send.
pub fn build(
    definition: &ChannelDefinition,
    secrets: &SecretSources,
    client: &reqwest::Client,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Channel>, FieldError> {
    Ok(match definition {
        ChannelDefinition::Email {
            smtp_url,
            password,
            from,
            max_connections,
            timeout,
            ca_pem,
        } => {
            let mut url = smtp_url.resolve("smtp_url", secrets)?;
            if let Some(password) = password {
                url = with_password(&url, &password.resolve("password", secrets)?)?;
            }
            let settings = EmailSettings {
                smtp_url: url,
                from: from.clone(),
                max_connections: *max_connections,
                timeout: *timeout,
                ca_pem: ca_pem
                    .as_ref()
                    .map(|pem| pem.resolve("ca_pem", secrets))
                    .transpose()?,
            };
            let channel = EmailChannel::new(settings, clock).map_err(|error| match error {
                EmailSetupError::InvalidUrl(reason) => FieldError::new("smtp_url", reason),
                EmailSetupError::InvalidFrom(reason) => FieldError::new("from", reason),
                EmailSetupError::InvalidCa(reason) => FieldError::new("ca_pem", reason),
            })?;
            Arc::new(channel)
        }
        ChannelDefinition::Sms {
            base_url,
            account_sid,
            auth_token,
            from,
            timeout,
        } => {
            let settings = SmsSettings {
                base_url: base_url.clone(),
                account_sid: account_sid.clone(),
                auth_token: auth_token.resolve("auth_token", secrets)?,
                from: from.clone(),
                timeout: *timeout,
            };
            let channel = TwilioSmsChannel::new(client.clone(), settings, clock)
                .map_err(|reason| FieldError::new("base_url", reason))?;
            Arc::new(channel)
        }
        ChannelDefinition::Push {
            base_url,
            credentials,
            timeout,
        } => {
            let text = credentials.resolve("credentials", secrets)?;
            let account = ServiceAccount::from_json(&text).map_err(|reason| {
                FieldError::new("credentials", format!("not a service account: {reason}"))
            })?;
            let settings = PushSettings {
                base_url: base_url
                    .clone()
                    .unwrap_or_else(|| DEFAULT_FCM_BASE_URL.to_string()),
                account,
                timeout: *timeout,
            };
            let channel = FcmPushChannel::new(client.clone(), settings, clock)
                .map_err(|reason| FieldError::new("credentials", reason))?;
            Arc::new(channel)
        }
        ChannelDefinition::Webhook { secret, timeout } => {
            let secret = match secret {
                Some(secret) => Some(secret.resolve("secret", secrets)?),
                None => None,
            };
            let settings = WebhookSettings {
                secret,
                timeout: *timeout,
            };
            Arc::new(WebhookChannel::new(client.clone(), settings, clock))
        }
    })
}

/// `url` with `password` as its user's password.
fn with_password(url: &str, password: &str) -> Result<String, FieldError> {
    let mut parsed =
        url::Url::parse(url).map_err(|error| FieldError::new("smtp_url", error.to_string()))?;
    if parsed.username().is_empty() || parsed.password().is_some() {
        return Err(FieldError::new(
            "smtp_url",
            "with password given apart, the URL names the user and no password \
             (smtp://user@host)",
        ));
    }
    parsed
        .set_password(Some(password))
        .map_err(|()| FieldError::new("smtp_url", "this URL cannot carry a password"))?;
    Ok(parsed.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace_channels::secret::Secret;
    use nudge_core::{ManualClock, Timestamp};
    use serde_json::json;
    use std::time::Duration;

    fn clock() -> Arc<dyn Clock> {
        Arc::new(ManualClock::starting_at(Timestamp::from_millis(0)))
    }

    #[test]
    fn a_password_apart_goes_into_the_url_encoded() {
        assert_eq!(
            with_password("smtp://mailer@127.0.0.1:2525", "p@ss:word").unwrap(),
            "smtp://mailer:p%40ss%3Aword@127.0.0.1:2525"
        );
        assert_eq!(
            with_password("smtp://127.0.0.1", "x").unwrap_err().field,
            "smtp_url"
        );
    }

    #[test]
    fn unresolved_references_and_bad_keys_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let none = SecretSources::new(Arc::new(|_| None), dir.path());
        let client = reqwest::Client::new();
        let sms = ChannelDefinition::parse(
            "sms",
            &json!({"account_sid": "AC1", "auth_token": {"env": "NUDGE_SECRET_TWILIO"},
                    "from": "+1555"}),
        )
        .unwrap();
        let error = build(&sms, &none, &client, clock()).err().expect("refused");
        assert_eq!(error.field, "auth_token.env");
        let push = ChannelDefinition::Push {
            base_url: None,
            credentials: Secret::Inline(
                json!({"project_id": "p", "client_email": "c@p.example", "private_key": "not a key",
                       "token_uri": "http://127.0.0.1:9/token"})
                .to_string(),
            ),
            timeout: Duration::from_secs(1),
        };
        let error = build(&push, &none, &client, clock())
            .err()
            .expect("refused");
        assert_eq!(error.field, "credentials");
        let set = SecretSources::new(Arc::new(|_| Some("tok".into())), dir.path());
        assert!(build(&sms, &set, &client, clock()).is_ok());
    }

    #[test]
    fn file_references_read_the_secrets_directory_only() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("secrets");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("hook"), "whsec\n").unwrap();
        std::fs::write(root.path().join("elsewhere"), "not for channels").unwrap();
        let secrets = SecretSources::new(Arc::new(|_| None), &dir);
        let client = reqwest::Client::new();
        let webhook = |file: &str| {
            ChannelDefinition::parse("webhook", &json!({"secret": {"file": file}})).unwrap()
        };
        assert!(build(&webhook("hook"), &secrets, &client, clock()).is_ok());
        let elsewhere = root.path().join("elsewhere");
        let error = build(
            &webhook(elsewhere.to_str().unwrap()),
            &secrets,
            &client,
            clock(),
        )
        .err()
        .expect("refused");
        assert_eq!(error.field, "secret.file");
        assert!(error.message.contains("secrets directory"), "{error}");
    }
}
