//! `GET /v1/rejected_messages`: the Pipelines messages refused in permissive mode (answered
//! 200 all the same), newest first, with why, which field, and the message as it arrived.
//! Paged like activities: `limit` (1 to 1000, default 50) and `start`, the `next` cursor of
//! the previous page.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use nudge_store::RejectionRecord;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/rejected_messages", get(list))
}

#[derive(Deserialize)]
struct Params {
    start: Option<String>,
    limit: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Query(params): Query<Params>,
) -> Result<Json<Value>, ApiError> {
    let limit = match params.limit.as_deref() {
        None | Some("") => 50,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request("limit", "limit must be an integer from 1 to 1000")
            })?,
    };
    let before_id = match params.start.as_deref() {
        None | Some("") => None,
        Some(cursor) => Some(cursor.parse::<i64>().map_err(|_| {
            ApiError::bad_request("start", "start must be a cursor returned as next")
        })?),
    };
    let ws = ws.id;
    let page = state
        .read(move |store| store.rejections(ws, before_id, limit))
        .await?;
    let next = match page.last() {
        Some(last) if page.len() == limit => last.id.to_string(),
        _ => String::new(),
    };
    let items: Vec<Value> = page.iter().map(render).collect();
    Ok(Json(json!({"rejected_messages": items, "next": next})))
}

fn render(record: &RejectionRecord) -> Value {
    let r = &record.rejection;
    json!({
        "id": record.id.to_string(),
        "received_at": r.received_at.unix_seconds(),
        "source": r.source,
        "reason": r.reason,
        "field": r.field,
        "message": r.raw,
    })
}
