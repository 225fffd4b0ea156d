//! App API campaigns: Customer.io's name for journeys. `GET /v1/campaigns` lists the live
//! journeys as Customer.io campaigns, `GET /v1/campaigns/{id}` shows one (a deleted journey
//! as `stopped`), and `GET /v1/campaigns/{id}/journey_metrics` its counts per journey and per
//! step ([`metrics`]). Read-only: journeys are changed under `/v1/journeys`.

mod campaign;
mod metrics;

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use nudge_core::WorkspaceId;
use nudge_store::{Document, DocumentKind};
use serde_json::{json, Value};

use super::documents::wire;
use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/campaigns", get(list))
        .route("/v1/campaigns/{id}", get(read))
        .route("/v1/campaigns/{id}/journey_metrics", get(journey_metrics))
}

type Reply = Result<Json<Value>, ApiError>;

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let ws = ws.id;
    let all = state
        .read(move |store| store.all_document_versions(ws, DocumentKind::Journey))
        .await?;
    let campaigns: Vec<Value> = wire::histories(all)
        .iter()
        .filter(|history| wire::live(history).is_some())
        .filter_map(|history| campaign::campaign(history))
        .collect();
    Ok(Json(json!({ "campaigns": campaigns })))
}

/// Every version of the journey, or a 404 when it never existed.
async fn history(state: &AppState, ws: WorkspaceId, id: &str) -> Result<Vec<Document>, ApiError> {
    let name = id.to_string();
    let history = state
        .read(move |store| store.document_versions(ws, DocumentKind::Journey, &name))
        .await?;
    if history.is_empty() {
        return Err(ApiError::not_found(format!("no campaign '{id}'")));
    }
    Ok(history)
}

async fn read(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Reply {
    let history = history(&state, ws.id, &id).await?;
    let rendered = campaign::campaign(&history)
        .ok_or_else(|| ApiError::not_found(format!("no campaign '{id}'")))?;
    Ok(Json(json!({ "campaign": rendered })))
}

async fn journey_metrics(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Reply {
    let history = history(&state, ws.id, &id).await?;
    let ws = ws.id;
    let (counters, waiting) = state
        .read(move |store| {
            Ok((
                store.journey_counters(ws, &id)?,
                store.waiting_instances(ws, &id)?,
            ))
        })
        .await?;
    Ok(Json(json!({
        "journey_metrics": metrics::journey_metrics(&history, &counters, &waiting),
    })))
}
