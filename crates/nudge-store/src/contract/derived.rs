//! Contract checks for what replaying the event log relies on: an activity position recorded
//! twice stays as first recorded, marks only rise and outlive their subject, the extent of a
//! log, and `reset_derived` wiping one workspace's derived state and nothing else.

use super::{
    activity, at, cio_id, device, email, id, ident, key, map, new_person, person, workspace,
    workspace_with_keys, write,
};
use crate::{
    activity_seq, ActivityQuery, LogEntry, LogExtent, Marked, Store, StoreResult, WriteTx,
};
use nudge_core::{
    ActivityKind, ApiKind, IdentifierKind, ObjectRef, Operation, PersonKey, WorkspaceId,
};
use serde_json::json;

fn everything() -> ActivityQuery {
    ActivityQuery {
        limit: 100,
        ..ActivityQuery::default()
    }
}

fn acme() -> ObjectRef {
    ObjectRef {
        type_id: "company".into(),
        object_id: "acme".into(),
    }
}

fn marked(store: &dyn Store, ws: WorkspaceId, subject: Marked<'_>) -> i64 {
    write(store, |tx| tx.marked(ws, subject))
}

fn log_entry(name: &str) -> LogEntry {
    LogEntry {
        source: "track_v1".into(),
        received_at: at(50),
        operation: Operation::DeletePerson { person: id(name) },
        raw: None,
    }
}

pub fn record_activity_ignores_a_seq_already_recorded(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    let first = activity(ActivityKind::Event, "first", 1);
    let seq = activity_seq(7, 0);
    write(store, |tx| {
        tx.record_activity(ws, ana, &first, seq, at(10))?;
        // Again in the same transaction, with other content and even another person.
        tx.record_activity(
            ws,
            ana,
            &activity(ActivityKind::Page, "again", 2),
            seq,
            at(11),
        )?;
        tx.record_activity(ws, bob, &first, seq, at(11))
    });
    write(store, |tx| {
        tx.record_activity(
            ws,
            ana,
            &activity(ActivityKind::Event, "later", 3),
            seq,
            at(12),
        )
    });
    let recorded = store.activities(ws, ana, &everything()).unwrap();
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        (
            recorded[0].seq,
            &recorded[0].activity,
            recorded[0].recorded_at
        ),
        (seq, &first, at(10)),
        "the first recording stays as it was"
    );
    assert!(store.activities(ws, bob, &everything()).unwrap().is_empty());
    // The next position is unaffected.
    let next = activity(ActivityKind::Event, "next", 4);
    write(store, |tx| {
        tx.record_activity(ws, ana, &next, activity_seq(7, 1), at(13))
    });
    assert_eq!(store.activities(ws, ana, &everything()).unwrap().len(), 2);
}

pub fn marks_only_rise_and_belong_to_one_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = id("ana");
    let company = acme();
    assert_eq!(
        marked(store, lumen, Marked::Identifier(&ana)),
        0,
        "unmarked"
    );
    assert_eq!(marked(store, lumen, Marked::Object(&company)), 0);
    write(store, |tx| {
        tx.mark(lumen, Marked::Identifier(&ana), 5)?;
        tx.mark(lumen, Marked::Identifier(&ana), 3)?;
        tx.mark(lumen, Marked::Object(&company), 8)
    });
    assert_eq!(marked(store, lumen, Marked::Identifier(&ana)), 5, "3 < 5");
    write(store, |tx| tx.mark(lumen, Marked::Identifier(&ana), 9));
    assert_eq!(marked(store, lumen, Marked::Identifier(&ana)), 9);
    assert_eq!(marked(store, lumen, Marked::Object(&company)), 8);
    // Same spelling, other subjects: an email, an object type named like an identifier kind.
    let look_alike = ObjectRef {
        type_id: "id".into(),
        object_id: "ana".into(),
    };
    assert_eq!(
        marked(store, lumen, Marked::Identifier(&email("ana@x.io"))),
        0
    );
    assert_eq!(marked(store, lumen, Marked::Object(&look_alike)), 0);
    assert_eq!(marked(store, ember, Marked::Identifier(&ana)), 0);
    assert_eq!(marked(store, ember, Marked::Object(&company)), 0);
}

