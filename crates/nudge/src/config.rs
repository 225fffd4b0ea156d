//! The server's configuration: defaults, then `NUDGE_*` environment variables, then flags
//! (clap applies that order), resolved into one effective value that `check-config` prints
//! with secrets redacted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use nudge_core::Timestamp;
use serde::Serialize;

#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// Where Nudge keeps its files (the SQLite database, credentials.json).
    #[arg(long, env = "NUDGE_DATA_DIR", default_value = "./nudge-data")]
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; `sqlite://PATH` or unset uses SQLite in the data dir.
    #[arg(long, env = "NUDGE_DATABASE_URL")]
    pub database_url: Option<String>,
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Address and port to listen on (port 0 picks a free one).
    #[arg(long, env = "NUDGE_LISTEN", default_value = "127.0.0.1:7700")]
    pub listen: SocketAddr,
    /// PEM certificate chain; with --tls-key, serves HTTPS natively.
    #[arg(long, env = "NUDGE_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, env = "NUDGE_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// For tests only: run on a virtual clock starting at this RFC 3339 time, moved forward
    /// only by `POST /v1/clock`, instead of the system clock.
    #[arg(long, env = "NUDGE_VIRTUAL_CLOCK", value_name = "RFC 3339", value_parser = parse_time)]
    pub virtual_clock: Option<Timestamp>,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
}

/// How the delivery worker paces and retries. The providers themselves are configured by
/// their own variables (`NUDGE_SMTP_URL`, `NUDGE_TWILIO_*`, `NUDGE_FCM_*`,
/// `NUDGE_WEBHOOK_*`; see the README).
#[derive(Debug, Clone, clap::Args)]
pub struct DeliveryArgs {
    /// How long a worker's claim on a delivery holds; a claim that a crash left behind is
    /// taken again after it.
    #[arg(long, env = "NUDGE_DELIVERY_CLAIM_SECS", default_value_t = 120)]
    pub delivery_claim_secs: u64,
    /// The wait before the first retry of a transient failure; doubled after each one.
    #[arg(long, env = "NUDGE_DELIVERY_RETRY_SECS", default_value_t = 10)]
    pub delivery_retry_secs: u64,
    /// The longest wait between retries.
    #[arg(long, env = "NUDGE_DELIVERY_RETRY_MAX_SECS", default_value_t = 3600)]
    pub delivery_retry_max_secs: u64,
    /// A message still failing this long after it was queued fails for good.
    #[arg(long, env = "NUDGE_DELIVERY_DEADLINE_SECS", default_value_t = 86_400)]
    pub delivery_deadline_secs: u64,
    /// Sends in flight at once.
    #[arg(long, env = "NUDGE_DELIVERY_CONCURRENCY", default_value_t = 512)]
    pub delivery_concurrency: usize,
    /// The providers' variables, when given here rather than read from the environment
    /// (tests that run several servers in one process).
    #[arg(skip)]
    pub provider_env: Option<BTreeMap<String, String>>,
    /// An attribute that must be true for a person to get marketing emails (`marketing_opt_in`).
    #[arg(long, env = "NUDGE_CONSENT_EMAIL_ATTRIBUTE")]
    pub consent_email_attribute: Option<String>,
    /// An attribute that must be true for a person to get marketing SMS (`accepts_sms`).
    #[arg(long, env = "NUDGE_CONSENT_SMS_ATTRIBUTE")]
    pub consent_sms_attribute: Option<String>,
    /// An attribute that must be true for a person to get marketing push notifications.
    #[arg(long, env = "NUDGE_CONSENT_PUSH_ATTRIBUTE")]
    pub consent_push_attribute: Option<String>,
    /// Subscription topics people must opt in to (`topic_2,topic_5`); others are opt-out.
    #[arg(long, env = "NUDGE_CONSENT_OPT_IN_TOPICS", value_delimiter = ',')]
    pub consent_opt_in_topics: Vec<String>,
    /// At most N marketing messages per person per period, across all journeys (`3/1d`).
    #[arg(long, env = "NUDGE_FREQUENCY_CAP")]
    pub frequency_cap: Option<String>,
    /// How long a message over the frequency cap may wait before it is undeliverable.
    #[arg(long, env = "NUDGE_FREQUENCY_CAP_DEADLINE", default_value = "1d")]
    pub frequency_cap_deadline: String,
    /// Local hours (the person's `timezone`, else UTC) when marketing waits (`21:00-08:00`).
    #[arg(long, env = "NUDGE_QUIET_HOURS")]
    pub quiet_hours: Option<String>,
    /// The base URL people reach this server at, for unsubscribe links
    /// (default: the listening address).
    #[arg(long, env = "NUDGE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The key unsubscribe links are signed with (default: one generated and kept in
    /// `unsubscribe.key` in the data directory).
    #[arg(long, env = "NUDGE_UNSUBSCRIBE_SECRET", hide_env_values = true)]
    pub unsubscribe_secret: Option<String>,
}

