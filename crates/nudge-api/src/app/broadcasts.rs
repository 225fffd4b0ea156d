//! API-triggered broadcasts, as Customer.io's App API takes them:
//! `POST /v1/campaigns/{id}/triggers` starts a journey whose trigger is `broadcast` for an
//! audience given as `ids`, `emails`, `per_user_data` (each with data of their own) or a
//! `recipients` filter (the audience filter grammar), with `data` for every recipient; it
//! answers `{"id": <trigger id>}` once the trigger is committed to the log. The processor
//! starts the instances: named people in the next batch, a filter a page of people at a time.
//! `GET /v1/campaigns/{id}/triggers/{trigger_id}` shows how far it got.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use nudge_core::{
    BroadcastAudience, BroadcastRecipient, Identifier, IdentifierKind, JsonMap, Operation,
};
use nudge_journeys::Trigger;
use nudge_store::DocumentKind;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

/// Most people one trigger may name (Customer.io's limit for `ids`, `emails` and
/// `per_user_data`).
pub const MAX_RECIPIENTS: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/campaigns/{id}/triggers", post(trigger))
        .route("/v1/campaigns/{id}/triggers/{trigger_id}", get(status))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    #[serde(default)]
    data: JsonMap,
    recipients: Option<Value>,
    ids: Option<Vec<Value>>,
    emails: Option<Vec<String>>,
    per_user_data: Option<Vec<PerUser>>,
    data_file_url: Option<String>,
    #[serde(default)]
    id_ignore_missing: bool,
    #[serde(default)]
    email_ignore_missing: bool,
    #[serde(default)]
    email_add_duplicates: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PerUser {
    id: Option<Value>,
    email: Option<String>,
    #[serde(default)]
    data: JsonMap,
}

