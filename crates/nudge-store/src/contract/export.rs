//! Contract checks for exports: keyset pages of people and of events that walk everything in
//! scope exactly once, the segment and `since` restrictions, and export jobs.

use super::{activity, at, email, map, new_person, next_seq, workspace, write};
use crate::{ExportEnd, ExportScope, ExportStatus, NewExport, Store};
use nudge_core::{ActivityKind, PersonKey, WorkspaceId};
use serde_json::json;

/// Every person in scope, read `limit` at a time; the keys, in the order read.
fn all_people(store: &dyn Store, ws: WorkspaceId, limit: usize, scope: &ExportScope) -> Vec<i64> {
    let mut keys = Vec::new();
    let mut after = None;
    loop {
        let page = store.people_page(ws, after, limit, scope).unwrap();
        assert!(page.len() <= limit);
        keys.extend(page.iter().map(|p| p.key.0));
        match page.last() {
            Some(last) if page.len() == limit => after = Some(last.key),
            _ => return keys,
        }
    }
}

/// Every event in scope, read `limit` at a time: (name, person id), in the order read.
fn all_events(
    store: &dyn Store,
    ws: WorkspaceId,
    limit: usize,
    scope: &ExportScope,
) -> Vec<(String, Option<String>)> {
    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = store.events_page(ws, after, limit, scope).unwrap();
        assert!(page.len() <= limit);
        assert!(page.windows(2).all(|w| w[0].seq < w[1].seq), "in seq order");
        events.extend(
            page.iter()
                .map(|e| (e.activity.name.clone(), e.person_id.clone())),
        );
        match page.last() {
            Some(last) if page.len() == limit => after = last.seq,
            _ => return events,
        }
    }
}

/// A committed person whose row carries `id_value` as its id, as ingestion saves it.
fn person(store: &dyn Store, ws: WorkspaceId, id_value: &str) -> PersonKey {
    write(store, |tx| {
        let key = new_person(tx, ws, id_value)?;
        let mut state = tx.load_person(ws, key)?.expect("the person exists");
        state.id = Some(id_value.into());
        tx.save_person(ws, &state)?;
        Ok(key)
    })
}

/// Sets the person's email and `updated_at`, as ingestion's save does.
fn touch(store: &dyn Store, ws: WorkspaceId, key: PersonKey, address: &str, updated_ms: i64) {
    write(store, |tx| {
        let mut state = tx.load_person(ws, key)?.expect("the person exists");
        state.email = Some(address.into());
        state.attributes = map(json!({"plan": "pro"}));
        state.updated_at = at(updated_ms);
        tx.link_identifier(ws, &email(address), key)?;
        tx.save_person(ws, &state)
    });
}

pub fn people_pages_walk_everyone_once_in_key_order(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let other = workspace(store, "ember");
    let mut keys: Vec<i64> = (0..7)
        .map(|n| person(store, ws, &format!("p{n}")).0)
        .collect();
    person(store, other, "elsewhere");
    keys.sort_unstable();
    let scope = ExportScope::default();
    for limit in [1, 3, 7, 100] {
        assert_eq!(all_people(store, ws, limit, &scope), keys, "limit {limit}");
    }
    let first = store.people_page(ws, None, 2, &scope).unwrap();
    assert_eq!(first[0].id.as_deref(), Some("p0"), "full person states");
    assert!(store
        .people_page(ws, Some(PersonKey(keys[6])), 10, &scope)
        .unwrap()
        .is_empty());
}

pub fn people_pages_keep_to_the_segment_and_since(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let keys: Vec<PersonKey> = (0..6)
        .map(|n| person(store, ws, &format!("p{n}")))
        .collect();
    let vip = store.create_manual_segment(ws, "VIP", "", at(1)).unwrap();
    write(store, |tx| {
        for key in [keys[1], keys[2], keys[4]] {
            tx.set_segment_membership(ws, vip.id, key, true, at(2))?;
        }
        Ok(())
    });
    touch(store, ws, keys[2], "two@example.com", 5_000);
    touch(store, ws, keys[3], "three@example.com", 6_000);
    let members = ExportScope {
        segment: Some(vip.id),
        since: None,
    };
    let expected: Vec<i64> = [keys[1], keys[2], keys[4]].iter().map(|k| k.0).collect();
    assert_eq!(all_people(store, ws, 2, &members), expected);
    let recent = ExportScope {
        segment: None,
        since: Some(at(5_000)),
    };
    assert_eq!(
        all_people(store, ws, 1, &recent),
        vec![keys[2].0, keys[3].0]
    );
    let both = ExportScope {
        segment: Some(vip.id),
        since: Some(at(5_000)),
    };
    let page = store.people_page(ws, None, 10, &both).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].email.as_deref(), Some("two@example.com"));
    assert_eq!(page[0].attributes, map(json!({"plan": "pro"})));
}

