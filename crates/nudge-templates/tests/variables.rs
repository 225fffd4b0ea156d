//! `Template::variables`: what a template reads where an undefined value fails the render.

use nudge_templates::{parse_template, VariableRef};
use serde_json::json;

fn refs(pairs: &[(&str, &str)]) -> Vec<VariableRef> {
    pairs
        .iter()
        .map(|(part, path)| VariableRef {
            part: (*part).to_owned(),
            path: (*path).to_owned(),
        })
        .collect()
}

#[test]
fn email_with_loops_filters_and_defaults() {
    let template = parse_template(&json!({
        "id": "cart-email",
        "channel": "email",
        "subject": "{{ customer.first_name | default: 'Hi' }}, your cart is waiting",
        "body": "{% for item in event.items %}- {{ item.name }} ({{ item.variant_id }}) × {{ item.quantity }}: {{ item.price | money: event.currency }}\n{% endfor %}Total {{ event.cart_value | money }}",
        "html": "<a href=\"{{ event.cart_url }}\">{{ customer.first_name }}</a>{{ event.cart_value | money }}",
    }))
    .expect("valid template");
    assert_eq!(
        template.variables(),
        refs(&[
            ("body", "event.items"),
            ("body", "event.items[].name"),
            ("body", "event.items[].variant_id"),
            ("body", "event.items[].quantity"),
            ("body", "event.items[].price"),
            ("body", "event.currency"),
            ("body", "event.cart_value"),
            ("html", "event.cart_url"),
            ("html", "customer.first_name"),
            ("html", "event.cart_value"),
        ])
    );
}

#[test]
fn push_title_and_conditions() {
    let template = parse_template(&json!({
        "id": "p",
        "channel": "push",
        "title": "{{ journey.name }}",
        "body": "{% if customer.vip %}{{ trigger.coupon }}{% elsif event.cart_value > 50 %}{{ event_name }}{% endif %}",
    }))
    .expect("valid template");
    assert_eq!(
        template.variables(),
        refs(&[
            ("title", "journey.name"),
            ("body", "trigger.coupon"),
            ("body", "event.cart_value"),
            ("body", "event_name"),
        ])
    );
}

#[test]
fn nothing_read_nothing_listed() {
    let template = parse_template(
        &json!({"id": "s", "channel": "sms", "body": "Sale today! {{ 'x' | upcase }}"}),
    )
    .expect("valid template");
    assert!(template.variables().is_empty());
}
