//! What a report says: Customer.io's event names, which ledger changes are reported under
//! which metric, the `data` object of a delivery's or a person's report, and stable ULID
//! event ids. Pure: the backends call these inside the transaction that makes the change.

use std::collections::BTreeMap;

use nudge_core::{Timestamp, WorkspaceId};
use serde_json::{json, Map, Value};

use crate::{DeliveryMetric, DeliveryUpdate, FinishedDelivery, NewReport};

/// Every event name an endpoint may subscribe to: Customer.io's list. Nudge reports the
/// ones its channels and ledger have (see docs/delivery.md); the rest are accepted so that
/// configurations written for Customer.io keep working.
pub const EVENT_NAMES: &[&str] = &[
    "customer_subscribed",
    "customer_unsubscribed",
    "customer_subscription_preferences_changed",
    "email_drafted",
    "email_attempted",
    "email_sent",
    "email_delivered",
    "email_opened",
    "email_clicked",
    "email_converted",
    "email_unsubscribed",
    "email_bounced",
    "email_dropped",
    "email_spammed",
    "email_failed",
    "email_undeliverable",
    "push_drafted",
    "push_attempted",
    "push_sent",
    "push_delivered",
    "push_opened",
    "push_clicked",
    "push_converted",
    "push_bounced",
    "push_dropped",
    "push_failed",
    "push_undeliverable",
    "sms_drafted",
    "sms_attempted",
    "sms_sent",
    "sms_delivered",
    "sms_clicked",
    "sms_converted",
    "sms_bounced",
    "sms_dropped",
    "sms_failed",
    "sms_undeliverable",
    "webhook_drafted",
    "webhook_attempted",
    "webhook_sent",
    "webhook_clicked",
    "webhook_converted",
    "webhook_dropped",
    "webhook_failed",
    "webhook_undeliverable",
    "in_app_drafted",
    "in_app_attempted",
    "in_app_sent",
    "in_app_opened",
    "in_app_clicked",
    "in_app_converted",
    "in_app_failed",
    "in_app_undeliverable",
    "slack_drafted",
    "slack_attempted",
    "slack_sent",
    "slack_clicked",
    "slack_converted",
    "slack_failed",
    "slack_undeliverable",
];

/// The metric of a person's subscription preferences changing (Customer.io's spelling).
pub const PREFERENCES_CHANGED: &str = "cio_subscription_preferences_changed";

/// The name endpoints subscribe to for `metric` on `object_type` (`email_sent`;
/// `customer_subscription_preferences_changed` for [`PREFERENCES_CHANGED`]).
pub fn event_name(object_type: &str, metric: &str) -> String {
    let metric = metric.strip_prefix("cio_").unwrap_or(metric);
    format!("{object_type}_{metric}")
}

/// The metric a ledger update is reported as: a retry is `attempted`, a skip `dropped`.
pub fn update_metric(update: &DeliveryUpdate) -> &'static str {
    match update {
        DeliveryUpdate::Sent { .. } => "sent",
        DeliveryUpdate::Retry { .. } => "attempted",
        DeliveryUpdate::Failed { .. } => "failed",
        DeliveryUpdate::Skipped { .. } => "dropped",
        DeliveryUpdate::Undeliverable { .. } => "undeliverable",
    }
}

/// One reportable change of a ledger row (`outbox_id`): `metric` at `at`.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryChange<'a> {
    pub outbox_id: i64,
    pub metric: &'a str,
    pub at: Timestamp,
    pub first: bool,
    pub failure_message: Option<&'a str>,
}

