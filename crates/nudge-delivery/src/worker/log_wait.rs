//! What the delivery worker waits for before it claims: the log processor reaching the head
//! each workspace's log had when the round began, so every event acknowledged before the claim
//! (the purchase, the unsubscribe) is seen by the re-check. Only where the processor derives
//! something (computed attributes, data-driven segments, journeys): a workspace without any is
//! left alone by the processor, whose offset there stays behind the log for good, so waiting
//! for it would hold every delivery back — the transactional messages of a workspace that runs
//! no journey, for one. Whether it derives is read again only when the definitions change.

use std::collections::HashMap;
use std::sync::Mutex;

use nudge_core::WorkspaceId;
use nudge_store::{DocumentKind, Store, StoreResult};

/// A workspace the processor has not caught up with, and the log head it must reach.
pub(super) type Behind = Vec<(WorkspaceId, i64)>;

/// Whether the processor derives in each workspace, as of a definitions version.
#[derive(Default)]
pub(super) struct LogWait {
    derives: Mutex<HashMap<WorkspaceId, (i64, bool)>>,
}

impl LogWait {
    /// The workspaces whose processor is behind their log's head now and derives something
    /// there, each with that head: what a claim waits for.
    pub(super) fn behind(&self, store: &dyn Store) -> StoreResult<Behind> {
        let version = store.config_version()?;
        let mut behind = Vec::new();
        for workspace in store.workspaces()? {
            let ws = workspace.id;
            let head = store.log_head(ws)?;
            if store.processed_offset(ws)? < head && self.derives(store, ws, version)? {
                behind.push((ws, head));
            }
        }
        Ok(behind)
    }

    /// The processor has definitions to apply to `ws`'s log (as `GET /v1/processing` counts
    /// them), read once per definitions `version`.
    fn derives(&self, store: &dyn Store, ws: WorkspaceId, version: i64) -> StoreResult<bool> {
        let known = self.lock().get(&ws).copied();
        if let Some((_, derives)) = known.filter(|(at, _)| *at == version) {
            return Ok(derives);
        }
        let derives = !store.computed_definitions(ws)?.is_empty()
            || store.segment_definitions(ws)?.iter().any(|s| !s.manual())
            || !store
                .all_document_versions(ws, DocumentKind::Journey)?
                .is_empty();
        self.lock().insert(ws, (version, derives));
        Ok(derives)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<WorkspaceId, (i64, bool)>> {
        self.derives.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Those of `behind` the processor has still not brought to their head.
pub(super) fn still_behind(store: &dyn Store, mut behind: Behind) -> StoreResult<Behind> {
    let mut kept = Vec::with_capacity(behind.len());
    for (ws, head) in behind.drain(..) {
        if store.processed_offset(ws)? < head {
            kept.push((ws, head));
        }
    }
    Ok(kept)
}
