//! `nudge simulate --workspace W --since 7d --config DIR`: a dry run of draft definitions
//! against what a workspace really received. The workspace's log is copied into a throwaway
//! store as it was written (every entry at its own receipt time): up to the start of the
//! window with no definitions at all, so the people are as they were then; there the drafts
//! are applied (segments and computed attributes backfill over those people, as on a
//! server); and the window itself is replayed on the virtual clock, stopping at every timer,
//! up to now. What the drafts would have done is the timeline. The workspace is only read.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use nudge_core::{Clock, Env, Identifier, ManualClock, Operation, Timestamp, WorkspaceId};
use nudge_ingest::Accepted;
use nudge_store::{LogRecord, Store};

use super::timeline::{self, Entry};
use super::Simulation;

/// Entries read from the workspace's log at a time.
const PAGE: usize = 1_000;

/// What the definitions in `config` would have done with workspace `source_ws`'s traffic
/// received from `since` to `now`.
pub fn dry_run(
    source: &dyn Store,
    source_ws: WorkspaceId,
    config: &Path,
    since: Timestamp,
    now: Timestamp,
) -> anyhow::Result<Vec<Entry>> {
    let split = nudge_process::last_offset_before(source, source_ws, since)?;
    let dir = tempfile::tempdir().context("creating the dry run's store")?;
    let store: Arc<dyn Store> = Arc::new(
        nudge_store_sqlite::SqliteStore::open(&dir.path().join("nudge.db"))
            .context("opening the dry run's store")?,
    );
    let first = source
        .read_log(source_ws, 0, 1)?
        .first()
        .map_or(since, |r| r.entry.received_at.min(since));
    let clock = ManualClock::starting_at(first);
    let (new, _keys) =
        nudge_api::credentials::new_workspace("dry-run", Env::Development, clock.now());
    let ws = store.create_workspace(&new)?.id;
    let mut simulation = Simulation::start(store.clone(), clock.clone(), ws);
    let mut people: BTreeMap<String, Identifier> = BTreeMap::new();
    let mut after = 0;
    let mut drafts_applied = false;
    loop {
        let page = source.read_log(source_ws, after, PAGE)?;
        let Some(last) = page.last().map(|r| r.offset) else {
            break;
        };
        after = last;
        for record in page {
            if record.offset > split && !drafts_applied {
                simulation.advance_to(since)?;
                crate::apply::apply_dir(store.as_ref(), ws, config, since)
                    .with_context(|| format!("applying {}", config.display()))?;
                simulation.settle()?;
                drafts_applied = true;
            }
            if record.entry.received_at > now {
                break;
            }
            if drafts_applied {
                simulation.advance_to(record.entry.received_at)?;
                for (label, identifier) in identities(&record.entry.operation) {
                    people.entry(label).or_insert(identifier);
                }
            } else {
                clock.set(record.entry.received_at.max(clock.now()));
            }
            replay(&simulation, ws, record)?;
        }
    }
    if !drafts_applied {
        simulation.advance_to(since)?;
        crate::apply::apply_dir(store.as_ref(), ws, config, since)
            .with_context(|| format!("applying {}", config.display()))?;
    }
    simulation.advance_to(now)?;
    simulation.stop();
    let labels = super::labels(store.as_ref(), ws, &people)?;
    timeline::collect(store.as_ref(), ws, &labels)
}

/// Commits one logged entry again, as it was received: an event that carried no time of its
/// own keeps its receipt time rather than taking the copy's.
fn replay(simulation: &Simulation, ws: WorkspaceId, record: LogRecord) -> anyhow::Result<()> {
    let received_at = record.entry.received_at;
    let mut operation = record.entry.operation;
    if let Operation::Track { event, .. } | Operation::TrackAnonymous { event, .. } = &mut operation
    {
        event.timestamp.get_or_insert(received_at);
    }
    let accepted = Accepted {
        operation,
        dedupe_key: None,
        raw: None,
    };
    let ingestor = simulation
        .ingestor
        .as_ref()
        .context("the writer has stopped")?;
    let source = replay_source(&record.entry.source);
    ingestor
        .enqueue_blocking(ws, source, vec![accepted])?
        .wait()?;
    Ok(())
}

/// The log keeps which door an entry came in by; the copy says the same.
fn replay_source(source: &str) -> &'static str {
    match source {
        "track_v1" => "track_v1",
        "track_v2" => "track_v2",
        "pipelines" => "pipelines",
        "import" => "import",
        "journey" => "journey",
        _ => "app_api",
    }
}

/// The identifiers an entry names, labelled as the timeline shows people.
fn identities(operation: &Operation) -> Vec<(String, Identifier)> {
    let person = match operation {
        Operation::Identify { person, .. } | Operation::Track { person, .. } => person.clone(),
        Operation::TrackAnonymous {
            anonymous_id: Some(anon),
            ..
        } => match Identifier::new(nudge_core::IdentifierKind::AnonymousId, anon) {
            Ok(identifier) => identifier,
            Err(_) => return Vec::new(),
        },
        _ => return Vec::new(),
    };
    vec![(person.value().to_string(), person)]
}
