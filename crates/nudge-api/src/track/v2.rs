//! Track API v2: `POST /api/v2/entity` (one action) and `POST /api/v2/batch` (many, mixed).
//! Invalid batch items are answered with 207 and their `batch_index`; the rest commit.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use nudge_core::operation::Relationship;
use nudge_core::{Identifier, IdentifierKind, JsonMap, ObjectRef, Operation};
use nudge_ingest::Outcome;
use serde_json::{json, Value};

use super::convert::{self, field, EventFields};
use super::{V2_BATCH_LIMIT, V2_ITEM_LIMIT};
use crate::auth::TrackAuth;
use crate::json::{decode, decode_object};
use crate::{ApiError, AppState};

const SOURCE: &str = "track_v2";

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/entity",
            post(entity).layer(DefaultBodyLimit::max(V2_ITEM_LIMIT)),
        )
        .route(
            "/api/v2/batch",
            post(batch).layer(DefaultBodyLimit::max(V2_BATCH_LIMIT)),
        )
}

async fn entity(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let operations = operations(&Value::Object(decode_object(&body)?), "")?;
    let accepted = operations.into_iter().map(Into::into).collect();
    let outcomes = state.ingestor.submit(ws.id, SOURCE, accepted).await?;
    if let Some(Outcome::Refused(reason)) = outcomes
        .into_iter()
        .find(|o| matches!(o, Outcome::Refused(_)))
    {
        return Err(ApiError::bad_request("", reason));
    }
    Ok(Json(json!({})))
}

async fn batch(
    State(state): State<AppState>,
    TrackAuth(ws): TrackAuth,
    body: Bytes,
) -> Result<Response, ApiError> {
    #[derive(serde::Deserialize)]
    struct Batch {
        batch: Vec<Value>,
    }
    let Batch { batch } = decode(&body)?;
    let mut errors = Vec::new();
    let mut accepted = Vec::new();
    // (batch index, operations) so refusals map back to the item that caused them.
    let mut owners = Vec::new();
    for (index, item) in batch.iter().enumerate() {
        let size = serde_json::to_vec(item)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        let result = if size > V2_ITEM_LIMIT {
            Err(ApiError::bad_request(
                "",
                format!("batch item is {size} bytes; the limit is 32 KB"),
            ))
        } else {
            operations(item, "")
        };
        match result {
            Ok(ops) => {
                owners.extend(std::iter::repeat_n(index, ops.len()));
                accepted.extend(ops);
            }
            Err(e) => errors.push(item_error(index, &e)),
        }
    }
    if !accepted.is_empty() {
        let accepted = accepted.into_iter().map(Into::into).collect();
        let outcomes = state.ingestor.submit(ws.id, SOURCE, accepted).await?;
        for (index, outcome) in owners.into_iter().zip(outcomes) {
            if let Outcome::Refused(reason) = outcome {
                errors.push(item_error(index, &ApiError::bad_request("", reason)));
            }
        }
    }
    if errors.is_empty() {
        Ok(Json(json!({})).into_response())
    } else {
        Ok((StatusCode::MULTI_STATUS, Json(json!({"errors": errors}))).into_response())
    }
}

fn item_error(index: usize, error: &ApiError) -> Value {
    json!({"batch_index": index, "reason": crate::error::reason_code(error.status),
           "field": error.field, "message": error.message})
}

fn text<'a>(item: &'a JsonMap, key: &str, prefix: &str) -> Result<&'a str, ApiError> {
    item.get(key).and_then(Value::as_str).ok_or_else(|| {
        ApiError::bad_request(
            field(prefix, key),
            format!("{key} is required and must be a string"),
        )
    })
}

fn object_of(item: &JsonMap, key: &str, prefix: &str) -> Result<JsonMap, ApiError> {
    match item.get(key) {
        None | Some(Value::Null) => Ok(JsonMap::new()),
        Some(Value::Object(map)) => Ok(map.clone()),
        Some(_) => Err(ApiError::bad_request(
            field(prefix, key),
            format!("{key} must be an object"),
        )),
    }
}

/// One envelope (`type`, `action`, `identifiers`, …) as domain operations.
fn operations(item: &Value, prefix: &str) -> Result<Vec<Operation>, ApiError> {
    let item = item
        .as_object()
        .ok_or_else(|| ApiError::bad_request(prefix, "each entry must be a JSON object"))?;
    let kind = text(item, "type", prefix)?;
    let action = text(item, "action", prefix)?;
    match kind {
        "person" => person_operations(item, action, prefix),
        "object" => object_operations(item, action, prefix),
        "delivery" => Err(ApiError::bad_request(
            field(prefix, "identifiers.id"),
            "unknown delivery id: no delivery with that id exists in this workspace",
        )),
        other => Err(ApiError::bad_request(
            field(prefix, "type"),
            format!("type must be person, object or delivery, got '{other}'"),
        )),
    }
}

