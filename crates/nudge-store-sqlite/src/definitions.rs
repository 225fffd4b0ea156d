//! [`Definitions`] on [`SqliteStore`]: reads on the read pool, every definition change in one
//! immediate transaction on the writer connection (so it raises the config version with it).
//! The SQL lives in `segment_catalogue`, `computed_catalogue`, `documents`, `processing`,
//! `journeys`, `journey_records` and `broadcasts`.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    BroadcastJob, ComputedDefinition, Definitions, Document, DocumentKind, EventRead, InstanceRow,
    JourneyCounter, NewSegment, SegmentDefinition, SegmentTransition, StoreResult, StoredEvent,
    StoredJourneyEvent, StoredMessage,
};

use crate::{
    broadcasts, computed_catalogue, documents, journey_records, journeys, processing,
    segment_catalogue, SqliteStore,
};

impl Definitions for SqliteStore {
    fn segment_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<SegmentDefinition>> {
        self.with_reader(|conn| segment_catalogue::definitions(conn, ws))
    }

    fn segment_definition(
        &self,
        ws: WorkspaceId,
        id: i64,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.with_reader(|conn| segment_catalogue::definition(conn, ws, id))
    }

    fn create_segment(
        &self,
        ws: WorkspaceId,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<SegmentDefinition> {
        self.in_transaction(|tx| segment_catalogue::create(tx, ws, new, now))
    }

    fn update_segment(
        &self,
        ws: WorkspaceId,
        id: i64,
        new: &NewSegment,
        now: Timestamp,
    ) -> StoreResult<Option<SegmentDefinition>> {
        self.in_transaction(|tx| segment_catalogue::update(tx, ws, id, new, now))
    }

    fn delete_segment(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool> {
        self.in_transaction(|tx| segment_catalogue::delete(tx, ws, id))
    }

    fn segment_member_count(&self, ws: WorkspaceId, id: i64) -> StoreResult<u64> {
        self.with_reader(|conn| segment_catalogue::member_count(conn, ws, id))
    }

    fn segment_members(
        &self,
        ws: WorkspaceId,
        id: i64,
        after: Option<PersonKey>,
        limit: usize,
    ) -> StoreResult<Vec<PersonKey>> {
        self.with_reader(|conn| segment_catalogue::members(conn, ws, id, after, limit))
    }

    fn segment_transitions(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        limit: usize,
    ) -> StoreResult<Vec<SegmentTransition>> {
        self.with_reader(|conn| segment_catalogue::transitions(conn, ws, person, limit))
    }

    fn computed_definitions(&self, ws: WorkspaceId) -> StoreResult<Vec<ComputedDefinition>> {
        self.with_reader(|conn| computed_catalogue::definitions(conn, ws))
    }

    fn put_computed_definition(
        &self,
        ws: WorkspaceId,
        name: &str,
        definition: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<ComputedDefinition> {
        self.in_transaction(|tx| computed_catalogue::put(tx, ws, name, definition, now))
    }

    fn delete_computed_definition(&self, ws: WorkspaceId, name: &str) -> StoreResult<bool> {
        self.in_transaction(|tx| computed_catalogue::delete(tx, ws, name))
    }

    fn person_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        names: &[String],
        since: Option<Timestamp>,
    ) -> StoreResult<Vec<StoredEvent>> {
        let read = EventRead {
            names: names.to_vec(),
            since,
            with_data: true,
        };
        self.with_reader(|conn| processing::person_events(conn, ws, person, &read))
    }

    fn config_version(&self) -> StoreResult<i64> {
        self.with_reader(processing::config_version)
    }

    fn processed_offset(&self, ws: WorkspaceId) -> StoreResult<i64> {
        self.with_reader(|conn| processing::processed_offset(conn, ws))
    }

    fn next_scheduled_check(&self) -> StoreResult<Option<Timestamp>> {
        self.with_reader(processing::next_scheduled_check)
    }

    fn documents(&self, ws: WorkspaceId, kind: DocumentKind) -> StoreResult<Vec<Document>> {
        self.with_reader(|conn| documents::latest_live(conn, ws, kind))
    }

    fn document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
    ) -> StoreResult<Vec<Document>> {
        self.with_reader(|conn| documents::versions(conn, ws, kind, name))
    }

    fn all_document_versions(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
    ) -> StoreResult<Vec<Document>> {
        self.with_reader(|conn| documents::all_versions(conn, ws, kind))
    }

    fn put_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        body: &serde_json::Value,
        now: Timestamp,
    ) -> StoreResult<Document> {
        self.in_transaction(|tx| documents::put(tx, ws, kind, name, body, now))
    }

    fn delete_document(
        &self,
        ws: WorkspaceId,
        kind: DocumentKind,
        name: &str,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.in_transaction(|tx| documents::delete(tx, ws, kind, name, now))
    }

    fn next_instance_wake(&self) -> StoreResult<Option<Timestamp>> {
        self.with_reader(journeys::next_instance_wake)
    }

    fn journey_events(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.with_reader(|conn| journey_records::journey_events(conn, ws, after_id, limit))
    }

    fn person_journey_events(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        before_id: Option<i64>,
        limit: usize,
    ) -> StoreResult<Vec<StoredJourneyEvent>> {
        self.with_reader(|conn| {
            journey_records::person_journey_events(conn, ws, person, before_id, limit)
        })
    }

    fn journey_counters(&self, ws: WorkspaceId, journey: &str) -> StoreResult<Vec<JourneyCounter>> {
        self.with_reader(|conn| journey_records::counters(conn, ws, journey))
    }

    fn waiting_instances(
        &self,
        ws: WorkspaceId,
        journey: &str,
    ) -> StoreResult<Vec<(i64, Option<String>, u64)>> {
        self.with_reader(|conn| journeys::waiting_instances(conn, ws, journey))
    }

    fn person_instances_view(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
    ) -> StoreResult<Vec<InstanceRow>> {
        self.with_reader(|conn| journeys::person_instances_view(conn, ws, person))
    }

    fn outbox(
        &self,
        ws: WorkspaceId,
        after_id: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredMessage>> {
        self.with_reader(|conn| journey_records::outbox(conn, ws, after_id, limit))
    }

    fn open_broadcasts(&self, ws: WorkspaceId) -> StoreResult<Vec<BroadcastJob>> {
        self.with_reader(|conn| broadcasts::open(conn, ws))
    }

    fn broadcast(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<BroadcastJob>> {
        self.with_reader(|conn| broadcasts::by_id(conn, ws, id))
    }
}
