//! Reading template documents: what is accepted per channel, and every refusal naming the
//! JSON pointer of the offending part.

mod support;

use nudge_templates::{parse_template, Channel, TemplateError};
use serde_json::{json, Value};

fn refusal(document: Value) -> TemplateError {
    match parse_template(&document) {
        Ok(template) => panic!("{document} should be refused, got {template:?}"),
        Err(error) => error,
    }
}

fn check_refused(document: Value, pointer: &str, message_part: &str) {
    let error = refusal(document.clone());
    assert_eq!(error.pointer, pointer, "pointer for {document}: {error}");
    assert!(
        error.message.contains(message_part),
        "message for {document} should mention {message_part:?}: {error}"
    );
}

#[test]
fn every_channel_accepts_its_parts() {
    let cases = [
        (
            json!({"id": "cart-email", "channel": "email", "subject": "Hi", "body": "b", "html": "<p>b</p>"}),
            Channel::Email,
        ),
        (
            json!({"id": "cart-sms", "channel": "sms", "body": "b"}),
            Channel::Sms,
        ),
        (
            json!({"id": "p", "channel": "push", "title": "t", "body": "b"}),
            Channel::Push,
        ),
        (
            json!({"id": "w_1", "channel": "webhook", "body": "{\"a\": 1}"}),
            Channel::Webhook,
        ),
    ];
    for (document, channel) in cases {
        let template = parse_template(&document).unwrap_or_else(|e| panic!("{document}: {e}"));
        assert_eq!(template.channel, channel);
        assert_eq!(Some(template.id.as_str()), document["id"].as_str());
    }
}

#[test]
fn unknown_keys_are_refused() {
    check_refused(
        json!({"id": "a", "channel": "sms", "body": "b", "bdy": "x"}),
        "/bdy",
        "unknown key",
    );
    check_refused(
        json!({"kind": "template", "id": "a", "channel": "sms", "body": "b"}),
        "/kind",
        "unknown key",
    );
}

#[test]
fn documents_must_be_objects() {
    check_refused(json!(["id"]), "", "object");
}

#[test]
fn ids_and_channels_are_checked() {
    check_refused(json!({"channel": "sms", "body": "b"}), "/id", "required");
    check_refused(
        json!({"id": "Cart", "channel": "sms", "body": "b"}),
        "/id",
        "lowercase",
    );
    check_refused(
        json!({"id": 7, "channel": "sms", "body": "b"}),
        "/id",
        "string",
    );
    check_refused(json!({"id": "a", "body": "b"}), "/channel", "required");
    check_refused(
        json!({"id": "a", "channel": "fax", "body": "b"}),
        "/channel",
        "email, sms",
    );
}

#[test]
fn required_parts_are_required_per_channel() {
    check_refused(
        json!({"id": "a", "channel": "email", "body": "b"}),
        "/subject",
        "required for email",
    );
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "s"}),
        "/body",
        "required for email",
    );
    check_refused(
        json!({"id": "a", "channel": "push", "body": "b"}),
        "/title",
        "required for push",
    );
    check_refused(
        json!({"id": "a", "channel": "sms"}),
        "/body",
        "required for sms",
    );
    check_refused(
        json!({"id": "a", "channel": "sms", "body": "  \n"}),
        "/body",
        "empty",
    );
}

#[test]
fn parts_a_channel_does_not_have_are_refused() {
    check_refused(
        json!({"id": "a", "channel": "sms", "body": "b", "html": "<p>"}),
        "/html",
        "no html",
    );
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "s", "body": "b", "title": "t"}),
        "/title",
        "no title",
    );
    check_refused(
        json!({"id": "a", "channel": "push", "title": "t", "body": "b", "subject": "s"}),
        "/subject",
        "no subject",
    );
    check_refused(
        json!({"id": "a", "channel": "webhook", "body": "b", "title": "t"}),
        "/title",
        "no title",
    );
}

#[test]
fn parts_must_be_strings() {
    check_refused(
        json!({"id": "a", "channel": "sms", "body": 5}),
        "/body",
        "string",
    );
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "s", "body": "b", "html": null}),
        "/html",
        "string",
    );
}

#[test]
fn liquid_syntax_errors_name_the_part_and_the_line() {
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "Hi", "body": "line one\nline two\n{{ event.total | }}"}),
        "/body",
        "line 3, column",
    );
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "{% if customer.vip %}VIP", "body": "b"}),
        "/subject",
        "Unclosed block",
    );
    check_refused(
        json!({"id": "a", "channel": "sms", "body": "ok\n{{ event.total | dollars }}"}),
        "/body",
        "line 2: Unknown filter (requested filter: dollars)",
    );
    check_refused(
        json!({"id": "a", "channel": "push", "title": "t", "body": "{% frobnicate %}"}),
        "/body",
        "Unknown tag",
    );
}

#[test]
fn errors_display_pointer_then_message() {
    let error = refusal(json!({"id": "a", "channel": "sms"}));
    assert_eq!(error.to_string(), "/body: required for sms templates");
}

#[test]
fn deep_nesting_is_refused_instead_of_exhausting_the_parser() {
    let blocks = format!(
        "{}x{}",
        "{% if true %}".repeat(5000),
        "{% endif %}".repeat(5000)
    );
    check_refused(
        json!({"id": "a", "channel": "sms", "body": blocks}),
        "/body",
        "blocks nest",
    );
    let brackets = format!("{{{{ {}b{} }}}}", "a[".repeat(5000), "]".repeat(5000));
    check_refused(
        json!({"id": "a", "channel": "sms", "body": brackets}),
        "/body",
        "brackets nest",
    );
    // Thirty-two levels, the most a part may nest, parse and render.
    let deepest = format!(
        "{}x{}",
        "{% for i in (1..1) %}{% if true %}".repeat(16),
        "{% endif %}{% endfor %}".repeat(16)
    );
    let template = parse_template(&json!({"id": "a", "channel": "sms", "body": deepest}))
        .expect("thirty-two levels are fine");
    let rendered = template.render(&Default::default()).expect("renders");
    assert_eq!(rendered.body, "x");
}

#[test]
fn partials_are_refused() {
    check_refused(
        json!({"id": "a", "channel": "email", "subject": "s", "body": "Hi\n{% include 'footer' %}"}),
        "/body",
        "line 2: `include` is not supported",
    );
}
