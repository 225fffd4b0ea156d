//! Identity under random interleavings: for any sequence of identifies (with ids, emails and
//! anonymous ids), events (known and anonymous), aliases and merges, no accepted event is lost
//! or duplicated, and every event belongs to exactly one live person reachable through the
//! identifiers the event was sent for.

use std::collections::HashMap;
use std::sync::Arc;

use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation, SystemClock,
};
use nudge_ingest::{Accepted, Ingestor, Outcome, WriterConfig};
use nudge_store::{ActivityQuery, Store};
use proptest::prelude::*;
use serde_json::json;

#[derive(Debug, Clone)]
enum Step {
    Identify {
        id: u8,
        email: Option<u8>,
        anon: Option<u8>,
    },
    Track {
        who: Who,
    },
    Alias {
        anon: u8,
        id: u8,
    },
    Merge {
        primary: u8,
        secondary: u8,
    },
}

#[derive(Debug, Clone)]
enum Who {
    Id(u8),
    Email(u8),
    Anonymous(u8),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (
            0u8..4,
            proptest::option::of(0u8..4),
            proptest::option::of(0u8..4)
        )
            .prop_map(|(id, email, anon)| Step::Identify { id, email, anon }),
        prop_oneof![
            (0u8..4).prop_map(Who::Id),
            (0u8..4).prop_map(Who::Email),
            (0u8..4).prop_map(Who::Anonymous)
        ]
        .prop_map(|who| Step::Track { who }),
        (0u8..4, 0u8..4).prop_map(|(anon, id)| Step::Alias { anon, id }),
        (0u8..4, 0u8..4).prop_map(|(primary, secondary)| Step::Merge { primary, secondary }),
    ]
}

fn ident(kind: IdentifierKind, value: String) -> Identifier {
    Identifier::new(kind, &value).unwrap()
}

fn id(n: u8) -> Identifier {
    ident(IdentifierKind::Id, format!("u{n}"))
}

fn email(n: u8) -> Identifier {
    ident(IdentifierKind::Email, format!("p{n}@example.com"))
}

fn anon(n: u8) -> Identifier {
    ident(IdentifierKind::AnonymousId, format!("anon-{n}"))
}

/// Builds the operation for a step; events get a unique name so each can be found again.
fn operation(step: &Step, n: usize) -> (Operation, Option<Identifier>) {
    match step {
        Step::Identify {
            id: i,
            email: e,
            anon: a,
        } => {
            let mut attributes = JsonMap::new();
            if let Some(e) = e {
                attributes.insert("email".into(), json!(email(*e).value()));
            }
            if let Some(a) = a {
                attributes.insert("anonymous_id".into(), json!(anon(*a).value()));
            }
            attributes.insert("step".into(), json!(n));
            let op = Operation::Identify {
                person: id(*i),
                attributes,
                update_only: false,
                timestamp: None,
            };
            (op, None)
        }
        Step::Track { who } => {
            let event = EventRecord {
                kind: EventKind::Event,
                name: format!("e{n}"),
                id: None,
                timestamp: None,
                data: JsonMap::new(),
            };
            match who {
                Who::Id(i) => (
                    Operation::Track {
                        person: id(*i),
                        event,
                    },
                    Some(id(*i)),
                ),
                Who::Email(e) => (
                    Operation::Track {
                        person: email(*e),
                        event,
                    },
                    Some(email(*e)),
                ),
                Who::Anonymous(a) => (
                    Operation::TrackAnonymous {
                        anonymous_id: Some(anon(*a).value().to_string()),
                        event,
                    },
                    Some(anon(*a)),
                ),
            }
        }
        Step::Alias { anon: a, id: i } => (
            Operation::Alias {
                previous: anon(*a).value().to_string(),
                user: id(*i),
            },
            None,
        ),
        Step::Merge { primary, secondary } => (
            Operation::Merge {
                primary: id(*primary),
                secondary: id(*secondary),
            },
            None,
        ),
    }
}

fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(nudge_store_sqlite::SqliteStore::open(&dir.path().join("n.db")).unwrap());
    let (new, _) = nudge_api::credentials::new_workspace(
        "w",
        nudge_core::Env::Development,
        nudge_core::Timestamp::from_millis(0),
    );
    let ws = store.create_workspace(&new).unwrap().id;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let (ingestor, writer) = Ingestor::start(
        store.clone(),
        Arc::new(SystemClock),
        WriterConfig::default(),
    );
    // event name -> the identifier it was sent for, for every event that was applied
    let mut sent: HashMap<String, Identifier> = HashMap::new();
    for (n, step) in steps.iter().enumerate() {
        let (op, target) = operation(step, n);
        let outcomes = runtime
            .block_on(ingestor.submit(ws, "test", vec![Accepted::from(op)]))
            .unwrap();
        if let (Some(target), Outcome::Applied) = (target, &outcomes[0]) {
            sent.insert(format!("e{n}"), target);
        }
    }
    drop(ingestor);
    writer.join();

    // Every event is found exactly once, on the person its identifier resolves to now.
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut people = Vec::new();
    for target in sent.values() {
        let key = store.resolve(ws, target).unwrap();
        prop_assert!(
            key.is_some(),
            "{target} resolves to nobody: its events would be lost"
        );
        people.push(key.unwrap());
    }
    people.sort();
    people.dedup();
    for key in &people {
        prop_assert!(
            store.person(ws, *key).unwrap().is_some(),
            "an identifier points at a deleted person"
        );
        let query = ActivityQuery {
            limit: 10_000,
            ..ActivityQuery::default()
        };
        for activity in store.activities(ws, *key, &query).unwrap() {
            if activity.activity.kind == nudge_core::ActivityKind::Event {
                *seen.entry(activity.activity.name.clone()).or_default() += 1;
            }
        }
    }
    for (name, target) in &sent {
        prop_assert_eq!(
            seen.get(name).copied(),
            Some(1),
            "event {} sent for {} found {:?} times",
            name,
            target,
            seen.get(name)
        );
        let owner = store.resolve(ws, target).unwrap().unwrap();
        let query = ActivityQuery {
            limit: 10_000,
            name: Some(name.clone()),
            ..ActivityQuery::default()
        };
        prop_assert_eq!(
            store.activities(ws, owner, &query).unwrap().len(),
            1,
            "{} is not on {}'s person",
            name,
            target
        );
    }
    prop_assert_eq!(seen.len(), sent.len(), "no event appears that was not sent");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn no_event_is_lost_or_duplicated_across_stitching_and_merges(steps in proptest::collection::vec(step(), 1..40)) {
        run(steps)?;
    }
}
