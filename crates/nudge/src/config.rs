//! The server's configuration: defaults, then `NUDGE_*` environment variables, then flags
//! (clap applies that order), resolved into one effective value that `check-config` prints
//! with secrets redacted.

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
}
