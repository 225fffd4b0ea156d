//! From a ledger row to what a channel is handed: the message for email (a marketing email
//! with its signed unsubscribe link, which the email channel turns into `List-Unsubscribe`
//! headers) and SMS, one message per device for push, the stored request for a webhook; and
//! from a webhook's answer to the attributes its step maps (`map_response`: attribute name →
//! JSON pointer).

use nudge_core::JsonMap;
use nudge_store::{Delivery, PersonView};
use serde_json::{json, Value};

use super::consent::is_marketing;
use super::policy::UnsubscribeLinks;
use crate::channel::OutgoingMessage;
use crate::tracking::TrackingLinks;

/// What to hand the channel, or why the delivery cannot be attempted at all.
pub fn outgoing_messages(
    delivery: &Delivery,
    person: &PersonView,
    unsubscribe_links: Option<&UnsubscribeLinks>,
    tracking_links: Option<&TrackingLinks>,
) -> Result<Vec<OutgoingMessage>, String> {
    let message = &delivery.message;
    let mut payload = message.payload.clone();
    if let (Some(links), Some(fields)) = (unsubscribe_links, payload.as_object_mut()) {
        if message.channel == "email" && is_marketing(message) {
            let url = links.url(delivery.ws, &message.message_id);
            fields.insert("unsubscribe_url".into(), Value::String(url));
        }
    }
    if let (Some(links), Some(fields)) = (tracking_links, payload.as_object_mut()) {
        track(delivery, links, fields);
    }
    let base = OutgoingMessage {
        delivery_id: message.message_id.clone(),
        workspace: delivery.ws,
        channel: message.channel.clone(),
        recipient: message.recipient.clone(),
        subject: message.subject.clone(),
        body: message.body.clone(),
        payload,
        attempt: delivery.attempts,
    };
    match message.channel.as_str() {
        "webhook" => webhook(base),
        "push" => Ok(person
            .devices
            .iter()
            .map(|device| OutgoingMessage {
                recipient: device.token.clone(),
                ..base.clone()
            })
            .collect()),
        _ => Ok(vec![base]),
    }
}

/// A tracked email's HTML with its links and open pixel ([`crate::tracking`]); an email
/// without HTML has nothing to track.
fn track(delivery: &Delivery, links: &TrackingLinks, fields: &mut JsonMap) {
    let message = &delivery.message;
    let tracked = fields.get("tracked") == Some(&Value::Bool(true));
    if message.channel != "email" || !tracked {
        return;
    }
    if let Some(Value::String(html)) = fields.get("html") {
        let html = links.rewrite(delivery.ws, &message.message_id, html);
        fields.insert("html".into(), Value::String(html));
    }
}

/// A webhook step's stored request: refused when its body did not render.
fn webhook(base: OutgoingMessage) -> Result<Vec<OutgoingMessage>, String> {
    let request = &base.payload;
    if let Some(error) = request.get("render_error").and_then(Value::as_str) {
        return Err(format!("the webhook body did not render: {error}"));
    }
    let body = request
        .get("body")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let payload = json!({
        "method": request.get("method").cloned().unwrap_or(json!("POST")),
        "url": request.get("url").cloned().unwrap_or(json!(base.recipient)),
        "headers": request.get("headers").cloned().unwrap_or(json!({})),
    });
    Ok(vec![OutgoingMessage {
        body,
        payload,
        ..base
    }])
}

