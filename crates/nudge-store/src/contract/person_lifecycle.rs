//! Contract checks for what deleting, merging and resetting people do to the processor's
//! state: transitions, computed-attribute states, schedules, data-driven memberships and the
//! processed offset go with (or move with) the person as the `WriteTx` and `Store` docs say.

use std::collections::BTreeMap;

use super::segment_definitions::{data_driven_segment, manual_segment};
use super::{at, new_person, person, workspace, write, MERGED_AT};
use crate::{DueCheck, NewSegment, PersonSchedule, Store, StoreResult, WriteTx};
use nudge_core::{PersonKey, WorkspaceId};
use serde_json::{json, Value};

/// What the processor keeps for one person, read in one write.
#[derive(Debug, PartialEq)]
struct ProcessingState {
    segment_ids: Vec<i64>,
    /// (segment, entered, at) newest first.
    transitions: Vec<(i64, bool, i64)>,
    states: BTreeMap<String, Value>,
    schedule: Option<PersonSchedule>,
}

fn processing_state(store: &dyn Store, ws: WorkspaceId, key: PersonKey) -> ProcessingState {
    let transitions = store
        .segment_transitions(ws, key, 100)
        .unwrap()
        .into_iter()
        .map(|t| {
            assert_eq!(t.person, key, "{t:?}");
            (t.segment_id, t.entered, t.at.millis())
        })
        .collect();
    let (segment_ids, states, schedule) = write(store, |tx| {
        Ok((
            tx.person_segment_ids(ws, key)?,
            tx.computed_states(ws, key)?,
            tx.person_schedule(ws, key)?,
        ))
    });
    ProcessingState {
        segment_ids,
        transitions,
        states,
        schedule,
    }
}

fn empty() -> ProcessingState {
    ProcessingState {
        segment_ids: vec![],
        transitions: vec![],
        states: BTreeMap::new(),
        schedule: None,
    }
}

/// Gives `key` membership of `segments`, a transition into each (at `next_check` minus 50,
/// 49, ...), a computed state per name and a schedule.
fn evaluate(
    tx: &mut dyn WriteTx,
    ws: WorkspaceId,
    key: PersonKey,
    segments: &[i64],
    states: &[(&str, Value)],
    next_check: i64,
) -> StoreResult<()> {
    for (n, segment) in segments.iter().enumerate() {
        let entered_at = next_check - 50 + n as i64;
        tx.set_segment_membership(ws, *segment, key, true, at(entered_at))?;
        tx.record_segment_transition(ws, key, *segment, true, at(entered_at))?;
    }
    let states = states
        .iter()
        .map(|(name, state)| (name.to_string(), state.clone()))
        .collect();
    tx.set_computed_states(ws, key, &states)?;
    tx.set_person_schedule(ws, key, &PersonSchedule::next(Some(at(next_check))))
}

fn sorted(mut ids: Vec<i64>) -> Vec<i64> {
    ids.sort();
    ids
}

pub fn delete_person_removes_their_processing_state(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let segment = store
        .create_segment(ws, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    let (ana, bob) = write(store, |tx| {
        let ana = new_person(tx, ws, "ana")?;
        let bob = new_person(tx, ws, "bob")?;
        evaluate(tx, ws, ana, &[segment], &[("ltv", json!(1))], 100)?;
        evaluate(tx, ws, bob, &[segment], &[("ltv", json!(2))], 200)?;
        Ok((ana, bob))
    });
    let bob_before = processing_state(store, ws, bob);

    write(store, |tx| tx.delete_person(ws, ana));

    assert_eq!(processing_state(store, ws, ana), empty());
    assert_eq!(processing_state(store, ws, bob), bob_before);
    assert_eq!(store.segment_member_count(ws, segment).unwrap(), 1);
    assert_eq!(store.segment_members(ws, segment, None, 10).unwrap(), [bob]);
    let due = write(store, |tx| tx.due_checks(at(1_000), 10));
    assert_eq!(
        due,
        [DueCheck {
            ws,
            person: bob,
            due_at: at(200)
        }]
    );
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(200)));
}

