//! An engine under test: a real store (SQLite in a temporary directory, or a throwaway
//! PostgreSQL database), the real group-commit writer and the real processor, all on one
//! virtual clock. Tests submit operations as the APIs would and drive the processor to idle,
//! so nothing waits on wall-clock time.

#![allow(dead_code)]

use std::sync::Arc;

use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, ManualClock, Operation, PersonKey,
    Timestamp, WorkspaceId,
};
use nudge_ingest::{Accepted, ComputedKeys, Ingestor, Outcome, WriterConfig};
use nudge_process::{Processor, ProcessorConfig};
use nudge_store::{NewSegment, NewWorkspace, SegmentTransition, Store};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct Engine {
    pub store: Arc<dyn Store>,
    pub ws: WorkspaceId,
    pub clock: ManualClock,
    pub processor: Processor,
    ingestor: Option<Ingestor>,
    _dir: tempfile::TempDir,
    _database: Option<nudge_store_postgres::test_database::TestDatabase>,
}

/// 2026-03-02T10:00:00Z, the d2c stories' morning.
pub const T0: Timestamp = Timestamp::from_millis(1_772_445_600_000);
pub const DAY: i64 = 86_400_000;

impl Engine {
    /// `None` when PostgreSQL is wanted but absent and not required.
    pub fn start(backend: Backend) -> Option<Engine> {
        Self::start_with(backend, ProcessorConfig::default())
    }

    pub fn start_with(backend: Backend, config: ProcessorConfig) -> Option<Engine> {
        let dir = tempfile::tempdir().unwrap();
        let (store, database): (Arc<dyn Store>, _) = match backend {
            Backend::Sqlite => (
                Arc::new(nudge_store_sqlite::SqliteStore::open(&dir.path().join("n.db")).unwrap()),
                None,
            ),
            Backend::Postgres => {
                let db = nudge_store_postgres::test_database::TestDatabase::create()?;
                let store = nudge_store_postgres::PostgresStore::connect(db.url()).unwrap();
                (Arc::new(store), Some(db))
            }
        };
        let clock = ManualClock::starting_at(T0);
        let ws = store
            .create_workspace(&NewWorkspace {
                name: "lumen".into(),
                env: nudge_core::Env::Production,
                site_id: "lumen-site".into(),
                keys: vec![],
                now: T0,
            })
            .unwrap()
            .id;
        let keys = Arc::new(ComputedKeys::default());
        let processor = Processor::new(store.clone(), Arc::new(clock.clone()), config).on_reload({
            let keys = keys.clone();
            Box::new(move |ws, names| keys.set(ws, names))
        });
        let (ingestor, _writer) = Ingestor::start(
            store.clone(),
            Arc::new(clock.clone()),
            WriterConfig {
                computed_keys: keys,
                ..WriterConfig::default()
            },
        );
        Some(Engine {
            store,
            ws,
            clock,
            processor,
            ingestor: Some(ingestor),
            _dir: dir,
            _database: database,
        })
    }

    pub fn submit(&self, operation: Operation) -> Outcome {
        let ingestor = self.ingestor.as_ref().expect("running");
        let mut outcomes = ingestor
            .enqueue_blocking(self.ws, "track_v1", vec![Accepted::from(operation)])
            .unwrap()
            .wait()
            .unwrap();
        outcomes.pop().unwrap()
    }

    pub fn identify(&self, id: &str, attributes: Value) -> Outcome {
        self.submit(Operation::Identify {
            person: person(id),
            attributes: attributes.as_object().unwrap().clone(),
            update_only: false,
            timestamp: None,
        })
    }

    /// An event that happened now.
    pub fn track(&self, id: &str, name: &str, data: Value) -> Outcome {
        self.submit(Operation::Track {
            person: person(id),
            event: EventRecord {
                kind: EventKind::Event,
                name: name.into(),
                id: None,
                timestamp: None,
                data: data.as_object().unwrap().clone(),
            },
        })
    }

    /// Runs the processor until it has nothing left to do at the clock's time.
    pub fn process(&mut self) {
        self.processor.run_until_idle().unwrap();
    }

    pub fn at(&mut self, t: Timestamp) {
        self.clock.set(t);
    }

    pub fn segment(&self, name: &str, conditions: Value) -> i64 {
        let new = NewSegment {
            id: None,
            name: name.into(),
            description: String::new(),
            conditions: Some(conditions),
        };
        self.store
            .create_segment(self.ws, &new, self.clock_now())
            .unwrap()
            .id
    }

    pub fn computed(&self, definition: Value) {
        let name = definition["name"].as_str().unwrap().to_string();
        self.store
            .put_computed_definition(self.ws, &name, &definition, self.clock_now())
            .unwrap();
    }

    pub fn clock_now(&self) -> Timestamp {
        use nudge_core::Clock;
        self.clock.now()
    }

    pub fn key(&self, id: &str) -> PersonKey {
        self.store
            .resolve(self.ws, &person(id))
            .unwrap()
            .expect("person exists")
    }

    pub fn attribute(&self, id: &str, name: &str) -> Option<Value> {
        let view = self.store.person(self.ws, self.key(id)).unwrap().unwrap();
        view.state.attributes.get(name).cloned()
    }

    pub fn is_member(&self, id: &str, segment: i64) -> bool {
        self.store
            .person_segments(self.ws, self.key(id))
            .unwrap()
            .iter()
            .any(|s| s.id == segment)
    }

    /// The person's transitions, oldest first.
    pub fn transitions(&self, id: &str) -> Vec<SegmentTransition> {
        let mut all = self
            .store
            .segment_transitions(self.ws, self.key(id), 1000)
            .unwrap();
        all.reverse();
        all
    }
}

impl Engine {
    /// Stores a journey or template document (YAML, with or without kind and format).
    pub fn document(&self, kind: nudge_store::DocumentKind, yaml: &str) {
        let mut value: Value = serde_norway::from_str(yaml).expect("valid YAML");
        let map = value.as_object_mut().expect("a mapping");
        map.remove("kind");
        map.remove("format");
        let name = map["id"].as_str().expect("an id").to_string();
        self.store
            .put_document(self.ws, kind, &name, &value, self.clock_now())
            .unwrap();
    }

    /// Runs the clock to `target`, stopping at every due check and timer on the way, as the
    /// simulator does.
    pub fn advance_to(&mut self, target: Timestamp) {
        let processor = &mut self.processor;
        nudge_process::advance_clock(&self.clock, self.store.as_ref(), target, || {
            processor.run_until_idle().map_err(Into::into)
        })
        .unwrap();
    }

    /// The journey timeline, oldest first.
    pub fn journey_events(&self) -> Vec<nudge_store::JourneyEvent> {
        self.store
            .journey_events(self.ws, 0, 100_000)
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect()
    }
}

pub fn person(id: &str) -> Identifier {
    Identifier::new(IdentifierKind::Id, id).unwrap()
}

/// The d2c brand's computed attributes, as `examples/d2c/definitions/computed.yaml` defines
/// them (the file `nudge apply` takes, without its `kind` and `format` keys).
pub fn d2c_computed() -> Vec<Value> {
    use serde::Deserialize;
    const D2C: &str = include_str!("../../../../examples/d2c/definitions/computed.yaml");
    serde_norway::Deserializer::from_str(D2C)
        .map(|document| {
            let mut value = Value::deserialize(document).expect("the d2c example is valid YAML");
            if let Some(map) = value.as_object_mut() {
                map.remove("kind");
                map.remove("format");
            }
            value
        })
        .collect()
}