fn person_operations(
    item: &JsonMap,
    action: &str,
    prefix: &str,
) -> Result<Vec<Operation>, ApiError> {
    if action == "merge" {
        let side = |name: &str| {
            convert::single_identifier(
                item.get(name).unwrap_or(&Value::Null),
                &field(prefix, name),
                false,
            )
        };
        return Ok(vec![Operation::Merge {
            primary: side("primary")?,
            secondary: side("secondary")?,
        }]);
    }
    let person = convert::single_identifier(
        item.get("identifiers").unwrap_or(&Value::Null),
        &field(prefix, "identifiers"),
        true,
    )?;
    let attributes = object_of(item, "attributes", prefix)?;
    let event_fields = |kind| EventFields {
        kind: Some(kind),
        name: item.get("name"),
        id: item.get("id"),
        timestamp: item.get("timestamp"),
        data: item.get("attributes"),
        data_field: "attributes",
    };
    let one = |op| Ok(vec![op]);
    match action {
        "identify" => {
            let mut ops = vec![convert::identify(
                person.clone(),
                attributes,
                &field(prefix, "attributes"),
            )?];
            let relationships = object_relationships(item, prefix)?;
            if !relationships.is_empty() {
                ops.push(Operation::PersonRelationships {
                    person,
                    add: true,
                    relationships,
                });
            }
            Ok(ops)
        }
        "delete" => one(Operation::DeletePerson { person }),
        "event" | "page" | "screen" => {
            let event = convert::event(event_fields(action), prefix)?;
            one(Operation::Track { person, event })
        }
        "add_relationships" | "delete_relationships" => one(Operation::PersonRelationships {
            person,
            add: action == "add_relationships",
            relationships: object_relationships(item, prefix)?,
        }),
        "add_device" => {
            let device = object_of(item, "device", prefix)?;
            let device = convert::device(device, "token", &field(prefix, "device"))?;
            one(Operation::AddDevice { person, device })
        }
        "delete_device" => {
            let device = object_of(item, "device", prefix)?;
            let token = text(&device, "token", &field(prefix, "device"))?.to_string();
            one(Operation::DeleteDevice { person, token })
        }
        "suppress" => one(Operation::Suppress { person }),
        "unsuppress" => one(Operation::Unsuppress { person }),
        other => Err(ApiError::bad_request(
            field(prefix, "action"),
            format!("unknown person action '{other}'"),
        )),
    }
}

fn object_ref(value: &Value, name: &str) -> Result<ObjectRef, ApiError> {
    let map = value.as_object().ok_or_else(|| {
        ApiError::bad_request(name, "must be an object with object_type_id and object_id")
    })?;
    convert::object_ref(
        map.get("object_type_id"),
        &format!("{name}.object_type_id"),
        map.get("object_id"),
        &format!("{name}.object_id"),
    )
}

fn relationships_list<'a>(item: &'a JsonMap, prefix: &str) -> Result<&'a [Value], ApiError> {
    match item.get("cio_relationships") {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(list)) => Ok(list),
        Some(_) => Err(ApiError::bad_request(
            field(prefix, "cio_relationships"),
            "cio_relationships must be an array",
        )),
    }
}

fn object_relationships(
    item: &JsonMap,
    prefix: &str,
) -> Result<Vec<Relationship<ObjectRef>>, ApiError> {
    relationships_list(item, prefix)?
        .iter()
        .enumerate()
        .map(|(i, rel)| {
            let name = format!("{}[{i}]", field(prefix, "cio_relationships"));
            let with = object_ref(
                rel.get("identifiers").unwrap_or(&Value::Null),
                &format!("{name}.identifiers"),
            )?;
            let attributes = rel_attributes(rel, &name)?;
            Ok(Relationship { with, attributes })
        })
        .collect()
}

fn rel_attributes(rel: &Value, name: &str) -> Result<JsonMap, ApiError> {
    match rel.get("relationship_attributes") {
        None | Some(Value::Null) => Ok(JsonMap::new()),
        Some(Value::Object(map)) => {
            nudge_core::limits::check_attributes(map, &format!("{name}.relationship_attributes"))?;
            Ok(map.clone())
        }
        Some(_) => Err(ApiError::bad_request(
            format!("{name}.relationship_attributes"),
            "must be an object",
        )),
    }
}

