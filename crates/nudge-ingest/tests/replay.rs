//! Replay equivalence as a property. Random workloads over a handful of people (identifies
//! with attribute changes and `_timestamp`, cio_id-addressed identifier changes, events with
//! and without ULIDs, anonymous events and stitching, aliases, devices, merges, deletes,
//! suppression, manual segments, objects and relationships) are committed the way the writer
//! commits them, several entries per transaction sharing one receipt time. Then:
//!   * replaying the log from any offset, once or twice, leaves every derived table as it was;
//!   * a rebuild recreates it exactly;
//!   * a store whose derived state lags its log (entries appended but never applied) catches
//!     up to the same state when replayed from any offset up to the first unapplied entry.
//!
//! States are compared through `SqliteStore::derived_snapshot`, which dumps every derived
//! table with people named by cio_id.

use nudge_core::operation::Relationship;
use nudge_core::{
    Device, EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, ObjectRef, Operation,
    Timestamp, WorkspaceId,
};
use nudge_ingest::replay::{replay, ReplayPlan, ReplayStart, ReplaySummary};
use nudge_ingest::{apply_entry, Outcome};
use nudge_store::{LogEntry, LogRecord, NewWorkspace, Store, StoreResult, WriteTx};
use nudge_store_sqlite::SqliteStore;
use proptest::prelude::*;
use serde_json::{json, Value};
use tempfile::TempDir;

/// A fresh store in a temporary directory with one workspace and one manual segment. Fields
/// drop in order: the store closes before its directory goes.
struct Fixture {
    store: SqliteStore,
    ws: WorkspaceId,
    segment: i64,
    _dir: TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("nudge.db")).unwrap();
    let ws = store
        .create_workspace(&NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "site".into(),
            keys: vec![],
            now: Timestamp::from_millis(0),
        })
        .unwrap()
        .id;
    let segment = store
        .create_manual_segment(ws, "vip", "", Timestamp::from_millis(0))
        .unwrap()
        .id;
    Fixture {
        store,
        ws,
        segment,
        _dir: dir,
    }
}

/// Who a step names: one of a few ids or emails.
#[derive(Debug, Clone, Copy)]
enum Who {
    Id(u8),
    Email(u8),
}

impl Who {
    fn identifier(self) -> Identifier {
        match self {
            Who::Id(n) => Identifier::new(IdentifierKind::Id, &format!("p{n}")).unwrap(),
            Who::Email(n) => Identifier::new(IdentifierKind::Email, &format!("p{n}@x.io")).unwrap(),
        }
    }
}

/// One generated action. Turned into an [`Operation`] when it is logged, against the state
/// at that moment (so a cio_id-addressed identify names a real person).
#[derive(Debug, Clone)]
enum Step {
    Identify {
        who: Who,
        plan: Option<Value>,
        tier: Option<Value>,
        body_id: Option<u8>,
        body_email: Option<u8>,
        anonymous: Option<u8>,
        update_only: bool,
        /// `_timestamp`, in ms relative to the batch's receipt time.
        at: Option<i64>,
    },
    /// Identify by cio_id, changing the person's id or email.
    ChangeIdentifiers {
        of: Who,
        body_id: Option<u8>,
        body_email: Option<u8>,
    },
    Track {
        who: Who,
        event_id: Option<u8>,
        at: Option<i64>,
    },
    TrackAnonymous {
        anonymous: Option<u8>,
    },
    Alias {
        anonymous: u8,
        user: Who,
    },
    AddDevice {
        who: Who,
        token: u8,
    },
    DeleteDevice {
        who: Who,
        token: u8,
    },
    Delete(Who),
    Suppress(Who),
    Unsuppress(Who),
    Merge(Who, Who),
    Segment {
        people: Vec<Who>,
        add: bool,
        known: bool,
    },
    PersonRelationship {
        who: Who,
        object: u8,
        add: bool,
    },
    IdentifyObject {
        object: u8,
        name: Option<Value>,
        people: Vec<Who>,
    },
    ObjectRelationships {
        object: u8,
        people: Vec<Who>,
        add: bool,
    },
    DeleteObject(u8),
}

fn object(n: u8) -> ObjectRef {
    ObjectRef {
        type_id: "company".into(),
        object_id: format!("o{n}"),
    }
}

fn anonymous(n: u8) -> String {
    format!("anon-{n}")
}

