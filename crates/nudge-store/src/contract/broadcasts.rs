//! Contract checks for broadcast jobs: written by `put_broadcast` inside the processor's
//! transaction (inserted, then replaced by id as the processor makes progress), read outside
//! the writer through `open_broadcasts` and `broadcast`, kept per workspace, and wiped by
//! `reset_derived` like the rest of the derived state.

use super::{at, map, workspace, write};
use crate::{BroadcastJob, Store, StoreError, WriteTx};
use nudge_core::WorkspaceId;
use serde_json::json;

/// A broadcast of `journey` to everyone on the pro plan, not started yet, created at
/// `id * 10` ms (so creation follows the log order of the ids).
fn to_filter(id: i64, journey: &str) -> BroadcastJob {
    BroadcastJob {
        id,
        offset: id * 3 + 1,
        journey: journey.into(),
        data: map(json!({"coupon": format!("C-{id}")})),
        filter: Some(
            json!({"and": [{"attribute": {"field": "plan", "operator": "eq",
                                                   "value": "pro"}}]}),
        ),
        after: 0,
        visited: 0,
        started: 0,
        complete: false,
        created_at: at(id * 10),
    }
}

/// A broadcast to a list of named people, halfway through, with no data of its own.
fn to_named_people(id: i64, journey: &str) -> BroadcastJob {
    BroadcastJob {
        data: map(json!({})),
        filter: None,
        after: 17,
        visited: 3,
        started: 2,
        ..to_filter(id, journey)
    }
}

fn completed(job: BroadcastJob) -> BroadcastJob {
    BroadcastJob {
        complete: true,
        ..job
    }
}

/// Puts each job in one committed write, in the order given.
fn put(store: &dyn Store, ws: WorkspaceId, jobs: impl IntoIterator<Item = BroadcastJob>) {
    let jobs: Vec<BroadcastJob> = jobs.into_iter().collect();
    write(store, |tx| {
        jobs.iter().try_for_each(|job| tx.put_broadcast(ws, job))
    });
}

fn open_ids(store: &dyn Store, ws: WorkspaceId) -> Vec<i64> {
    let open = store.open_broadcasts(ws).expect("open broadcasts");
    open.iter().map(|job| job.id).collect()
}

pub fn broadcasts_are_put_and_read_back(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let filtered = BroadcastJob {
        data: map(json!({
            "coupon": "SPRING-24",
            "discount": 0.15,
            "items": [{"sku": "A-1", "qty": 2}, {"sku": "B-7", "qty": 1}],
            "greeting": "Grüße, ☀",
        })),
        // More than 32 bits: counts are stored whole.
        visited: 5_000_000_000,
        started: 4_999_999_999,
        after: 6_000_000_000,
        ..to_filter(41, "spring-sale")
    };
    let named = to_named_people(42, "welcome-back");
    put(store, lumen, [filtered.clone(), named.clone()]);

    assert_eq!(store.broadcast(lumen, 41).unwrap(), Some(filtered.clone()));
    assert_eq!(
        store.broadcast(lumen, 42).unwrap(),
        Some(named.clone()),
        "no filter reads back as none"
    );
    assert_eq!(store.open_broadcasts(lumen).unwrap(), [filtered, named]);

    // A job is written with its transaction or not at all.
    let refused = store.write(&mut |tx: &mut dyn WriteTx| {
        tx.put_broadcast(lumen, &to_filter(43, "spring-sale"))?;
        Err(StoreError::Backend("the page failed".into()))
    });
    assert!(refused.is_err());
    assert_eq!(store.broadcast(lumen, 43).unwrap(), None);
    assert_eq!(open_ids(store, lumen), [41, 42]);
}

