//! Contract checks for the processor's person schedules: recorded per person (never evaluated,
//! evaluated with nothing scheduled, or a next check), due checks earliest first across
//! workspaces, and the earliest scheduled check of the whole store.

use super::{at, person, workspace, write};
use crate::{DueCheck, PersonSchedule, Store};
use nudge_core::{PersonKey, WorkspaceId};

fn schedule(next_check: Option<i64>) -> Option<PersonSchedule> {
    Some(PersonSchedule::next(next_check.map(at)))
}

fn due(ws: WorkspaceId, person: PersonKey, ms: i64) -> DueCheck {
    DueCheck {
        ws,
        person,
        due_at: at(ms),
    }
}

fn due_checks(store: &dyn Store, now: i64, limit: usize) -> Vec<DueCheck> {
    write(store, |tx| tx.due_checks(at(now), limit))
}

fn set_schedules(store: &dyn Store, schedules: &[(WorkspaceId, PersonKey, Option<i64>)]) {
    write(store, |tx| {
        for (ws, key, next) in schedules {
            tx.set_person_schedule(*ws, *key, &PersonSchedule::next(next.map(at)))?;
        }
        Ok(())
    });
}

pub fn person_schedules_are_recorded_and_none_is_never_due(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let read = |ws, key| write(store, |tx| tx.person_schedule(ws, key));
    assert_eq!(read(lumen, ana), None, "never evaluated");
    set_schedules(store, &[(lumen, ana, Some(500)), (lumen, bob, None)]);
    assert_eq!(read(lumen, ana), schedule(Some(500)));
    assert_eq!(
        read(lumen, bob),
        schedule(None),
        "evaluated, nothing scheduled"
    );
    assert_eq!(read(ember, ana), None, "schedules belong to one workspace");
    assert_eq!(due_checks(store, i64::MAX, 10), [due(lumen, ana, 500)]);
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(500)));

    set_schedules(store, &[(lumen, ana, Some(400))]);
    assert_eq!(read(lumen, ana), schedule(Some(400)), "replaced");
    set_schedules(store, &[(lumen, ana, None)]);
    assert_eq!(read(lumen, ana), schedule(None));

    let with_checks = PersonSchedule {
        next_check: Some(at(700)),
        segment_checks: Some([(3, at(700)), (11, at(9_000))].into()),
    };
    write(store, |tx| tx.set_person_schedule(lumen, bob, &with_checks));
    assert_eq!(
        read(lumen, bob),
        Some(with_checks),
        "segment checks round trip"
    );
    let legacy = PersonSchedule {
        next_check: Some(at(800)),
        segment_checks: None,
    };
    write(store, |tx| tx.set_person_schedule(lumen, bob, &legacy));
    assert_eq!(
        read(lumen, bob),
        Some(legacy),
        "none kept is not an empty set"
    );
    write(store, |tx| {
        tx.set_person_schedule(lumen, bob, &PersonSchedule::next(None))
    });
    assert!(due_checks(store, i64::MAX, 10).is_empty());
    assert_eq!(store.next_scheduled_check().unwrap(), None);
}

pub fn due_checks_are_earliest_first_across_workspaces_with_a_limit(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let dan = person(store, lumen, "dan");
    let carol = person(store, ember, "carol");
    let eve = person(store, ember, "eve");
    assert!(due_checks(store, i64::MAX, 10).is_empty());
    set_schedules(
        store,
        &[
            (lumen, ana, Some(300)),
            (lumen, bob, Some(100)),
            (lumen, dan, Some(900)),
            (ember, carol, Some(200)),
            (ember, eve, None),
        ],
    );
    let expected = [
        due(lumen, bob, 100),
        due(ember, carol, 200),
        due(lumen, ana, 300),
    ];
    assert_eq!(due_checks(store, 300, 10), expected, "due at or before now");
    assert_eq!(due_checks(store, 300, 2), expected[..2]);
    assert_eq!(
        due_checks(store, 300, 10),
        expected,
        "reading changes nothing"
    );
    assert!(due_checks(store, 99, 10).is_empty());
    assert!(due_checks(store, 300, 0).is_empty());

    set_schedules(store, &[(lumen, bob, Some(1_000))]);
    assert_eq!(due_checks(store, 300, 10), expected[1..]);
    assert_eq!(
        due_checks(store, 1_000, 10),
        [
            due(ember, carol, 200),
            due(lumen, ana, 300),
            due(lumen, dan, 900),
            due(lumen, bob, 1_000)
        ]
    );
}

pub fn next_scheduled_check_is_the_earliest_of_any_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let carol = person(store, ember, "carol");
    assert_eq!(store.next_scheduled_check().unwrap(), None);
    set_schedules(
        store,
        &[
            (ember, carol, Some(700)),
            (lumen, ana, Some(400)),
            (lumen, bob, None),
        ],
    );
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(400)));
    set_schedules(store, &[(lumen, ana, None)]);
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(700)));
    set_schedules(store, &[(ember, carol, Some(50))]);
    assert_eq!(store.next_scheduled_check().unwrap(), Some(at(50)));
    set_schedules(store, &[(ember, carol, None)]);
    assert_eq!(store.next_scheduled_check().unwrap(), None);
}