fn map(value: Value) -> JsonMap {
    value.as_object().cloned().unwrap()
}

fn cio_of(tx: &mut dyn WriteTx, ws: WorkspaceId, who: Who) -> StoreResult<Identifier> {
    let cio = match tx.resolve(ws, &who.identifier())? {
        Some(key) => tx.load_person(ws, key)?.map(|p| p.cio_id),
        None => None,
    };
    Ok(Identifier::new(IdentifierKind::CioId, &cio.unwrap_or_else(|| "0ff".into())).unwrap())
}

fn operation(
    tx: &mut dyn WriteTx,
    fx: &Fixture,
    step: &Step,
    now: Timestamp,
) -> StoreResult<Operation> {
    let when = |at: Option<i64>| at.map(|ms| now.plus_millis(ms));
    let relationships = |people: &[Who]| {
        people
            .iter()
            .map(|who| Relationship {
                with: who.identifier(),
                attributes: map(json!({"role": "member"})),
            })
            .collect::<Vec<_>>()
    };
    Ok(match step {
        Step::Identify {
            who,
            plan,
            tier,
            body_id,
            body_email,
            anonymous: anon,
            update_only,
            at,
        } => {
            let mut attributes = JsonMap::new();
            for (name, value) in [("plan", plan), ("tier", tier)] {
                if let Some(value) = value {
                    attributes.insert(name.into(), value.clone());
                }
            }
            if let Some(n) = body_id {
                attributes.insert("id".into(), json!(format!("p{n}")));
            }
            if let Some(n) = body_email {
                attributes.insert("email".into(), json!(format!("p{n}@x.io")));
            }
            if let Some(n) = anon {
                attributes.insert("anonymous_id".into(), json!(anonymous(*n)));
            }
            Operation::Identify {
                person: who.identifier(),
                attributes,
                update_only: *update_only,
                timestamp: when(*at),
            }
        }
        Step::ChangeIdentifiers {
            of,
            body_id,
            body_email,
        } => {
            let mut attributes = map(json!({"changed": true}));
            if let Some(n) = body_id {
                attributes.insert("id".into(), json!(format!("p{n}")));
            }
            if let Some(n) = body_email {
                attributes.insert("email".into(), json!(format!("p{n}@x.io")));
            }
            Operation::Identify {
                person: cio_of(tx, fx.ws, *of)?,
                attributes,
                update_only: false,
                timestamp: None,
            }
        }
        Step::Track { who, event_id, at } => Operation::Track {
            person: who.identifier(),
            event: EventRecord {
                kind: EventKind::Event,
                name: "viewed".into(),
                id: event_id.map(|n| format!("01HZ{n:022}")),
                timestamp: when(*at),
                data: map(json!({"at": at})),
            },
        },
        Step::TrackAnonymous { anonymous: anon } => Operation::TrackAnonymous {
            anonymous_id: anon.map(anonymous),
            event: EventRecord {
                kind: EventKind::Page,
                name: "/home".into(),
                id: None,
                timestamp: None,
                data: JsonMap::new(),
            },
        },
        Step::Alias {
            anonymous: anon,
            user,
        } => Operation::Alias {
            previous: anonymous(*anon),
            user: user.identifier(),
        },
        Step::AddDevice { who, token } => Operation::AddDevice {
            person: who.identifier(),
            device: Device {
                token: format!("t{token}"),
                platform: "ios".into(),
                last_used: None,
                attributes: JsonMap::new(),
            },
        },
        Step::DeleteDevice { who, token } => Operation::DeleteDevice {
            person: who.identifier(),
            token: format!("t{token}"),
        },
        Step::Delete(who) => Operation::DeletePerson {
            person: who.identifier(),
        },
        Step::Suppress(who) => Operation::Suppress {
            person: who.identifier(),
        },
        Step::Unsuppress(who) => Operation::Unsuppress {
            person: who.identifier(),
        },
        Step::Merge(primary, secondary) => Operation::Merge {
            primary: primary.identifier(),
            secondary: secondary.identifier(),
        },
        Step::Segment { people, add, known } => Operation::ManualSegment {
            segment_id: if *known { fx.segment } else { fx.segment + 100 },
            people: people.iter().map(|w| w.identifier()).collect(),
            add: *add,
        },
        Step::PersonRelationship {
            who,
            object: n,
            add,
        } => Operation::PersonRelationships {
            person: who.identifier(),
            add: *add,
            relationships: vec![Relationship {
                with: object(*n),
                attributes: map(json!({"seat": n})),
            }],
        },
        Step::IdentifyObject {
            object: n,
            name,
            people,
        } => Operation::IdentifyObject {
            object: object(*n),
            attributes: map(json!({"name": name, "n": n})),
            relationships: relationships(people),
        },
        Step::ObjectRelationships {
            object: n,
            people,
            add,
        } => Operation::ObjectRelationships {
            object: object(*n),
            add: *add,
            relationships: relationships(people),
        },
        Step::DeleteObject(n) => Operation::DeleteObject { object: object(*n) },
    })
}

