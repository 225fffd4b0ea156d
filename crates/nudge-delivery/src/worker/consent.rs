//! Whether a person's consent covers a message: global unsubscription (Customer.io's
//! `unsubscribed`), the channel and topic preferences of `cio_subscription_preferences`, and
//! the workspace's per-channel consent attributes (`accepts_sms`). Marketing is every email,
//! SMS and push not marked `"transactional": true`; a transactional message bypasses these
//! rules only when its payload also says `"send_to_unsubscribed": true`. Suppressed
//! addresses, caps and quiet hours are decided elsewhere. Pure: no store, no clock.

use std::collections::{BTreeMap, BTreeSet};

use nudge_core::{JsonMap, PersonState};
use nudge_store::{OutboxMessage, MARKETING_CHANNELS};
use serde_json::Value;

/// The workspace's consent settings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsentRules {
    /// Per channel (`email`, `sms`, `push`): an attribute that must be true for the person to
    /// get that channel's messages (`sms` → `accepts_sms`). Absent, false or anything else
    /// but `true`, `1`, `"true"` or `"1"` means no consent.
    pub channel_attributes: BTreeMap<String, String>,
    /// Topics people must opt in to: a message of one of them goes only to people whose
    /// preferences say `true` for it. Every other topic is opt-out: it goes unless they say
    /// `false`.
    pub opt_in_topics: BTreeSet<String>,
}

/// Why consent does not cover a message: a short code (kept in the ledger's reason) and a
/// sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub detail: String,
}

fn refuse(code: &'static str, detail: String) -> Option<Refusal> {
    Some(Refusal { code, detail })
}

/// The payload says `"transactional": true`.
pub fn is_transactional(payload: &Value) -> bool {
    payload.get("transactional") == Some(&Value::Bool(true))
}

/// An email, SMS or push that is not transactional: what consent, caps and quiet hours
/// govern.
pub fn is_marketing(message: &OutboxMessage) -> bool {
    MARKETING_CHANNELS.contains(&message.channel.as_str()) && !is_transactional(&message.payload)
}

/// A transactional message whose payload asks to reach people who unsubscribed.
pub fn bypasses_consent(payload: &Value) -> bool {
    is_transactional(payload) && payload.get("send_to_unsubscribed") == Some(&Value::Bool(true))
}

/// Global unsubscription: Customer.io's `unsubscribed` attribute.
pub fn unsubscribed(person: &PersonState) -> bool {
    person.attributes.get("unsubscribed") == Some(&Value::Bool(true))
}

/// Customer.io's truthiness for flags: `true`, 1, and any-case `"true"` or `"1"`.
fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() == Some(1.0),
        Value::String(s) => s.eq_ignore_ascii_case("true") || s == "1",
        _ => false,
    }
}

