//! Unsubscribing from a message. Two callers share `/unsubscribe/{…}`:
//!
//! - a recipient following a signed link ([`links`]): `GET /unsubscribe/{token}` shows a page
//!   with a form to confirm, and `POST` to the same URL unsubscribes (the form's buttons, or a
//!   mail client's RFC 8058 one-click `List-Unsubscribe=One-Click`, which unsubscribes from
//!   everything);
//! - Customer.io's Track call `POST /unsubscribe/{delivery_id}` with `{"unsubscribe": true}`
//!   (`false` subscribes again), which Nudge accepts with the workspace's Track credentials.
//!
//! Either way the person's attribute is written through the ingest writer like any identify
//! (`unsubscribed`, or `cio_subscription_preferences.topics.<topic>` for one topic), and the
//! delivery is noted `unsubscribed` in the ledger.

pub mod links;
mod page;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use nudge_core::{Identifier, IdentifierKind, JsonMap, Operation, PersonState, WorkspaceId};
use nudge_store::{Delivery, DeliveryMetric, MetricReport, Store, StoreResult};
use serde_json::{json, Value};

use crate::auth::TrackAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

pub use links::UnsubscribeLinks;

/// The source of the log entries an unsubscribe writes.
const SOURCE: &str = "unsubscribe";
/// Bodies are a form field or a one-line JSON object.
const BODY_LIMIT: usize = 16 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/unsubscribe/{key}", get(show).post(unsubscribe))
}

/// A delivery and the person it went to (if they still exist).
struct Target {
    delivery: Delivery,
    person: Option<PersonState>,
}

impl Target {
    fn topic(&self) -> Option<&str> {
        let topic = self.delivery.message.payload.get("topic")?.as_str()?;
        (!topic.is_empty()).then_some(topic)
    }
}

/// What an unsubscribe changes.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Change<'a> {
    Everything,
    Topic(&'a str),
    Resubscribe,
}

fn target(store: &dyn Store, ws: WorkspaceId, delivery_id: &str) -> StoreResult<Option<Target>> {
    let Some(delivery) = store.delivery(ws, delivery_id)? else {
        return Ok(None);
    };
    let mut person = store.person(ws, delivery.message.person)?.map(|v| v.state);
    // Merged away since: the email address leads to whoever has it now.
    if person.is_none() && delivery.message.channel == "email" {
        if let Ok(email) = Identifier::new(IdentifierKind::Email, &delivery.message.recipient) {
            if let Some(key) = store.resolve(ws, &email)? {
                person = store.person(ws, key)?.map(|v| v.state);
            }
        }
    }
    Ok(Some(Target { delivery, person }))
}

async fn find(
    state: &AppState,
    ws: WorkspaceId,
    delivery_id: String,
) -> Result<Option<Target>, ApiError> {
    state
        .read(move |store| target(store, ws, &delivery_id))
        .await
}

/// `GET /unsubscribe/{token}`: the confirmation page.
async fn show(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    let Some((ws, delivery_id)) = state.unsubscribe.verify(&token) else {
        return page::invalid();
    };
    match find(&state, ws, delivery_id).await {
        Ok(Some(target)) => {
            let already = target
                .person
                .as_ref()
                .is_none_or(|p| p.attributes.get("unsubscribed") == Some(&Value::Bool(true)));
            page::confirm(&target.delivery.message.recipient, target.topic(), already)
        }
        Ok(None) => page::invalid(),
        Err(_) => page::unavailable(),
    }
}

/// `POST /unsubscribe/{token}` from the page or a mail client, or the Track call
/// `POST /unsubscribe/{delivery_id}`.
async fn unsubscribe(
    State(state): State<AppState>,
    Path(key): Path<String>,
    request: Request,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => {
            return ApiError::bad_request("", "the request body is too large").into_response()
        }
    };
    if let Some((ws, delivery_id)) = state.unsubscribe.verify(&key) {
        return hosted(&state, ws, delivery_id, &body).await;
    }
    let TrackAuth(workspace) = match TrackAuth::from_request_parts(&mut parts, &state).await {
        Ok(auth) => auth,
        Err(error) => return error.into_response(),
    };
    match track(&state, workspace.id, key, &body).await {
        Ok(reply) => reply.into_response(),
        Err(error) => error.into_response(),
    }
}

