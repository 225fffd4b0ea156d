//! Whether the delivery worker must wait for the log processor in a workspace before it
//! claims: only where the processor derives something (computed attributes, data-driven
//! segments, journeys). A workspace without any is left alone by the processor, whose offset
//! there stays behind the log for good, so waiting for it would hold every delivery back —
//! the transactional messages of a workspace that runs no journey, for one.

use nudge_core::WorkspaceId;
use nudge_store::{DocumentKind, Store, StoreResult};

/// The processor has definitions to apply to `ws`'s log (as `GET /v1/processing` counts them).
pub(super) fn processor_derives(store: &dyn Store, ws: WorkspaceId) -> StoreResult<bool> {
    Ok(!store.computed_definitions(ws)?.is_empty()
        || store.segment_definitions(ws)?.iter().any(|s| !s.manual())
        || !store
            .all_document_versions(ws, DocumentKind::Journey)?
            .is_empty())
}