impl Default for DeliveryArgs {
    fn default() -> Self {
        Self {
            delivery_claim_secs: 120,
            delivery_retry_secs: 10,
            delivery_retry_max_secs: 3600,
            delivery_deadline_secs: 86_400,
            delivery_concurrency: 512,
            provider_env: None,
            consent_email_attribute: None,
            consent_sms_attribute: None,
            consent_push_attribute: None,
            consent_opt_in_topics: Vec::new(),
            frequency_cap: None,
            frequency_cap_deadline: "1d".into(),
            quiet_hours: None,
            public_url: None,
            unsubscribe_secret: None,
        }
    }
}

impl DeliveryArgs {
    /// The value of a provider variable, from `provider_env` when set, else the environment.
    pub fn provider_var(&self, name: &str) -> Option<String> {
        match &self.provider_env {
            Some(vars) => vars.get(name).cloned(),
            None => std::env::var(name).ok(),
        }
    }

    /// The channels these variables configure (the first workspace's); an error names a
    /// variable at fault. Workspaces' secret references read the same variables (only
    /// `NUDGE_SECRET_*` ones) and files in the directory `NUDGE_SECRETS_DIR` names.
    pub fn channels(
        &self,
        clock: std::sync::Arc<dyn nudge_core::Clock>,
    ) -> anyhow::Result<nudge_delivery::ChannelsConfig> {
        let provider_env = self.provider_env.clone();
        let references: nudge_delivery::workspace_channels::EnvLookup =
            std::sync::Arc::new(move |name| match &provider_env {
                Some(vars) => vars.get(name).cloned(),
                None => std::env::var(name).ok(),
            });
        nudge_delivery::ChannelsConfig::from_env(|name| self.provider_var(name), clock)
            .map(|channels| channels.with_references(references))
            .map_err(|e| anyhow::anyhow!("delivery channels: {e}"))
    }

    fn effective(&self) -> anyhow::Result<serde_json::Value> {
        let channels = self.channels(std::sync::Arc::new(nudge_core::SystemClock))?;
        let mut effective = channels.effective();
        effective["worker"] = serde_json::json!({
            "claim_secs": self.delivery_claim_secs,
            "retry_secs": self.delivery_retry_secs,
            "retry_max_secs": self.delivery_retry_max_secs,
            "deadline_secs": self.delivery_deadline_secs,
            "concurrency": self.delivery_concurrency,
        });
        effective["policy"] = self.policy_effective()?;
        Ok(effective)
    }

    pub fn worker_config(&self) -> nudge_delivery::worker::WorkerConfig {
        use std::time::Duration;
        nudge_delivery::worker::WorkerConfig {
            concurrency: self.delivery_concurrency.max(1),
            claim_for: Duration::from_secs(self.delivery_claim_secs.max(1)),
            retry: nudge_delivery::worker::RetryPolicy {
                first: Duration::from_secs(self.delivery_retry_secs),
                cap: Duration::from_secs(self.delivery_retry_max_secs),
                deadline: Duration::from_secs(self.delivery_deadline_secs),
            },
            ..Default::default()
        }
    }
}

fn parse_time(text: &str) -> Result<Timestamp, String> {
    Timestamp::parse_rfc3339(text)
        .ok_or_else(|| format!("'{text}' is not an RFC 3339 time such as 2026-03-02T09:00:00Z"))
}

/// Which database a configuration selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    Postgres(String),
}

