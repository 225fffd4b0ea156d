//! The webhook signature, so that a receiver can tell a request came from this Nudge and was
//! not altered or replayed later.
//!
//! Every webhook carries `X-Nudge-Timestamp: <t>`, when the request was made, in whole Unix
//! seconds. When a signing secret is configured (`NUDGE_WEBHOOK_SECRET`), it also carries
//! `X-Nudge-Signature: v1=<hex>`: the lower-case hex HMAC-SHA256, keyed with the secret's
//! UTF-8 bytes, of the bytes `<t>.<body>` (the timestamp header's text, a full stop, and the
//! request body exactly as sent).
//!
//! To verify, a receiver takes the raw body before any parsing, computes the same HMAC over
//! `<X-Nudge-Timestamp>.<body>`, compares it with each `v1=` entry of `X-Nudge-Signature`
//! (comma-separated, so more schemes or keys can be added later) in constant time, and
//! refuses timestamps more than a few minutes from its own clock. A retry is signed anew with
//! its own timestamp; `Idempotency-Key` (the delivery id) stays the same, so receivers
//! de-duplicate on it. [`verify`] does all of this.

use std::time::Duration;

use hmac::{Hmac, Mac};
use nudge_core::Timestamp;
use sha2::Sha256;

pub const TIMESTAMP_HEADER: &str = "X-Nudge-Timestamp";
pub const SIGNATURE_HEADER: &str = "X-Nudge-Signature";
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

const SCHEME: &str = "v1=";

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The `X-Nudge-Signature` value for a body sent at `timestamp` (Unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let digest = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("{SCHEME}{}", hex::encode(digest))
}

/// Why a webhook's signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the timestamp header is not whole Unix seconds")]
    MalformedTimestamp,
    #[error("the timestamp is {0} s away from now, beyond the tolerance")]
    OutsideTolerance(u64),
    #[error("the signature header has no v1= entry")]
    NoSignature,
    #[error("no v1= signature matches the body")]
    Mismatch,
}

/// Checks a received webhook: `timestamp` and `signature` are the header values, `body` the
/// raw body, `now` the receiver's time, `tolerance` how far apart the two clocks may be.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    signature: &str,
    body: &[u8],
    now: Timestamp,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let timestamp = timestamp.trim();
    let signed_at: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::MalformedTimestamp)?;
    let skew = now.unix_seconds().abs_diff(signed_at);
    if skew > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance(skew));
    }
    let candidates: Vec<Vec<u8>> = signature
        .split(',')
        .filter_map(|entry| entry.trim().strip_prefix(SCHEME))
        .filter_map(|hex_digest| hex::decode(hex_digest).ok())
        .collect();
    if candidates.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    let expected = mac(secret, timestamp, body);
    if candidates
        .iter()
        .any(|candidate| expected.clone().verify_slice(candidate).is_ok())
    {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_700_000_000_000);

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let signature = sign(b"s3cret", 1_700_000_000, b"{\"a\":1}");
        assert!(signature.starts_with("v1=") && signature.len() == 3 + 64);
        let check = |secret: &[u8], ts: &str, body: &[u8]| {
            verify(secret, ts, &signature, body, NOW, Duration::from_secs(300))
        };
        assert_eq!(check(b"s3cret", "1700000000", b"{\"a\":1}"), Ok(()));
        assert_eq!(
            check(b"s3cret", "1700000000", b"{\"a\":2}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"other", "1700000000", b"{\"a\":1}"),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check(b"s3cret", "1700000001", b"{\"a\":1}"),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn the_known_answer_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently of this code (Python's hmac module).
        assert_eq!(
            sign(b"key", 1_700_000_000, br#"{"order":42}"#),
            "v1=5d17bb99e037ab6754941d26f0a62d0ee19f8c435e5fa79d1076b323aa10e1b9"
        );
    }

    #[test]
    fn stale_and_malformed_headers_are_refused() {
        let signature = sign(b"k", 1_699_999_000, b"");
        assert_eq!(
            verify(
                b"k",
                "1699999000",
                &signature,
                b"",
                NOW,
                Duration::from_secs(300)
            ),
            Err(SignatureError::OutsideTolerance(1000))
        );
        assert_eq!(
            verify(b"k", "soon", &signature, b"", NOW, Duration::from_secs(300)),
            Err(SignatureError::MalformedTimestamp)
        );
        assert_eq!(
            verify(
                b"k",
                "1700000000",
                "v0=abc",
                b"",
                NOW,
                Duration::from_secs(300)
            ),
            Err(SignatureError::NoSignature)
        );
    }
}