/// The reportable changes of the updates a `finish_deliveries` call kept (`kept[i]` for
/// `finished[i]`), by workspace in workspace order (so concurrent batches take the report
/// streams' locks alike).
pub fn finished_changes<'a>(
    finished: &'a [FinishedDelivery],
    kept: &[bool],
    now: Timestamp,
) -> BTreeMap<WorkspaceId, Vec<DeliveryChange<'a>>> {
    let mut by_workspace: BTreeMap<WorkspaceId, Vec<DeliveryChange<'a>>> = BTreeMap::new();
    for (done, _) in finished.iter().zip(kept).filter(|(_, kept)| **kept) {
        let failure_message = match &done.update {
            DeliveryUpdate::Sent { .. } => None,
            other => other.reason(),
        };
        by_workspace
            .entry(done.ws)
            .or_default()
            .push(DeliveryChange {
                outbox_id: done.id,
                metric: update_metric(&done.update),
                at: now,
                first: true,
                failure_message,
            });
    }
    by_workspace
}

/// The metric a reported delivery metric is reported as; `None` for `deferred`, which
/// Customer.io does not report.
pub fn reported_metric(metric: DeliveryMetric) -> Option<&'static str> {
    match metric {
        DeliveryMetric::Deferred => None,
        other => Some(other.as_str()),
    }
}

/// A person's identifiers, as a report names them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReportedPerson {
    pub id: Option<String>,
    pub email: Option<String>,
    pub cio_id: String,
}

impl ReportedPerson {
    fn identifiers(&self) -> Value {
        json!({"id": self.id, "email": self.email, "cio_id": self.cio_id})
    }

    /// Customer.io's deprecated `customer_id`: the person's id, empty when they have none.
    fn customer_id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
}

/// What a delivery's report says about its message.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportedDelivery<'a> {
    pub delivery_id: &'a str,
    pub channel: &'a str,
    pub recipient: &'a str,
    pub subject: Option<&'a str>,
    pub body: &'a str,
    /// Empty for a transactional message.
    pub journey: &'a str,
    pub step: &'a str,
    pub payload: &'a Value,
    /// `None` when the person was deleted since.
    pub person: Option<&'a ReportedPerson>,
}

/// A delivery's report: `metric` at `at`, with `failure_message` for a failure, a retry, a
/// skip or a bounce. `sent` reports carry the content (an email's HTML part, else its body);
/// the dispatcher leaves it out for
/// endpoints without `with_content`.
pub fn delivery_report(
    delivery: &ReportedDelivery<'_>,
    metric: &str,
    at: Timestamp,
    first: bool,
    failure_message: Option<&str>,
) -> NewReport {
    let mut data = Map::new();
    let person = delivery.person.cloned().unwrap_or_default();
    data.insert("customer_id".into(), json!(person.customer_id()));
    data.insert("identifiers".into(), person.identifiers());
    data.insert("delivery_id".into(), json!(delivery.delivery_id));
    data.insert("recipient".into(), json!(delivery.recipient));
    if delivery.channel == "email" {
        data.insert("email_address".into(), json!(delivery.recipient));
    }
    if let Some(subject) = delivery.subject {
        data.insert("subject".into(), json!(subject));
    }
    if delivery.journey.is_empty() {
        if let Some(id) = delivery.payload.get("transactional_message_id") {
            data.insert("transactional_message_id".into(), id.clone());
        }
    } else {
        data.insert("journey_id".into(), json!(delivery.journey));
        data.insert("action_id".into(), json!(delivery.step));
    }
    if let Some(message) = failure_message {
        data.insert("failure_message".into(), json!(message));
    }
    if metric == "sent" {
        // An email's content is its HTML part when it has one.
        let html = delivery.payload.get("html").and_then(Value::as_str);
        data.insert("content".into(), json!(html.unwrap_or(delivery.body)));
    }
    NewReport {
        object_type: delivery.channel.to_string(),
        metric: metric.to_string(),
        first,
        at,
        data: Value::Object(data),
    }
}

/// A person's subscription report (`subscribed`, `unsubscribed`, [`PREFERENCES_CHANGED`]);
/// `delivery_id` names the message they acted on, when they did it through one.
pub fn customer_report(
    person: &ReportedPerson,
    metric: &str,
    at: Timestamp,
    delivery_id: Option<&str>,
) -> NewReport {
    let mut data = Map::new();
    data.insert("customer_id".into(), json!(person.customer_id()));
    data.insert("identifiers".into(), person.identifiers());
    if let Some(email) = &person.email {
        data.insert("email_address".into(), json!(email));
    }
    if let Some(id) = delivery_id {
        data.insert("delivery_id".into(), json!(id));
    }
    NewReport {
        object_type: "customer".into(),
        metric: metric.to_string(),
        first: true,
        at,
        data: Value::Object(data),
    }
}