pub fn person_marks_count_activities_and_outlive_the_person(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let (ana, bob) = write(store, |tx| {
        let ana = new_person(tx, ws, "ana")?;
        tx.link_identifier(ws, &email("ana@x.io"), ana)?;
        Ok((ana, new_person(tx, ws, "bob")?))
    });
    assert_eq!(marked(store, ws, Marked::Person(ana)), 0);
    write(store, |tx| tx.mark(ws, Marked::Person(ana), 4));
    assert_eq!(marked(store, ws, Marked::Person(ana)), 4);
    assert_eq!(
        marked(store, ws, Marked::Person(bob)),
        0,
        "one person's mark"
    );
    let cio = ident(IdentifierKind::CioId, &cio_id(ws, "ana"));
    assert_eq!(
        marked(store, ws, Marked::Identifier(&cio)),
        4,
        "kept on the cio_id"
    );

    let event = activity(ActivityKind::Event, "viewed", 1);
    write(store, |tx| {
        tx.record_activity(ws, ana, &event, activity_seq(9, 3), at(9))
    });
    assert_eq!(
        marked(store, ws, Marked::Person(ana)),
        9,
        "the newest activity's entry"
    );
    write(store, |tx| tx.mark(ws, Marked::Person(ana), 6));
    assert_eq!(marked(store, ws, Marked::Person(ana)), 9);

    write(store, |tx| {
        tx.mark(ws, Marked::IdentifiersOf(ana), 12)?;
        tx.delete_person(ws, ana)
    });
    assert_eq!(marked(store, ws, Marked::Person(ana)), 0, "no such person");
    for identifier in [id("ana"), email("ana@x.io"), cio] {
        assert_eq!(
            marked(store, ws, Marked::Identifier(&identifier)),
            12,
            "{identifier} keeps its mark after the deletion"
        );
    }
    assert_eq!(marked(store, ws, Marked::Identifier(&id("bob"))), 0);
    write(store, |tx| tx.mark(ws, Marked::IdentifiersOf(bob), 14));
    assert_eq!(marked(store, ws, Marked::IdentifiersOf(bob)), 14);
    assert_eq!(marked(store, ws, Marked::Person(bob)), 14, "via the cio_id");
}

pub fn log_extent_counts_what_follows_an_offset(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    assert_eq!(store.log_extent(lumen, 0).unwrap(), LogExtent::default());
    let offsets = write(store, |tx| {
        let a = tx.append_log(lumen, &log_entry("a"))?;
        tx.append_log(ember, &log_entry("x"))?;
        let b = tx.append_log(lumen, &log_entry("b"))?;
        let c = tx.append_log(lumen, &log_entry("c"))?;
        Ok([a, b, c])
    });
    let extent = |after| store.log_extent(lumen, after).unwrap();
    assert_eq!(
        extent(0),
        LogExtent {
            entries: 3,
            last_offset: Some(offsets[2])
        }
    );
    assert_eq!(extent(offsets[0]).entries, 2, "after is exclusive");
    assert_eq!(extent(offsets[2]), LogExtent::default());
    assert_eq!(store.log_extent(ember, 0).unwrap().entries, 1);
}

/// Gives `ws` one of everything: derived state of every kind, and what is not derived.
fn populate(store: &dyn Store, ws: WorkspaceId, segment: i64) -> PersonKey {
    let company = acme();
    write(store, |tx: &mut dyn WriteTx| -> StoreResult<PersonKey> {
        // Offsets are unique across workspaces, and so are the positions derived from them.
        let offset = tx.append_log(ws, &log_entry("ana"))?;
        tx.record_dedupe_key(ws, "event:01HZ", at(2))?;
        let ana = new_person(tx, ws, "ana")?;
        tx.link_identifier(ws, &email("ana@x.io"), ana)?;
        let event = activity(ActivityKind::Event, "viewed", 3);
        tx.record_activity(ws, ana, &event, activity_seq(offset, 0), at(3))?;
        tx.upsert_device(ws, ana, &device("t-ana", "ios"))?;
        tx.set_suppressed(ws, &email("gone@x.io"), true, at(3))?;
        tx.set_segment_membership(ws, segment, ana, true, at(3))?;
        tx.upsert_object(ws, &company, &map(json!({"name": "Acme"})), at(3))?;
        tx.set_relationship(
            ws,
            ana,
            &company,
            Some(&map(json!({"role": "admin"}))),
            at(3),
        )?;
        tx.mark(ws, Marked::Person(ana), offset)?;
        tx.mark(ws, Marked::Object(&company), offset)?;
        tx.mark(ws, Marked::Identifier(&email("gone@x.io")), offset)?;
        Ok(ana)
    })
}