/// The attributes a webhook step maps from its response: each pointer that finds a value in
/// `response`. Empty when the step maps nothing or there was no JSON answer.
pub fn mapped_attributes(delivery: &Delivery, response: Option<&Value>) -> JsonMap {
    let mut attributes = JsonMap::new();
    let (Some(map), Some(response)) = (
        delivery
            .message
            .payload
            .get("map_response")
            .and_then(Value::as_object),
        response,
    ) else {
        return attributes;
    };
    for (attribute, pointer) in map {
        if let Some(value) = pointer.as_str().and_then(|p| response.pointer(p)) {
            attributes.insert(attribute.clone(), value.clone());
        }
    }
    attributes
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{PersonKey, Timestamp, WorkspaceId};
    use nudge_store::{DeliveryState, OutboxMessage};

    fn webhook_delivery(payload: Value) -> Delivery {
        Delivery {
            id: 1,
            ws: WorkspaceId(1),
            message: OutboxMessage {
                message_id: "m-1".into(),
                person: PersonKey(7),
                journey: "j".into(),
                step: "call".into(),
                instance: 3,
                channel: "webhook".into(),
                recipient: "http://crm.example/hook".into(),
                subject: None,
                body: String::new(),
                payload,
                created_at: Timestamp::from_millis(0),
            },
            state: DeliveryState::Attempted,
            attempts: 1,
            due_at: None,
            reason: None,
            provider_message_id: None,
            response: None,
            updated_at: Timestamp::from_millis(0),
            sent_at: None,
        }
    }

    #[test]
    fn maps_each_pointer_that_finds_a_value() {
        let delivery = webhook_delivery(json!({
            "map_response": {"crm_id": "/data/id", "tier": "/data/tier", "gone": "/nope"}
        }));
        let response = json!({"data": {"id": 42, "tier": "gold"}});
        let attributes = mapped_attributes(&delivery, Some(&response));
        assert_eq!(
            Value::Object(attributes),
            json!({"crm_id": 42, "tier": "gold"})
        );
        assert!(mapped_attributes(&delivery, None).is_empty());
    }

    fn person() -> PersonView {
        PersonView {
            state: nudge_core::PersonState {
                key: PersonKey(7),
                cio_id: "cio-7".into(),
                id: None,
                email: None,
                phone: None,
                attributes: JsonMap::new(),
                attribute_times: Default::default(),
                created_at: Timestamp::from_millis(0),
                updated_at: Timestamp::from_millis(0),
            },
            identifiers: vec![],
            devices: vec![],
        }
    }

    #[test]
    fn a_body_that_did_not_render_is_never_sent() {
        let delivery = webhook_delivery(json!({
            "method": "POST", "url": "http://crm.example/hook", "body": null,
            "render_error": "undefined variable customer.plan"
        }));
        let error = outgoing_messages(&delivery, &person(), None, None).unwrap_err();
        assert!(error.contains("customer.plan"), "{error}");
    }

    #[test]
    fn marketing_emails_carry_their_unsubscribe_link() {
        let links = UnsubscribeLinks::new(|ws, id| format!("https://nudge.example/u/{ws}/{id}"));
        let with = |channel: &str, payload: Value| {
            let mut delivery = webhook_delivery(payload);
            delivery.message.channel = channel.into();
            let messages = outgoing_messages(&delivery, &person(), Some(&links), None).unwrap();
            messages[0].payload.get("unsubscribe_url").cloned()
        };
        assert_eq!(
            with("email", json!({"html": "<p>hi</p>"})),
            Some(json!("https://nudge.example/u/1/m-1"))
        );
        assert_eq!(with("email", json!({"transactional": true})), None);
        assert_eq!(with("sms", json!({})), None);
        let mut delivery = webhook_delivery(json!({}));
        delivery.message.channel = "email".into();
        let plain = outgoing_messages(&delivery, &person(), None, None).unwrap();
        assert_eq!(plain[0].payload, json!({}));
    }

    struct Urls;

    impl crate::tracking::TrackingUrls for Urls {
        fn open_url(&self, ws: WorkspaceId, id: &str) -> String {
            format!("https://n.example/t/o/{ws}-{id}")
        }
        fn click_url(&self, ws: WorkspaceId, id: &str, target: &str) -> String {
            format!("https://n.example/t/c/{ws}-{id}-{target}")
        }
        fn is_own(&self, url: &str) -> bool {
            url.starts_with("https://n.example/")
        }
    }

    #[test]
    fn only_tracked_emails_with_html_are_rewritten() {
        let links = TrackingLinks::new(Urls);
        let html = r#"<body><a href="https://shop.example/">Shop</a></body>"#;
        let with = |channel: &str, payload: Value| {
            let mut delivery = webhook_delivery(payload);
            delivery.message.channel = channel.into();
            let messages = outgoing_messages(&delivery, &person(), None, Some(&links)).unwrap();
            messages[0].payload.clone()
        };
        let tracked = with("email", json!({"html": html, "tracked": true}));
        let sent = tracked["html"].as_str().unwrap();
        assert!(
            sent.starts_with(r#"<body><a href="https://n.example/t/c/1-m-1-https://shop.example/">Shop</a><img src="https://n.example/t/o/1-m-1""#),
            "{sent}"
        );
        assert_eq!(tracked["tracked"], json!(true));
        let untracked = json!({"html": html, "tracked": false});
        assert_eq!(with("email", untracked.clone()), untracked);
        assert_eq!(with("email", json!({"html": html})), json!({"html": html}));
        let text_only = json!({"html": null, "tracked": true});
        assert_eq!(with("email", text_only.clone()), text_only);
        let sms = json!({"html": html, "tracked": true});
        assert_eq!(with("sms", sms.clone()), sms);
    }
}
