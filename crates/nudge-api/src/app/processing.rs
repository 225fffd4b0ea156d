//! `GET /v1/processing`: how far the log processor has got through the workspace's log, so
//! clients, tests and the dashboard can wait for "processed up to here" instead of guessing.
//! Segment memberships and computed attributes reflect every entry up to `processed_offset`;
//! a workspace without data-driven segments, computed attributes or journeys has nothing to
//! process.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/processing", get(status))
}

async fn status(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
) -> Result<Json<Value>, ApiError> {
    let ws = ws.id;
    let (processed, ahead, derives) = state
        .read(move |store| {
            let processed = store.processed_offset(ws)?;
            let derives = !store.computed_definitions(ws)?.is_empty()
                || store.segment_definitions(ws)?.iter().any(|s| !s.manual())
                || !store
                    .all_document_versions(ws, nudge_store::DocumentKind::Journey)?
                    .is_empty();
            Ok((processed, store.log_extent(ws, processed)?, derives))
        })
        .await?;
    let head = ahead.last_offset.unwrap_or(processed);
    // Without definitions there is nothing to derive: every entry is as processed as it gets.
    let (processed, behind) = if derives {
        (processed, ahead.entries)
    } else {
        (head, 0)
    };
    Ok(Json(json!({
        "processed_offset": processed,
        "log_offset": head,
        "behind": behind,
    })))
}