/// The form's `scope=topic` unsubscribes from the message's topic; anything else (`scope=all`,
/// RFC 8058's `List-Unsubscribe=One-Click`, an empty body) from everything.
async fn hosted(state: &AppState, ws: WorkspaceId, delivery_id: String, body: &Bytes) -> Response {
    let target = match find(state, ws, delivery_id).await {
        Ok(Some(target)) => target,
        Ok(None) => return page::invalid(),
        Err(_) => return page::unavailable(),
    };
    let wants_topic = String::from_utf8_lossy(body)
        .split('&')
        .any(|pair| pair.trim() == "scope=topic");
    let change = match target.topic() {
        Some(topic) if wants_topic => Change::Topic(topic),
        _ => Change::Everything,
    };
    match apply(state, ws, &target, change).await {
        Ok(()) => {
            let topic = match change {
                Change::Topic(topic) => Some(topic),
                _ => None,
            };
            page::done(&target.delivery.message.recipient, topic)
        }
        Err(_) => page::unavailable(),
    }
}

/// Customer.io's `{"unsubscribe": true|false}`; an empty body unsubscribes.
async fn track(
    state: &AppState,
    ws: WorkspaceId,
    delivery_id: String,
    body: &Bytes,
) -> Result<Json<Value>, ApiError> {
    let fields = decode_object(body)?;
    let wanted = match fields.get("unsubscribe") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(_) => {
            return Err(ApiError::bad_request(
                "unsubscribe",
                "unsubscribe must be true or false",
            ))
        }
    };
    let Some(target) = find(state, ws, delivery_id.clone()).await? else {
        return Err(ApiError::bad_request(
            "delivery_id",
            format!("no delivery with id '{delivery_id}'"),
        ));
    };
    let change = if wanted {
        Change::Everything
    } else {
        Change::Resubscribe
    };
    apply(state, ws, &target, change).await?;
    Ok(Json(json!({})))
}

/// Writes the person's new preference through the writer, then notes the delivery.
async fn apply(
    state: &AppState,
    ws: WorkspaceId,
    target: &Target,
    change: Change<'_>,
) -> Result<(), ApiError> {
    let Some(person) = &target.person else {
        // Deleted since: nobody is left to send to.
        return Ok(());
    };
    let before = person;
    let mut attributes = JsonMap::new();
    match change {
        Change::Everything => {
            attributes.insert("unsubscribed".into(), Value::Bool(true));
        }
        Change::Topic(topic) => {
            let path = format!("cio_subscription_preferences.topics.{topic}");
            attributes.insert(path, Value::Bool(false));
        }
        Change::Resubscribe => {
            attributes.insert("unsubscribed".into(), Value::Bool(false));
        }
    }
    let person = Identifier::new(IdentifierKind::CioId, &person.cio_id)
        .map_err(|e| ApiError::internal(format!("a stored cio_id is invalid: {e}")))?;
    let operation = Operation::Identify {
        person,
        attributes,
        update_only: true,
        timestamp: None,
    };
    crate::track::submit_one(state, ws, SOURCE, operation)
        .await
        .map(|_committed| ())?;
    let delivery_id = &target.delivery.message.message_id;
    let subscribed = match change {
        Change::Everything => Some(false),
        Change::Resubscribe => Some(true),
        Change::Topic(_) => None,
    };
    crate::app::reporting_webhooks::report_subscription(state, ws, before, subscribed, delivery_id)
        .await;
    if change == Change::Resubscribe {
        return Ok(());
    }
    let report = MetricReport {
        delivery_id: target.delivery.message.message_id.clone(),
        metric: DeliveryMetric::Unsubscribed,
        at: state.clock.now(),
        reason: match change {
            Change::Topic(topic) => Some(topic.to_string()),
            _ => None,
        },
    };
    state
        .read(move |store| store.record_delivery_metric(ws, &report))
        .await?;
    Ok(())
}
