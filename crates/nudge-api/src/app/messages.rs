//! `GET /v1/messages` and `GET /v1/messages/{delivery_id}`: the delivery ledger as
//! Customer.io's App API lists messages: each with its delivery id, type (channel), journey
//! (`campaign_id`) and step (`action_id`), recipient, state, the reason it is in that state,
//! attempts, and when each milestone happened (`metrics`, unix seconds). Filters: `metric`
//! (a state), `type` (a channel), `campaign_id` (a journey); paged by `start` and `limit`.
//! The single message adds its rendered content and the provider's answer.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use nudge_store::{Delivery, DeliveryQuery, DeliveryState};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::cursor::PageRequest;
use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/messages", get(list))
        .route("/v1/messages/{delivery_id}", get(one))
}

#[derive(Deserialize)]
struct Params {
    start: Option<String>,
    limit: Option<String>,
    metric: Option<String>,
    #[serde(rename = "type")]
    channel: Option<String>,
    campaign_id: Option<String>,
}

const CHANNELS: [&str; 5] = ["email", "sms", "push", "webhook", "outbox"];

async fn list(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let request = PageRequest::parse(params.start.as_deref(), params.limit.as_deref())?;
    let state_filter = match params.metric.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(name) => Some(DeliveryState::parse(name).ok_or_else(|| {
            ApiError::bad_request(
                "metric",
                format!(
                    "metric must be one of {}",
                    DeliveryState::ALL.map(DeliveryState::as_str).join(", ")
                ),
            )
        })?),
    };
    let channel = match params.channel.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(name) if CHANNELS.contains(&name) => Some(name.to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "type",
                format!("type must be one of {}", CHANNELS.join(", ")),
            ))
        }
    };
    let query = DeliveryQuery {
        after_id: request.past.unwrap_or(0),
        newest_first: false,
        limit: request.limit,
        state: state_filter,
        person: None,
        journey: params.campaign_id.filter(|j| !j.is_empty()),
        channel,
    };
    let ws = ws.id;
    let page = state
        .read(move |store| store.deliveries(ws, &query))
        .await?;
    let next = request.next(page.len(), page.last().map(|d| d.id));
    let messages: Vec<Value> = page.iter().map(|d| message_view(d, false)).collect();
    Ok(Json(json!({"messages": messages, "next": next})))
}

async fn one(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(delivery_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let ws = ws.id;
    let id = delivery_id.clone();
    let found = state.read(move |store| store.delivery(ws, &id)).await?;
    match found {
        Some(delivery) => Ok(Json(json!({"message": message_view(&delivery, true)}))),
        None => Err(ApiError::not_found(format!(
            "no message with delivery id '{delivery_id}'"
        ))),
    }
}

/// A ledger entry as the App API shows it (and `nudge outbox tail --json` prints it); with
/// `content`, the rendered message and the provider's answer too.
pub fn message_view(delivery: &Delivery, content: bool) -> Value {
    let message = &delivery.message;
    let seconds = |t: nudge_core::Timestamp| t.millis().div_euclid(1000);
    let mut metrics = Map::new();
    metrics.insert("created".into(), json!(seconds(message.created_at)));
    if let Some(sent) = delivery.sent_at {
        metrics.insert("sent".into(), json!(seconds(sent)));
    }
    if !delivery.state.is_open() && delivery.state != DeliveryState::Sent {
        metrics.insert(
            delivery.state.as_str().into(),
            json!(seconds(delivery.updated_at)),
        );
    }
    let mut view = json!({
        "id": message.message_id,
        "type": message.channel,
        "campaign_id": (!message.journey.is_empty()).then_some(&message.journey),
        "action_id": (!message.step.is_empty()).then_some(&message.step),
        "recipient": message.recipient,
        "subject": message.subject,
        "state": delivery.state.as_str(),
        "reason": delivery.reason,
        "attempts": delivery.attempts,
        "created": seconds(message.created_at),
        "updated": seconds(delivery.updated_at),
        "next_attempt": delivery.state.is_open().then(|| delivery.due_at.map(seconds)).flatten(),
        "provider_message_id": delivery.provider_message_id,
        "metrics": metrics,
    });
    if content {
        view["body"] = json!(message.body);
        view["payload"] = message.payload.clone();
        view["response"] = delivery.response.clone().unwrap_or(Value::Null);
    }
    view
}
