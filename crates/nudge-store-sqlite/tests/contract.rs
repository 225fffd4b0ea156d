//! The shared storage contract, run against SQLite: each check gets a fresh database file in
//! its own temporary directory, removed when the check ends.

use nudge_core::{
    person::StoredActivity, Identifier, ObjectRef, PersonKey, Timestamp, Workspace, WorkspaceId,
};
use nudge_store::{
    ActivityQuery, BroadcastJob, ComputedDefinition, Definitions, Deliveries, Delivery,
    DeliveryQuery, Document, DocumentKind, FinishedDelivery, InstanceRow, JourneyCounter, KeyHash,
    KeyOwner, KeyRecord, LogRecord, NewSegment, NewWorkspace, ObjectView, PersonView, Segment,
    SegmentDefinition, SegmentTransition, Store, StoreResult, StoredEvent, StoredJourneyEvent,
    StoredMessage, TxWork,
};
use nudge_store_sqlite::SqliteStore;
use tempfile::TempDir;

/// A store in a temporary directory that lives exactly as long as the store. Fields drop in
/// order: the store (closing its connections) before the directory is removed.
struct TempSqlite {
    store: SqliteStore,
    _dir: TempDir,
}

fn fresh_store() -> TempSqlite {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = SqliteStore::open(&dir.path().join("nudge.db")).expect("open a fresh store");
    TempSqlite { store, _dir: dir }
}

