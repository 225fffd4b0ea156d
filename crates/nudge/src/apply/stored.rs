//! What a workspace already holds, as plain data for the plan: its segments, computed
//! attributes, every journey version, the live templates, channels and contract, read from a store or (see
//! [`super::remote`]) through a running server's App API. The plan compares files with this
//! and compiles the result, whichever way it was read.

use std::collections::{BTreeMap, HashMap};

use nudge_core::WorkspaceId;
use nudge_store::{ComputedDefinition, Document, DocumentKind, SegmentDefinition, Store};

/// A workspace's definitions as stored.
#[derive(Debug, Clone, Default)]
pub struct StoredDefinitions {
    pub segments: Vec<SegmentDefinition>,
    pub computed: Vec<ComputedDefinition>,
    /// Every version of every journey, deletions included (what the processor compiles).
    pub journey_versions: Vec<Document>,
    /// The live templates.
    pub templates: Vec<Document>,
    /// The live channel definitions.
    pub channels: Vec<Document>,
    /// The live contract, if the workspace has one.
    pub contract: Option<Document>,
    /// The channels were read through the App API, which shows inline secrets redacted: the
    /// plan cannot tell whether a secret given inline in a file differs from the stored one.
    pub channels_redacted: bool,
    /// Segment ids other workspaces of the store hold, with the workspace's name (ids are
    /// unique across a store). Empty when read through the App API, which shows one
    /// workspace: there the server refuses a taken id when it is written.
    pub segments_elsewhere: BTreeMap<i64, String>,
}

impl StoredDefinitions {
    /// Everything the plan needs from `store` about workspace `ws`.
    pub fn read(store: &dyn Store, ws: WorkspaceId) -> anyhow::Result<Self> {
        let mut segments_elsewhere = BTreeMap::new();
        for other in store.workspaces()?.into_iter().filter(|w| w.id != ws) {
            for segment in store.segment_definitions(other.id)? {
                segments_elsewhere.insert(segment.id, other.name.clone());
            }
        }
        Ok(StoredDefinitions {
            segments: store.segment_definitions(ws)?,
            computed: store.computed_definitions(ws)?,
            journey_versions: store.all_document_versions(ws, DocumentKind::Journey)?,
            templates: store.documents(ws, DocumentKind::Template)?,
            channels: store.documents(ws, DocumentKind::Channel)?,
            contract: store
                .documents(ws, DocumentKind::Contract)?
                .into_iter()
                .next(),
            channels_redacted: false,
            segments_elsewhere,
        })
    }

    /// The latest version of every live journey, template and channel, and the contract, by
    /// kind and name.
    pub fn live_documents(&self) -> HashMap<(DocumentKind, String), Document> {
        let mut latest: HashMap<(DocumentKind, String), &Document> = HashMap::new();
        for version in &self.journey_versions {
            let key = (DocumentKind::Journey, version.name.clone());
            let newer = latest
                .get(&key)
                .is_none_or(|seen| version.version > seen.version);
            if newer {
                latest.insert(key, version);
            }
        }
        latest
            .into_iter()
            .filter(|(_, document)| !document.deleted)
            .map(|(key, document)| (key, document.clone()))
            .chain(
                self.templates
                    .iter()
                    .map(|t| ((DocumentKind::Template, t.name.clone()), t.clone())),
            )
            .chain(
                self.channels
                    .iter()
                    .map(|c| ((DocumentKind::Channel, c.name.clone()), c.clone())),
            )
            .chain(
                self.contract
                    .iter()
                    .map(|c| ((DocumentKind::Contract, c.name.clone()), c.clone())),
            )
            .collect()
    }

    /// The version a changed document of this kind and name is stored as: one past every
    /// version of it the store holds (deleted ones included, where they are known).
    pub fn next_version(&self, kind: DocumentKind, name: &str) -> i64 {
        let known = match kind {
            DocumentKind::Journey => &self.journey_versions[..],
            DocumentKind::Template => &self.templates[..],
            DocumentKind::Channel => &self.channels[..],
            DocumentKind::Contract => self.contract.as_slice(),
        };
        known
            .iter()
            .filter(|d| d.name == name)
            .map(|d| d.version)
            .max()
            .unwrap_or(0)
            + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use serde_json::{json, Value};

    fn version(kind: DocumentKind, name: &str, version: i64, body: Value) -> Document {
        Document {
            kind,
            name: name.into(),
            version,
            deleted: body.is_null(),
            body,
            created_at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn live_documents_skip_deleted_journeys_and_versions_count_past_deletions() {
        let stored = StoredDefinitions {
            journey_versions: vec![
                version(DocumentKind::Journey, "a", 1, json!({"v": 1})),
                version(DocumentKind::Journey, "a", 2, json!({"v": 2})),
                version(DocumentKind::Journey, "gone", 1, json!({})),
                version(DocumentKind::Journey, "gone", 2, Value::Null),
            ],
            templates: vec![version(DocumentKind::Template, "t", 3, json!({}))],
            ..StoredDefinitions::default()
        };
        let live = stored.live_documents();
        assert_eq!(live.len(), 2);
        assert_eq!(
            live[&(DocumentKind::Journey, "a".to_string())].body,
            json!({"v": 2})
        );
        assert!(live.contains_key(&(DocumentKind::Template, "t".to_string())));
        assert_eq!(stored.next_version(DocumentKind::Journey, "gone"), 3);
        assert_eq!(stored.next_version(DocumentKind::Template, "t"), 4);
        assert_eq!(stored.next_version(DocumentKind::Journey, "new"), 1);
    }
}
