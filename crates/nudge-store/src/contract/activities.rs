//! Contract checks for the activity timeline: recorded as given, read newest first, filtered
//! by kind and name, paged by sequence number.

use super::{activity, at, map, next_seq, person, workspace, write};
use crate::{ActivityQuery, Store};
use nudge_core::{Activity, ActivityKind, PersonKey, WorkspaceId};
use serde_json::json;

fn query(kinds: &[ActivityKind], name: Option<&str>, limit: usize) -> ActivityQuery {
    ActivityQuery {
        kinds: kinds.to_vec(),
        name: name.map(String::from),
        before_seq: None,
        limit,
    }
}

fn names(store: &dyn Store, ws: WorkspaceId, key: PersonKey, q: &ActivityQuery) -> Vec<String> {
    store
        .activities(ws, key, q)
        .unwrap()
        .into_iter()
        .map(|a| a.activity.name)
        .collect()
}

fn record(store: &dyn Store, ws: WorkspaceId, key: PersonKey, activities: &[Activity]) {
    write(store, |tx| {
        for (n, a) in activities.iter().enumerate() {
            tx.record_activity(ws, key, a, next_seq(), at(1_000 + n as i64))?;
        }
        Ok(())
    });
}

pub fn activities_are_newest_first_and_page_by_seq(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let key = person(store, ws, "ana");
    let purchase = Activity {
        kind: ActivityKind::Event,
        name: "purchased".into(),
        // An old client timestamp: the timeline is ordered by recording, not by it.
        timestamp: at(5),
        data: map(json!({"total": 42.5, "items": [{"sku": "a"}]})),
        event_id: Some("01HZPURCHASE".into()),
        can_trigger: false,
    };
    let mut recorded: Vec<Activity> = (1..=4)
        .map(|n| activity(ActivityKind::Event, &format!("e{n}"), 100 * n))
        .collect();
    recorded.push(purchase.clone());
    record(store, ws, key, &recorded[..2]);
    record(store, ws, key, &recorded[2..]);

    let everything = store.activities(ws, key, &query(&[], None, 100)).unwrap();
    let got: Vec<&Activity> = everything.iter().map(|a| &a.activity).collect();
    let expected: Vec<&Activity> = recorded.iter().rev().collect();
    assert_eq!(got, expected, "newest first, every field as recorded");
    assert!(everything.windows(2).all(|w| w[0].seq > w[1].seq));
    assert_eq!(
        everything[0].recorded_at,
        at(1_002),
        "recorded_at is the write's now"
    );

    let mut pages = Vec::new();
    let mut before_seq = None;
    // Bounded: a backend that fails to advance must fail the check, not hang it.
    for _ in 0..5 {
        let page = store
            .activities(
                ws,
                key,
                &ActivityQuery {
                    before_seq,
                    ..query(&[], None, 2)
                },
            )
            .unwrap();
        let Some(last) = page.last() else { break };
        before_seq = Some(last.seq);
        pages.push(
            page.iter()
                .map(|a| a.activity.name.clone())
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(
        pages,
        [vec!["purchased", "e4"], vec!["e3", "e2"], vec!["e1"]],
        "before_seq continues below the last seq seen"
    );
}

pub fn activities_filter_by_kind_and_name(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let key = person(store, ws, "ana");
    record(
        store,
        ws,
        key,
        &[
            activity(ActivityKind::Event, "viewed", 1),
            activity(ActivityKind::Page, "/home", 2),
            activity(ActivityKind::Event, "purchased", 3),
            activity(ActivityKind::AttributeChange, "", 4),
            activity(ActivityKind::Screen, "home", 5),
            activity(ActivityKind::Event, "viewed", 6),
        ],
    );
    let check = |kinds: &[ActivityKind], name: Option<&str>, expected: &[&str]| {
        assert_eq!(
            names(store, ws, key, &query(kinds, name, 100)),
            expected,
            "kinds {kinds:?}, name {name:?}"
        );
    };
    check(
        &[],
        None,
        &["viewed", "home", "", "purchased", "/home", "viewed"],
    );
    check(
        &[ActivityKind::Event],
        None,
        &["viewed", "purchased", "viewed"],
    );
    check(
        &[ActivityKind::Page, ActivityKind::AttributeChange],
        None,
        &["", "/home"],
    );
    check(&[], Some("viewed"), &["viewed", "viewed"]);
    check(&[ActivityKind::Event], Some("purchased"), &["purchased"]);
    check(&[ActivityKind::Page], Some("viewed"), &[]);
    check(&[ActivityKind::Merged], None, &[]);
    check(&[], Some("home"), &["home"]);

    // Filters and paging combine: the second "viewed" page starts below the first.
    let first = store
        .activities(ws, key, &query(&[ActivityKind::Event], Some("viewed"), 1))
        .unwrap();
    let rest = ActivityQuery {
        before_seq: Some(first[0].seq),
        ..query(&[ActivityKind::Event], Some("viewed"), 10)
    };
    let rest = store.activities(ws, key, &rest).unwrap();
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].activity.timestamp, at(1));
}

pub fn activities_belong_to_one_person(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ana = person(store, lumen, "ana");
    let bob = person(store, lumen, "bob");
    let elsewhere = person(store, ember, "ana");
    record(
        store,
        lumen,
        ana,
        &[activity(ActivityKind::Event, "ana's", 1)],
    );
    record(
        store,
        lumen,
        bob,
        &[activity(ActivityKind::Event, "bob's", 1)],
    );
    record(
        store,
        ember,
        elsewhere,
        &[activity(ActivityKind::Event, "ember's", 1)],
    );
    let all = query(&[], None, 10);
    assert_eq!(names(store, lumen, ana, &all), ["ana's"]);
    assert_eq!(names(store, lumen, bob, &all), ["bob's"]);
    assert_eq!(names(store, ember, elsewhere, &all), ["ember's"]);
    assert!(
        names(store, ember, ana, &all).is_empty(),
        "keys are scoped to a workspace"
    );
}
