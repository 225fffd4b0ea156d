//! What the HTTP channels share: one pooled client (rustls, no redirects), reading a
//! provider's answer with a bounded body, `Retry-After`, and turning transport failures and
//! status classes into outcomes with short reasons.

use std::time::Duration;

use nudge_core::Timestamp;
use reqwest::StatusCode;

use crate::channel::{permanent, transient, Outcome};

/// Bodies of provider answers are read up to this size; larger ones are cut.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// Reasons quote at most this much of a provider's body.
const SNIPPET_CHARS: usize = 200;

/// The one HTTP client the channels share: connection pooling, rustls, and no redirects
/// (a provider or webhook answering 3xx is told, not followed). Timeouts are per request.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .use_rustls_tls()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .user_agent(concat!("nudge/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// A provider's answer: status, `Retry-After`, and the body (cut at 1 MiB).
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
    pub complete: bool,
}

impl Answer {
    pub async fn read(mut response: reqwest::Response, now: Timestamp) -> reqwest::Result<Self> {
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| parse_retry_after(value, now));
        let mut body = Vec::new();
        let mut complete = true;
        while let Some(chunk) = response.chunk().await? {
            if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                complete = false;
                break;
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status,
            retry_after,
            body,
            complete,
        })
    }

    /// The body as JSON, when it is complete JSON.
    pub fn json(&self) -> Option<serde_json::Value> {
        if !self.complete || self.body.is_empty() {
            return None;
        }
        serde_json::from_slice(&self.body).ok()
    }

    /// The start of the body on one line, for reasons.
    pub fn snippet(&self) -> String {
        let text = String::from_utf8_lossy(&self.body);
        let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
        match words.char_indices().nth(SNIPPET_CHARS) {
            Some((cut, _)) => format!("{}…", &words[..cut]),
            None => words,
        }
    }

    /// A failure answer as an outcome: 408, 429 and 5xx are worth retrying (with the
    /// provider's `Retry-After`), anything else is not.
    pub fn failure(&self, reason: String) -> Outcome {
        if is_retryable(self.status) {
            Outcome::Transient {
                reason,
                retry_after: self.retry_after,
            }
        } else {
            permanent(reason)
        }
    }
}

pub(crate) fn is_retryable(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status == StatusCode::REQUEST_TIMEOUT
        || status.is_server_error()
}

/// `Retry-After` as delay-seconds or an HTTP date (RFC 9110 §10.2.3); a past date is zero.
pub(crate) fn parse_retry_after(value: &str, now: Timestamp) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    let millis = at.timestamp_millis().saturating_sub(now.millis());
    Some(Duration::from_millis(u64::try_from(millis).unwrap_or(0)))
}

/// A request that got no answer, as an outcome naming the provider and the cause.
pub(crate) fn transport_failure(
    provider: &str,
    error: &reqwest::Error,
    timeout: Duration,
) -> Outcome {
    if error.is_timeout() {
        transient(format!("{provider} timed out after {}", human(timeout)))
    } else if error.is_builder() {
        permanent(format!(
            "{provider} request is invalid: {}",
            root_cause(error)
        ))
    } else if error.is_connect() {
        transient(format!(
            "{provider} connection failed: {}",
            root_cause(error)
        ))
    } else {
        transient(format!("{provider} request failed: {}", root_cause(error)))
    }
}

/// The innermost error's text: reqwest's own message only says which URL failed.
fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// `10 s`, `1.5 s` or `250 ms`.
pub(crate) fn human(duration: Duration) -> String {
    if duration < Duration::from_secs(1) {
        format!("{} ms", duration.as_millis())
    } else if duration.subsec_millis() == 0 {
        format!("{} s", duration.as_secs())
    } else {
        format!("{} s", duration.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = Timestamp::parse_rfc3339("2015-10-21T07:28:00Z").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:27:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(human(Duration::from_secs(10)), "10 s");
        assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
        assert_eq!(human(Duration::from_millis(250)), "250 ms");
    }
}