pub fn put_broadcast_replaces_the_job_with_its_id(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let fresh = to_filter(7, "spring-sale");
    put(store, lumen, [fresh.clone()]);

    let first_page = BroadcastJob {
        after: 120,
        visited: 50,
        started: 31,
        ..fresh.clone()
    };
    put(store, lumen, [first_page.clone()]);
    assert_eq!(store.broadcast(lumen, 7).unwrap(), Some(first_page.clone()));
    assert_eq!(
        store.open_broadcasts(lumen).unwrap(),
        vec![first_page.clone()],
        "one row, with the new progress"
    );

    // Two pages in one transaction: the later one stands.
    let second_page = BroadcastJob {
        after: 240,
        visited: 100,
        started: 60,
        ..first_page.clone()
    };
    let third_page = BroadcastJob {
        after: 300,
        visited: 130,
        started: 75,
        ..first_page
    };
    put(store, lumen, [second_page, third_page.clone()]);
    assert_eq!(
        store.open_broadcasts(lumen).unwrap(),
        vec![third_page.clone()]
    );

    // Replacing rewrites every field, not only the progress.
    let rewritten = BroadcastJob {
        journey: "summer-sale".into(),
        data: map(json!({"coupon": "SUMMER"})),
        filter: None,
        created_at: at(999),
        offset: 4_242,
        ..third_page.clone()
    };
    put(store, lumen, [rewritten.clone()]);
    assert_eq!(store.broadcast(lumen, 7).unwrap(), Some(rewritten.clone()));

    let done = completed(rewritten);
    put(store, lumen, [done.clone()]);
    assert_eq!(
        store.broadcast(lumen, 7).unwrap(),
        Some(done),
        "a complete job is still read by id"
    );
    assert!(store.open_broadcasts(lumen).unwrap().is_empty());
}

pub fn open_broadcasts_are_the_incomplete_oldest_first_per_workspace(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let quiet = workspace(store, "quiet");
    assert!(store.open_broadcasts(lumen).unwrap().is_empty());

    // Written out of log order, one transaction each.
    for job in [
        to_filter(30, "spring-sale"),
        to_named_people(10, "welcome-back"),
        completed(to_filter(5, "spring-sale")),
        to_filter(20, "spring-sale"),
        completed(to_named_people(40, "welcome-back")),
    ] {
        put(store, lumen, [job]);
    }
    put(
        store,
        ember,
        [to_filter(15, "launch"), completed(to_filter(25, "launch"))],
    );

    assert_eq!(
        store.open_broadcasts(lumen).unwrap(),
        [
            to_named_people(10, "welcome-back"),
            to_filter(20, "spring-sale"),
            to_filter(30, "spring-sale"),
        ],
        "incomplete only, oldest first"
    );
    assert_eq!(
        store.open_broadcasts(ember).unwrap(),
        [to_filter(15, "launch")]
    );
    assert!(store.open_broadcasts(quiet).unwrap().is_empty());

    // Completing one takes it off the list; a job put back as incomplete is on it again.
    put(
        store,
        lumen,
        [
            completed(to_named_people(10, "welcome-back")),
            to_named_people(40, "welcome-back"),
        ],
    );
    assert_eq!(open_ids(store, lumen), [20, 30, 40]);
    assert_eq!(open_ids(store, ember), [15], "the other workspace's stay");
}

pub fn broadcast_by_id_is_per_workspace_and_none_when_unknown(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let ours = to_filter(5, "spring-sale");
    let ours_six = completed(to_named_people(6, "welcome-back"));
    let theirs_six = to_filter(6, "launch");
    put(store, lumen, [ours.clone(), ours_six.clone()]);
    put(store, ember, [theirs_six.clone()]);

    assert_eq!(store.broadcast(lumen, 5).unwrap(), Some(ours));
    assert_eq!(store.broadcast(lumen, 999).unwrap(), None, "unknown id");
    assert_eq!(
        store.broadcast(ember, 5).unwrap(),
        None,
        "another workspace's id"
    );
    assert_eq!(store.broadcast(lumen, 6).unwrap(), Some(ours_six));
    assert_eq!(store.broadcast(ember, 6).unwrap(), Some(theirs_six));
}

pub fn reset_derived_wipes_broadcasts(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    put(
        store,
        lumen,
        [
            to_filter(11, "spring-sale"),
            completed(to_named_people(12, "welcome-back")),
        ],
    );
    let theirs = [to_filter(11, "launch"), to_named_people(13, "launch")];
    put(store, ember, theirs.clone());

    store.reset_derived(lumen).unwrap();

    assert!(store.open_broadcasts(lumen).unwrap().is_empty());
    assert_eq!(store.broadcast(lumen, 11).unwrap(), None);
    assert_eq!(
        store.broadcast(lumen, 12).unwrap(),
        None,
        "complete ones go too"
    );
    assert_eq!(store.open_broadcasts(ember).unwrap(), theirs);

    // The processor starts the broadcast again from its log entry.
    let again = to_filter(11, "spring-sale");
    put(store, lumen, [again.clone()]);
    assert_eq!(store.broadcast(lumen, 11).unwrap(), Some(again));
}
