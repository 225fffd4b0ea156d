//! Reporting webhooks (App API, Customer.io's `/v1/reporting_webhooks`): `GET` lists the
//! workspace's endpoints, `POST` creates one (`name`, `endpoint`, `events`, optional
//! `disabled`, `full_resolution`, `with_content`) with a fresh signing key, `GET`, `PUT` (the
//! fields given replace the stored ones) and `DELETE /v1/reporting_webhooks/{id}` read, change
//! and remove one. Besides Customer.io's fields an endpoint shows its `signing_key` and how its
//! posting goes (`failures`, `next_attempt_at`, `last_error`). The dispatcher in
//! `nudge-delivery` posts the reports; nothing here sends.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use nudge_core::{JsonMap, PersonState};
use nudge_store::{
    customer_report, ReportedPerson, ReportingWebhook, WebhookSettings, EVENT_NAMES,
    PREFERENCES_CHANGED,
};
use rand::RngCore;
use serde_json::{json, Value};

use crate::auth::AppAuth;
use crate::json::decode_object;
use crate::{ApiError, AppState};

/// The longest name and endpoint accepted.
const MAX_NAME: usize = 255;
const MAX_ENDPOINT: usize = 2048;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/reporting_webhooks", get(list).post(create))
        .route(
            "/v1/reporting_webhooks/{id}",
            get(one).put(update).delete(remove),
        )
}

type Reply = Result<Json<Value>, ApiError>;

fn view(hook: &ReportingWebhook) -> Value {
    let s = &hook.settings;
    json!({
        "id": hook.id,
        "name": s.name,
        "endpoint": s.endpoint,
        "events": s.events,
        "disabled": s.disabled,
        "full_resolution": s.full_resolution,
        "with_content": s.with_content,
        "signing_key": hook.signing_key,
        "failures": hook.failures,
        "next_attempt_at": hook.next_attempt_at.map(|t| t.unix_seconds()),
        "last_error": hook.last_error,
        "created": hook.created_at.unix_seconds(),
        "updated": hook.updated_at.unix_seconds(),
    })
}

/// A 32-byte key, hex.
fn signing_key() -> String {
    let mut key = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut key);
    hex::encode(key)
}

fn webhook_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::bad_request("id", "id must be a positive integer"))
}

fn not_found(id: i64) -> ApiError {
    ApiError::not_found(format!("no reporting webhook with id {id}"))
}

async fn list(State(state): State<AppState>, AppAuth(ws): AppAuth) -> Reply {
    let ws = ws.id;
    let hooks = state
        .read(move |store| store.reporting_webhooks(ws))
        .await?;
    let items: Vec<Value> = hooks.iter().map(view).collect();
    Ok(Json(json!({"reporting_webhooks": items})))
}

async fn create(State(state): State<AppState>, AppAuth(ws): AppAuth, body: Bytes) -> Reply {
    let fields = decode_object(&body)?;
    let settings = settings(&fields, None)?;
    let (ws, now, key) = (ws.id, state.clock.now(), signing_key());
    let hook = state
        .read(move |store| store.create_reporting_webhook(ws, &settings, &key, now))
        .await?;
    Ok(Json(view(&hook)))
}

