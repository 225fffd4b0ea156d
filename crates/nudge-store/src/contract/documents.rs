//! Contract checks for versioned documents in [`Definitions`](crate::Definitions): versions
//! count from 1 per kind and name, an identical put writes nothing, a deletion is a version of
//! its own after which a put starts the document again, listings show the latest live version
//! only, the config version rises exactly with writes, and workspaces never see each other's.

use super::{at, workspace};
use crate::{Document, DocumentKind, Store};
use serde_json::{json, Value};

const JOURNEY: DocumentKind = DocumentKind::Journey;
const TEMPLATE: DocumentKind = DocumentKind::Template;

fn version(kind: DocumentKind, name: &str, version: i64, body: Value, ms: i64) -> Document {
    Document {
        kind,
        name: name.into(),
        version,
        body,
        created_at: at(ms),
        deleted: false,
    }
}

fn deletion(kind: DocumentKind, name: &str, number: i64, ms: i64) -> Document {
    Document {
        deleted: true,
        ..version(kind, name, number, Value::Null, ms)
    }
}

/// A body with nested objects, arrays and numbers of several kinds.
fn cart_journey(delay: &str) -> Value {
    json!({"trigger": {"event": "Cart Updated"}, "key": "cart_id",
           "steps": [{"delay": delay}, {"send": {"template": "cart", "weight": 0.5}}],
           "limits": [1, 2.5, -3]})
}

pub fn documents_are_versioned_and_identical_puts_change_nothing(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let first = cart_journey("30m");
    let config = store.config_version().unwrap();
    let created = store
        .put_document(ws, JOURNEY, "cart", &first, at(10))
        .unwrap();
    let v1 = version(JOURNEY, "cart", 1, first.clone(), 10);
    assert_eq!(created, v1);
    assert!(
        store.config_version().unwrap() > config,
        "a write raises it"
    );

    let config = store.config_version().unwrap();
    let same = store
        .put_document(ws, JOURNEY, "cart", &first, at(20))
        .unwrap();
    assert_eq!(
        same, v1,
        "an identical body is the latest version, unchanged"
    );
    let reordered: Value = serde_json::from_str(
        r#"{"limits": [1, 2.5, -3], "key": "cart_id",
            "steps": [{"delay": "30m"}, {"send": {"weight": 0.5, "template": "cart"}}],
            "trigger": {"event": "Cart Updated"}}"#,
    )
    .unwrap();
    assert_eq!(
        store
            .put_document(ws, JOURNEY, "cart", &reordered, at(21))
            .unwrap(),
        v1,
        "bodies compare as values, whatever the key order"
    );
    assert_eq!(store.config_version().unwrap(), config, "no-op puts");
    assert_eq!(
        store.document_versions(ws, JOURNEY, "cart").unwrap(),
        std::slice::from_ref(&v1)
    );

    let second = cart_journey("1h");
    let changed = store
        .put_document(ws, JOURNEY, "cart", &second, at(30))
        .unwrap();
    let v2 = version(JOURNEY, "cart", 2, second, 30);
    assert_eq!(changed, v2);
    assert!(store.config_version().unwrap() > config);
    assert_eq!(
        store.document_versions(ws, JOURNEY, "cart").unwrap(),
        [v1.clone(), v2.clone()],
        "oldest first"
    );
    assert_eq!(
        store.documents(ws, JOURNEY).unwrap(),
        std::slice::from_ref(&v2)
    );

    // Kinds are separate namespaces: a template named like the journey starts at 1.
    let template = store
        .put_document(ws, TEMPLATE, "cart", &json!({"subject": "Hi"}), at(40))
        .unwrap();
    assert_eq!(
        template,
        version(TEMPLATE, "cart", 1, json!({"subject": "Hi"}), 40)
    );
    assert_eq!(
        store.documents(ws, JOURNEY).unwrap(),
        std::slice::from_ref(&v2)
    );
    assert_eq!(store.documents(ws, TEMPLATE).unwrap(), [template]);
    assert_eq!(
        store.all_document_versions(ws, JOURNEY).unwrap(),
        [v1, v2],
        "every version of the kind, and only of that kind"
    );
    assert!(store
        .document_versions(ws, JOURNEY, "unknown")
        .unwrap()
        .is_empty());
}