/// Receipt time of batch `n`: some batches share a millisecond, as a busy writer's do.
fn batch_time(n: usize) -> Timestamp {
    Timestamp::from_millis(1_700_000_000_000 + (n as i64 / 2) * 1_000)
}

/// Commits `batches` the way the writer does: per batch one transaction and one receipt
/// time; per step the dedupe check, the log append and `apply_entry`.
fn ingest(fx: &Fixture, batches: &[Vec<Step>]) {
    for (n, batch) in batches.iter().enumerate() {
        let now = batch_time(n);
        fx.store
            .write(&mut |tx| {
                for step in batch {
                    let operation = operation(tx, fx, step, now)?;
                    if let Operation::Track { event, .. } = &operation {
                        if let Some(id) = &event.id {
                            if !tx.record_dedupe_key(fx.ws, &format!("event:{id}"), now)? {
                                continue;
                            }
                        }
                    }
                    let entry = LogEntry {
                        source: "test".into(),
                        received_at: now,
                        operation,
                        raw: None,
                    };
                    let offset = tx.append_log(fx.ws, &entry)?;
                    let outcome = apply_entry(tx, fx.ws, offset, &entry)?;
                    assert_ne!(outcome, Outcome::Duplicate);
                }
                Ok(())
            })
            .unwrap();
    }
}

fn log(fx: &Fixture) -> Vec<LogRecord> {
    fx.store.read_log(fx.ws, 0, usize::MAX).unwrap()
}

fn snapshot(fx: &Fixture) -> Value {
    fx.store.derived_snapshot(fx.ws).unwrap()
}

fn run(fx: &Fixture, start: ReplayStart) -> ReplaySummary {
    let plan = ReplayPlan {
        ws: fx.ws,
        start,
        batch_entries: 3,
    };
    replay(&fx.store, &plan, &mut |_| {}).unwrap()
}

/// The offset a replay "from `index`" starts at: an entry's offset, or one past the end.
fn offset_at(log: &[LogRecord], index: usize) -> i64 {
    log.get(index)
        .map_or_else(|| log.last().map_or(1, |r| r.offset + 1), |r| r.offset)
}

fn assert_same(expected: &Value, actual: &Value, what: &str) {
    for (table, rows) in expected.as_object().unwrap() {
        assert_eq!(&actual[table], rows, "{what}: table {table} differs");
    }
    assert_eq!(expected, actual, "{what}");
}

/// Replays from `index` (once and twice) and rebuilds, each time comparing with the state of
/// the one live application.
fn check_replays(batches: &[Vec<Step>], index: usize) {
    let fx = fixture();
    ingest(&fx, batches);
    let log = log(&fx);
    let expected = snapshot(&fx);
    let from = offset_at(&log, index);
    let first = run(&fx, ReplayStart::Offset(from));
    assert_eq!(first.entries as usize, log.len() - index.min(log.len()));
    assert_same(&expected, &snapshot(&fx), &format!("replay from {from}"));
    run(&fx, ReplayStart::Offset(from));
    assert_same(
        &expected,
        &snapshot(&fx),
        &format!("second replay from {from}"),
    );
    let rebuilt = run(&fx, ReplayStart::Rebuild);
    assert_eq!(rebuilt.entries as usize, log.len());
    assert_eq!(rebuilt.already_applied, 0, "a rebuild starts from nothing");
    assert_same(&expected, &snapshot(&fx), "rebuild");
}