/// A ULID (Crockford base32, 26 characters): 48 bits of `at`'s milliseconds, then 80 bits
/// from the workspace and the row's place in its stream instead of randomness, so it is
/// unique and the same at every retry.
pub fn event_id(ws: WorkspaceId, seq: i64, at: Timestamp) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let time = (at.millis().max(0) as u128) & ((1 << 48) - 1);
    let workspace = (ws.0 as u128) & 0xFFFF;
    let place = seq as u64 as u128;
    let value = (time << 80) | (workspace << 64) | place;
    (0..26)
        .rev()
        .map(|i| ALPHABET[((value >> (i * 5)) & 31) as usize] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_customer_io() {
        assert_eq!(event_name("email", "sent"), "email_sent");
        assert_eq!(
            event_name("customer", PREFERENCES_CHANGED),
            "customer_subscription_preferences_changed"
        );
        for name in [
            event_name("customer", PREFERENCES_CHANGED),
            event_name("sms", "attempted"),
            event_name("webhook", "dropped"),
        ] {
            assert!(EVENT_NAMES.contains(&name.as_str()), "{name}");
        }
        assert_eq!(reported_metric(DeliveryMetric::Deferred), None);
        assert_eq!(reported_metric(DeliveryMetric::Spammed), Some("spammed"));
        let retry = DeliveryUpdate::Retry {
            at: Timestamp::from_millis(0),
            reason: "503".into(),
        };
        assert_eq!(update_metric(&retry), "attempted");
    }

    #[test]
    fn event_ids_are_ulids_ordered_by_time_then_place() {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let id = event_id(WorkspaceId(1), 7, at);
        assert_eq!(id.len(), 26);
        assert!(id.starts_with('0'), "{id}");
        assert_eq!(id, event_id(WorkspaceId(1), 7, at));
        assert!(event_id(WorkspaceId(1), 8, at) > id);
        assert!(event_id(WorkspaceId(1), 1, at.plus_millis(1)) > id);
        assert_ne!(event_id(WorkspaceId(2), 7, at), id);
    }

    #[test]
    fn a_delivery_report_names_the_person_and_the_message() {
        let person = ReportedPerson {
            id: Some("c-1".into()),
            email: Some("ana@example.com".into()),
            cio_id: "cio_1".into(),
        };
        let payload = json!({"transactional_message_id": "welcome"});
        let delivery = ReportedDelivery {
            delivery_id: "d-1",
            channel: "email",
            recipient: "ana@example.com",
            subject: Some("Hi"),
            body: "Hello",
            journey: "",
            step: "",
            payload: &payload,
            person: Some(&person),
        };
        let report = delivery_report(&delivery, "sent", Timestamp::from_millis(0), true, None);
        assert_eq!(report.object_type, "email");
        assert_eq!(
            report.data,
            json!({
                "customer_id": "c-1",
                "identifiers": {"id": "c-1", "email": "ana@example.com", "cio_id": "cio_1"},
                "delivery_id": "d-1",
                "recipient": "ana@example.com",
                "email_address": "ana@example.com",
                "subject": "Hi",
                "transactional_message_id": "welcome",
                "content": "Hello",
            })
        );
        let journey = ReportedDelivery {
            journey: "cart",
            step: "remind",
            person: None,
            ..delivery
        };
        let failed = delivery_report(
            &journey,
            "failed",
            Timestamp::from_millis(0),
            true,
            Some("550"),
        );
        assert_eq!(failed.data["journey_id"], "cart");
        assert_eq!(failed.data["action_id"], "remind");
        assert_eq!(failed.data["failure_message"], "550");
        assert_eq!(failed.data["customer_id"], "");
        assert!(failed.data.get("content").is_none());
    }
}
