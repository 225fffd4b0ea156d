//! Real servers that stand in for providers and record what they receive: an HTTP sink (the
//! Twilio, FCM and webhook fake) and an SMTP sink. Tests, the delivery benchmark and local
//! development start them on a free port; they are scriptable to fail the way providers do.
//! They never decide anything about delivery themselves.

pub mod http;
pub mod smtp;

use std::time::Duration;

pub use http::{HttpSink, RecordedRequest, SinkResponse};
pub use smtp::{ReceivedMail, SmtpReply, SmtpSink, SmtpSinkOptions, SmtpStage, SmtpStep};

/// A wait for recorded traffic ran past its deadline.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("waited {waited:?} for {wanted} {what}, {got} arrived")]
pub struct WaitTimedOut {
    pub what: &'static str,
    pub wanted: usize,
    pub got: usize,
    pub waited: Duration,
}

/// Waits until `count` reaches `wanted` or the deadline passes; no polling.
pub(crate) async fn wait_for_count(
    count: &tokio::sync::watch::Sender<usize>,
    what: &'static str,
    wanted: usize,
    deadline: Duration,
) -> Result<(), WaitTimedOut> {
    let mut receiver = count.subscribe();
    let reached = tokio::time::timeout(deadline, receiver.wait_for(|seen| *seen >= wanted))
        .await
        .is_ok_and(|waited| waited.is_ok());
    if reached {
        return Ok(());
    }
    Err(WaitTimedOut {
        what,
        wanted,
        got: *count.borrow(),
        waited: deadline,
    })
}
