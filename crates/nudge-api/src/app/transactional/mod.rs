//! `POST /v1/send/email`, `/v1/send/sms` and `/v1/send/push`: Customer.io's transactional
//! API. A request names a template (or carries its content), the person and the data; the
//! message is rendered at once (a template that does not render is a 400 naming the
//! variable) and queued in the delivery ledger, due at `send_at` or now, where the delivery
//! worker sends it like any other message. The answer, `{"delivery_id", "queued_at"
//! [, "send_at"]}`, comes after the ledger row is committed. An `Idempotency-Key` header
//! makes a repeated request answer what the first one did ([`idempotency`]). Errors use the
//! `{"meta": {"error": …}}` envelope the official clients decode.

mod content;
mod email_fields;
mod idempotency;
mod people;
mod plain_text;
mod request;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use nudge_core::{PersonState, Timestamp, WorkspaceId};
use nudge_store::{Delivery, IdempotencyKey, KeyedDelivery, NewDelivery, QueuedDelivery};
use nudge_templates::Channel;
use serde_json::{json, Map, Value};

pub(crate) use content::{customer_scope, part_label};
pub(crate) use request::identifiers;
use request::{Address, SendRequest};

use crate::auth::AppAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

/// Room for 2 MiB of attachments in base64 and the rest of the request.
pub const SEND_BODY_LIMIT: usize = 4 * 1024 * 1024;

pub fn router() -> Router<AppState> {
    let mut routes = Router::new();
    for channel in [Channel::Email, Channel::Sms, Channel::Push] {
        routes = routes.route(
            &format!("/v1/send/{}", channel.as_str()),
            post(
                move |state: State<AppState>, auth: AppAuth, headers: HeaderMap, body: Bytes| {
                    send(state, auth, headers, body, channel)
                },
            ),
        );
    }
    routes.layer(DefaultBodyLimit::max(SEND_BODY_LIMIT))
}

async fn send(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    headers: HeaderMap,
    body: Bytes,
    channel: Channel,
) -> Result<Response, ApiError> {
    let ws = ws.id;
    let key = idempotency::key(&headers)?;
    let body = decode_object(&body)?;
    let fingerprint = idempotency::fingerprint(channel, &Value::Object(body.clone()));
    if let Some(key) = key.clone() {
        let earlier = state.read(move |s| s.keyed_delivery(ws, &key)).await?;
        if let Some(earlier) = earlier {
            return replay(earlier, &fingerprint, key_text(&headers));
        }
    }
    let now = state.clock.now();
    let request = SendRequest::parse(channel, &body, now)?;
    let person = people::person(&state, ws, &request.identifier).await?;
    let idempotency = key.map(|key| IdempotencyKey {
        key,
        fingerprint: fingerprint.clone(),
    });
    let new = delivery(&state, ws, &request, &person.state, now, idempotency).await?;
    match state.read(move |s| s.queue_delivery(ws, &new)).await? {
        QueuedDelivery::Queued(delivery) => {
            if let Some(wake) = &state.wake_deliveries {
                wake();
            }
            Ok(Json(answer(&delivery)).into_response())
        }
        QueuedDelivery::AlreadyQueued(earlier) => replay(earlier, &fingerprint, key_text(&headers)),
    }
}

/// The ledger row for `request`: rendered, addressed, due at its send time.
async fn delivery(
    state: &AppState,
    ws: WorkspaceId,
    request: &SendRequest,
    person: &PersonState,
    now: Timestamp,
    idempotency: Option<IdempotencyKey>,
) -> Result<NewDelivery, ApiError> {
    let stored = match request.template.clone() {
        Some(id) => {
            state
                .read(move |s| content::stored_template(s, ws, &id))
                .await?
        }
        None => None,
    };
    let document = content::document(request, stored)?;
    let template = content::compile(&document, request.channel)?;
    let rendered = content::render(&template, &document, person, &request.message_data)?;
    let channel = request.channel;
    let recipient = match &request.to {
        Some(to) => to.address.clone(),
        None => people::default_address(channel, person).ok_or_else(|| {
            let what = if channel == Channel::Sms {
                "phone number"
            } else {
                "email address"
            };
            ApiError::bad_request("to", format!("the person has no {what}: give one in to"))
        })?,
    };
    let mut payload = Map::new();
    payload.insert("transactional".into(), json!(true));
    payload.insert(
        "send_to_unsubscribed".into(),
        json!(request.send_to_unsubscribed),
    );
    payload.insert("transactional_message_id".into(), json!(request.template));
    if let Some(at) = request.send_at {
        payload.insert("send_at".into(), json!(at.unix_seconds()));
    }
    match channel {
        Channel::Email => email_payload(&mut payload, request, rendered.html.as_deref()),
        Channel::Push => {
            payload.insert("title".into(), json!(rendered.title));
            if !request.push_data.is_empty() {
                payload.insert("data".into(), Value::Object(request.push_data.clone()));
            }
        }
        _ => {}
    }
    Ok(NewDelivery {
        delivery_id: format!("txn-{:032x}", rand::random::<u128>()),
        person: person.key,
        channel: channel.as_str().to_string(),
        recipient,
        subject: rendered.subject.or(rendered.title),
        body: rendered.body,
        payload: Value::Object(payload),
        queued_at: now,
        due_at: request.send_at.unwrap_or(now),
        idempotency,
    })
}

/// What the email channel reads besides the text: HTML, whether it is tracked, sender, reply
/// address, recipient's name, extra headers and attachments.
fn email_payload(payload: &mut Map<String, Value>, request: &SendRequest, html: Option<&str>) {
    payload.insert("html".into(), json!(html));
    if request.tracked {
        payload.insert("tracked".into(), json!(true));
    }
    let mut mailbox = |field: &str, address: &Option<Address>| {
        if let Some(address) = address {
            payload.insert(field.into(), json!(address.address));
            if let Some(name) = &address.name {
                payload.insert(format!("{field}_name"), json!(name));
            }
        }
    };
    mailbox("from", &request.from);
    mailbox("reply_to", &request.reply_to);
    if let Some(name) = request.to.as_ref().and_then(|to| to.name.as_ref()) {
        payload.insert("to_name".into(), json!(name));
    }
    if !request.headers.is_empty() {
        payload.insert("headers".into(), json!(request.headers));
    }
    if !request.attachments.is_empty() {
        payload.insert("attachments".into(), json!(request.attachments));
    }
}

/// `{"delivery_id", "queued_at"[, "send_at"]}` in unix seconds.
fn answer(delivery: &Delivery) -> Value {
    let message = &delivery.message;
    let mut answer = json!({
        "delivery_id": message.message_id,
        "queued_at": message.created_at.unix_seconds(),
    });
    if let Some(send_at) = message.payload.get("send_at").filter(|v| !v.is_null()) {
        answer["send_at"] = send_at.clone();
    }
    answer
}

/// The first request's answer, when this one is the same request; a 422 when it is not.
fn replay(earlier: KeyedDelivery, fingerprint: &str, key: &str) -> Result<Response, ApiError> {
    if earlier.fingerprint != fingerprint {
        return Err(idempotency::mismatch(key));
    }
    let mut response = Json(answer(&earlier.delivery)).into_response();
    response.headers_mut().insert(
        idempotency::REPLAYED_HEADER,
        HeaderValue::from_static("true"),
    );
    Ok(response)
}

/// The key as the client sent it, for messages (validated already).
fn key_text(headers: &HeaderMap) -> &str {
    headers
        .get(idempotency::HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .unwrap_or_default()
}