impl StoreArgs {
    pub fn database(&self) -> anyhow::Result<Database> {
        match self.database_url.as_deref().filter(|u| !u.is_empty()) {
            None => Ok(Database::Sqlite(self.data_dir.join("nudge.db"))),
            Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(Database::Postgres(url.to_string()))
            }
            Some(url) => match url.strip_prefix("sqlite://") {
                Some(path) if !path.is_empty() => Ok(Database::Sqlite(PathBuf::from(path))),
                _ => anyhow::bail!(
                    "NUDGE_DATABASE_URL must start with postgres:// or sqlite://, got '{}'",
                    redact_url(url)
                ),
            },
        }
    }
}

/// The effective configuration as `check-config` prints it.
#[derive(Debug, Serialize)]
pub struct Effective {
    pub data_dir: String,
    pub database: String,
    pub database_url: String,
    pub listen: String,
    pub tls: bool,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    /// `system`, or `virtual from <time>` on a test server's virtual clock.
    pub clock: String,
    /// The configured channels with secrets redacted, and the worker's pacing.
    pub delivery: serde_json::Value,
}

impl ServeArgs {
    pub fn effective(&self) -> anyhow::Result<Effective> {
        let (database, database_url) = match self.store.database()? {
            Database::Sqlite(path) => ("sqlite", format!("sqlite://{}", path.display())),
            Database::Postgres(url) => ("postgres", redact_url(&url)),
        };
        Ok(Effective {
            data_dir: self.store.data_dir.display().to_string(),
            database: database.into(),
            database_url,
            listen: self.listen.to_string(),
            tls: self.tls_cert.is_some(),
            tls_cert: self.tls_cert.as_ref().map(|p| p.display().to_string()),
            tls_key: self.tls_key.as_ref().map(|_| "<redacted>".to_string()),
            clock: match self.virtual_clock {
                None => "system".to_string(),
                Some(start) => format!("virtual from {} (tests only)", start.to_rfc3339()),
            },
            delivery: self.delivery.effective()?,
        })
    }
}

/// Hides the password of `scheme://user:password@host/…`.
pub fn redact_url(url: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/nudge"),
            "postgres://app:<redacted>@db:5432/nudge"
        );
        assert_eq!(
            redact_url("postgres://postgres@127.0.0.1/x"),
            "postgres://postgres@127.0.0.1/x"
        );
    }

    #[test]
    fn the_url_selects_the_backend() {
        let args = |url: Option<&str>| StoreArgs {
            data_dir: PathBuf::from("/d"),
            database_url: url.map(str::to_string),
        };
        assert_eq!(
            args(None).database().unwrap(),
            Database::Sqlite(PathBuf::from("/d/nudge.db"))
        );
        assert_eq!(
            args(Some("postgres://h/db")).database().unwrap(),
            Database::Postgres("postgres://h/db".into())
        );
        assert_eq!(
            args(Some("sqlite:///tmp/x.db")).database().unwrap(),
            Database::Sqlite("/tmp/x.db".into())
        );
        assert!(args(Some("mysql://h/db")).database().is_err());
    }

    #[test]
    fn secret_references_resolve_against_the_configured_directory() {
        use nudge_delivery::workspace_channels::Secret;
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("token"), "from-file").unwrap();
        let vars = |pairs: &[(&str, &str)]| DeliveryArgs {
            provider_env: Some(
                pairs
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..DeliveryArgs::default()
        };
        let dir_name = dir.path().to_str().unwrap();
        let args = vars(&[
            ("NUDGE_SECRETS_DIR", dir_name),
            ("NUDGE_SECRET_TOKEN", "from-env"),
        ]);
        let clock = || std::sync::Arc::new(nudge_core::SystemClock);
        let channels = args.channels(clock()).unwrap();
        let sources = channels.references();
        assert_eq!(sources.dir(), dir.path());
        let resolve = |secret: Secret| secret.resolve("t", sources).unwrap();
        assert_eq!(resolve(Secret::File("token".into())), "from-file");
        assert_eq!(
            resolve(Secret::Env("NUDGE_SECRET_TOKEN".into())),
            "from-env"
        );
        assert_eq!(args.effective().unwrap()["secrets_dir"], dir_name);
        let default = vars(&[]).channels(clock()).unwrap();
        assert_eq!(
            default.references().dir(),
            std::path::Path::new("/run/secrets")
        );
    }
}
