//! A webhook step's request as the outbox keeps it: method, URL, headers, the body rendered
//! with the same variables as a message template, and which response fields map to which
//! attributes. Calling the endpoint is the delivery worker's job.

use nudge_journeys::Effect;
use nudge_templates::{parse_template, RenderContext};
use serde_json::{json, Value};

/// The request of a [`Effect::Webhook`], rendered for `context`; a body that does not render
/// is kept with the reason, so the delivery records the failure instead of sending blanks.
pub fn request_payload(effect: &Effect, context: &RenderContext) -> Value {
    let Effect::Webhook {
        method,
        url,
        headers,
        body,
        map_response,
        ..
    } = effect
    else {
        return Value::Null;
    };
    let rendered = if body.is_empty() {
        Ok(String::new())
    } else {
        parse_template(&json!({"id": "webhook-body", "channel": "webhook", "body": body}))
            .map_err(|e| e.to_string())
            .and_then(|t| t.render(context).map_err(|e| e.to_string()))
            .map(|r| r.body)
    };
    let (body, render_error) = match rendered {
        Ok(body) => (Value::String(body), Value::Null),
        Err(error) => (Value::Null, Value::String(error)),
    };
    json!({
        "method": method,
        "url": url,
        "headers": headers,
        "body": body,
        "render_error": render_error,
        "map_response": map_response,
    })
}
