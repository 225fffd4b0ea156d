//! Building template documents and render contexts for the tests.

#![allow(dead_code)]

use nudge_core::Timestamp;
use nudge_templates::{
    parse_template, EventContext, JsonMap, RenderContext, RenderError, Rendered, Template,
};
use serde_json::{json, Value};

pub fn map(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        other => panic!("expected an object, got {other}"),
    }
}

/// An SMS template with `body`.
pub fn sms(body: &str) -> Template {
    parse_template(&json!({"id": "t", "channel": "sms", "body": body}))
        .unwrap_or_else(|error| panic!("{body:?} should parse: {error}"))
}

/// A person in New York who abandoned a cart of two items.
pub fn cart_context() -> RenderContext {
    RenderContext {
        customer: map(json!({
            "id": "cus_42",
            "email": "ada@example.com",
            "phone": "+15551234567",
            "first_name": "Ada",
            "timezone": "America/New_York",
            "nickname": null,
        })),
        event: Some(EventContext {
            name: "cart_abandoned".into(),
            timestamp: Timestamp::from_millis(1_705_338_000_000),
            data: map(json!({
                "cart_value": 84,
                "currency": "EUR",
                "cart_url": "https://shop.example.com/cart/abc",
                "items": [
                    {"name": "Glow Serum", "variant_id": "gs-30ml", "quantity": 1, "price": 54},
                    {"name": "Night Cream", "variant_id": "nc-50ml", "quantity": 2, "price": 15},
                ],
            })),
        }),
        trigger: map(json!({"coupon": "WELCOME10"})),
        journey: map(json!({
            "id": "cart-recovery",
            "name": "Cart recovery",
            "step": "email-1",
            "message_id": "msg_7",
        })),
    }
}

pub fn render_body(body: &str, context: &RenderContext) -> Result<String, RenderError> {
    sms(body)
        .render(context)
        .map(|rendered: Rendered| rendered.body)
}
