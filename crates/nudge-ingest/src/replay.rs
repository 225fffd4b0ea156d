//! Replaying a workspace's event log (`nudge replay`): from an offset or a time, on top of the
//! derived state as it stands, or whole after wiping that state (a rebuild), in offset order,
//! in transactions of a few thousand entries. From an offset, each entry goes through
//! [`replay_entry`], which skips what the store already reflects, so a replay is idempotent;
//! a rebuild starts from nothing and applies every entry exactly as ingestion did. It works on
//! the store directly: no server may write to the workspace meanwhile (docs/replay.md).

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{LogRecord, Store, StoreError};

use crate::apply::{apply_entry, replay_entry, Outcome, Replayed};

/// Where a replay starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayStart {
    /// Entries with this offset or a greater one.
    Offset(i64),
    /// Entries from the first one received at or after this time (the log is in receipt
    /// order, so that is every entry received since, unless the clock was set back).
    Time(Timestamp),
    /// Wipe the workspace's derived state, then apply the whole log.
    Rebuild,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayPlan {
    pub ws: WorkspaceId,
    pub start: ReplayStart,
    /// Entries per transaction.
    pub batch_entries: usize,
}

/// How far a replay has got, reported after the plan is known and after every transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayProgress {
    /// This many entries will be replayed.
    Planned { entries: u64 },
    /// This many entries are replayed and committed so far.
    Replayed { entries: u64 },
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplaySummary {
    /// The first and last offsets replayed; `None` when there was nothing to replay.
    pub first_offset: Option<i64>,
    pub last_offset: Option<i64>,
    pub entries: u64,
    /// Entries the store already reflected: skipped.
    pub already_applied: u64,
    /// Entries applied with effect, dropped (accepted, no effect) or refused.
    pub applied: u64,
    pub dropped: u64,
    pub refused: u64,
    /// Entries appended to the log while the replay ran, after the last one it planned to
    /// replay: someone was writing to the workspace.
    pub appended_meanwhile: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("replaying log entry {offset}: {source}")]
    Entry { offset: i64, source: StoreError },
}

/// Runs `plan` against `store`, calling `progress` as it goes. Each transaction commits on its
/// own: an interrupted replay leaves a consistent store and can simply be run again.
pub fn replay(
    store: &dyn Store,
    plan: &ReplayPlan,
    progress: &mut dyn FnMut(ReplayProgress),
) -> Result<ReplaySummary, ReplayError> {
    let ws = plan.ws;
    let batch = plan.batch_entries.max(1);
    let mut after = match plan.start {
        ReplayStart::Offset(offset) => offset.saturating_sub(1),
        ReplayStart::Time(time) => offset_before(store, ws, time, batch)?,
        ReplayStart::Rebuild => 0,
    };
    let extent = store.log_extent(ws, after)?;
    progress(ReplayProgress::Planned {
        entries: extent.entries,
    });
    let rebuild = plan.start == ReplayStart::Rebuild;
    if rebuild {
        store.reset_derived(ws)?;
    }
    let mut summary = ReplaySummary::default();
    let Some(end) = extent.last_offset else {
        return Ok(summary);
    };
    loop {
        let records: Vec<LogRecord> = store
            .read_log(ws, after, batch)?
            .into_iter()
            .filter(|r| r.offset <= end)
            .collect();
        let Some(last) = records.last().map(|r| r.offset) else {
            break;
        };
        let results = replay_batch(store, ws, &records, rebuild)?;
        summary.first_offset.get_or_insert(records[0].offset);
        summary.last_offset = Some(last);
        for result in results {
            summary.entries += 1;
            match result {
                Replayed::AlreadyApplied => summary.already_applied += 1,
                Replayed::Applied(Outcome::Applied | Outcome::Duplicate) => summary.applied += 1,
                Replayed::Applied(Outcome::Dropped(_)) => summary.dropped += 1,
                Replayed::Applied(Outcome::Refused(_)) => summary.refused += 1,
            }
        }
        progress(ReplayProgress::Replayed {
            entries: summary.entries,
        });
        after = last;
    }
    summary.appended_meanwhile = store.log_extent(ws, end)?.entries;
    Ok(summary)
}

/// Replays `records` in one transaction.
fn replay_batch(
    store: &dyn Store,
    ws: WorkspaceId,
    records: &[LogRecord],
    rebuild: bool,
) -> Result<Vec<Replayed>, ReplayError> {
    let mut results = Vec::with_capacity(records.len());
    let mut failed_at = None;
    let written = store.write(&mut |tx| {
        results.clear();
        for record in records {
            failed_at = Some(record.offset);
            let result = if rebuild {
                apply_entry(tx, ws, record.offset, &record.entry).map(Replayed::Applied)
            } else {
                replay_entry(tx, ws, record.offset, &record.entry)
            };
            results.push(result?);
        }
        failed_at = None;
        Ok(())
    });
    match (written, failed_at) {
        (Ok(()), _) => Ok(results),
        (Err(source), Some(offset)) => Err(ReplayError::Entry { offset, source }),
        (Err(source), None) => Err(ReplayError::Store(source)),
    }
}

/// The offset just before the first entry received at or after `time` (the last offset when
/// there is none, so that nothing follows it).
fn offset_before(
    store: &dyn Store,
    ws: WorkspaceId,
    time: Timestamp,
    page: usize,
) -> Result<i64, StoreError> {
    let mut after = 0;
    loop {
        let records = store.read_log(ws, after, page)?;
        let Some(last) = records.last().map(|r| r.offset) else {
            return Ok(after);
        };
        if let Some(first) = records.iter().find(|r| r.entry.received_at >= time) {
            return Ok(first.offset - 1);
        }
        after = last;
    }
}
