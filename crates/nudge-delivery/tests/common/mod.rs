//! What the channel tests share: a fixed clock, a message builder and the wait deadline.

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use nudge_core::{ManualClock, Timestamp, WorkspaceId};
use nudge_delivery::OutgoingMessage;

/// How long a test waits for recorded traffic before failing.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// 2026-03-02T09:00:00Z.
pub const START: Timestamp = Timestamp::from_millis(1_772_442_000_000);

pub fn clock() -> ManualClock {
    ManualClock::starting_at(START)
}

pub fn shared(clock: &ManualClock) -> Arc<dyn nudge_core::Clock> {
    Arc::new(clock.clone())
}

pub fn message(channel: &str, recipient: &str, body: &str) -> OutgoingMessage {
    OutgoingMessage {
        delivery_id: "1700:cart_recovery:3:42:remind:1:".into(),
        workspace: WorkspaceId(1),
        channel: channel.into(),
        recipient: recipient.into(),
        subject: None,
        body: body.into(),
        payload: serde_json::json!({}),
        attempt: 1,
    }
}

pub fn http_client() -> reqwest::Client {
    nudge_delivery::providers::http::http_client().expect("the HTTP client starts")
}

/// A local address where nothing listens.
pub fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}