pub fn reset_derived_clears_one_workspace_and_nothing_else(store: &dyn Store) {
    let lumen = workspace_with_keys(store, "lumen", vec![key(ApiKind::Track, 1)]);
    let ember = workspace(store, "ember");
    let lumen_vip = store
        .create_manual_segment(lumen, "vip", "", at(1))
        .unwrap();
    let ember_vip = store
        .create_manual_segment(ember, "vip", "", at(1))
        .unwrap();
    let ana = populate(store, lumen, lumen_vip.id);
    let ember_ana = populate(store, ember, ember_vip.id);
    let lumen_log = store.read_log(lumen, 0, 10).unwrap();
    let ember_view = store.person(ember, ember_ana).unwrap();
    let ember_object = store.object(ember, &acme()).unwrap();

    store.reset_derived(lumen).unwrap();

    let company = acme();
    assert_eq!(store.resolve(lumen, &id("ana")).unwrap(), None);
    assert_eq!(store.resolve(lumen, &email("ana@x.io")).unwrap(), None);
    assert_eq!(store.person(lumen, ana).unwrap(), None);
    assert!(store
        .activities(lumen, ana, &everything())
        .unwrap()
        .is_empty());
    assert!(store.person_segments(lumen, ana).unwrap().is_empty());
    assert_eq!(store.object(lumen, &company).unwrap(), None);
    let (suppressed, device_gone, marks) = write(store, |tx| {
        Ok((
            tx.is_suppressed(lumen, &email("gone@x.io"))?,
            !tx.delete_device(lumen, ana, "t-ana")?,
            [
                tx.marked(lumen, Marked::Object(&company))?,
                tx.marked(lumen, Marked::Identifier(&email("gone@x.io")))?,
                tx.marked(
                    lumen,
                    Marked::Identifier(&ident(IdentifierKind::CioId, &cio_id(lumen, "ana"))),
                )?,
            ],
        ))
    });
    assert!(!suppressed, "suppressions are derived");
    assert!(device_gone);
    assert_eq!(marks, [0, 0, 0], "marks are derived");

    // What is not derived stays: the log, dedupe keys, keys, segment definitions.
    assert_eq!(store.read_log(lumen, 0, 10).unwrap(), lumen_log);
    assert!(!write(store, |tx| tx.record_dedupe_key(
        lumen,
        "event:01HZ",
        at(9)
    )));
    let owner = store.find_key(&key(ApiKind::Track, 1).hash).unwrap();
    assert_eq!(owner.map(|o| o.workspace.id), Some(lumen));
    assert_eq!(
        write(store, |tx| tx.segment_is_manual(lumen, lumen_vip.id)),
        Some(true)
    );

    // The other workspace is untouched.
    assert_eq!(store.person(ember, ember_ana).unwrap(), ember_view);
    assert_eq!(store.object(ember, &company).unwrap(), ember_object);
    assert_eq!(
        store
            .activities(ember, ember_ana, &everything())
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        store.person_segments(ember, ember_ana).unwrap(),
        [ember_vip]
    );
    assert!(write(store, |tx| tx.is_suppressed(ember, &email("gone@x.io"))));

    // The same derived state can be built again, cio_ids and positions included.
    let again = populate(store, lumen, lumen_vip.id);
    assert_eq!(store.resolve(lumen, &id("ana")).unwrap(), Some(again));
    assert_eq!(
        store.activities(lumen, again, &everything()).unwrap().len(),
        1
    );
}