/// A preference as stated: `Some(true)`, `Some(false)`, or `None` when the person said
/// nothing (or something that is not a yes or a no).
fn preference(attributes: &JsonMap, group: &str, name: &str) -> Option<bool> {
    let value = attributes
        .get("cio_subscription_preferences")?
        .get(group)?
        .get(name)?;
    match value {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Some(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// The topic a message belongs to (`topic_1`), from its template.
pub fn topic_of(message: &OutboxMessage) -> Option<&str> {
    message.payload.get("topic").and_then(Value::as_str)
}

impl ConsentRules {
    /// Why `person` must not get `message`, or `None` when consent covers it. Only emails,
    /// SMS and push are governed.
    pub fn refusal(&self, message: &OutboxMessage, person: &PersonState) -> Option<Refusal> {
        let channel = message.channel.as_str();
        if !MARKETING_CHANNELS.contains(&channel) || bypasses_consent(&message.payload) {
            return None;
        }
        if unsubscribed(person) {
            return refuse("unsubscribed", "the person is unsubscribed".into());
        }
        let attributes = &person.attributes;
        if preference(attributes, "channels", channel) == Some(false) {
            return refuse(
                "channel_unsubscribed",
                format!("the person unsubscribed from {channel} messages"),
            );
        }
        if let Some(topic) = topic_of(message) {
            match preference(attributes, "topics", topic) {
                Some(false) => {
                    return refuse(
                        "topic_unsubscribed",
                        format!("the person unsubscribed from {topic}"),
                    )
                }
                None if self.opt_in_topics.contains(topic) => {
                    return refuse(
                        "topic_unsubscribed",
                        format!("{topic} is opt-in and the person has not subscribed to it"),
                    )
                }
                _ => {}
            }
        }
        if let Some(attribute) = self.channel_attributes.get(channel) {
            if !attributes.get(attribute).is_some_and(truthy) {
                return refuse(
                    "no_consent",
                    format!("{channel} messages need the person's {attribute} to be true"),
                );
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{PersonKey, Timestamp};
    use serde_json::json;

    fn message(channel: &str, payload: Value) -> OutboxMessage {
        OutboxMessage {
            message_id: "m".into(),
            person: PersonKey(1),
            journey: "j".into(),
            step: "s".into(),
            instance: 1,
            channel: channel.into(),
            recipient: "r".into(),
            subject: None,
            body: String::new(),
            payload,
            created_at: Timestamp::from_millis(0),
        }
    }

    fn person(attributes: Value) -> PersonState {
        PersonState {
            key: PersonKey(1),
            cio_id: "c".into(),
            id: None,
            email: None,
            phone: None,
            attributes: attributes.as_object().cloned().unwrap(),
            attribute_times: Default::default(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn rules() -> ConsentRules {
        ConsentRules {
            channel_attributes: [("sms".to_string(), "accepts_sms".to_string())].into(),
            opt_in_topics: ["topic_2".to_string()].into(),
        }
    }

    /// The refusal's code for `channel` with `payload` to a person with `attributes`.
    fn check(channel: &str, payload: Value, attributes: Value, want: Option<&str>) {
        let got = rules().refusal(
            &message(channel, payload.clone()),
            &person(attributes.clone()),
        );
        assert_eq!(
            got.as_ref().map(|r| r.code),
            want,
            "{channel} {payload} to {attributes}: {got:?}"
        );
    }

    #[test]
    fn global_unsubscription_blocks_messages_not_webhooks() {
        let gone = json!({"unsubscribed": true});
        check("email", json!({}), gone.clone(), Some("unsubscribed"));
        check("push", json!({}), gone.clone(), Some("unsubscribed"));
        check(
            "sms",
            json!({}),
            json!({"unsubscribed": true, "accepts_sms": true}),
            Some("unsubscribed"),
        );
        check("webhook", json!({}), gone.clone(), None);
        check("email", json!({}), json!({"unsubscribed": false}), None);
    }

    #[test]
    fn channel_and_topic_preferences_follow_customer_io() {
        let prefs = |p: Value| json!({"cio_subscription_preferences": p});
        check(
            "email",
            json!({}),
            prefs(json!({"channels": {"email": false}})),
            Some("channel_unsubscribed"),
        );
        check(
            "push",
            json!({}),
            prefs(json!({"channels": {"email": false}})),
            None,
        );
        let topic_1 = json!({"topic": "topic_1"});
        check(
            "email",
            topic_1.clone(),
            prefs(json!({"topics": {"topic_1": false}})),
            Some("topic_unsubscribed"),
        );
        check(
            "email",
            topic_1.clone(),
            prefs(json!({"topics": {"topic_1": "false"}})),
            Some("topic_unsubscribed"),
        );
        check(
            "email",
            topic_1.clone(),
            prefs(json!({"topics": {"topic_3": false}})),
            None,
        );
        check("email", topic_1.clone(), json!({}), None);
        let topic_2 = json!({"topic": "topic_2"});
        check(
            "email",
            topic_2.clone(),
            json!({}),
            Some("topic_unsubscribed"),
        );
        check(
            "email",
            topic_2.clone(),
            prefs(json!({"topics": {"topic_2": true}})),
            None,
        );
        check(
            "email",
            json!({}),
            prefs(json!({"topics": {"topic_1": false}})),
            None,
        );
    }

    #[test]
    fn a_channel_attribute_must_say_yes() {
        check("sms", json!({}), json!({}), Some("no_consent"));
        check(
            "sms",
            json!({}),
            json!({"accepts_sms": false}),
            Some("no_consent"),
        );
        check(
            "sms",
            json!({}),
            json!({"accepts_sms": "yes"}),
            Some("no_consent"),
        );
        for yes in [json!(true), json!(1), json!("TRUE"), json!("1")] {
            check("sms", json!({}), json!({"accepts_sms": yes}), None);
        }
        check("email", json!({}), json!({}), None);
    }

    #[test]
    fn transactional_messages_bypass_consent_only_when_they_say_so() {
        let gone = json!({"unsubscribed": true, "cio_subscription_preferences": {"topics": {"topic_1": false}}});
        let bypass =
            json!({"transactional": true, "send_to_unsubscribed": true, "topic": "topic_1"});
        check("email", bypass.clone(), gone.clone(), None);
        check("sms", bypass.clone(), json!({}), None);
        let keep = json!({"transactional": true, "send_to_unsubscribed": false});
        check("email", keep, gone.clone(), Some("unsubscribed"));
        check(
            "email",
            json!({"send_to_unsubscribed": true}),
            gone,
            Some("unsubscribed"),
        );
        assert!(is_marketing(&message(
            "email",
            json!({"transactional": false})
        )));
        assert!(!is_marketing(&message(
            "email",
            json!({"transactional": true})
        )));
        assert!(!is_marketing(&message("webhook", json!({}))));
    }
}
