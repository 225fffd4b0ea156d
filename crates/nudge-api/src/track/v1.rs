//! Track API v1 handlers: `/api/v1/customers/{identifier}` and friends.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use nudge_core::limits::MAX_SEGMENT_IDS_PER_CALL;
use nudge_core::{Identifier, IdentifierKind, Operation};
use serde::Deserialize;
use serde_json::{json, Value};

use super::convert::{self, EventFields};
use super::submit_one;
use crate::auth::TrackAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

const SOURCE: &str = "track_v1";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/customers/{identifier}",
            put(identify).delete(delete_person),
        )
        .route("/api/v1/customers/{identifier}/events", post(track))
        .route("/api/v1/events", post(track_anonymous))
        .route("/api/v1/customers/{identifier}/devices", put(add_device))
        .route(
            "/api/v1/customers/{identifier}/devices/{token}",
            delete(delete_device),
        )
        .route("/api/v1/customers/{identifier}/suppress", post(suppress))
        .route(
            "/api/v1/customers/{identifier}/unsuppress",
            post(unsuppress),
        )
        .route("/api/v1/merge_customers", post(merge))
        .route("/api/v1/accounts/region", get(region))
        .route(
            "/api/v1/segments/{segment_id}/add_customers",
            post(add_to_segment),
        )
        .route(
            "/api/v1/segments/{segment_id}/remove_customers",
            post(remove_from_segment),
        )
}

fn person(raw: &str) -> Result<Identifier, ApiError> {
    Identifier::infer_from_path(raw).map_err(|e| ApiError::bad_request("identifier", e.to_string()))
}

type Reply = Result<Json<Value>, ApiError>;

async fn identify(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
    body: Bytes,
) -> Reply {
    let operation = convert::identify(person(&identifier)?, decode_object(&body)?, "")?;
    submit_one(&state, ws.id, SOURCE, operation).await
}

async fn delete_person(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
) -> Reply {
    person_action(&state, &ws, &identifier, |person| Operation::DeletePerson {
        person,
    })
    .await
}

fn event_from(body: &nudge_core::JsonMap) -> Result<nudge_core::EventRecord, ApiError> {
    let kind = match body.get("type") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.as_str()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "type",
                "type must be event, page or screen",
            ))
        }
    };
    convert::event(
        EventFields {
            kind,
            name: body.get("name"),
            id: body.get("id"),
            timestamp: body.get("timestamp"),
            data: body.get("data"),
            data_field: "data",
        },
        "",
    )
}

async fn track(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
    body: Bytes,
) -> Reply {
    let person = person(&identifier)?;
    let event = event_from(&decode_object(&body)?)?;
    submit_one(&state, ws.id, SOURCE, Operation::Track { person, event }).await
}

async fn track_anonymous(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    body: Bytes,
) -> Reply {
    let body = decode_object(&body)?;
    let event = event_from(&body)?;
    let anonymous_id = match body.get("anonymous_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) if s.len() <= 150 => Some(s.clone()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "anonymous_id",
                "anonymous_id must be a string of at most 150 bytes",
            ))
        }
    };
    if anonymous_id.is_none() && !event.data.contains_key("recipient") {
        return Err(ApiError::bad_request(
            "anonymous_id",
            "an anonymous event needs anonymous_id, or data.recipient for an invite",
        ));
    }
    submit_one(
        &state,
        ws.id,
        SOURCE,
        Operation::TrackAnonymous {
            anonymous_id,
            event,
        },
    )
    .await
}

async fn add_device(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
    body: Bytes,
) -> Reply {
    let person = person(&identifier)?;
    let mut body = decode_object(&body)?;
    let device = match body.shift_remove("device") {
        Some(Value::Object(device)) => convert::device(device, "id", "device")?,
        _ => {
            return Err(ApiError::bad_request(
                "device",
                "device must be an object with id and platform",
            ))
        }
    };
    submit_one(
        &state,
        ws.id,
        SOURCE,
        Operation::AddDevice { person, device },
    )
    .await
}

async fn delete_device(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path((identifier, token)): Path<(String, String)>,
) -> Reply {
    let operation = Operation::DeleteDevice {
        person: person(&identifier)?,
        token,
    };
    submit_one(&state, ws.id, SOURCE, operation).await
}

/// Actions that name only the person: suppress, unsuppress, delete.
async fn person_action(
    state: &AppState,
    ws: &nudge_core::Workspace,
    identifier: &str,
    action: fn(Identifier) -> Operation,
) -> Reply {
    submit_one(state, ws.id, SOURCE, action(person(identifier)?)).await
}

async fn suppress(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
) -> Reply {
    person_action(&state, &ws, &identifier, |person| Operation::Suppress {
        person,
    })
    .await
}

async fn unsuppress(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(identifier): Path<String>,
) -> Reply {
    person_action(&state, &ws, &identifier, |person| Operation::Unsuppress {
        person,
    })
    .await
}

async fn merge(State(state): State<AppState>, TrackAuth(ws): TrackAuth, body: Bytes) -> Reply {
    let body = decode_object(&body)?;
    let side = |name: &str| {
        convert::single_identifier(body.get(name).unwrap_or(&Value::Null), name, false)
            .map_err(|e| ApiError::new(e.status, e.message))
    };
    let operation = Operation::Merge {
        primary: side("primary")?,
        secondary: side("secondary")?,
    };
    submit_one(&state, ws.id, SOURCE, operation).await
}

async fn region(TrackAuth(ws): TrackAuth, headers: HeaderMap) -> Json<Value> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    Json(json!({"url": format!("http://{host}"), "region": "us", "environment_id": ws.id.0}))
}

#[derive(Deserialize)]
struct SegmentQuery {
    id_type: Option<String>,
}

async fn add_to_segment(
    state: State<AppState>,
    auth: TrackAuth,
    path: Path<String>,
    query: Query<SegmentQuery>,
    body: Bytes,
) -> Reply {
    change_segment(state, auth, path, query, body, true).await
}

async fn remove_from_segment(
    state: State<AppState>,
    auth: TrackAuth,
    path: Path<String>,
    query: Query<SegmentQuery>,
    body: Bytes,
) -> Reply {
    change_segment(state, auth, path, query, body, false).await
}

async fn change_segment(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    Path(segment_id): Path<String>,
    Query(query): Query<SegmentQuery>,
    body: Bytes,
    add: bool,
) -> Reply {
    let segment_id: i64 = segment_id
        .parse()
        .map_err(|_| ApiError::bad_request("segment_id", "segment_id must be an integer"))?;
    let kind = match query.id_type.as_deref().unwrap_or("id") {
        "id" => IdentifierKind::Id,
        "email" => IdentifierKind::Email,
        "cio_id" => IdentifierKind::CioId,
        other => {
            return Err(ApiError::bad_request(
                "id_type",
                format!("id_type must be id, email or cio_id, got '{other}'"),
            ))
        }
    };
    let body = decode_object(&body)?;
    let ids = match body.get("ids") {
        Some(Value::Array(ids)) if !ids.is_empty() && ids.len() <= MAX_SEGMENT_IDS_PER_CALL => ids,
        _ => {
            return Err(ApiError::bad_request(
                "ids",
                "ids must be an array of 1 to 1000 identifiers",
            ))
        }
    };
    // As in Customer.io, entries of the wrong type are ignored rather than failing the call.
    let people = ids
        .iter()
        .filter_map(Value::as_str)
        .filter_map(|v| Identifier::new(kind, v).ok())
        .collect();
    let operation = Operation::ManualSegment {
        segment_id,
        people,
        add,
    };
    submit_one(&state, ws.id, SOURCE, operation).await
}