impl Store for TempSqlite {
    fn backend_name(&self) -> &'static str {
        self.store.backend_name()
    }
    fn ping(&self) -> StoreResult<()> {
        self.store.ping()
    }
    fn write(&self, work: &mut TxWork<'_>) -> StoreResult<()> {
        self.store.write(work)
    }
    fn create_workspace(&self, new: &NewWorkspace) -> StoreResult<Workspace> {
        self.store.create_workspace(new)
    }
    fn workspaces(&self) -> StoreResult<Vec<Workspace>> {
        self.store.workspaces()
    }
    fn workspace_by_name(&self, name: &str) -> StoreResult<Option<Workspace>> {
        self.store.workspace_by_name(name)
    }
    fn replace_keys(&self, workspace: WorkspaceId, keys: &[KeyRecord]) -> StoreResult<()> {
        self.store.replace_keys(workspace, keys)
    }
    fn find_key(&self, hash: &KeyHash) -> StoreResult<Option<KeyOwner>> {
        self.store.find_key(hash)
    }
    fn resolve(&self, ws: WorkspaceId, identifier: &Identifier) -> StoreResult<Option<PersonKey>> {
        self.store.resolve(ws, identifier)
    }
    fn person(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Option<PersonView>> {
        self.store.person(ws, key)
    }
    fn activities(
        &self,
        ws: WorkspaceId,
        key: PersonKey,
        query: &ActivityQuery,
    ) -> StoreResult<Vec<StoredActivity>> {
        self.store.activities(ws, key, query)
    }
    fn person_segments(&self, ws: WorkspaceId, key: PersonKey) -> StoreResult<Vec<Segment>> {
        self.store.person_segments(ws, key)
    }
    fn object(&self, ws: WorkspaceId, object: &ObjectRef) -> StoreResult<Option<ObjectView>> {
        self.store.object(ws, object)
    }
    fn read_log(&self, ws: WorkspaceId, after: i64, limit: usize) -> StoreResult<Vec<LogRecord>> {
        self.store.read_log(ws, after, limit)
    }
    fn log_extent(&self, ws: WorkspaceId, after: i64) -> StoreResult<nudge_store::LogExtent> {
        self.store.log_extent(ws, after)
    }
    fn reset_derived(&self, ws: WorkspaceId) -> StoreResult<()> {
        self.store.reset_derived(ws)
    }
    fn rejections(
        &self,
        ws: WorkspaceId,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<nudge_store::RejectionRecord>> {
        self.store.rejections(ws, before_id, limit)
    }
    fn people_page(
        &self,
        ws: WorkspaceId,
        after: Option<PersonKey>,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_core::PersonState>> {
        self.store.people_page(ws, after, limit, scope)
    }
    fn events_page(
        &self,
        ws: WorkspaceId,
        after_seq: i64,
        limit: usize,
        scope: &nudge_store::ExportScope,
    ) -> StoreResult<Vec<nudge_store::ExportedEvent>> {
        self.store.events_page(ws, after_seq, limit, scope)
    }
    fn create_export(
        &self,
        ws: WorkspaceId,
        new: &nudge_store::NewExport,
    ) -> StoreResult<nudge_store::ExportJob> {
        self.store.create_export(ws, new)
    }
    fn export_job(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<nudge_store::ExportJob>> {
        self.store.export_job(ws, id)
    }
    fn finish_export(
        &self,
        ws: WorkspaceId,
        id: i64,
        end: &nudge_store::ExportEnd,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.store.finish_export(ws, id, end, now)
    }
    fn record_export_download(&self, ws: WorkspaceId, id: i64, now: Timestamp) -> StoreResult<()> {
        self.store.record_export_download(ws, id, now)
    }
}

impl Definitions for TempSqlite {
    fn segment_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<SegmentDefinition>> {
        self.store.segment_definitions(ws)
    }
    fn segment_definition(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.store.segment_definition(ws, id)
    }
    fn create_segment(
        &self,
        ws: WorkspaceId,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<SegmentDefinition> {
        self.store.create_segment(ws, new, now)
    }
    fn update_segment(
        &self,
        ws: WorkspaceId,
        id: i64,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.store.update_segment(ws, id, new, now)
    }
    fn delete_segment(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.store.delete_segment(ws, id)
    }
    fn segment_member_count(&self, ws: WorkspaceId, id: i64) -> StoreResult<u64> {
        self.store.segment_member_count(ws, id)
    }
    fn segment_members(
        &self,
        ws: WorkspaceId,
        id: i64,
        after: Option<PersonKey>,
        limit: usize,
    ) -> StoreResult<Vec<PersonKey>> {
        self.store.segment_members(ws, id, after, limit)
    }
    fn segment_transitions(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        limit: usize,
    ) -> StoreResult<Vec<SegmentTransition>> {
        self.store.segment_transitions(ws, person, limit)
    }
    fn computed_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<ComputedDefinition>> {
        self.store.computed_definitions(ws)
    }
    fn put_computed_definition(
        &self,
        ws: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<ComputedDefinition> {
        self.store
            .put_computed_definition(ws, name, definition, now)
    }
    fn delete_computed_definition(&self, ws: WorkspaceId, name: &str) -> StoreResult<bool> {
        self.store.delete_computed_definition(ws, name)
    }
    fn person_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        names: &[String],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<StoredEvent>> {
        Definitions::person_events(&self.store, ws, person, names, since)
    }
    fn config_version(&self) -> StoreResult<i64> {
        self.store.config_version()
    }
    fn processed_offset(&self, ws: WorkspaceId) -> StoreResult<i64> {
        Definitions::processed_offset(&self.store, ws)
    }
    fn next_scheduled_check(&self) -> StoreResult<Option<Timestamp>> {
        self.store.next_scheduled_check()
    }
    fn documents(&self, ws: WorkspaceId, kind: DocumentKind) -> StoreResult<Vec<Document>> {
        self.store.documents(ws, kind)
    }
    fn document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
    ) -> StoreResult<Vec<Document>> {
        self.store.document_versions(ws, kind, name)
    }
    fn all_document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
    ) -> StoreResult<Vec<Document>> {
        self.store.all_document_versions(ws, kind)
    }
    fn put_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        body: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Document> {
        self.store.put_document(ws, kind, name, body, now)
    }
    fn delete_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.store.delete_document(ws, kind, name, now)
    }
    fn next_instance_wake(&self) -> StoreResult<Option<Timestamp>> {
        self.store.next_instance_wake()
    }
    fn journey_events(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.store.journey_events(ws, after_id, limit)
    }
    fn person_journey_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.store
            .person_journey_events(ws, person, before_id, limit)
    }
    fn journey_counters(&self, ws: WorkspaceId, journey: &str) -> StoreResult<Vec<JourneyCounter>> {
        self.store.journey_counters(ws, journey)
    }
    fn waiting_instances(
        &self,
        ws: WorkspaceId,
        journey: &str,
    ) -> StoreResult<Vec<(i64, Option<String>, u64)>> {
        self.store.waiting_instances(ws, journey)
    }
    fn person_instances_view(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<InstanceRow>> {
        self.store.person_instances_view(ws, person)
    }
    fn outbox(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.store.outbox(ws, after_id, limit)
    }
    fn open_broadcasts(&self, ws: WorkspaceId) -> StoreResult<Vec<BroadcastJob>> {
        self.store.open_broadcasts(ws)
    }
    fn broadcast(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<BroadcastJob>> {
        self.store.broadcast(ws, id)
    }
}

impl Deliveries for TempSqlite {
    fn claim_deliveries(
        &self,
        now: Timestamp,
        claim_until: Timestamp,
        limit: usize,
    ) -> StoreResult<Vec<Delivery>> {
        self.store.claim_deliveries(now, claim_until, limit)
    }
    fn finish_deliveries(
        &self,
        finished: &[FinishedDelivery],
        now: Timestamp,
    ) -> StoreResult<Vec<bool>> {
        self.store.finish_deliveries(finished, now)
    }
    fn next_delivery_due(&self) -> StoreResult<Option<Timestamp>> {
        self.store.next_delivery_due()
    }
    fn delivery(&self, ws: WorkspaceId, delivery_id: &str) -> StoreResult<Option<Delivery>> {
        self.store.delivery(ws, delivery_id)
    }
    fn deliveries(&self, ws: WorkspaceId, query: &DeliveryQuery) -> StoreResult<Vec<Delivery>> {
        self.store.deliveries(ws, query)
    }
    fn instances(&self, ws: WorkspaceId, ids: &[i64]) -> StoreResult<Vec<InstanceRow>> {
        self.store.instances(ws, ids)
    }
    fn recheck_reads(
        &self,
        ws: WorkspaceId,
        query: &nudge_store::RecheckQuery,
    ) -> StoreResult<nudge_store::RecheckReads> {
        self.store.recheck_reads(ws, query)
    }
    fn log_head(&self, ws: WorkspaceId) -> StoreResult<i64> {
        self.store.log_head(ws)
    }
    fn queue_delivery(
        &self,
        ws: WorkspaceId,
        new: &nudge_store::NewDelivery,
    ) -> StoreResult<nudge_store::QueuedDelivery> {
        self.store.queue_delivery(ws, new)
    }
    fn keyed_delivery(
        &self,
        ws: WorkspaceId,
        key: &str,
    ) -> StoreResult<Option<nudge_store::KeyedDelivery>> {
        self.store.keyed_delivery(ws, key)
    }
}

impl nudge_store::AddressSuppressions for TempSqlite {
    fn record_delivery_metric(
        &self,
        ws: WorkspaceId,
        report: &nudge_store::MetricReport,
    ) -> StoreResult<Option<nudge_store::RecordedMetric>> {
        nudge_store::AddressSuppressions::record_delivery_metric(&self.store, ws, report)
    }
    fn suppress_address(
        &self,
        ws: WorkspaceId,
        suppression: &nudge_store::AddressSuppression,
    ) -> StoreResult<bool> {
        nudge_store::AddressSuppressions::suppress_address(&self.store, ws, suppression)
    }
    fn address_suppression(
        &self,
        ws: WorkspaceId,
        address: &nudge_store::Address,
    ) -> StoreResult<Option<nudge_store::AddressSuppression>> {
        nudge_store::AddressSuppressions::address_suppression(&self.store, ws, address)
    }
    fn address_suppressions(
        &self,
        ws: WorkspaceId,
        query: &nudge_store::SuppressionQuery,
    ) -> StoreResult<Vec<nudge_store::AddressSuppression>> {
        nudge_store::AddressSuppressions::address_suppressions(&self.store, ws, query)
    }
    fn remove_address_suppression(
        &self,
        ws: WorkspaceId,
        address: &nudge_store::Address,
    ) -> StoreResult<bool> {
        nudge_store::AddressSuppressions::remove_address_suppression(&self.store, ws, address)
    }
}

impl nudge_store::ReportingWebhooks for TempSqlite {
    fn create_reporting_webhook(
        &self,
        ws: WorkspaceId,
        settings: &nudge_store::WebhookSettings,
        signing_key: &str,
        now: Timestamp,
    ) -> StoreResult<nudge_store::ReportingWebhook> {
        self.store
            .create_reporting_webhook(ws, settings, signing_key, now)
    }
    fn reporting_webhooks(
        &self,
        ws: WorkspaceId,
    ) -> StoreResult<Vec<nudge_store::ReportingWebhook>> {
        self.store.reporting_webhooks(ws)
    }
    fn reporting_webhook(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<nudge_store::ReportingWebhook>> {
        self.store.reporting_webhook(ws, id)
    }
    fn update_reporting_webhook(
        &self,
        ws: WorkspaceId,
        id: i64,
        settings: &nudge_store::WebhookSettings,
        now: Timestamp,
    ) -> StoreResult<Option<nudge_store::ReportingWebhook>> {
        self.store.update_reporting_webhook(ws, id, settings, now)
    }
    fn delete_reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.store.delete_reporting_webhook(ws, id)
    }
    fn append_reports(
        &self,
        ws: WorkspaceId,
        reports: &[nudge_store::NewReport],
        now: Timestamp,
    ) -> StoreResult<usize> {
        self.store.append_reports(ws, reports, now)
    }
    fn pending_reporting_endpoints(&self) -> StoreResult<Vec<nudge_store::PendingEndpoint>> {
        self.store.pending_reporting_endpoints()
    }
    fn claim_reporting_endpoint(
        &self,
        ws: WorkspaceId,
        id: i64,
        cursor: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool> {
        self.store
            .claim_reporting_endpoint(ws, id, cursor, now, lease_until)
    }
    fn reports_after(
        &self,
        ws: WorkspaceId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<nudge_store::StoredReport>> {
        self.store.reports_after(ws, after, limit)
    }
    fn last_report_appended_by(
        &self,
        ws: WorkspaceId,
        after: i64,
        at: Timestamp,
    ) -> StoreResult<i64> {
        self.store.last_report_appended_by(ws, after, at)
    }
    fn record_reporting_progress(
        &self,
        progress: &nudge_store::ReportingProgress,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.store.record_reporting_progress(progress, now)
    }
}

impl nudge_store::SendHistory for TempSqlite {
    fn marketing_sends_since(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        since: Timestamp,
    ) -> StoreResult<Vec<nudge_store::MarketingSend>> {
        nudge_store::SendHistory::marketing_sends_since(&self.store, ws, person, since)
    }
}

nudge_store::contract_tests!(fresh_store());
