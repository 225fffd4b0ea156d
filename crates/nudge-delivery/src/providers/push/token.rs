//! FCM's credentials: the service-account file, and OAuth2 access tokens obtained with the
//! JWT-bearer grant (RFC 7523, RS256) at the account's `token_uri`, cached until a minute
//! before they expire (by the injected clock). One exchange runs at a time; callers that
//! arrive meanwhile wait for its token.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use nudge_core::{Clock, Timestamp};
use reqwest::Url;
use serde::Serialize;
use tokio::sync::Mutex;

use crate::channel::{permanent, Outcome};
use crate::providers::http::{transport_failure, Answer};

/// The OAuth2 scope FCM's send endpoint needs.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";
const JWT_BEARER_GRANT: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
/// Google accepts assertions valid for at most an hour.
const ASSERTION_LIFETIME_SECONDS: i64 = 3600;
/// A cached token is renewed this long before it expires.
const RENEW_BEFORE_EXPIRY_MILLIS: i64 = 60_000;

/// The fields of a Google service-account JSON file that FCM needs.
#[derive(Clone)]
pub struct ServiceAccount {
    pub project_id: String,
    pub client_email: String,
    /// PEM (PKCS#8 or PKCS#1) RSA private key.
    pub private_key: String,
    pub private_key_id: Option<String>,
    pub token_uri: String,
}

impl fmt::Debug for ServiceAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceAccount")
            .field("project_id", &self.project_id)
            .field("client_email", &self.client_email)
            .field("private_key", &"<redacted>")
            .field("private_key_id", &self.private_key_id)
            .field("token_uri", &self.token_uri)
            .finish()
    }
}

impl ServiceAccount {
    /// Reads a service-account JSON document; the error names the missing or bad field.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let document: serde_json::Value =
            serde_json::from_str(text).map_err(|error| format!("not JSON: {error}"))?;
        let field = |name: &str| -> Result<String, String> {
            match document.get(name).and_then(|value| value.as_str()) {
                Some(value) if !value.trim().is_empty() => Ok(value.to_string()),
                _ => Err(format!("the field '{name}' is missing or empty")),
            }
        };
        Ok(Self {
            project_id: field("project_id")?,
            client_email: field("client_email")?,
            private_key: field("private_key")?,
            private_key_id: field("private_key_id").ok(),
            token_uri: field("token_uri")?,
        })
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

struct CachedToken {
    token: String,
    renew_at: Timestamp,
}

/// Access tokens for one service account.
pub(crate) struct AccessTokens {
    account: ServiceAccount,
    key: EncodingKey,
    token_uri: Url,
    client: reqwest::Client,
    timeout: Duration,
    clock: Arc<dyn Clock>,
    cached: Mutex<Option<CachedToken>>,
}

impl AccessTokens {
    pub fn new(
        account: ServiceAccount,
        client: reqwest::Client,
        timeout: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, String> {
        let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes())
            .map_err(|error| format!("private_key is not an RSA private key in PEM: {error}"))?;
        let token_uri = Url::parse(&account.token_uri)
            .map_err(|error| format!("token_uri '{}' is invalid: {error}", account.token_uri))?;
        Ok(Self {
            account,
            key,
            token_uri,
            client,
            timeout,
            clock,
            cached: Mutex::new(None),
        })
    }

    pub fn project_id(&self) -> &str {
        &self.account.project_id
    }

    /// A valid access token, from the cache or a new exchange.
    pub async fn token(&self) -> Result<String, Outcome> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            if self.clock.now() < token.renew_at {
                return Ok(token.token.clone());
            }
        }
        let fresh = self.exchange().await?;
        let token = fresh.token.clone();
        *cached = Some(fresh);
        Ok(token)
    }

    /// Drops `token` from the cache (FCM refused it), unless a newer one replaced it.
    pub async fn forget(&self, token: &str) {
        let mut cached = self.cached.lock().await;
        if cached.as_ref().is_some_and(|c| c.token == token) {
            *cached = None;
        }
    }

    async fn exchange(&self) -> Result<CachedToken, Outcome> {
        let now = self.clock.now();
        let issued = now.unix_seconds();
        let claims = Claims {
            iss: &self.account.client_email,
            scope: FCM_SCOPE,
            aud: &self.account.token_uri,
            iat: issued,
            exp: issued + ASSERTION_LIFETIME_SECONDS,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.kid = self.account.private_key_id.clone();
        let assertion = jsonwebtoken::encode(&header, &claims, &self.key)
            .map_err(|error| permanent(format!("fcm credentials cannot sign a token: {error}")))?;
        let response = self
            .client
            .post(self.token_uri.clone())
            .form(&[("grant_type", JWT_BEARER_GRANT), ("assertion", &assertion)])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|error| transport_failure("fcm token exchange", &error, self.timeout))?;
        let answer = Answer::read(response, self.clock.now())
            .await
            .map_err(|error| transport_failure("fcm token exchange", &error, self.timeout))?;
        let json = answer.json();
        if !answer.status.is_success() {
            let field = |name: &str| {
                json.as_ref()
                    .and_then(|body| body.get(name))
                    .and_then(|value| value.as_str())
                    .map(str::to_string)
            };
            let detail = match (field("error"), field("error_description")) {
                (Some(error), Some(description)) => format!("{error}: {description}"),
                (Some(error), None) => error,
                _ => answer.snippet(),
            };
            let status = answer.status.as_u16();
            let reason = if detail.is_empty() {
                format!("fcm token exchange answered {status}")
            } else {
                format!("fcm token exchange answered {status}: {detail}")
            };
            return Err(answer.failure(reason));
        }
        let token = json
            .as_ref()
            .and_then(|body| body.get("access_token"))
            .and_then(|token| token.as_str())
            .ok_or_else(|| {
                crate::channel::transient("fcm token exchange answered without an access_token")
            })?;
        let lifetime_seconds = json
            .as_ref()
            .and_then(|body| body.get("expires_in"))
            .and_then(|seconds| seconds.as_i64())
            .unwrap_or(ASSERTION_LIFETIME_SECONDS);
        let lifetime_millis = lifetime_seconds.saturating_mul(1000);
        // Short-lived tokens are renewed halfway through rather than a minute early.
        let renew_in = (lifetime_millis - RENEW_BEFORE_EXPIRY_MILLIS).max(lifetime_millis / 2);
        Ok(CachedToken {
            token: token.to_string(),
            renew_at: now.plus_millis(renew_in),
        })
    }
}
