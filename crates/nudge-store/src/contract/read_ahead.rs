//! Contract checks for what the log processor reads ahead for a batch: `people_by_key` brings
//! each person that exists, in key order, exactly as the per-person reads bring them, and
//! `resolve_all` answers each identifier as `resolve` does, in the order asked.

use super::segment_definitions::{data_driven_segment, manual_segment};
use super::{at, email, id, ident, person, workspace, write};
use crate::{PersonSchedule, Store};
use nudge_core::{Identifier, IdentifierKind, PersonKey};
use serde_json::json;

pub fn people_by_key_bring_what_the_per_person_reads_bring(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let people: Vec<PersonKey> = ["ana", "bob", "cy", "dee"]
        .iter()
        .map(|name| person(store, lumen, name))
        .collect();
    let outsider = person(store, ember, "eve");
    let gone = person(store, lumen, "gone");
    write(store, |tx| tx.delete_person(lumen, gone));
    let manual = store
        .create_segment(lumen, &manual_segment("m"), at(1))
        .unwrap()
        .id;
    let dynamic = store
        .create_segment(lumen, &data_driven_segment("d"), at(1))
        .unwrap()
        .id;
    write(store, |tx| {
        for (i, &key) in people.iter().enumerate() {
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
                tx.set_segment_membership(lumen, manual, key, true, at(5))?;
                tx.set_segment_membership(lumen, dynamic, key, true, at(5))?;
            }
        }
        Ok(())
    });

    // Out of order, with a repeat, someone deleted and someone of another workspace.
    let asked = [people[3], people[0], gone, outsider, people[1], people[0]];
    let read = write(store, |tx| tx.people_by_key(lumen, &asked));
    let keys: Vec<PersonKey> = read.iter().map(|p| p.state.key).collect();
    assert_eq!(
        keys,
        [people[0], people[1], people[3]],
        "those there, in key order"
    );
    for paged in &read {
        let key = paged.state.key;
        let one_by_one = write(store, |tx| {
            Ok((
                tx.load_person(lumen, key)?,
                tx.person_schedule(lumen, key)?,
                tx.computed_states(lumen, key)?,
                tx.person_segment_ids(lumen, key)?,
            ))
        });
        assert_eq!(Some(&paged.state), one_by_one.0.as_ref(), "{key:?}'s row");
        assert_eq!(paged.schedule, one_by_one.1, "{key:?}'s schedule");
        assert_eq!(paged.computed_states, one_by_one.2, "{key:?}'s states");
        assert_eq!(paged.segment_ids, one_by_one.3, "{key:?}'s segments");
        assert!(paged.events.is_empty(), "events are read when needed");
    }
    assert!(read[0].schedule.is_some() && !read[0].computed_states.is_empty());
    assert_eq!(read[1].segment_ids, {
        let mut both = vec![manual, dynamic];
        both.sort();
        both
    });
    assert!(read[1].schedule.is_none() && read[1].computed_states.is_empty());
    assert!(write(store, |tx| tx.people_by_key(lumen, &[])).is_empty());
    assert!(write(store, |tx| tx.people_by_key(ember, &people)).is_empty());
}

pub fn resolve_all_answers_each_identifier_as_resolve_does(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    person(store, ember, "eve");
    let anonymous = Identifier::new(IdentifierKind::AnonymousId, "anon-1").unwrap();
    write(store, |tx| {
        tx.link_identifier(lumen, &email("Ana@Example.com"), ana)?;
        tx.link_identifier(lumen, &anonymous, bob)
    });

    let asked = [
        id("bob"),
        email("ana@example.com"),
        id("nobody"),
        // Eve is in the other workspace; "bob" as a cio_id is not his id.
        id("eve"),
        ident(IdentifierKind::CioId, "bob"),
        anonymous.clone(),
        id("bob"),
        id("ana"),
    ];
    let all = write(store, |tx| tx.resolve_all(lumen, &asked));
    let one_by_one = write(store, |tx| {
        asked
            .iter()
            .map(|i| tx.resolve(lumen, i))
            .collect::<Result<Vec<_>, _>>()
    });
    assert_eq!(all, one_by_one);
    assert_eq!(
        all,
        [
            Some(bob),
            Some(ana),
            None,
            None,
            None,
            Some(bob),
            Some(bob),
            Some(ana)
        ]
    );
    assert!(write(store, |tx| tx.resolve_all(lumen, &[])).is_empty());
}
