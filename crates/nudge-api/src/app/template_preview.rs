//! `POST /v1/templates/{id}/preview`: a stored template rendered as it would be sent, with a
//! person named by `identifiers` (attributes given as `customer` are added, replacing the
//! person's of the same name, or stand alone), the event that would trigger it (`event`:
//! `name`, `data`, `timestamp` in unix seconds, the clock's time when absent), `trigger` data
//! (a broadcast's data or a transactional message's `message_data`, which is accepted under
//! that name too) and `journey` fields. The live version, or `version`. Answers the rendered
//! parts, or a 400 naming the undefined variable (its pointer in `source`). Reads only.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use nudge_core::{JsonMap, Timestamp};
use nudge_store::{DocumentKind, StoreResult};
use nudge_templates::{parse_template, EventContext, RenderContext};
use serde::Deserialize;
use serde_json::{json, Value};

use super::transactional::{customer_scope, identifiers, part_label};
use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/templates/{id}/preview", post(preview))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    identifiers: Option<Value>,
    customer: Option<JsonMap>,
    event: Option<EventBody>,
    trigger: Option<JsonMap>,
    message_data: Option<JsonMap>,
    journey: Option<JsonMap>,
    version: Option<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventBody {
    name: String,
    data: Option<JsonMap>,
    timestamp: Option<i64>,
}

async fn preview(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let body: PreviewBody = if body.iter().all(u8::is_ascii_whitespace) {
        decode(b"{}")?
    } else {
        decode(&body)?
    };
    if body.trigger.is_some() && body.message_data.is_some() {
        return Err(ApiError::bad_request(
            "message_data",
            "give trigger or message_data, not both",
        ));
    }
    let person = match &body.identifiers {
        Some(given) => Some(identifiers(Some(given))?),
        None => None,
    };
    let (ws, name, version) = (ws.id, id.clone(), body.version);
    let found = state
        .read(move |store| -> StoreResult<_> {
            let history = store.document_versions(ws, DocumentKind::Template, &name)?;
            let document = match version {
                Some(v) => history.into_iter().find(|d| d.version == v && !d.deleted),
                None => history.into_iter().last().filter(|d| !d.deleted),
            };
            let view = match &person {
                Some(identifier) => match store.resolve(ws, identifier)? {
                    Some(key) => store.person(ws, key)?.map(Some),
                    None => None,
                },
                None => Some(None),
            };
            Ok((document, view, person))
        })
        .await?;
    let (document, view, person) = found;
    let Some(document) = document else {
        return Err(ApiError::not_found(match version {
            Some(v) => format!("template '{id}' has no version {v}"),
            None => format!("no template '{id}'"),
        }));
    };
    let Some(view) = view else {
        let named = person.map(|p| p.to_string()).unwrap_or_default();
        return Err(ApiError::bad_request(
            "identifiers",
            format!("no person has {named}"),
        ));
    };
    let template = parse_template(&document.body).map_err(|error| {
        ApiError::bad_request("", format!("template '{id}' does not compile: {error}"))
    })?;
    let mut customer = view.map(|v| customer_scope(&v.state)).unwrap_or_default();
    customer.extend(body.customer.unwrap_or_default());
    let now = state.clock.now();
    let context = RenderContext {
        customer,
        event: body.event.map(|event| EventContext {
            name: event.name,
            timestamp: event
                .timestamp
                .map_or(now, |s| Timestamp::from_millis(s.saturating_mul(1000))),
            data: event.data.unwrap_or_default(),
        }),
        trigger: body.trigger.or(body.message_data).unwrap_or_default(),
        journey: body.journey.unwrap_or_default(),
    };
    let rendered = template.render(&context).map_err(|error| {
        let field = error.variable.clone().unwrap_or_else(|| error.part.clone());
        ApiError::bad_request(
            field,
            format!(
                "{} did not render: {}",
                part_label(&error.part),
                error.message
            ),
        )
    })?;
    Ok(Json(json!({
        "id": id,
        "version": document.version,
        "channel": template.channel.as_str(),
        "subject": rendered.subject,
        "title": rendered.title,
        "body": rendered.body,
        "html": rendered.html,
    })))
}
