//! Contract checks for `Store::write`: one transaction per call, committed on `Ok` and
//! visible to the read side at once, rolled back whole on `Err`.

use super::{activity, at, device, email, id, map, new_person, next_seq, person, workspace, write};
use crate::{ActivityQuery, LogEntry, Store, StoreError};
use nudge_core::{ActivityKind, ObjectRef, Operation};
use serde_json::json;

fn log_entry() -> LogEntry {
    LogEntry {
        source: "track_v1".into(),
        received_at: at(100),
        operation: Operation::Suppress { person: id("u1") },
        raw: None,
    }
}

fn all_activities() -> ActivityQuery {
    ActivityQuery {
        limit: 100,
        ..ActivityQuery::default()
    }
}

pub fn write_commits_on_ok(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let key = write(store, |tx| {
        let key = new_person(tx, ws, "u1")?;
        tx.append_log(ws, &log_entry())?;
        tx.record_activity(
            ws,
            key,
            &activity(ActivityKind::Event, "viewed", 50),
            next_seq(),
            at(60),
        )?;
        Ok(key)
    });
    // Read-your-writes: the read side sees the commit as soon as `write` returns.
    assert_eq!(store.resolve(ws, &id("u1")).unwrap(), Some(key));
    assert!(store.person(ws, key).unwrap().is_some());
    assert_eq!(store.read_log(ws, 0, 10).unwrap().len(), 1);
    assert_eq!(
        store.activities(ws, key, &all_activities()).unwrap().len(),
        1
    );
    // And a later transaction sees it too.
    let seen = write(store, |tx| tx.resolve(ws, &id("u1")));
    assert_eq!(seen, Some(key));
}

pub fn write_rolls_back_everything_on_err(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let existing = person(store, ws, "u1");
    let segment = store
        .create_manual_segment(ws, "vip", "", at(1))
        .unwrap()
        .id;
    let before = store.person(ws, existing).unwrap().unwrap();
    let object = ObjectRef {
        type_id: "company".into(),
        object_id: "acme".into(),
    };

    let mut stranger = None;
    let result = store.write(&mut |tx| {
        tx.append_log(ws, &log_entry())?;
        assert!(tx.record_dedupe_key(ws, "01HZX", at(100))?);
        let key = new_person(tx, ws, "u2")?;
        stranger = Some(key);
        tx.link_identifier(ws, &email("ana@example.com"), existing)?;
        tx.unlink_identifier(ws, &id("u1"))?;
        let mut changed = tx.load_person(ws, existing)?.expect("loads inside the tx");
        changed.attributes = map(json!({"plan": "pro"}));
        changed.updated_at = at(200);
        tx.save_person(ws, &changed)?;
        tx.record_activity(
            ws,
            existing,
            &activity(ActivityKind::Event, "x", 1),
            next_seq(),
            at(1),
        )?;
        tx.upsert_device(ws, existing, &device("tok", "ios"))?;
        tx.set_suppressed(ws, &id("u3"), true, at(1))?;
        tx.set_segment_membership(ws, segment, existing, true, at(1))?;
        tx.upsert_object(ws, &object, &map(json!({"name": "Acme"})), at(1))?;
        tx.set_relationship(ws, existing, &object, Some(&map(json!({}))), at(1))?;
        // Everything above is visible inside the transaction...
        assert_eq!(tx.resolve(ws, &id("u2"))?, Some(key));
        Err(StoreError::Backend("abandoned on purpose".into()))
    });
    // ...and nothing of it after the rollback; the work's own error comes back.
    assert!(
        matches!(&result, Err(StoreError::Backend(m)) if m == "abandoned on purpose"),
        "{result:?}"
    );
    assert!(stranger.is_some(), "the work ran");
    assert!(
        store.read_log(ws, 0, 10).unwrap().is_empty(),
        "no log entry"
    );
    assert_eq!(store.resolve(ws, &id("u2")).unwrap(), None, "no new person");
    assert_eq!(store.person(ws, stranger.unwrap()).unwrap(), None);
    assert_eq!(
        store.resolve(ws, &id("u1")).unwrap(),
        Some(existing),
        "unlink undone"
    );
    assert_eq!(store.resolve(ws, &email("ana@example.com")).unwrap(), None);
    assert_eq!(
        store.person(ws, existing).unwrap().unwrap(),
        before,
        "person unchanged"
    );
    assert!(store
        .activities(ws, existing, &all_activities())
        .unwrap()
        .is_empty());
    assert!(store.person_segments(ws, existing).unwrap().is_empty());
    assert_eq!(store.object(ws, &object).unwrap(), None);
    let (fresh_key, suppressed) = write(store, |tx| {
        Ok((
            tx.record_dedupe_key(ws, "01HZX", at(101))?,
            tx.is_suppressed(ws, &id("u3"))?,
        ))
    });
    assert!(fresh_key, "the dedupe key was not kept");
    assert!(!suppressed, "the suppression was not kept");
}
