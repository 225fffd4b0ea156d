//! `GET /v1/timeline`: the workspace's journey timeline in recording order — who entered and
//! left which journey, which messages went out (with their rendered text) and which were
//! skipped and why — each entry in exactly the line shape `nudge simulate --json` prints
//! (`nudge_process::journeys::timeline`). Paged like the other lists: `limit` (1 to 1000,
//! default 50) and `start`, the `next` cursor of the previous page.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use nudge_core::WorkspaceId;
use nudge_process::journeys::timeline::journey_timeline_line;
use nudge_store::{Store, StoreResult};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cursor::PageRequest;
use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/timeline", get(list))
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
    let request = PageRequest::parse(params.start.as_deref(), params.limit.as_deref())?;
    let ws = ws.id;
    let (lines, last) = state
        .read(move |store| timeline_page(store, ws, request))
        .await?;
    let next = request.next(lines.len(), last);
    Ok(Json(json!({"timeline": lines, "next": next})))
}

/// Up to `request.limit` timeline lines after the cursor, and the position of the last
/// recorded event read for them. Recorded events the timeline does not show (steps reached,
/// attribute updates…) are passed over, so a page is short only at the end.
fn timeline_page(
    store: &dyn Store,
    ws: WorkspaceId,
    request: PageRequest,
) -> StoreResult<(Vec<Value>, Option<i64>)> {
    let mut lines = Vec::new();
    let mut after = request.past.unwrap_or(0);
    let mut last = None;
    loop {
        let page = store.journey_events(ws, after, request.limit)?;
        for stored in &page {
            last = Some(stored.id);
            lines.extend(journey_timeline_line(&stored.event));
            if lines.len() == request.limit {
                return Ok((lines, last));
            }
        }
        match page.last() {
            Some(newest) if page.len() == request.limit => after = newest.id,
            _ => return Ok((lines, last)),
        }
    }
}