pub fn move_person_data_moves_manual_memberships_and_transitions_only(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let segment = |new: NewSegment| store.create_segment(ws, &new, at(1)).unwrap().id;
    let manual_from = segment(manual_segment("manual-from"));
    let manual_both = segment(manual_segment("manual-both"));
    let dynamic_from = segment(data_driven_segment("dynamic-from"));
    let dynamic_to = segment(data_driven_segment("dynamic-to"));
    let dynamic_both = segment(data_driven_segment("dynamic-both"));
    let (from, to) = write(store, |tx| {
        let from = new_person(tx, ws, "anon")?;
        let to = new_person(tx, ws, "ana")?;
        let from_states = [("ltv", json!({"sum": 1})), ("orders", json!(2))];
        evaluate(
            tx,
            ws,
            from,
            &[dynamic_from, dynamic_both],
            &from_states,
            50,
        )?;
        evaluate(tx, ws, to, &[dynamic_to], &[("ltv", json!({"sum": 9}))], 80)?;
        tx.set_segment_membership(ws, dynamic_both, to, true, at(1))?;
        for key in [from, to] {
            tx.set_segment_membership(ws, manual_both, key, true, at(1))?;
        }
        tx.set_segment_membership(ws, manual_from, from, true, at(1))?;
        Ok((from, to))
    });

    let moved = write(store, |tx| tx.move_person_data(ws, from, to, MERGED_AT));
    assert_eq!(
        moved.segment_memberships, 1,
        "only the manual membership `to` lacked moves"
    );

    assert_eq!(processing_state(store, ws, from), empty());
    let merged = processing_state(store, ws, to);
    assert_eq!(
        merged,
        ProcessingState {
            segment_ids: sorted(vec![manual_from, manual_both, dynamic_to, dynamic_both]),
            // `from`'s transitions were recorded first, so they are the older ones.
            transitions: vec![
                (dynamic_to, true, 30),
                (dynamic_both, true, 1),
                (dynamic_from, true, 0)
            ],
            states: BTreeMap::from([("ltv".to_string(), json!({"sum": 9}))]),
            schedule: Some(PersonSchedule::next(Some(at(80)))),
        },
        "data-driven memberships, states and the schedule of `from` are dropped"
    );
    assert_eq!(store.segment_member_count(ws, dynamic_from).unwrap(), 0);
    assert_eq!(
        store.segment_members(ws, manual_from, None, 10).unwrap(),
        [to]
    );
    let due = write(store, |tx| tx.due_checks(at(1_000), 10));
    assert_eq!(
        due,
        [DueCheck {
            ws,
            person: to,
            due_at: at(80)
        }]
    );

    write(store, |tx| tx.delete_person(ws, from));
    assert_eq!(processing_state(store, ws, to), merged);
}

/// A workspace the processor has worked on: a data-driven segment and a computed attribute,
/// one person evaluated (scheduled at `next_check`), and a processed offset.
fn processed_workspace(
    store: &dyn Store,
    name: &str,
    offset: i64,
    next_check: i64,
) -> (WorkspaceId, i64, PersonKey) {
    let ws = workspace(store, name);
    let segment = store
        .create_segment(ws, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    store
        .put_computed_definition(ws, "ltv", &json!({"sum": "amount"}), at(1))
        .unwrap();
    let key = write(store, |tx| {
        let key = new_person(tx, ws, "ana")?;
        evaluate(tx, ws, key, &[segment], &[("ltv", json!(5))], next_check)?;
        tx.set_processed_offset(ws, offset)?;
        Ok(key)
    });
    (ws, segment, key)
}

pub fn reset_derived_wipes_processing_state_and_keeps_definitions(store: &dyn Store) {
    let (lumen, lumen_segment, ana) = processed_workspace(store, "lumen", 12, 100);
    let (ember, ember_segment, ember_ana) = processed_workspace(store, "ember", 34, 200);
    let segments = store.segment_definitions(lumen).unwrap();
    let computed = store.computed_definitions(lumen).unwrap();
    let ember_state = processing_state(store, ember, ember_ana);

    store.reset_derived(lumen).unwrap();

    assert_eq!(store.processed_offset(lumen).unwrap(), 0);
    assert_eq!(write(store, |tx| tx.processed_offset(lumen)), 0);
    assert_eq!(processing_state(store, lumen, ana), empty());
    assert_eq!(store.segment_member_count(lumen, lumen_segment).unwrap(), 0);
    assert_eq!(store.segment_definitions(lumen).unwrap(), segments);
    assert_eq!(store.computed_definitions(lumen).unwrap(), computed);

    assert_eq!(store.processed_offset(ember).unwrap(), 34);
    assert_eq!(processing_state(store, ember, ember_ana), ember_state);
    assert_eq!(store.segment_member_count(ember, ember_segment).unwrap(), 1);
    let due = write(store, |tx| tx.due_checks(at(1_000), 10));
    assert_eq!(
        due,
        [DueCheck {
            ws: ember,
            person: ember_ana,
            due_at: at(200)
        }]
    );
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(200)));

    // The processor can start over.
    let again = person(store, lumen, "ana");
    write(store, |tx| {
        evaluate(tx, lumen, again, &[lumen_segment], &[], 300)?;
        tx.set_processed_offset(lumen, 1)
    });
    assert_eq!(store.processed_offset(lumen).unwrap(), 1);
    assert_eq!(store.segment_member_count(lumen, lumen_segment).unwrap(), 1);
}
