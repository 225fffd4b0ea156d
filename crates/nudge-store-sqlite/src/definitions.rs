//! [`Definitions`] on [`SqliteStore`]: reads on the read pool, every definition change in one
//! immediate transaction on the writer connection (so it raises the config version with it).
//! The SQL lives in `segment_catalogue`, `computed_catalogue` and `processing`.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    ComputedDefinition, Definitions, EventRead, NewSegment, SegmentDefinition, SegmentTransition,
    StoreResult, StoredEvent,
};

use crate::{computed_catalogue, processing, segment_catalogue, SqliteStore};

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
}