fn object_operations(
    item: &JsonMap,
    action: &str,
    prefix: &str,
) -> Result<Vec<Operation>, ApiError> {
    let object = object_ref(
        item.get("identifiers").unwrap_or(&Value::Null),
        &field(prefix, "identifiers"),
    )?;
    let anonymous = action == "identify_anonymous";
    let people = || -> Result<Vec<Relationship<Identifier>>, ApiError> {
        relationships_list(item, prefix)?
            .iter()
            .enumerate()
            .map(|(i, rel)| {
                let name = format!("{}[{i}]", field(prefix, "cio_relationships"));
                let ids = rel.get("identifiers").unwrap_or(&Value::Null);
                let with = if anonymous {
                    let anon = ids
                        .get("anonymous_id")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    Identifier::new(IdentifierKind::AnonymousId, anon).map_err(|e| {
                        ApiError::bad_request(
                            format!("{name}.identifiers.anonymous_id"),
                            e.to_string(),
                        )
                    })?
                } else {
                    convert::single_identifier(ids, &format!("{name}.identifiers"), false)?
                };
                Ok(Relationship {
                    with,
                    attributes: rel_attributes(rel, &name)?,
                })
            })
            .collect()
    };
    match action {
        "identify" | "identify_anonymous" => {
            let attributes = object_of(item, "attributes", prefix)?;
            nudge_core::limits::check_attributes(&attributes, &field(prefix, "attributes"))?;
            Ok(vec![Operation::IdentifyObject {
                object,
                attributes,
                relationships: people()?,
            }])
        }
        "delete" => Ok(vec![Operation::DeleteObject { object }]),
        "add_relationships" | "delete_relationships" => Ok(vec![Operation::ObjectRelationships {
            object,
            add: action == "add_relationships",
            relationships: people()?,
        }]),
        other => Err(ApiError::bad_request(
            field(prefix, "action"),
            format!("unknown object action '{other}'"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Arbitrary JSON, biased towards the keys and values the decoders look at.
    fn json_value() -> impl Strategy<Value = Value> {
        let key = prop_oneof![
            Just("type".to_string()),
            Just("action".to_string()),
            Just("identifiers".to_string()),
            Just("attributes".to_string()),
            Just("name".to_string()),
            Just("id".to_string()),
            Just("email".to_string()),
            Just("timestamp".to_string()),
            Just("device".to_string()),
            Just("token".to_string()),
            Just("platform".to_string()),
            Just("primary".to_string()),
            Just("secondary".to_string()),
            Just("cio_relationships".to_string()),
            Just("object_type_id".to_string()),
            Just("object_id".to_string()),
            "[a-z_]{1,8}",
        ];
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            prop_oneof![
                Just("person"),
                Just("object"),
                Just("delivery"),
                Just("identify"),
                Just("event"),
                Just("merge"),
                Just("add_device"),
                Just("delete_relationships"),
                Just("ios"),
                Just("a@b.co"),
                Just("01ARZ3NDEKTSV4RRFFQ69G5FAV"),
                Just(""),
                Just("1"),
            ]
            .prop_map(|s| Value::String(s.to_string())),
            ".{0,20}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 64, 8, move |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec((key.clone(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn random_json_is_decoded_or_refused_with_a_4xx(value in json_value()) {
            match operations(&value, "") {
                Ok(ops) => prop_assert!(!ops.is_empty()),
                Err(e) => prop_assert!(e.status.is_client_error(), "{:?}", e),
            }
            if let Value::Object(map) = &value {
                let person = Identifier::new(IdentifierKind::Id, "p").unwrap();
                if let Err(e) = convert::identify(person, map.clone(), "") {
                    prop_assert!(e.status.is_client_error());
                }
                let fields = EventFields {
                    kind: map.get("type").and_then(Value::as_str),
                    name: map.get("name"),
                    id: map.get("id"),
                    timestamp: map.get("timestamp"),
                    data: map.get("attributes"),
                    data_field: "attributes",
                };
                if let Err(e) = convert::event(fields, "") {
                    prop_assert!(e.status.is_client_error());
                }
                if let Err(e) = convert::device(map.clone(), "token", "device") {
                    prop_assert!(e.status.is_client_error());
                }
            }
        }
    }
}
