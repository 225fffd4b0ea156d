//! Track `POST /api/v1/metrics`: a provider or a receiver reports what happened to a delivery
//! (`{delivery_id, metric, timestamp?, recipient?, reason?, href?}`, Customer.io's shape).
//! `delivered`, `opened` and `clicked` move the ledger forward; `bounced` marks the delivery
//! bounced and `spammed` notes it, and both suppress the address it went to, so later
//! messages to that address are skipped. Customer.io takes this call without credentials;
//! Nudge's delivery ids are derived, not secret, so it requires the workspace's Track
//! credentials (which the official clients always send).

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use nudge_store::{DeliveryMetric, MetricReport};
use serde_json::{json, Value};

use super::convert::unix_seconds;
use crate::auth::TrackAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/metrics", post(report_metric))
}

async fn report_metric(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body = decode_object(&body)?;
    let text = |name: &str| -> Result<Option<String>, ApiError> {
        match body.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::bad_request(
                name,
                format!("{name} must be a string"),
            )),
        }
    };
    let delivery_id = text("delivery_id")?
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| ApiError::bad_request("delivery_id", "delivery_id is required"))?;
    let metric_name =
        text("metric")?.ok_or_else(|| ApiError::bad_request("metric", "metric is required"))?;
    let metric = DeliveryMetric::parse_reported(&metric_name).ok_or_else(|| {
        let names: Vec<&str> = DeliveryMetric::REPORTED
            .iter()
            .map(|m| m.as_str())
            .collect();
        ApiError::bad_request(
            "metric",
            format!("metric must be one of {}", names.join(", ")),
        )
    })?;
    let at = match body.get("timestamp") {
        None | Some(Value::Null) => state.clock.now(),
        Some(value) => unix_seconds(value, "timestamp")?,
    };
    for optional in ["recipient", "href"] {
        text(optional)?;
    }
    let report = MetricReport {
        delivery_id: delivery_id.clone(),
        metric,
        at,
        reason: text("reason")?,
    };
    let ws = ws.id;
    let recorded = state
        .read(move |store| store.record_delivery_metric(ws, &report))
        .await?;
    match recorded {
        Some(recorded) => {
            if let Some(address) = &recorded.suppressed {
                tracing::info!(delivery = %delivery_id, metric = metric.as_str(), %address,
                    "address suppressed");
            }
            Ok(Json(json!({})))
        }
        None => Err(ApiError::bad_request(
            "delivery_id",
            format!("no delivery with id '{delivery_id}'"),
        )),
    }
}