async fn one(State(state): State<AppState>, AppAuth(ws): AppAuth, Path(id): Path<String>) -> Reply {
    let (ws, id) = (ws.id, webhook_id(&id)?);
    let hook = state
        .read(move |store| store.reporting_webhook(ws, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(view(&hook)))
}

async fn update(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Reply {
    let (ws, id) = (ws.id, webhook_id(&id)?);
    let fields = decode_object(&body)?;
    let current = state
        .read(move |store| store.reporting_webhook(ws, id))
        .await?
        .ok_or_else(|| not_found(id))?;
    let settings = settings(&fields, Some(&current.settings))?;
    let now = state.clock.now();
    let hook = state
        .read(move |store| store.update_reporting_webhook(ws, id, &settings, now))
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Json(view(&hook)))
}

async fn remove(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
) -> Reply {
    let (ws, id) = (ws.id, webhook_id(&id)?);
    let deleted = state
        .read(move |store| store.delete_reporting_webhook(ws, id))
        .await?;
    if !deleted {
        return Err(not_found(id));
    }
    Ok(Json(json!({})))
}

/// Reports a person's subscription change made through an unsubscribe link or Track's
/// `POST /unsubscribe/{delivery_id}`, once the writer has committed it: `Some(false)`
/// unsubscribed, `Some(true)` subscribed again, `None` a topic preference changed. `before`
/// is the person as they were; a change to what they already had is not reported. The report
/// follows the commit (the attribute goes through the writer), so a crash between the two
/// loses it; a failed append is logged, not answered, since the change itself is committed.
pub(crate) async fn report_subscription(
    state: &AppState,
    ws: nudge_core::WorkspaceId,
    before: &PersonState,
    subscribed: Option<bool>,
    delivery_id: &str,
) {
    let was_unsubscribed = before.attributes.get("unsubscribed") == Some(&Value::Bool(true));
    let metric = match subscribed {
        Some(false) if !was_unsubscribed => "unsubscribed",
        Some(true) if was_unsubscribed => "subscribed",
        None => PREFERENCES_CHANGED,
        Some(_) => return,
    };
    let person = ReportedPerson {
        id: before.id.clone(),
        email: before.email.clone(),
        cio_id: before.cio_id.clone(),
    };
    let now = state.clock.now();
    let report = customer_report(&person, metric, now, Some(delivery_id));
    let appended = state
        .read(move |store| store.append_reports(ws, &[report], now))
        .await;
    if let Err(error) = appended {
        tracing::warn!(workspace = ws.0, metric, error = ?error,
            "a subscription change was committed but its report was not appended");
    }
}

/// The settings a body asks for: every field on create (`current` is `None`), the fields
/// given over `current` on update.
fn settings(
    fields: &JsonMap,
    current: Option<&WebhookSettings>,
) -> Result<WebhookSettings, ApiError> {
    let text = |name: &str, max: usize| -> Result<Option<String>, ApiError> {
        match fields.get(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Err(ApiError::bad_request(
                name,
                format!("{name} must not be empty"),
            )),
            Some(Value::String(s)) if s.chars().count() > max => Err(ApiError::bad_request(
                name,
                format!("{name} must be at most {max} characters"),
            )),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(ApiError::bad_request(
                name,
                format!("{name} must be a string"),
            )),
        }
    };
    let flag = |name: &str| -> Result<Option<bool>, ApiError> {
        match fields.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ApiError::bad_request(
                name,
                format!("{name} must be true or false"),
            )),
        }
    };
    let required = |name: &str| ApiError::bad_request(name, format!("{name} is required"));
    let name = match (text("name", MAX_NAME)?, current) {
        (Some(name), _) => name,
        (None, Some(current)) => current.name.clone(),
        (None, None) => return Err(required("name")),
    };
    let endpoint = match (text("endpoint", MAX_ENDPOINT)?, current) {
        (Some(endpoint), _) => check_endpoint(&endpoint)?,
        (None, Some(current)) => current.endpoint.clone(),
        (None, None) => return Err(required("endpoint")),
    };
    let events = match (fields.get("events"), current) {
        (Some(value), _) => events(value)?,
        (None, Some(current)) => current.events.clone(),
        (None, None) => return Err(required("events")),
    };
    let or = |given: Option<bool>, pick: fn(&WebhookSettings) -> bool| {
        given.unwrap_or_else(|| current.is_some_and(pick))
    };
    Ok(WebhookSettings {
        name,
        endpoint,
        events,
        disabled: or(flag("disabled")?, |s| s.disabled),
        full_resolution: or(flag("full_resolution")?, |s| s.full_resolution),
        with_content: or(flag("with_content")?, |s| s.with_content),
    })
}

/// A non-empty list of known event names, each once.
fn events(value: &Value) -> Result<Vec<String>, ApiError> {
    let Value::Array(items) = value else {
        return Err(ApiError::bad_request(
            "events",
            "events must be an array of event names",
        ));
    };
    if items.is_empty() {
        return Err(ApiError::bad_request(
            "events",
            "events must name at least one event",
        ));
    }
    let mut names: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        let name = item.as_str().unwrap_or_default();
        if !EVENT_NAMES.contains(&name) {
            return Err(ApiError::bad_request(
                "events",
                format!(
                    "events: {item} is not a reporting webhook event (for example email_sent, \
                     email_opened, customer_unsubscribed)"
                ),
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
    }
    Ok(names)
}

/// An absolute `http://` or `https://` URL with a host.
fn check_endpoint(endpoint: &str) -> Result<String, ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "endpoint",
            "endpoint must be an absolute http:// or https:// URL",
        )
    };
    let lower = endpoint.to_ascii_lowercase();
    let rest = (lower.strip_prefix("https://"))
        .or_else(|| lower.strip_prefix("http://"))
        .ok_or_else(invalid)?;
    if endpoint
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(invalid());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit('@').next().unwrap_or_default();
    let (host, port) = match host_port.strip_prefix('[') {
        Some(v6) => match v6.split_once(']') {
            Some((host, after)) => (host, after.strip_prefix(':')),
            None => return Err(invalid()),
        },
        None => match host_port.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (host_port, None),
        },
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.parse::<u16>().is_ok());
    if host.is_empty() || !port_ok {
        return Err(invalid());
    }
    Ok(endpoint.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_must_be_absolute_http_urls() {
        for good in [
            "https://example.com/hooks",
            "http://127.0.0.1:8080/cio",
            "https://user@hooks.example.com",
            "http://[::1]:9000/x?y=1",
        ] {
            assert!(check_endpoint(good).is_ok(), "{good}");
        }
        for bad in [
            "example.com/hooks",
            "ftp://example.com",
            "https://",
            "https:///path",
            "http://host:port/",
            "http://exa mple.com",
            "/relative",
        ] {
            let error = check_endpoint(bad).unwrap_err();
            assert_eq!(error.field.as_deref(), Some("endpoint"), "{bad}");
        }
    }

    #[test]
    fn events_must_be_known_names() {
        assert_eq!(
            events(&json!([
                "email_sent",
                "email_sent",
                "customer_unsubscribed"
            ]))
            .unwrap(),
            ["email_sent", "customer_unsubscribed"]
        );
        for bad in [
            json!([]),
            json!("email_sent"),
            json!(["email_exploded"]),
            json!([1]),
        ] {
            assert_eq!(events(&bad).unwrap_err().field.as_deref(), Some("events"));
        }
    }
}
