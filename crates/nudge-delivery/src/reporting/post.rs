//! One report on the wire: the body Customer.io posts (`event_id`, `object_type`, `metric`,
//! `timestamp`, `data`), its signature, the request, and how long to wait after a failure.
//!
//! The signature is Customer.io's: `X-CIO-Timestamp: <t>` (whole Unix seconds when the request
//! was made) and `X-CIO-Signature: <hex>`, the lower-case hex HMAC-SHA256, keyed with the
//! endpoint's signing key (its UTF-8 bytes), of `v0:<t>:<body>` with the body exactly as sent.
//! A retry is signed anew; its `event_id` stays the same, so receivers de-duplicate on it.

use std::time::Duration;

use hmac::{Hmac, Mac};
use nudge_core::{Timestamp, WorkspaceId};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::providers::http::{human, Answer};

pub const TIMESTAMP_HEADER: &str = "X-CIO-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-CIO-Signature";

/// Answers after which Customer.io waits an hour before trying again (the endpoint is
/// misconfigured or refusing), rather than backing off from seconds.
const SLOW_RETRY_STATUSES: [u16; 11] = [400, 401, 402, 403, 404, 405, 410, 429, 500, 502, 521];

/// The `X-CIO-Signature` of `body` sent at `timestamp` (Unix seconds).
pub fn sign(key: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(b"v0:");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b":");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The JSON body of a stream row for an endpoint: `content` only with `with_content`.
pub(super) fn body(
    ws: WorkspaceId,
    row: &nudge_store::StoredReport,
    with_content: bool,
) -> Vec<u8> {
    let mut data = row.report.data.clone();
    if !with_content {
        if let Value::Object(map) = &mut data {
            map.remove("content");
        }
    }
    let body = json!({
        "event_id": row.event_id(ws),
        "object_type": row.report.object_type,
        "metric": row.report.metric,
        "timestamp": row.report.at.unix_seconds(),
        "data": data,
    });
    serde_json::to_vec(&body).unwrap_or_else(|_| unreachable!("a JSON value serializes"))
}

/// Why a post failed, and whether it is one Customer.io waits an hour after.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Failure {
    pub reason: String,
    pub slow: bool,
}

/// Posts a signed body; `Ok` on any 2xx.
pub(super) async fn post(
    http: &reqwest::Client,
    endpoint: &str,
    key: &str,
    body: Vec<u8>,
    now: Timestamp,
    timeout: Duration,
) -> Result<(), Failure> {
    let timestamp = now.unix_seconds();
    let signature = sign(key.as_bytes(), timestamp, &body);
    let sent = http
        .post(endpoint)
        .timeout(timeout)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(TIMESTAMP_HEADER, timestamp.to_string())
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(error) => {
            let reason = if error.is_timeout() {
                format!("no answer within {}", human(timeout))
            } else {
                format!("request failed: {}", root_cause(&error))
            };
            return Err(Failure {
                reason,
                slow: error.is_connect(),
            });
        }
    };
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let snippet = match Answer::read(response, now).await {
        Ok(answer) => answer.snippet(),
        Err(_) => String::new(),
    };
    Err(Failure {
        reason: describe(status, &snippet),
        slow: SLOW_RETRY_STATUSES.contains(&status.as_u16()),
    })
}

fn describe(status: StatusCode, snippet: &str) -> String {
    if snippet.is_empty() {
        format!("the endpoint answered {status}")
    } else {
        format!("the endpoint answered {status}: {snippet}")
    }
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    cause.to_string()
}

/// How long to wait before the `failures`-th retry of one report: doubling from `first`,
/// at most `cap`; `cap` at once after an answer Customer.io waits an hour after.
pub(super) fn retry_delay(failures: u32, slow: bool, first: Duration, cap: Duration) -> Duration {
    if slow {
        return cap;
    }
    let doublings = failures.saturating_sub(1).min(30);
    first.saturating_mul(1 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_customer_ios() {
        // Python: hmac.new(b"key", b"v0:1700000000:{}", hashlib.sha256).hexdigest()
        assert_eq!(
            sign(b"key", 1_700_000_000, b"{}"),
            "fd9fa6c53274153a1b20c4777f83ea49e617d4b58da089ca0e8ae76300d03970"
        );
    }

    #[test]
    fn retries_double_up_to_the_cap() {
        let (first, cap) = (Duration::from_secs(10), Duration::from_secs(3600));
        let delays: Vec<u64> = (1..=11)
            .map(|n| retry_delay(n, false, first, cap).as_secs())
            .collect();
        assert_eq!(
            delays,
            [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]
        );
        assert_eq!(retry_delay(1, true, first, cap), cap);
    }
}
