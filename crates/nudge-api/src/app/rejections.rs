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
    let request =
        super::cursor::PageRequest::parse(params.start.as_deref(), params.limit.as_deref())?;
    let ws = ws.id;
    let page = state
        .read(move |store| store.rejections(ws, request.past, request.limit))
        .await?;
    let next = request.next(page.len(), page.last().map(|r| r.id));
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
