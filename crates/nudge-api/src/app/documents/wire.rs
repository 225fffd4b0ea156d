//! How journeys and templates look on the App API wire: a summary per live document (lists),
//! the summary with the document itself (reads and writes), and each stored version. A
//! document's history is every stored version of it, oldest first, deletions included.

use nudge_store::{Document, DocumentKind};
use serde_json::{json, Value};

/// `journey` or `template`: the key of one document in an answer.
pub fn singular(kind: DocumentKind) -> &'static str {
    kind.as_str()
}

/// `journeys` or `templates`: the key of a list, and the path segment of the routes.
pub fn plural(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::Journey => "journeys",
        DocumentKind::Template => "templates",
        DocumentKind::Channel => "channels",
        DocumentKind::Contract => "contracts",
    }
}

/// Every version of every document, grouped by name (`all` is ordered by name, then version).
pub fn histories(all: Vec<Document>) -> Vec<Vec<Document>> {
    let mut grouped: Vec<Vec<Document>> = Vec::new();
    for document in all {
        match grouped.last_mut() {
            Some(history) if history[0].name == document.name => history.push(document),
            _ => grouped.push(vec![document]),
        }
    }
    grouped
}

/// The newest version of a history when it is live (not deleted).
pub fn live(history: &[Document]) -> Option<&Document> {
    history.last().filter(|latest| !latest.deleted)
}

/// The newest version that is not a deletion: what a stopped journey last ran as.
pub fn last_live(history: &[Document]) -> Option<&Document> {
    history.iter().rev().find(|version| !version.deleted)
}

/// The list entry of a live document: its id, what names it (a journey's `name`, a template's
/// `channel`), its version and when it was first created and last changed.
pub fn summary(history: &[Document]) -> Option<Value> {
    let latest = live(history)?;
    let created = history.first().map_or(latest.created_at, |d| d.created_at);
    let mut rendered = json!({"id": latest.name});
    match latest.kind {
        DocumentKind::Journey => {
            rendered["name"] = latest.body.get("name").cloned().unwrap_or(Value::Null);
        }
        DocumentKind::Template => {
            rendered["channel"] = latest.body.get("channel").cloned().unwrap_or(Value::Null);
        }
        DocumentKind::Channel | DocumentKind::Contract => {}
    }
    rendered["version"] = json!(latest.version);
    rendered["created_at"] = json!(created.unix_seconds());
    rendered["updated_at"] = json!(latest.created_at.unix_seconds());
    Some(rendered)
}

/// The summary with the document as stored.
pub fn detailed(history: &[Document]) -> Option<Value> {
    let mut rendered = summary(history)?;
    rendered["document"] = live(history)?.body.clone();
    Some(rendered)
}

/// One stored version: its number, when it was written, whether it records a deletion, and
/// the document (`null` for a deletion).
pub fn version(document: &Document) -> Value {
    json!({
        "version": document.version,
        "created_at": document.created_at.unix_seconds(),
        "deleted": document.deleted,
        "document": if document.deleted { Value::Null } else { document.body.clone() },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;

    fn stored(name: &str, version: i64, at: i64, body: Value) -> Document {
        Document {
            kind: DocumentKind::Journey,
            name: name.into(),
            version,
            deleted: body.is_null(),
            body,
            created_at: Timestamp::from_millis(at * 1000),
        }
    }

    #[test]
    fn histories_group_by_name_and_only_live_ones_are_summarized() {
        let all = vec![
            stored("a", 1, 10, json!({"id": "a", "name": "A"})),
            stored("a", 2, 20, json!({"id": "a", "name": "A2"})),
            stored("b", 1, 30, json!({"id": "b", "name": "B"})),
            stored("b", 2, 40, Value::Null),
        ];
        let grouped = histories(all);
        assert_eq!(grouped.len(), 2);
        assert_eq!(
            summary(&grouped[0]),
            Some(
                json!({"id": "a", "name": "A2", "version": 2, "created_at": 10, "updated_at": 20})
            )
        );
        assert_eq!(summary(&grouped[1]), None, "deleted");
        assert_eq!(last_live(&grouped[1]).map(|d| d.version), Some(1));
        assert_eq!(version(&grouped[1][1])["document"], Value::Null);
        assert_eq!(detailed(&grouped[0]).unwrap()["document"]["name"], "A2");
    }
}