pub fn event_pages_list_events_pages_and_screens_with_their_person(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let other = workspace(store, "ember");
    let ana = person(store, ws, "ana");
    let bo = person(store, ws, "bo");
    let stranger = person(store, other, "stranger");
    touch(store, ws, ana, "ana@example.com", 20);
    write(store, |tx| {
        let recorded = [
            (ana, activity(ActivityKind::Event, "e1", 100)),
            (bo, activity(ActivityKind::Page, "/pricing", 200)),
            (ana, activity(ActivityKind::AttributeChange, "", 300)),
            (bo, activity(ActivityKind::Screen, "home", 400)),
            (ana, activity(ActivityKind::Merged, "", 500)),
            (ana, activity(ActivityKind::Event, "e2", 600)),
        ];
        for (key, a) in &recorded {
            tx.record_activity(ws, *key, a, next_seq(), at(1_000))?;
        }
        tx.record_activity(
            other,
            stranger,
            &activity(ActivityKind::Event, "theirs", 100),
            next_seq(),
            at(1_000),
        )
    });
    let expected = vec![
        ("e1".to_string(), Some("ana".to_string())),
        ("/pricing".into(), Some("bo".into())),
        ("home".into(), Some("bo".into())),
        ("e2".into(), Some("ana".into())),
    ];
    for limit in [1, 2, 3, 50] {
        assert_eq!(
            all_events(store, ws, limit, &ExportScope::default()),
            expected,
            "limit {limit}"
        );
    }
    let page = store
        .events_page(ws, 0, 1, &ExportScope::default())
        .unwrap();
    let first = &page[0];
    assert_eq!(first.person_email.as_deref(), Some("ana@example.com"));
    assert!(!first.person_cio_id.is_empty());
    assert_eq!(first.activity, activity(ActivityKind::Event, "e1", 100));
}

pub fn event_pages_keep_to_the_segment_and_since(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let ana = person(store, ws, "ana");
    let bo = person(store, ws, "bo");
    let vip = store.create_manual_segment(ws, "VIP", "", at(1)).unwrap();
    write(store, |tx| {
        tx.set_segment_membership(ws, vip.id, bo, true, at(2))?;
        for (key, name, ms) in [
            (ana, "a-old", 100),
            (bo, "b-old", 200),
            (ana, "a-new", 5_000),
            (bo, "b-new", 6_000),
        ] {
            tx.record_activity(
                ws,
                key,
                &activity(ActivityKind::Event, name, ms),
                next_seq(),
                at(10_000),
            )?;
        }
        Ok(())
    });
    let names = |scope: ExportScope| -> Vec<String> {
        all_events(store, ws, 1, &scope)
            .into_iter()
            .map(|(name, _)| name)
            .collect()
    };
    assert_eq!(
        names(ExportScope {
            segment: Some(vip.id),
            since: None
        }),
        ["b-old", "b-new"]
    );
    assert_eq!(
        names(ExportScope {
            segment: None,
            since: Some(at(5_000))
        }),
        ["a-new", "b-new"]
    );
    assert_eq!(
        names(ExportScope {
            segment: Some(vip.id),
            since: Some(at(5_000))
        }),
        ["b-new"]
    );
}

pub fn export_jobs_are_created_finished_and_kept_per_workspace(store: &dyn Store) {
    let ws = workspace(store, "lumen");
    let other = workspace(store, "ember");
    let filters = json!({"and": [{"segment": {"id": 3}}, {"attribute": {"field": "plan", "operator": "eq", "value": "pro"}}]});
    let new = |ms| NewExport {
        kind: "customers".into(),
        filters: filters.clone(),
        now: at(ms),
    };
    let job = store.create_export(ws, &new(100)).unwrap();
    assert_eq!(job.kind, "customers");
    assert_eq!(job.filters, filters);
    assert_eq!(job.status, ExportStatus::Pending);
    assert_eq!(
        (job.total, job.downloads, job.error.as_deref()),
        (0, 0, None)
    );
    assert_eq!((job.created_at, job.updated_at), (at(100), at(100)));
    let second = store.create_export(ws, &new(150)).unwrap();
    assert_ne!(job.id, second.id);
    assert_eq!(store.export_job(other, job.id).unwrap(), None);
    assert_eq!(store.export_job(ws, job.id).unwrap(), Some(job.clone()));

    store
        .finish_export(ws, job.id, &ExportEnd::Done { total: 42 }, at(200))
        .unwrap();
    store.record_export_download(ws, job.id, at(300)).unwrap();
    store.record_export_download(ws, job.id, at(400)).unwrap();
    let done = store.export_job(ws, job.id).unwrap().unwrap();
    assert_eq!(done.status, ExportStatus::Done);
    assert_eq!((done.total, done.downloads), (42, 2));
    assert_eq!((done.created_at, done.updated_at), (at(100), at(400)));

    let error = "the data directory is full".to_string();
    store
        .finish_export(
            ws,
            second.id,
            &ExportEnd::Failed {
                error: error.clone(),
            },
            at(500),
        )
        .unwrap();
    let failed = store.export_job(ws, second.id).unwrap().unwrap();
    assert_eq!(failed.status, ExportStatus::Failed);
    assert_eq!(failed.error, Some(error));
    // Another workspace cannot finish or count this workspace's job.
    store
        .finish_export(other, job.id, &ExportEnd::Done { total: 7 }, at(600))
        .unwrap();
    assert_eq!(store.export_job(ws, job.id).unwrap().unwrap().total, 42);
}
