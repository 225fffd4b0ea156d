//! Suppressed addresses (App API): email addresses and phone numbers that hard bounced or
//! drew a spam complaint, which the delivery worker skips. `GET /v1/suppressions` lists them
//! by address (filter `category`; paged by `start` and `limit`), `GET` and `DELETE
//! /v1/suppressions/{address}` read and lift one. Customer.io's ESP suppression endpoints work
//! on the same list: `GET /v1/esp/search_suppression/{email}`, `GET
//! /v1/esp/suppression/{type}`, `POST` and `DELETE /v1/esp/suppression/{type}/{email}`.

use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nudge_store::{Address, AddressSuppression, SuppressionCategory, SuppressionQuery};
use serde::Deserialize;
use serde_json::{json, Value};

use super::cursor::PageRequest;
use crate::auth::AppAuth;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/suppressions", get(list))
        .route("/v1/suppressions/{address}", get(one).delete(remove))
        .route("/v1/esp/search_suppression/{email}", get(search))
        .route("/v1/esp/suppression/{category}", get(list_category))
        .route(
            "/v1/esp/suppression/{category}/{email}",
            post(add).delete(remove_in_category),
        )
}

type Reply = Result<Json<Value>, ApiError>;

#[derive(Deserialize)]
struct Params {
    start: Option<String>,
    limit: Option<String>,
    category: Option<String>,
}

/// One suppression, its address under `key` (`address` here, `email` in the ESP routes).
fn view(suppression: &AddressSuppression, key: &str) -> Value {
    json!({
        key: suppression.address.as_str(),
        "category": suppression.category.as_str(),
        "reason": suppression.reason,
        "created": suppression.created_at.unix_seconds(),
        "delivery_id": suppression.delivery_id,
    })
}

fn category(name: &str, field: &str) -> Result<SuppressionCategory, ApiError> {
    SuppressionCategory::parse(name).ok_or_else(|| {
        let names: Vec<&str> = SuppressionCategory::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        ApiError::bad_request(
            field,
            format!("{field} must be one of {}", names.join(", ")),
        )
    })
}

fn address(raw: &str) -> Result<Address, ApiError> {
    Address::new(raw)
        .ok_or_else(|| ApiError::bad_request("address", "the address must not be empty"))
}

/// A page of the workspace's suppressions: `(items, next cursor)`.
async fn page(
    state: &AppState,
    ws: nudge_core::WorkspaceId,
    params: &Params,
    category: Option<SuppressionCategory>,
) -> Result<(Vec<AddressSuppression>, String), ApiError> {
    let request = PageRequest::parse(None, params.limit.as_deref())?;
    let after = match params.start.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(cursor) => Some(
            URL_SAFE_NO_PAD
                .decode(cursor)
                .ok()
                .and_then(|bytes| String::from_utf8(bytes).ok())
                .and_then(|text| Address::new(&text))
                .ok_or_else(|| {
                    ApiError::bad_request("start", "start must be a cursor returned as next")
                })?,
        ),
    };
    let query = SuppressionQuery {
        after,
        category,
        limit: request.limit,
    };
    let found = state
        .read(move |store| store.address_suppressions(ws, &query))
        .await?;
    let next = match found.last() {
        Some(last) if found.len() == request.limit => URL_SAFE_NO_PAD.encode(last.address.as_str()),
        _ => String::new(),
    };
    Ok((found, next))
}

async fn list(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Query(params): Query<Params>,
) -> Reply {
    let filter = match params.category.as_deref().filter(|c| !c.is_empty()) {
        Some(name) => Some(category(name, "category")?),
        None => None,
    };
    let (found, next) = page(&state, ws.id, &params, filter).await?;
    let items: Vec<Value> = found.iter().map(|s| view(s, "address")).collect();
    Ok(Json(json!({"suppressions": items, "next": next})))
}

async fn one(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
) -> Reply {
    let address = address(&raw)?;
    let ws = ws.id;
    let wanted = address.clone();
    let found = state
        .read(move |store| store.address_suppression(ws, &wanted))
        .await?;
    match found {
        Some(suppression) => Ok(Json(json!({"suppression": view(&suppression, "address")}))),
        None => Err(ApiError::not_found(format!("{address} is not suppressed"))),
    }
}

async fn remove(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
) -> Reply {
    let address = address(&raw)?;
    let ws = ws.id;
    let wanted = address.clone();
    let removed = state
        .read(move |store| store.remove_address_suppression(ws, &wanted))
        .await?;
    if removed {
        Ok(Json(json!({})))
    } else {
        Err(ApiError::not_found(format!("{address} is not suppressed")))
    }
}

async fn search(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(raw): Path<String>,
) -> Reply {
    let address = address(&raw)?;
    let ws = ws.id;
    let found = state
        .read(move |store| store.address_suppression(ws, &address))
        .await?;
    Ok(Json(match found {
        Some(s) => json!({"category": s.category.as_str(), "suppressions": [view(&s, "email")]}),
        None => json!({"category": null, "suppressions": []}),
    }))
}

async fn list_category(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(name): Path<String>,
    Query(params): Query<Params>,
) -> Reply {
    let filter = category(&name, "suppression_type")?;
    let (found, next) = page(&state, ws.id, &params, Some(filter)).await?;
    let items: Vec<Value> = found.iter().map(|s| view(s, "email")).collect();
    Ok(Json(
        json!({"category": filter.as_str(), "suppressions": items, "next": next}),
    ))
}

/// Suppresses an address by hand (Customer.io's "suppress an email at the ESP").
async fn add(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path((name, raw)): Path<(String, String)>,
) -> Reply {
    let suppression = AddressSuppression {
        address: address(&raw)?,
        category: category(&name, "suppression_type")?,
        reason: Some("suppressed through the App API".into()),
        delivery_id: None,
        created_at: state.clock.now(),
    };
    let ws = ws.id;
    state
        .read(move |store| store.suppress_address(ws, &suppression))
        .await?;
    Ok(Json(json!({})))
}

async fn remove_in_category(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path((name, raw)): Path<(String, String)>,
) -> Reply {
    let wanted = category(&name, "suppression_type")?;
    let address = address(&raw)?;
    let ws = ws.id;
    let lookup = address.clone();
    let found = state
        .read(move |store| store.address_suppression(ws, &lookup))
        .await?;
    if found.is_none_or(|s| s.category != wanted) {
        return Err(ApiError::not_found(format!(
            "{address} is not suppressed as {}",
            wanted.as_str()
        )));
    }
    state
        .read(move |store| store.remove_address_suppression(ws, &address))
        .await?;
    Ok(Json(json!({})))
}
