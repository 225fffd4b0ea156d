//! The one check every journey and template change passes: the workspace's journeys (every
//! stored version) and live templates, with the change applied, must compile with its
//! segments through `compile_journeys`, so the App API never stores a set the processor
//! cannot run; and what the changed document reads must be declared by the workspace's
//! event contract, when it has one. Also: whether deleting a segment would leave a live journey naming nothing.
//! Runs inside a store read; it never writes.

use std::collections::BTreeSet;

use nudge_process::journeys::compile_journeys;
use nudge_process::CatalogError;
use nudge_store::{Document, DocumentKind, Store, StoreResult};

use crate::app::contract::check_documents;
use serde_json::Value;

/// A proposed change to one versioned document.
pub enum Change {
    /// A new version with this body (its version the one `put_document` would write).
    Put(Document),
    /// The document of this kind and name goes.
    Delete(DocumentKind, String),
}

/// Whether the workspace's journeys and templates with `change` applied compile against its
/// segments, and a document put conforms to the workspace's contract (the first breach is
/// the refusal, naming the document it is in: a journey's trigger may break the template it
/// sends).
pub fn check_change(
    store: &dyn Store,
    ws: nudge_core::WorkspaceId,
    change: &Change,
) -> StoreResult<Result<(), CatalogError>> {
    let segments = segment_ids(store, ws)?;
    let (journeys, templates) = documents_with(store, ws, change)?;
    if let Err(error) = compile_journeys(&journeys, &templates, &segments) {
        return Ok(Err(error));
    }
    let Change::Put(document) = change else {
        return Ok(Ok(()));
    };
    let changed = BTreeSet::from([super::subject(document.kind, &document.name)]);
    let found = check_documents(
        store,
        ws,
        std::slice::from_ref(document),
        None,
        None,
        &changed,
    )?;
    Ok(match found.own.into_iter().next() {
        Some(breach) => Err(CatalogError {
            subject: breach.document,
            pointer: breach.pointer,
            message: breach.message,
        }),
        None => Ok(()),
    })
}

/// Whether a live journey names segment `id`: `Some(subject)` of the first one that would no
/// longer compile without it (a set that does not compile already is not this deletion's
/// doing, so it never blocks it).
pub fn journey_using_segment(
    store: &dyn Store,
    ws: nudge_core::WorkspaceId,
    id: i64,
) -> StoreResult<Option<String>> {
    let journeys = store.all_document_versions(ws, DocumentKind::Journey)?;
    if journeys.is_empty() {
        return Ok(None);
    }
    let templates = store.documents(ws, DocumentKind::Template)?;
    let mut segments = segment_ids(store, ws)?;
    if compile_journeys(&journeys, &templates, &segments).is_err() {
        return Ok(None);
    }
    segments.remove(&id);
    Ok(compile_journeys(&journeys, &templates, &segments)
        .err()
        .map(|error| error.subject))
}

fn segment_ids(store: &dyn Store, ws: nudge_core::WorkspaceId) -> StoreResult<BTreeSet<i64>> {
    Ok(store
        .segment_definitions(ws)?
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// Every stored journey version and the live templates, with `change` applied.
fn documents_with(
    store: &dyn Store,
    ws: nudge_core::WorkspaceId,
    change: &Change,
) -> StoreResult<(Vec<Document>, Vec<Document>)> {
    let mut journeys = store.all_document_versions(ws, DocumentKind::Journey)?;
    let mut templates = store.documents(ws, DocumentKind::Template)?;
    match change {
        Change::Put(document) => match document.kind {
            DocumentKind::Journey => journeys.push(document.clone()),
            DocumentKind::Template => {
                templates.retain(|t| t.name != document.name);
                templates.push(document.clone());
            }
            DocumentKind::Channel | DocumentKind::Contract => {}
        },
        Change::Delete(DocumentKind::Channel | DocumentKind::Contract, _) => {}
        Change::Delete(DocumentKind::Template, name) => templates.retain(|t| &t.name != name),
        Change::Delete(DocumentKind::Journey, name) => {
            let latest = journeys
                .iter()
                .filter(|d| &d.name == name)
                .map(|d| d.version)
                .max();
            if let Some(version) = latest {
                journeys.push(Document {
                    kind: DocumentKind::Journey,
                    name: name.clone(),
                    version: version + 1,
                    body: Value::Null,
                    created_at: nudge_core::Timestamp::from_millis(0),
                    deleted: true,
                });
            }
        }
    }
    Ok((journeys, templates))
}

/// Where in a journey document a segment missing from `known` is named: `/trigger/segment`
/// or the `/…/segment/id` of a condition. The compiler names the missing segment without a
/// place; the client gets the node to fix.
pub fn missing_segment_pointer(body: &Value, known: &BTreeSet<i64>) -> Option<String> {
    fn walk(value: &Value, at: &str, known: &BTreeSet<i64>) -> Option<String> {
        match value {
            Value::Object(map) => map.iter().find_map(|(key, inner)| {
                let here = format!("{at}/{}", escape(key));
                if key == "segment" {
                    let named = match inner {
                        Value::Object(segment) => segment
                            .get("id")
                            .and_then(Value::as_i64)
                            .map(|id| (id, format!("{here}/id"))),
                        other => other.as_i64().map(|id| (id, here.clone())),
                    };
                    if let Some((_, pointer)) = named.filter(|(id, _)| !known.contains(id)) {
                        return Some(pointer);
                    }
                }
                walk(inner, &here, known)
            }),
            Value::Array(items) => items
                .iter()
                .enumerate()
                .find_map(|(index, inner)| walk(inner, &format!("{at}/{index}"), known)),
            _ => None,
        }
    }
    walk(body, "", known)
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_missing_segment_is_found_in_the_trigger_or_a_condition() {
        let known = BTreeSet::from([1, 2]);
        let trigger = json!({"trigger": {"segment": 9}, "steps": []});
        assert_eq!(
            missing_segment_pointer(&trigger, &known).as_deref(),
            Some("/trigger/segment")
        );
        let condition = json!({"trigger": {"segment": 1},
            "exit": [{"conditions": {"and": [{"segment": {"id": 2}}, {"not": {"segment": {"id": 7}}}]}}]});
        assert_eq!(
            missing_segment_pointer(&condition, &known).as_deref(),
            Some("/exit/0/conditions/and/1/not/segment/id")
        );
        assert_eq!(
            missing_segment_pointer(&json!({"segment": 1}), &known),
            None
        );
    }
}
