//! Contract checks for segment definitions in [`Definitions`](crate::Definitions): creating
//! (explicit and store-chosen ids), reading per workspace, versions, backfills started by new
//! conditions, and the line between manual and data-driven segments that no update crosses.

use super::{at, person, workspace, write};
use crate::{Backfill, NewSegment, SegmentDefinition, Store, StoreError};
use nudge_core::WorkspaceId;
use serde_json::{json, Value};

pub(crate) fn manual_segment(name: &str) -> NewSegment {
    NewSegment {
        id: None,
        name: name.into(),
        description: format!("{name}, by hand"),
        conditions: None,
    }
}

pub(crate) fn data_driven_segment(name: &str) -> NewSegment {
    NewSegment {
        id: None,
        name: name.into(),
        description: format!("{name}, from data"),
        conditions: Some(conditions("pro")),
    }
}

/// A condition document with nested objects, arrays and numbers of several kinds.
pub(crate) fn conditions(plan: &str) -> Value {
    json!({"and": [
        {"attribute": {"field": "plan", "operator": "eq", "value": plan}},
        {"event": {"name": "purchase", "count": {"at_least": 2}, "within_days": 30.5}},
        {"not": {"segment": {"id": 7}}}
    ]})
}

pub(crate) fn create(store: &dyn Store, ws: WorkspaceId, new: &NewSegment) -> SegmentDefinition {
    store
        .create_segment(ws, new, at(100))
        .expect("create segment")
}

pub(crate) fn is_conflict<T: std::fmt::Debug>(outcome: Result<T, StoreError>) -> bool {
    matches!(outcome, Err(StoreError::Conflict(_)))
}

pub fn segments_are_created_listed_and_read_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let vip = store
        .create_segment(lumen, &manual_segment("VIP"), at(100))
        .unwrap();
    assert_eq!(
        vip,
        SegmentDefinition {
            id: vip.id,
            name: "VIP".into(),
            description: "VIP, by hand".into(),
            conditions: None,
            version: 1,
            created_at: at(100),
            updated_at: at(100),
            backfill: Backfill::COMPLETE,
        }
    );
    assert!(vip.manual());
    let buyers = store
        .create_segment(lumen, &data_driven_segment("Buyers"), at(200))
        .unwrap();
    assert_eq!(
        (&buyers.name, &buyers.description, &buyers.conditions),
        (
            &"Buyers".to_string(),
            &"Buyers, from data".to_string(),
            &Some(conditions("pro"))
        )
    );
    assert_eq!(
        (buyers.version, buyers.created_at, buyers.updated_at),
        (1, at(200), at(200))
    );
    assert!(!buyers.manual());
    let elsewhere = create(store, ember, &manual_segment("VIP"));

    let mut expected = vec![vip.clone(), buyers.clone()];
    expected.sort_by_key(|s| s.id);
    assert_eq!(store.segment_definitions(lumen).unwrap(), expected);
    assert_eq!(store.segment_definitions(ember).unwrap(), [elsewhere]);
    assert_eq!(
        store.segment_definition(lumen, buyers.id).unwrap(),
        Some(buyers.clone())
    );
    assert_eq!(store.segment_definition(ember, buyers.id).unwrap(), None);
    let unknown = vip.id.max(buyers.id) + 1_000;
    assert_eq!(store.segment_definition(lumen, unknown).unwrap(), None);

    // The write side sees the same manual/data-driven line.
    let (manual, data_driven) = write(store, |tx| {
        Ok((
            tx.segment_is_manual(lumen, vip.id)?,
            tx.segment_is_manual(lumen, buyers.id)?,
        ))
    });
    assert_eq!((manual, data_driven), (Some(true), Some(false)));

    // `create_manual_segment` is `create_segment` without conditions.
    let beta = store
        .create_manual_segment(lumen, "Beta", "testers", at(300))
        .unwrap();
    assert!(beta.manual);
    let stored = store.segment_definition(lumen, beta.id).unwrap().unwrap();
    assert_eq!(
        (stored.name.as_str(), stored.description.as_str()),
        ("Beta", "testers")
    );
    assert_eq!(
        (stored.conditions, stored.version, stored.backfill),
        (None, 1, Backfill::COMPLETE)
    );
}

pub fn explicit_segment_ids_are_kept_and_a_taken_one_is_a_conflict(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let first = create(store, lumen, &manual_segment("first"));
    let wanted = first.id + 10;
    let named = NewSegment {
        id: Some(wanted),
        ..data_driven_segment("second")
    };
    let explicit = create(store, lumen, &named);
    assert_eq!(explicit.id, wanted);
    assert_eq!(
        store.segment_definition(lumen, wanted).unwrap(),
        Some(explicit.clone())
    );

    let version = store.config_version().unwrap();
    for (ws, id) in [(lumen, wanted), (ember, wanted), (lumen, first.id)] {
        let clash = NewSegment {
            id: Some(id),
            ..manual_segment("clash")
        };
        assert!(
            is_conflict(store.create_segment(ws, &clash, at(200))),
            "id {id} is taken, whichever workspace asks"
        );
    }
    assert_eq!(
        store.config_version().unwrap(),
        version,
        "a refused creation changes nothing"
    );
    let mut kept = vec![first, explicit];
    kept.sort_by_key(|s| s.id);
    assert_eq!(store.segment_definitions(lumen).unwrap(), kept);
    assert!(store.segment_definitions(ember).unwrap().is_empty());
}

