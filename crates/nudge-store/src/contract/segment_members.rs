//! Contract checks for what hangs off a segment as [`Definitions`](crate::Definitions) reads
//! it: member counts and keyset pages, each person's transitions newest first, and deleting a
//! segment together with its memberships and transitions.

use super::segment_definitions::{create, data_driven_segment, manual_segment};
use super::{at, person, workspace, write};
use crate::{NewSegment, Store};
use nudge_core::PersonKey;

pub fn delete_segment_removes_memberships_and_transitions(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let gone = create(store, lumen, &data_driven_segment("gone"));
    let kept = create(store, lumen, &data_driven_segment("kept"));
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    write(store, |tx| {
        for (segment, key) in [(gone.id, ana), (gone.id, bob), (kept.id, ana)] {
            tx.set_segment_membership(lumen, segment, key, true, at(5))?;
            tx.record_segment_transition(lumen, key, segment, true, at(5))?;
        }
        Ok(())
    });

    assert!(store.delete_segment(lumen, gone.id).unwrap());
    assert!(
        !store.delete_segment(lumen, gone.id).unwrap(),
        "already gone"
    );
    assert!(
        !store.delete_segment(ember, kept.id).unwrap(),
        "not in that workspace"
    );

    assert_eq!(store.segment_definition(lumen, gone.id).unwrap(), None);
    assert_eq!(
        store.segment_definitions(lumen).unwrap(),
        std::slice::from_ref(&kept)
    );
    assert_eq!(store.segment_member_count(lumen, gone.id).unwrap(), 0);
    assert!(store
        .segment_members(lumen, gone.id, None, 10)
        .unwrap()
        .is_empty());
    assert_eq!(store.segment_member_count(lumen, kept.id).unwrap(), 1);
    let (ana_ids, bob_ids, manual) = write(store, |tx| {
        Ok((
            tx.person_segment_ids(lumen, ana)?,
            tx.person_segment_ids(lumen, bob)?,
            tx.segment_is_manual(lumen, gone.id)?,
        ))
    });
    assert_eq!((ana_ids, bob_ids, manual), (vec![kept.id], vec![], None));
    assert!(store.person_segments(lumen, bob).unwrap().is_empty());
    let ana_transitions = store.segment_transitions(lumen, ana, 10).unwrap();
    assert_eq!(
        ana_transitions
            .iter()
            .map(|t| t.segment_id)
            .collect::<Vec<_>>(),
        [kept.id]
    );
    assert!(store
        .segment_transitions(lumen, bob, 10)
        .unwrap()
        .is_empty());

    // The id is free again, and nothing of the old segment comes back with it.
    let again = NewSegment {
        id: Some(gone.id),
        ..manual_segment("again")
    };
    assert_eq!(create(store, lumen, &again).id, gone.id);
    assert_eq!(store.segment_member_count(lumen, gone.id).unwrap(), 0);
    assert_eq!(store.segment_transitions(lumen, bob, 10).unwrap(), []);
}

pub fn segment_members_are_counted_and_paged_in_key_order(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let segment = create(store, lumen, &data_driven_segment("Buyers"));
    let other = create(store, lumen, &manual_segment("VIP"));
    let keys: Vec<PersonKey> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|name| person(store, lumen, name))
        .collect();
    let outsider = person(store, ember, "x");
    write(store, |tx| {
        for n in [4, 0, 2, 3] {
            tx.set_segment_membership(lumen, segment.id, keys[n], true, at(5))?;
        }
        tx.set_segment_membership(lumen, other.id, keys[1], true, at(5))
    });
    let count = |ws, id| store.segment_member_count(ws, id).unwrap();
    let members = |after, limit| {
        store
            .segment_members(lumen, segment.id, after, limit)
            .unwrap()
    };
    assert_eq!(count(lumen, segment.id), 4);
    assert_eq!(count(lumen, other.id), 1);
    assert_eq!(
        count(ember, segment.id),
        0,
        "segments belong to one workspace"
    );
    assert_eq!(count(lumen, segment.id.max(other.id) + 1_000), 0);

    let mut expected = vec![keys[0], keys[2], keys[3], keys[4]];
    expected.sort();
    assert_eq!(members(None, 10), expected);
    let first = members(None, 3);
    assert_eq!(first, expected[..3]);
    let second = members(first.last().copied(), 3);
    assert_eq!(second, expected[3..]);
    assert!(members(second.last().copied(), 3).is_empty());
    assert!(members(None, 0).is_empty());
    let after_non_member = members(Some(keys[1]), 10);
    assert_eq!(
        after_non_member,
        expected
            .iter()
            .copied()
            .filter(|k| *k > keys[1])
            .collect::<Vec<_>>()
    );
    assert!(store
        .segment_members(ember, segment.id, None, 10)
        .unwrap()
        .is_empty());

    write(store, |tx| {
        tx.set_segment_membership(lumen, segment.id, keys[2], false, at(6))
    });
    assert_eq!(count(lumen, segment.id), 3);
    assert!(!members(None, 10).contains(&keys[2]));
    assert!(!members(None, 10).contains(&outsider));
}

pub fn segment_transitions_are_listed_newest_first_per_person(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let first = create(store, lumen, &data_driven_segment("first"));
    let second = create(store, lumen, &data_driven_segment("second"));
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let ember_ana = person(store, ember, "ana");
    let ember_segment = create(store, ember, &data_driven_segment("first"));
    assert!(store
        .segment_transitions(lumen, ana, 10)
        .unwrap()
        .is_empty());
    write(store, |tx| {
        tx.record_segment_transition(lumen, ana, first.id, true, at(100))?;
        tx.record_segment_transition(lumen, bob, first.id, true, at(110))?;
        tx.record_segment_transition(lumen, ana, second.id, true, at(120))?;
        tx.record_segment_transition(ember, ember_ana, ember_segment.id, true, at(125))
    });
    write(store, |tx| {
        tx.record_segment_transition(lumen, ana, first.id, false, at(130))
    });

    let listed = store.segment_transitions(lumen, ana, 10).unwrap();
    let seen: Vec<(PersonKey, i64, bool, i64)> = listed
        .iter()
        .map(|t| (t.person, t.segment_id, t.entered, t.at.millis()))
        .collect();
    assert_eq!(
        seen,
        [
            (ana, first.id, false, 130),
            (ana, second.id, true, 120),
            (ana, first.id, true, 100)
        ]
    );
    assert!(
        listed.windows(2).all(|pair| pair[0].id > pair[1].id),
        "ids increase with every transition: {listed:?}"
    );
    assert_eq!(
        store.segment_transitions(lumen, ana, 2).unwrap(),
        listed[..2]
    );
    assert_eq!(store.segment_transitions(lumen, bob, 10).unwrap().len(), 1);
    assert!(store
        .segment_transitions(ember, ana, 10)
        .unwrap()
        .is_empty());
    assert_eq!(
        store
            .segment_transitions(ember, ember_ana, 10)
            .unwrap()
            .len(),
        1
    );
    assert!(
        write(store, |tx| tx.person_segment_ids(lumen, ana)).is_empty(),
        "a transition is not a membership"
    );
}