/// A second store applies only the first `applied` batches, then has the rest of the log
/// appended unapplied; replaying from `index` (up to the first unapplied entry) must bring it
/// to the state of the store that applied everything.
fn check_catch_up(batches: &[Vec<Step>], applied: usize, index: usize) {
    let full = fixture();
    ingest(&full, batches);
    let expected = snapshot(&full);
    let log = log(&full);

    let lagging = fixture();
    ingest(&lagging, &batches[..applied.min(batches.len())]);
    let applied_entries = self::log(&lagging).len();
    lagging
        .store
        .write(&mut |tx| {
            for record in &log[applied_entries..] {
                assert_eq!(tx.append_log(lagging.ws, &record.entry)?, record.offset);
            }
            Ok(())
        })
        .unwrap();
    let from = offset_at(&log, index.min(applied_entries));
    let summary = run(&lagging, ReplayStart::Offset(from));
    assert!(
        summary.applied + summary.dropped + summary.refused >= (log.len() - applied_entries) as u64
    );
    assert_same(
        &expected,
        &snapshot(&lagging),
        &format!("catch-up from {from}"),
    );
}

// --- generators -------------------------------------------------------------------------

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![(0..2u8).prop_map(Who::Id), (0..2u8).prop_map(Who::Email)]
}

fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(json!("gold"))),
        Just(Some(json!("silver"))),
        Just(Some(Value::Null)),
        Just(Some(json!(""))),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let small = || proptest::option::of(0..3u8);
    let at = || proptest::option::of(-2_000..2_000i64);
    let people = || proptest::collection::vec(who(), 0..3);
    prop_oneof![
        6 => (who(), value(), value(), small(), small(), proptest::option::of(0..2u8), any::<bool>(), at())
            .prop_map(|(who, plan, tier, body_id, body_email, anonymous, update_only, at)| {
                Step::Identify { who, plan, tier, body_id, body_email, anonymous,
                                 update_only: update_only && body_id.is_none(), at }
            }),
        2 => (who(), small(), small()).prop_map(|(of, body_id, body_email)| {
            Step::ChangeIdentifiers { of, body_id, body_email }
        }),
        4 => (who(), proptest::option::of(0..3u8), at())
            .prop_map(|(who, event_id, at)| Step::Track { who, event_id, at }),
        2 => proptest::option::of(0..2u8).prop_map(|anonymous| Step::TrackAnonymous { anonymous }),
        1 => (0..2u8, who()).prop_map(|(anonymous, user)| Step::Alias { anonymous, user }),
        2 => (who(), 0..2u8).prop_map(|(who, token)| Step::AddDevice { who, token }),
        1 => (who(), 0..2u8).prop_map(|(who, token)| Step::DeleteDevice { who, token }),
        2 => who().prop_map(Step::Delete),
        2 => who().prop_map(Step::Suppress),
        2 => who().prop_map(Step::Unsuppress),
        2 => (who(), who()).prop_map(|(a, b)| Step::Merge(a, b)),
        2 => (people(), any::<bool>(), proptest::bool::weighted(0.9))
            .prop_map(|(people, add, known)| Step::Segment { people, add, known }),
        1 => (who(), 0..2u8, any::<bool>())
            .prop_map(|(who, object, add)| Step::PersonRelationship { who, object, add }),
        1 => (0..2u8, value(), people())
            .prop_map(|(object, name, people)| Step::IdentifyObject { object, name, people }),
        1 => (0..2u8, people(), any::<bool>())
            .prop_map(|(object, people, add)| Step::ObjectRelationships { object, people, add }),
        1 => (0..2u8).prop_map(Step::DeleteObject),
    ]
}

fn workload() -> impl Strategy<Value = Vec<Vec<Step>>> {
    proptest::collection::vec(proptest::collection::vec(step(), 1..4), 1..14)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 192, ..ProptestConfig::default() })]

    #[test]
    fn replaying_any_suffix_or_rebuilding_gives_the_state_of_one_application(
        batches in workload(),
        index in 0..48usize,
    ) {
        let entries: usize = batches.iter().map(Vec::len).sum();
        check_replays(&batches, index % (entries + 1));
    }

    #[test]
    fn a_store_that_lags_its_log_catches_up_from_any_earlier_offset(
        batches in workload(),
        applied in 0..14usize,
        index in 0..48usize,
    ) {
        let applied = applied % (batches.len() + 1);
        check_catch_up(&batches, applied, index);
    }
}

// --- the cases that motivated the marks, by name -----------------------------------------

