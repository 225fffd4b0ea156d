//! Computed attributes are the single source of truth for their values: an identify that
//! tries to write one has that key removed before it reaches the log, and the refusal is kept
//! with the rejected messages, so two systems never fight over one value and nothing is lost
//! silently.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};

use nudge_core::{Operation, Timestamp, WorkspaceId};
use nudge_store::Rejection;

/// Each workspace's computed-attribute names, kept current by the processor.
#[derive(Debug, Default)]
pub struct ComputedKeys(RwLock<HashMap<WorkspaceId, Arc<BTreeSet<String>>>>);

impl ComputedKeys {
    pub fn set(&self, ws: WorkspaceId, names: BTreeSet<String>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        if names.is_empty() {
            map.remove(&ws);
        } else {
            map.insert(ws, Arc::new(names));
        }
    }

    pub fn get(&self, ws: WorkspaceId) -> Option<Arc<BTreeSet<String>>> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&ws)
            .cloned()
    }
}

/// The identify without its computed keys, and the rejection that records them; `None` when
/// the operation writes no computed attribute.
pub(crate) fn strip_computed(
    operation: &Operation,
    names: &BTreeSet<String>,
    source: &str,
    raw: Option<&serde_json::Value>,
    now: Timestamp,
) -> Option<(Operation, Rejection)> {
    let Operation::Identify { attributes, .. } = operation else {
        return None;
    };
    let refused: Vec<&String> = attributes.keys().filter(|k| names.contains(*k)).collect();
    if refused.is_empty() {
        return None;
    }
    let list = refused
        .iter()
        .map(|k| k.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let rejection = Rejection {
        received_at: now,
        source: source.to_string(),
        reason: format!(
            "computed attributes are maintained by Nudge from events and cannot be written: {list} \
             (the rest of the message was applied)"
        ),
        field: Some(format!("attributes.{}", refused[0])),
        raw: raw
            .cloned()
            .unwrap_or_else(|| serde_json::to_value(operation).unwrap_or_default()),
    };
    let mut stripped = operation.clone();
    if let Operation::Identify { attributes, .. } = &mut stripped {
        attributes.retain(|k, _| !names.contains(k));
    }
    metrics::counter!("nudge_computed_writes_refused_total").increment(refused.len() as u64);
    Some((stripped, rejection))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::{Identifier, IdentifierKind};
    use serde_json::json;

    #[test]
    fn only_computed_keys_are_removed_and_the_refusal_names_them() {
        let op = Operation::Identify {
            person: Identifier::new(IdentifierKind::Id, "ana").unwrap(),
            attributes: json!({"first_name": "Ana", "lifetime_value": 9999})
                .as_object()
                .unwrap()
                .clone(),
            update_only: false,
            timestamp: None,
        };
        let names = BTreeSet::from(["lifetime_value".to_string()]);
        let (stripped, rejection) =
            strip_computed(&op, &names, "track_v1", None, Timestamp::from_millis(5)).unwrap();
        let Operation::Identify { attributes, .. } = stripped else {
            panic!("still an identify")
        };
        assert_eq!(attributes.keys().collect::<Vec<_>>(), ["first_name"]);
        assert_eq!(
            rejection.field.as_deref(),
            Some("attributes.lifetime_value")
        );
        assert!(rejection.reason.contains("lifetime_value"));
        assert!(strip_computed(
            &op,
            &BTreeSet::new(),
            "track_v1",
            None,
            Timestamp::from_millis(5)
        )
        .is_none());
    }
}
