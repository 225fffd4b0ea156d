//! Contract checks for backfill pages (`people_page`): they walk a workspace's people in key
//! order, and bring for each exactly what the per-person reads bring.

use super::segment_definitions::{data_driven_segment, manual_segment};
use super::{activity, at, next_seq, person, workspace, write};
use crate::{EventRead, PersonSchedule, Store, StoredEvent};
use nudge_core::{ActivityKind, PersonKey};
use serde_json::json;

pub fn people_pages_walk_a_workspace_in_key_order(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let mut ours = Vec::new();
    for name in ["a", "b", "c", "d", "e"] {
        ours.push(person(store, lumen, name));
        person(store, ember, name);
    }
    let gone = ours.remove(2);
    write(store, |tx| tx.delete_person(lumen, gone));
    ours.sort();
    let page = |after: i64, limit| -> Vec<PersonKey> {
        write(store, |tx| tx.people_page(lumen, after, limit, &[]))
            .into_iter()
            .map(|p| p.state.key)
            .collect()
    };
    assert_eq!(page(0, 10), ours, "0 is before the first");
    let mut walked = Vec::new();
    let mut after = 0;
    loop {
        let keys = page(after, 2);
        assert!(keys.len() <= 2);
        let Some(last) = keys.last() else { break };
        after = last.0;
        walked.extend(keys);
    }
    assert_eq!(walked, ours, "pages walk everyone once, in key order");
    let later: Vec<PersonKey> = ours.iter().copied().filter(|k| *k > gone).collect();
    assert_eq!(page(gone.0, 10), later);
    assert!(page(0, 0).is_empty());
    let empty = workspace(store, "empty");
    assert!(write(store, |tx| tx.people_page(empty, 0, 10, &[])).is_empty());
}

pub fn people_pages_bring_what_the_per_person_reads_bring(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let people: Vec<PersonKey> = ["ana", "bob", "cy", "dee"]
        .iter()
        .map(|name| person(store, lumen, name))
        .collect();
    let outsider = person(store, ember, "ana");
    let manual = store
        .create_segment(lumen, &manual_segment("m"), at(1))
        .unwrap()
        .id;
    let dynamic = store
        .create_segment(lumen, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    let theirs = store
        .create_segment(ember, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    let kinds = [
        ActivityKind::Event,
        ActivityKind::Page,
        ActivityKind::Screen,
        ActivityKind::AttributeChange,
    ];
    write(store, |tx| {
        for (i, &key) in people.iter().enumerate() {
            // Everyone but the last has events, recorded out of timestamp order, of every
            // name and kind, some before the windowed read's start.
            for n in 0..(3 * (people.len() - 1 - i)) {
                let name = ["purchase", "pricing", "checkout", "refund"][n % 4];
                let ms = 400 - 37 * n as i64;
                let recorded = activity(kinds[n % kinds.len()], name, ms);
                tx.record_activity(lumen, key, &recorded, next_seq(), recorded.timestamp)?;
            }
            if i % 2 == 0 {
                let schedule = PersonSchedule {
                    next_check: Some(at(1_000 + i as i64)),
                    segment_checks: Some([(dynamic, at(1_000 + i as i64))].into()),
                };
                tx.set_person_schedule(lumen, key, &schedule)?;
                let states = [("ltv".to_string(), json!({"sum": i}))].into();
                tx.set_computed_states(lumen, key, &states)?;
                tx.set_segment_membership(lumen, dynamic, key, true, at(5))?;
            }
            if i == 1 {
                // Recorded before segment checks were kept.
                let schedule = PersonSchedule {
                    next_check: None,
                    segment_checks: None,
                };
                tx.set_person_schedule(lumen, key, &schedule)?;
                let states = [("orders".to_string(), json!(2))].into();
                tx.set_computed_states(lumen, key, &states)?;
                tx.set_segment_membership(lumen, manual, key, true, at(5))?;
                tx.set_segment_membership(lumen, dynamic, key, true, at(5))?;
            }
        }
        let stray = activity(ActivityKind::Event, "purchase", 300);
        tx.record_activity(ember, outsider, &stray, next_seq(), stray.timestamp)?;
        tx.set_segment_membership(ember, theirs, outsider, true, at(5))?;
        Ok(())
    });
    let names = |list: &[&str]| list.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let reads = [
        EventRead {
            names: names(&["purchase", "pricing"]),
            since: None,
            with_data: false,
        },
        EventRead {
            names: names(&["purchase", "checkout", "checkout"]),
            since: Some(at(250)),
            with_data: true,
        },
    ];
    for (after, limit) in [(0, 10), (people[0].0, 2)] {
        let page = write(store, |tx| tx.people_page(lumen, after, limit, &reads));
        let expected: Vec<PersonKey> = people
            .iter()
            .copied()
            .filter(|k| k.0 > after)
            .take(limit)
            .collect();
        let keys: Vec<PersonKey> = page.iter().map(|p| p.state.key).collect();
        assert_eq!(keys, expected, "the page after {after}, at most {limit}");
        for paged in page {
            let key = paged.state.key;
            let one_by_one = write(store, |tx| {
                // Every event some read covers, with its data where a read with data does.
                let every = EventRead {
                    names: names(&["purchase", "pricing", "checkout", "refund"]),
                    since: None,
                    with_data: true,
                };
                let covers = |read: &EventRead, e: &StoredEvent| {
                    read.names.contains(&e.name) && read.since.is_none_or(|s| e.timestamp >= s)
                };
                let events: Vec<StoredEvent> = tx
                    .person_events(lumen, key, &every)?
                    .into_iter()
                    .filter(|e| reads.iter().any(|r| covers(r, e)))
                    .map(
                        |e| match reads.iter().any(|r| r.with_data && covers(r, &e)) {
                            true => e,
                            false => StoredEvent {
                                data: Default::default(),
                                ..e
                            },
                        },
                    )
                    .collect();
                Ok((
                    tx.load_person(lumen, key)?,
                    tx.person_schedule(lumen, key)?,
                    tx.computed_states(lumen, key)?,
                    tx.person_segment_ids(lumen, key)?,
                    events,
                ))
            });
            assert_eq!(Some(&paged.state), one_by_one.0.as_ref(), "{key:?}'s row");
            assert_eq!(paged.schedule, one_by_one.1, "{key:?}'s schedule");
            assert_eq!(paged.computed_states, one_by_one.2, "{key:?}'s states");
            assert_eq!(paged.segment_ids, one_by_one.3, "{key:?}'s segments");
            assert_eq!(paged.events, one_by_one.4, "{key:?}'s events");
        }
    }
    let first = &write(store, |tx| tx.people_page(lumen, 0, 1, &reads))[0];
    assert!(
        first.events.len() > 4,
        "the fixture gives the first person events"
    );
    assert!(first.schedule.is_some() && !first.computed_states.is_empty());
    assert_eq!(first.segment_ids, vec![dynamic]);
}