fn identify(who: Who, plan: &str) -> Step {
    Step::Identify {
        who,
        plan: Some(json!(plan)),
        tier: None,
        body_id: None,
        body_email: None,
        anonymous: None,
        update_only: false,
        at: None,
    }
}

fn track(who: Who) -> Step {
    Step::Track {
        who,
        event_id: None,
        at: None,
    }
}

/// Every replay start of `batches`.
fn check_every_start(batches: &[Vec<Step>]) {
    let entries: usize = batches.iter().map(Vec::len).sum();
    for index in 0..=entries {
        check_replays(batches, index);
        check_catch_up(batches, batches.len() / 2, index);
    }
}

#[test]
fn a_replayed_delete_spares_the_person_created_again_later() {
    check_every_start(&[
        vec![identify(Who::Id(1), "gold")],
        vec![Step::Delete(Who::Id(1))],
        vec![identify(Who::Id(1), "silver")],
    ]);
}

#[test]
fn an_event_for_a_person_deleted_later_does_not_bring_them_back() {
    let both = Step::Identify {
        who: Who::Id(1),
        plan: None,
        tier: None,
        body_id: None,
        body_email: Some(1),
        anonymous: None,
        update_only: false,
        at: None,
    };
    check_every_start(&[
        vec![both],
        vec![track(Who::Email(1))],
        vec![Step::Delete(Who::Id(1))],
    ]);
}

#[test]
fn an_event_dropped_while_suppressed_stays_dropped_after_unsuppress() {
    check_every_start(&[
        vec![identify(Who::Id(1), "gold"), Step::Suppress(Who::Id(1))],
        vec![track(Who::Id(1))],
        vec![Step::Unsuppress(Who::Id(1))],
    ]);
}

#[test]
fn a_merge_in_the_same_millisecond_as_an_update_is_replayed_as_it_happened() {
    check_every_start(&[vec![
        identify(Who::Id(1), "gold"),
        Step::Identify {
            who: Who::Email(2),
            plan: Some(json!("silver")),
            tier: Some(json!("b")),
            body_id: None,
            body_email: None,
            anonymous: None,
            update_only: false,
            at: None,
        },
        Step::Merge(Who::Id(1), Who::Email(2)),
        identify(Who::Email(2), "bronze"),
    ]]);
}

#[test]
fn identifiers_moved_to_someone_else_later_do_not_merge_people_on_replay() {
    check_every_start(&[
        vec![Step::Identify {
            who: Who::Id(1),
            plan: None,
            tier: None,
            body_id: None,
            body_email: Some(1),
            anonymous: None,
            update_only: false,
            at: None,
        }],
        vec![Step::ChangeIdentifiers {
            of: Who::Id(1),
            body_id: None,
            body_email: Some(3),
        }],
        vec![identify(Who::Email(1), "gold")],
    ]);
}

#[test]
fn a_replay_on_an_intact_store_skips_every_entry_that_had_an_effect() {
    let fx = fixture();
    let batches = vec![
        vec![identify(Who::Id(1), "gold"), track(Who::Id(1))],
        vec![Step::AddDevice {
            who: Who::Id(1),
            token: 1,
        }],
        vec![Step::Delete(Who::Id(2))],
    ];
    ingest(&fx, &batches);
    let summary = run(&fx, ReplayStart::Offset(0));
    assert_eq!(
        (summary.entries, summary.already_applied, summary.dropped),
        (4, 3, 1),
        "the delete of nobody is dropped again: {summary:?}"
    );
    // Batches 0 and 1 share a receipt time; batch 2 comes a second later.
    let time = run(&fx, ReplayStart::Time(batch_time(2)));
    assert_eq!(time.entries, 1, "entries received at or after the time");
    assert_eq!(time.first_offset, Some(log(&fx)[3].offset));
    let none = run(&fx, ReplayStart::Time(batch_time(40)));
    assert_eq!((none.entries, none.first_offset), (0, None));
}

#[test]
fn a_segment_change_for_several_people_is_replayed_whole_or_not_at_all() {
    let segment = |people: Vec<Who>, add| Step::Segment {
        people,
        add,
        known: true,
    };
    check_every_start(&[
        vec![identify(Who::Id(0), "gold"), identify(Who::Id(1), "gold")],
        vec![segment(vec![Who::Id(0)], false)],
        vec![segment(vec![Who::Id(0), Who::Id(1)], true)],
        vec![identify(Who::Id(1), "silver")],
    ]);
}
