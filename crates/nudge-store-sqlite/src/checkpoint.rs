//! WAL checkpoints off the writer's path. The writer connection only checkpoints as a safety
//! net (a very large `wal_autocheckpoint`); a thread of its own with its own connection copies
//! WAL pages back into the database with `PASSIVE` checkpoints, which never block the writer
//! or readers. It runs when the writer reports enough commits, not on a timer.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use nudge_store::StoreResult;
use rusqlite::Connection;

use crate::errors::from_sqlite;

/// Commits between checkpoint requests: at the few dozen pages an ingest batch dirties, a
/// few tens of megabytes of WAL, so a page rewritten by many commits is copied back once.
const COMMITS_PER_CHECKPOINT: u64 = 256;

/// The writer's own autocheckpoint, only reached if the checkpoint thread falls behind.
pub(crate) const WRITER_AUTOCHECKPOINT_PAGES: u32 = 50_000;

pub(crate) struct Checkpointer {
    requests: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    commits: AtomicU64,
}

impl Checkpointer {
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> StoreResult<Self> {
        let conn = Connection::open(path).map_err(from_sqlite)?;
        conn.busy_timeout(busy_timeout).map_err(from_sqlite)?;
        let (requests, pending) = sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("nudge-checkpoint".into())
            .spawn(move || {
                while pending.recv().is_ok() {
                    checkpoint(&conn, "PASSIVE");
                }
                // The store is closing: leave a small WAL behind.
                checkpoint(&conn, "TRUNCATE");
            })
            .map_err(|e| nudge_store::StoreError::Backend(format!("checkpoint thread: {e}")))?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
            commits: AtomicU64::new(0),
        })
    }

    /// Called after every commit; asks for a checkpoint every [`COMMITS_PER_CHECKPOINT`].
    pub(crate) fn committed(&self) {
        let n = self.commits.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_multiple_of(COMMITS_PER_CHECKPOINT) {
            if let Some(requests) = &self.requests {
                // A request already pending covers this one.
                let _ = requests.try_send(());
            }
        }
    }
}

fn checkpoint(conn: &Connection, mode: &str) {
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |row| {
        row.get::<_, i64>(0)
    });
    if let Err(error) = result {
        tracing::warn!(%error, mode, "WAL checkpoint failed; the writer's autocheckpoint remains");
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.requests.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
