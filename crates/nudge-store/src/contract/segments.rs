//! Contract checks for manual segments: creation, recognising them inside a write, and
//! adding and removing members.

use super::{at, person, workspace, write};
use crate::{Segment, Store};
use nudge_core::{PersonKey, WorkspaceId};

fn memberships(store: &dyn Store, ws: WorkspaceId, key: PersonKey) -> Vec<Segment> {
    let mut segments = store.person_segments(ws, key).unwrap();
    segments.sort_by_key(|s| s.id);
    segments
}

pub fn manual_segments_are_created_and_recognised(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let vip = store
        .create_manual_segment(lumen, "VIP", "Hand-picked customers", at(1))
        .unwrap();
    assert_eq!(
        (vip.name.as_str(), vip.description.as_str(), vip.manual),
        ("VIP", "Hand-picked customers", true)
    );
    let beta = store
        .create_manual_segment(lumen, "Beta", "", at(2))
        .unwrap();
    assert_ne!(vip.id, beta.id);

    let (found, unknown, other_workspace) = write(store, |tx| {
        Ok((
            tx.segment_is_manual(lumen, vip.id)?,
            tx.segment_is_manual(lumen, vip.id.max(beta.id) + 1_000)?,
            tx.segment_is_manual(ember, vip.id)?,
        ))
    });
    assert_eq!(found, Some(true));
    assert_eq!(unknown, None, "no such segment");
    assert_eq!(other_workspace, None, "segments belong to one workspace");
}

pub fn segment_membership_is_added_and_removed(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let vip = store.create_manual_segment(ws, "VIP", "", at(1)).unwrap();
    let beta = store.create_manual_segment(ws, "Beta", "", at(1)).unwrap();
    let ana = person(store, ws, "ana");
    let bob = person(store, ws, "bob");
    assert!(store.person_segments(ws, ana).unwrap().is_empty());

    write(store, |tx| {
        tx.set_segment_membership(ws, vip.id, ana, true, at(2))?;
        tx.set_segment_membership(ws, beta.id, ana, true, at(2))?;
        tx.set_segment_membership(ws, vip.id, bob, true, at(2))?;
        // Adding again is harmless.
        tx.set_segment_membership(ws, vip.id, ana, true, at(3))
    });
    let mut both = vec![vip.clone(), beta.clone()];
    both.sort_by_key(|s| s.id);
    assert_eq!(memberships(store, ws, ana), both);
    assert_eq!(memberships(store, ws, bob), std::slice::from_ref(&vip));

    write(store, |tx| {
        tx.set_segment_membership(ws, vip.id, ana, false, at(4))
    });
    assert_eq!(memberships(store, ws, ana), std::slice::from_ref(&beta));
    assert_eq!(
        memberships(store, ws, bob),
        std::slice::from_ref(&vip),
        "others keep theirs"
    );
    write(store, |tx| {
        tx.set_segment_membership(ws, vip.id, ana, false, at(5))
    });
    assert_eq!(
        memberships(store, ws, ana),
        [beta],
        "removing twice is harmless"
    );
}