/// A JSON pointer into the body as the error envelope's field path (`/a/0` → `a.0`).
fn field(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// One named recipient before it is looked up: how the request named them, where (a field
/// path of the body), and with what data.
struct Named {
    identifier: Identifier,
    pointer: String,
    data: JsonMap,
}

async fn trigger(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(journey): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: TriggerBody = decode(&body)?;
    let ws = ws.id;
    let wanted = journey.clone();
    let document = state
        .read(move |store| {
            Ok(store
                .documents(ws, DocumentKind::Journey)?
                .into_iter()
                .find(|d| d.name == wanted))
        })
        .await?
        .ok_or_else(|| ApiError::not_found(format!("there is no journey '{journey}'")))?;
    let parsed = nudge_journeys::parse_journey(&document.body)
        .map_err(|e| ApiError::internal(format!("stored journey {journey}: {e}")))?;
    if !matches!(parsed.trigger, Trigger::Broadcast) {
        return Err(ApiError::bad_request(
            "",
            format!(
                "journey '{journey}' is not triggered by broadcasts (trigger: {{broadcast: true}})"
            ),
        ));
    }
    let audience = audience(&state, ws, &body).await?;
    let trigger_id = (rand::random::<u64>() >> 11) as i64;
    let operation = Operation::TriggerBroadcast {
        trigger_id,
        journey,
        data: body.data,
        audience,
    };
    state
        .ingestor
        .submit(ws, "app_api", vec![operation.into()])
        .await?;
    Ok(Json(json!({ "id": trigger_id })))
}

/// The audience the request names, every named person looked up first.
async fn audience(
    state: &AppState,
    ws: nudge_core::WorkspaceId,
    body: &TriggerBody,
) -> Result<BroadcastAudience, ApiError> {
    if body.data_file_url.is_some() {
        return Err(ApiError::bad_request(
            "data_file_url",
            "data_file_url is not supported: give the recipients as per_user_data",
        ));
    }
    let given = [
        body.recipients.is_some(),
        body.ids.is_some(),
        body.emails.is_some(),
        body.per_user_data.is_some(),
    ];
    match given.iter().filter(|g| **g).count() {
        0 => {
            return Err(ApiError::bad_request(
                "",
                "say whom to send to: recipients, ids, emails or per_user_data",
            ))
        }
        1 => {}
        _ => {
            return Err(ApiError::bad_request(
                "",
                "give only one of recipients, ids, emails and per_user_data",
            ))
        }
    }
    if let Some(filter) = &body.recipients {
        nudge_conditions::parse(filter).map_err(|e| {
            ApiError::bad_request(field(&format!("recipients{}", e.pointer)), e.message)
        })?;
        return Ok(BroadcastAudience::Filter(filter.clone()));
    }
    let named = named(body)?;
    if named.len() > MAX_RECIPIENTS {
        return Err(ApiError::bad_request(
            "",
            format!("at most {MAX_RECIPIENTS} recipients per trigger"),
        ));
    }
    let lookups: Vec<Identifier> = named.iter().map(|n| n.identifier.clone()).collect();
    let found = state
        .read(move |store| {
            lookups
                .iter()
                .map(|identifier| store.resolve(ws, identifier))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?;
    let mut recipients = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (named, key) in named.into_iter().zip(found) {
        let Some(key) = key else {
            let ignore = match named.identifier.kind() {
                IdentifierKind::Email => body.email_ignore_missing,
                _ => body.id_ignore_missing,
            };
            if ignore {
                continue;
            }
            return Err(ApiError::bad_request(
                named.pointer,
                format!("there is no customer {}", named.identifier),
            ));
        };
        let duplicate_allowed =
            body.email_add_duplicates && named.identifier.kind() == IdentifierKind::Email;
        if !seen.insert(key) && !duplicate_allowed {
            continue;
        }
        recipients.push(BroadcastRecipient {
            person: named.identifier,
            data: named.data,
        });
    }
    Ok(BroadcastAudience::People(recipients))
}

/// Every person `ids`, `emails` or `per_user_data` names, with where.
fn named(body: &TriggerBody) -> Result<Vec<Named>, ApiError> {
    let mut out = Vec::new();
    let id_of = |value: &Value, pointer: &str| -> Result<Identifier, ApiError> {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => {
                return Err(ApiError::bad_request(
                    pointer,
                    "an id is a string or a number",
                ))
            }
        };
        Identifier::new(IdentifierKind::Id, &text)
            .map_err(|e| ApiError::bad_request(pointer, e.to_string()))
    };
    let email_of = |text: &str, pointer: &str| {
        Identifier::new(IdentifierKind::Email, text)
            .map_err(|e| ApiError::bad_request(pointer, e.to_string()))
    };
    for (n, id) in body.ids.iter().flatten().enumerate() {
        let pointer = format!("ids[{n}]");
        out.push(Named {
            identifier: id_of(id, &pointer)?,
            pointer,
            data: JsonMap::new(),
        });
    }
    for (n, email) in body.emails.iter().flatten().enumerate() {
        let pointer = format!("emails[{n}]");
        out.push(Named {
            identifier: email_of(email, &pointer)?,
            pointer,
            data: JsonMap::new(),
        });
    }
    for (n, user) in body.per_user_data.iter().flatten().enumerate() {
        let pointer = format!("per_user_data[{n}]");
        let identifier = match (&user.id, &user.email) {
            (Some(id), None) => id_of(id, &format!("{pointer}.id"))?,
            (None, Some(email)) => email_of(email, &format!("{pointer}.email"))?,
            _ => {
                return Err(ApiError::bad_request(
                    pointer,
                    "each recipient has an id or an email (one of them)",
                ))
            }
        };
        out.push(Named {
            identifier,
            pointer,
            data: user.data.clone(),
        });
    }
    Ok(out)
}

async fn status(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path((journey, trigger_id)): Path<(String, i64)>,
) -> Result<Json<Value>, ApiError> {
    let ws = ws.id;
    let job = state
        .read(move |store| store.broadcast(ws, trigger_id))
        .await?
        .filter(|job| job.journey == journey)
        .ok_or_else(|| ApiError::not_found(format!("there is no trigger {trigger_id}")))?;
    Ok(Json(json!({
        "trigger": {
            "id": job.id,
            "campaign_id": job.journey,
            "created": job.created_at.unix_seconds(),
            "processed": job.complete,
            "visited": job.visited,
            "started": job.started,
        }
    })))
}
