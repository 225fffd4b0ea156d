//! The Customer.io Track API: v1 (one action per request, identifier in the path) and v2
//! (`/entity` and `/batch` envelopes). Both decode into the same domain operations.

pub mod convert;
mod metrics;
mod v1;
mod v2;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use nudge_core::{Operation, WorkspaceId};
use nudge_ingest::Outcome;
use serde_json::{json, Value};

use crate::{ApiError, AppState};

/// v1 bodies: identify carries up to 300 attributes of 1000 bytes, events 100 KB of data.
pub const V1_BODY_LIMIT: usize = 1024 * 1024;
/// v2 `/entity` and each batch item.
pub const V2_ITEM_LIMIT: usize = 32 * 1024;
/// v2 `/batch` as a whole.
pub const V2_BATCH_LIMIT: usize = 500 * 1024;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(v1::router().layer(DefaultBodyLimit::max(V1_BODY_LIMIT)))
        .merge(metrics::router().layer(DefaultBodyLimit::max(V1_BODY_LIMIT)))
        .merge(v2::router())
}

/// Commits one operation; `{}` on success, 400 when the store refused what it names.
pub(crate) async fn submit_one(
    state: &AppState,
    ws: WorkspaceId,
    source: &'static str,
    operation: Operation,
) -> Result<axum::Json<Value>, ApiError> {
    let outcomes = state
        .ingestor
        .submit(ws, source, vec![operation.into()])
        .await?;
    match outcomes.into_iter().next() {
        Some(Outcome::Refused(reason)) => Err(ApiError::bad_request("", reason)),
        Some(Outcome::Dropped(reason)) => {
            tracing::info!(%reason, "operation accepted without effect");
            Ok(axum::Json(json!({})))
        }
        _ => Ok(axum::Json(json!({}))),
    }
}