pub fn deleted_documents_leave_the_listing_and_come_back_as_new_versions(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let body = |n: i64| json!({"n": n});
    // Created out of name order: listings come by name.
    for (name, ms) in [("welcome", 10), ("cart", 11), ("browse", 12)] {
        store
            .put_document(ws, JOURNEY, name, &body(1), at(ms))
            .unwrap();
    }
    store
        .put_document(ws, JOURNEY, "cart", &body(2), at(20))
        .unwrap();

    let config = store.config_version().unwrap();
    assert!(store.delete_document(ws, JOURNEY, "cart", at(30)).unwrap());
    assert!(
        store.config_version().unwrap() > config,
        "a deletion raises it"
    );
    assert_eq!(
        store.documents(ws, JOURNEY).unwrap(),
        [
            version(JOURNEY, "browse", 1, body(1), 12),
            version(JOURNEY, "welcome", 1, body(1), 10)
        ],
        "latest live versions only, by name"
    );

    let config = store.config_version().unwrap();
    assert!(!store.delete_document(ws, JOURNEY, "cart", at(31)).unwrap());
    assert!(!store
        .delete_document(ws, JOURNEY, "unknown", at(31))
        .unwrap());
    assert!(
        !store
            .delete_document(ws, TEMPLATE, "browse", at(31))
            .unwrap(),
        "a journey is not a template"
    );
    assert_eq!(store.config_version().unwrap(), config, "nothing to delete");

    // The same body as before the deletion is a new version all the same.
    let revived = store
        .put_document(ws, JOURNEY, "cart", &body(2), at(40))
        .unwrap();
    assert_eq!(revived, version(JOURNEY, "cart", 4, body(2), 40));
    assert!(store.config_version().unwrap() > config);
    let history = [
        version(JOURNEY, "cart", 1, body(1), 11),
        version(JOURNEY, "cart", 2, body(2), 20),
        deletion(JOURNEY, "cart", 3, 30),
        revived.clone(),
    ];
    assert_eq!(
        store.document_versions(ws, JOURNEY, "cart").unwrap(),
        history
    );
    assert_eq!(
        store
            .documents(ws, JOURNEY)
            .unwrap()
            .iter()
            .map(|d| (d.name.as_str(), d.version))
            .collect::<Vec<_>>(),
        [("browse", 1), ("cart", 4), ("welcome", 1)]
    );

    let mut expected = history.to_vec();
    expected.insert(0, version(JOURNEY, "browse", 1, body(1), 12));
    expected.push(version(JOURNEY, "welcome", 1, body(1), 10));
    assert_eq!(
        store.all_document_versions(ws, JOURNEY).unwrap(),
        expected,
        "by name, then version, deletions included"
    );
}

pub fn documents_are_kept_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    store
        .put_document(lumen, JOURNEY, "cart", &json!({"a": 1}), at(10))
        .unwrap();
    store
        .put_document(lumen, JOURNEY, "cart", &json!({"a": 2}), at(11))
        .unwrap();
    assert!(store.documents(ember, JOURNEY).unwrap().is_empty());
    assert!(store
        .all_document_versions(ember, JOURNEY)
        .unwrap()
        .is_empty());
    assert!(store
        .document_versions(ember, JOURNEY, "cart")
        .unwrap()
        .is_empty());
    assert!(
        !store
            .delete_document(ember, JOURNEY, "cart", at(12))
            .unwrap(),
        "another workspace's document is not there to delete"
    );

    let theirs = store
        .put_document(ember, JOURNEY, "cart", &json!({"a": 2}), at(13))
        .unwrap();
    assert_eq!(
        theirs,
        version(JOURNEY, "cart", 1, json!({"a": 2}), 13),
        "numbered on its own"
    );
    assert!(store
        .delete_document(ember, JOURNEY, "cart", at(14))
        .unwrap());
    assert_eq!(
        store.documents(lumen, JOURNEY).unwrap(),
        [version(JOURNEY, "cart", 2, json!({"a": 2}), 11)],
        "untouched by the other workspace's deletion"
    );
    assert!(store.documents(ember, JOURNEY).unwrap().is_empty());
}
