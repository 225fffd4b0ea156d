//! Phase 1's baseline: the same instance rows the engine stored, read back from the store and
//! inserted with nothing else into a fresh store of the same backend (same table, same
//! indexes, the store's own insert statement), in transactions of as many rows as the
//! processor commits log entries at a time. No writer, no log, no engine. Only the insert
//! transactions are timed; the rows are read and the people they hang off are created
//! beforehand. The rows are read at the end of the run and inserted once the benchmark's
//! store is gone, so the two stores never take disk space at the same time.

use std::time::{Duration, Instant};

use anyhow::Context;
use nudge_api::credentials::new_workspace;
use nudge_core::{Env, PersonKey, Timestamp, WorkspaceId};
use nudge_process::ProcessorConfig;
use nudge_store::{InstanceRow, Store};
use serde_json::Value;

use super::definitions::REMINDER_JOURNEY;
use super::people::Cohort;
use super::Rig;
use crate::bench::throwaway_database;
use crate::config::StoreArgs;

/// People created per transaction in the baseline store (untimed).
const PEOPLE_PER_TRANSACTION: usize = 4096;

#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct BaselineReport {
    pub rows: u64,
    pub rows_per_transaction: usize,
    /// Time spent inside the insert transactions, commits included.
    pub seconds: f64,
    pub rows_per_second: f64,
}

/// A reminder instance as stored, its state kept as text until it is inserted (a parsed
/// document takes several times the memory).
pub(super) struct StoredRow {
    row: InstanceRow,
    state: String,
}

/// The reminder instance rows of people `0..people`, in their order.
pub(super) fn read_rows(rig: &Rig, people: u64) -> anyhow::Result<Vec<StoredRow>> {
    let mut rows = Vec::with_capacity(people as usize);
    for n in 0..people {
        let id = Cohort::Pending.identifier(n)?;
        let key = rig
            .store
            .resolve(rig.ws, &id)?
            .with_context(|| format!("person {id} was not created"))?;
        for mut row in rig.store.person_instances_view(rig.ws, key)? {
            if row.journey == REMINDER_JOURNEY {
                let state = std::mem::take(&mut row.state).to_string();
                rows.push(StoredRow { row, state });
            }
        }
    }
    Ok(rows)
}

/// Inserts `rows` into a fresh `store_name` store, each for a person of its own.
pub(super) fn insert(
    store_name: &str,
    rows: Vec<StoredRow>,
    now: Timestamp,
) -> anyhow::Result<BaselineReport> {
    let dir = tempfile::tempdir()?;
    let database = throwaway_database(store_name)?;
    let store = crate::server::open_store(&StoreArgs {
        data_dir: dir.path().to_path_buf(),
        database_url: database.as_ref().map(|d| d.url().to_string()),
    })?;
    let (new, _keys) = new_workspace("baseline", Env::Development, now);
    let ws = store.create_workspace(&new)?.id;
    let keys = create_people(store.as_ref(), ws, rows.len(), now)?;

    let batch = ProcessorConfig::default().log_batch.max(1);
    let mut inside = Duration::ZERO;
    for (chunk, keys) in rows.chunks(batch).zip(keys.chunks(batch)) {
        let instances = chunk
            .iter()
            .zip(keys)
            .map(|(stored, &person)| {
                let state: Value = serde_json::from_str(&stored.state)?;
                Ok(InstanceRow {
                    person,
                    state,
                    ..stored.row.clone()
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let started = Instant::now();
        store.write(&mut |tx| {
            for row in &instances {
                tx.insert_instance(ws, row)?;
            }
            Ok(())
        })?;
        inside += started.elapsed();
    }
    Ok(BaselineReport {
        rows: rows.len() as u64,
        rows_per_transaction: batch,
        seconds: inside.as_secs_f64(),
        rows_per_second: rows.len() as f64 / inside.as_secs_f64().max(1e-9),
    })
}

/// `count` empty people for the rows to hang off.
fn create_people(
    store: &dyn Store,
    ws: WorkspaceId,
    count: usize,
    now: Timestamp,
) -> anyhow::Result<Vec<PersonKey>> {
    let mut keys = Vec::with_capacity(count);
    let numbers: Vec<usize> = (0..count).collect();
    for chunk in numbers.chunks(PEOPLE_PER_TRANSACTION) {
        let mut created = Vec::with_capacity(chunk.len());
        store.write(&mut |tx| {
            created.clear();
            for &n in chunk {
                created.push(tx.insert_person(ws, &format!("baseline-{n}"), now)?);
            }
            Ok(())
        })?;
        keys.extend(created);
    }
    Ok(keys)
}
