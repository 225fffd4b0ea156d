//! `GET /v1/clock` and `POST /v1/clock` (`{"advance_to": "<RFC 3339>"}`): the virtual clock of
//! a test server (`nudge serve --virtual-clock`). Advancing runs the clock forward to that
//! moment, stopping at every due check and journey timer on the way and answering only once
//! the processor has done everything due up to it, so a test replays days of a customer's
//! life in moments. Mounted only on a server started with a virtual clock: elsewhere the
//! routes do not exist.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use nudge_core::Timestamp;
use nudge_process::journeys::timeline::format_time;
use nudge_process::{AdvanceError, ClockDriver};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/clock", get(read).post(advance))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdvanceBody {
    advance_to: String,
}

fn driver(state: &AppState) -> Result<Arc<ClockDriver>, ApiError> {
    state
        .virtual_clock
        .clone()
        .ok_or_else(|| ApiError::not_found("this server runs on the system clock"))
}

fn answer(now: Timestamp) -> Json<Value> {
    Json(json!({"now": format_time(now)}))
}

async fn read(State(state): State<AppState>, AppAuth(_): AppAuth) -> Result<Json<Value>, ApiError> {
    Ok(answer(driver(&state)?.now()))
}

async fn advance(
    State(state): State<AppState>,
    AppAuth(_): AppAuth,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let driver = driver(&state)?;
    let AdvanceBody { advance_to } = decode(&body)?;
    let target = Timestamp::parse_rfc3339(&advance_to).ok_or_else(|| {
        ApiError::bad_request(
            "advance_to",
            format!("'{advance_to}' is not an RFC 3339 time"),
        )
    })?;
    let store = state.store.clone();
    let moved = tokio::task::spawn_blocking(move || driver.advance_to(store.as_ref(), target))
        .await
        .map_err(|join| ApiError::internal(format!("clock task failed: {join}")))?;
    match moved {
        Ok(now) => Ok(answer(now)),
        Err(AdvanceError::Backwards { now, .. }) => Err(ApiError::bad_request(
            "advance_to",
            format!("the clock never moves backwards: {advance_to} is before {now}"),
        )),
        Err(AdvanceError::Store(store)) => Err(store.into()),
        Err(error @ AdvanceError::NotSettled { .. }) => Err(ApiError {
            retry_after_secs: Some(1),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }),
        Err(error @ AdvanceError::KeepsScheduling(_)) => Err(ApiError::internal(error.to_string())),
    }
}