pub fn store_chosen_segment_ids_avoid_explicit_ones(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let first = create(store, lumen, &manual_segment("first"));
    // Take the ids a store would most likely choose next.
    let mut taken = vec![first.id];
    for n in 1..=2 {
        let new = NewSegment {
            id: Some(first.id + n),
            ..manual_segment("named")
        };
        taken.push(create(store, lumen, &new).id);
    }
    for (n, ws) in [lumen, ember, lumen].into_iter().enumerate() {
        let chosen = store
            .create_segment(ws, &manual_segment(&format!("chosen-{n}")), at(100))
            .expect("a store-chosen id never collides with an explicit one");
        assert!(!taken.contains(&chosen.id), "{} reused", chosen.id);
        taken.push(chosen.id);
    }
}

pub fn data_driven_segments_start_a_backfill_of_the_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let empty = workspace(store, "empty");
    person(store, lumen, "ana");
    person(store, ember, "carol");
    person(store, lumen, "bob");
    let backfill = |ws, new: &NewSegment| create(store, ws, new).backfill;
    assert_eq!(
        backfill(lumen, &data_driven_segment("a")),
        Backfill::starting(2)
    );
    assert_eq!(
        backfill(ember, &data_driven_segment("a")),
        Backfill::starting(1)
    );
    assert_eq!(
        backfill(empty, &data_driven_segment("a")),
        Backfill::starting(0)
    );
    assert_eq!(backfill(lumen, &manual_segment("m")), Backfill::COMPLETE);
    let created = create(store, lumen, &data_driven_segment("b"));
    assert_eq!(
        store
            .segment_definition(lumen, created.id)
            .unwrap()
            .unwrap(),
        created,
        "the backfill is stored with the segment"
    );
}

pub fn update_segment_bumps_the_version_and_restarts_backfill_on_new_conditions(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let segment = store
        .create_segment(lumen, &data_driven_segment("Buyers"), at(10))
        .unwrap();
    let done = Backfill {
        complete: true,
        after: ana.0,
        done: 1,
        total: 1,
    };
    write(store, |tx| {
        tx.set_segment_backfill(lumen, segment.id, &done)
    });
    person(store, lumen, "bob");

    let unused_id = segment.id + 1_000;
    let renamed = NewSegment {
        id: Some(unused_id),
        name: "Big buyers".into(),
        description: "renamed".into(),
        conditions: Some(conditions("pro")),
    };
    let updated = store
        .update_segment(lumen, segment.id, &renamed, at(20))
        .unwrap()
        .expect("the segment exists");
    let expected = SegmentDefinition {
        id: segment.id,
        name: "Big buyers".into(),
        description: "renamed".into(),
        conditions: Some(conditions("pro")),
        version: 2,
        created_at: at(10),
        updated_at: at(20),
        backfill: done,
    };
    assert_eq!(
        updated, expected,
        "same conditions: the backfill stands, `new.id` is ignored"
    );
    assert_eq!(store.segment_definition(lumen, unused_id).unwrap(), None);
    assert_eq!(
        store.segment_definition(lumen, segment.id).unwrap(),
        Some(expected.clone())
    );

    let narrowed = NewSegment {
        conditions: Some(conditions("enterprise")),
        ..renamed.clone()
    };
    let changed = store
        .update_segment(lumen, segment.id, &narrowed, at(30))
        .unwrap()
        .unwrap();
    assert_eq!(
        changed,
        SegmentDefinition {
            conditions: Some(conditions("enterprise")),
            version: 3,
            updated_at: at(30),
            backfill: Backfill::starting(2),
            ..expected
        },
        "new conditions start a backfill over today's people"
    );
    assert_eq!(
        store.segment_definition(lumen, segment.id).unwrap(),
        Some(changed.clone())
    );

    let manual = store
        .create_segment(lumen, &manual_segment("VIP"), at(10))
        .unwrap();
    let edited = store
        .update_segment(lumen, manual.id, &manual_segment("VIPs"), at(40))
        .unwrap()
        .unwrap();
    assert_eq!(
        (edited.name.as_str(), edited.version, edited.backfill),
        ("VIPs", 2, Backfill::COMPLETE)
    );

    // No such segment: nothing happens, in this workspace or another.
    let missing = manual.id.max(segment.id) + 2_000;
    assert_eq!(
        store
            .update_segment(lumen, missing, &renamed, at(50))
            .unwrap(),
        None
    );
    assert_eq!(
        store
            .update_segment(ember, segment.id, &renamed, at(50))
            .unwrap(),
        None
    );
    assert_eq!(
        store.segment_definition(lumen, segment.id).unwrap(),
        Some(changed)
    );
}

pub fn update_segment_refuses_switching_between_manual_and_data_driven(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let manual = create(store, ws, &manual_segment("VIP"));
    let dynamic = create(store, ws, &data_driven_segment("Buyers"));
    let version = store.config_version().unwrap();
    let to_dynamic = store.update_segment(ws, manual.id, &data_driven_segment("VIP"), at(200));
    assert!(is_conflict(to_dynamic), "manual to data-driven");
    let to_manual = store.update_segment(ws, dynamic.id, &manual_segment("Buyers"), at(200));
    assert!(is_conflict(to_manual), "data-driven to manual");
    assert_eq!(
        store.segment_definition(ws, manual.id).unwrap(),
        Some(manual)
    );
    assert_eq!(
        store.segment_definition(ws, dynamic.id).unwrap(),
        Some(dynamic)
    );
    assert_eq!(store.config_version().unwrap(), version);
}
