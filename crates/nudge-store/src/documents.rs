//! Versioned documents: journeys, templates, workspaces' channel definitions and the event
//! contract as the store keeps them, one row per version of each (kind, name), deletions included. Every version stays, so
//! a journey instance that entered with an old version can still be run by it. Plain data and
//! the one rule both backends share for when a put writes a version; no IO.

use nudge_core::Timestamp;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DocumentKind {
    Journey,
    Template,
    /// A workspace's settings for one delivery channel (email, sms, push, webhook).
    Channel,
    /// The workspace's event contract (docs/contract.md): one document, named [`CONTRACT_NAME`].
    Contract,
}

/// The name of a workspace's one contract document.
pub const CONTRACT_NAME: &str = "contract";

impl DocumentKind {
    /// Every kind, for listings and tests.
    pub const ALL: [DocumentKind; 4] = [
        DocumentKind::Journey,
        DocumentKind::Template,
        DocumentKind::Channel,
        DocumentKind::Contract,
    ];

    /// The stable name stored in the `kind` column.
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentKind::Journey => "journey",
            DocumentKind::Template => "template",
            DocumentKind::Channel => "channel",
            DocumentKind::Contract => "contract",
        }
    }

    /// The kind spelled by [`as_str`](Self::as_str); `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == text)
    }
}

impl std::fmt::Display for DocumentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One version of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub kind: DocumentKind,
    pub name: String,
    /// 1 for the first version of a (kind, name); every new version adds one, a deletion too.
    pub version: i64,
    /// The document as given; `Null` for a deletion.
    pub body: serde_json::Value,
    pub created_at: Timestamp,
    /// This version records that the document was deleted.
    pub deleted: bool,
}

impl Document {
    /// The version `put_document(body)` writes after `latest` (the newest stored version of
    /// that kind and name, deleted or not), or `None` when `latest` is live with an equal
    /// body and the put changes nothing. Bodies compare as JSON values (an object's key order
    /// does not matter).
    pub fn version_to_put(latest: Option<&Document>, body: &serde_json::Value) -> Option<i64> {
        match latest {
            None => Some(1),
            Some(latest) if !latest.deleted && latest.body == *body => None,
            Some(latest) => Some(latest.version + 1),
        }
    }

    /// The version `delete_document` writes after `latest`, or `None` when there is no live
    /// document to delete.
    pub fn version_to_delete(latest: Option<&Document>) -> Option<i64> {
        latest
            .filter(|latest| !latest.deleted)
            .map(|latest| latest.version + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn stored(version: i64, body: serde_json::Value, deleted: bool) -> Document {
        Document {
            kind: DocumentKind::Journey,
            name: "cart".into(),
            version,
            body,
            created_at: Timestamp::from_millis(1),
            deleted,
        }
    }

    #[test]
    fn kinds_are_spelled_and_parsed_alike() {
        for kind in DocumentKind::ALL {
            assert_eq!(DocumentKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(DocumentKind::parse("journey"), Some(DocumentKind::Journey));
        assert_eq!(DocumentKind::parse("channel"), Some(DocumentKind::Channel));
        assert_eq!(
            DocumentKind::parse("contract"),
            Some(DocumentKind::Contract)
        );
        assert_eq!(DocumentKind::parse("Journey"), None);
        assert_eq!(DocumentKind::parse(""), None);
    }

    #[test]
    fn a_put_writes_only_what_changes_the_live_version() {
        let body = json!({"a": 1, "b": [1, 2]});
        let reordered: serde_json::Value =
            serde_json::from_str(r#"{"b": [1, 2], "a": 1}"#).expect("valid JSON");
        assert_eq!(Document::version_to_put(None, &body), Some(1));
        let live = stored(3, body.clone(), false);
        assert_eq!(Document::version_to_put(Some(&live), &body), None);
        assert_eq!(Document::version_to_put(Some(&live), &reordered), None);
        assert_eq!(
            Document::version_to_put(Some(&live), &json!({"a": 2})),
            Some(4)
        );
        let deleted = stored(4, serde_json::Value::Null, true);
        assert_eq!(Document::version_to_put(Some(&deleted), &body), Some(5));
        assert_eq!(
            Document::version_to_put(Some(&deleted), &serde_json::Value::Null),
            Some(5),
            "a null body after a deletion is a live document again"
        );
    }

    #[test]
    fn only_a_live_document_can_be_deleted() {
        assert_eq!(Document::version_to_delete(None), None);
        let live = stored(2, json!({}), false);
        assert_eq!(Document::version_to_delete(Some(&live)), Some(3));
        let deleted = stored(3, serde_json::Value::Null, true);
        assert_eq!(Document::version_to_delete(Some(&deleted)), None);
    }
}
