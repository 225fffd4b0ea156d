//! Queries behind the read side of [`nudge_store::Store`], run on a pooled read connection
//! (inside one read transaction where a view spans several tables, so it is one snapshot).
//! `resolve` and `load_person` are shared with the write transaction. Nothing here writes.

use nudge_core::{
    person::StoredActivity, Identifier, ObjectRef, PersonKey, PersonState, WorkspaceId,
};
use nudge_store::{
    ActivityQuery, KeyHash, KeyOwner, LogEntry, LogRecord, ObjectView, PersonView, Segment,
    StoreResult,
};
use rusqlite::{params, Connection, OptionalExtension};

use crate::codec::{self, from_json, ActivityRow, DeviceRow, PersonRow, WorkspaceRow};
use crate::errors::from_sqlite;

pub(crate) const RESOLVE: &str =
    "SELECT person_key FROM identifiers WHERE workspace_id = ?1 AND kind = ?2 AND value = ?3";
pub(crate) const LOAD_PERSON: &str = "SELECT key, cio_id, id, email, phone, attributes, \
     attribute_times, created_at, updated_at FROM people WHERE key = ?2 AND workspace_id = ?1";
pub(crate) const OBJECT_ATTRIBUTES: &str = "SELECT attributes FROM objects \
     WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3";

pub(crate) const PERSON_IDENTIFIERS: &str =
    "SELECT kind, value FROM identifiers WHERE workspace_id = ?1 AND person_key = ?2";
pub(crate) const PERSON_DEVICES: &str =
    "SELECT token, platform, last_used, attributes FROM devices \
     WHERE workspace_id = ?1 AND person_key = ?2 ORDER BY token";
pub(crate) const ACTIVITIES: &str =
    "SELECT seq, kind, name, timestamp, data, event_id, can_trigger, recorded_at \
     FROM activities \
     WHERE workspace_id = ?1 AND person_key = ?2 AND seq < ?3 \
     AND (?4 IS NULL OR kind IN (SELECT value FROM json_each(?4))) \
     AND (?5 IS NULL OR name = ?5) \
     ORDER BY seq DESC LIMIT ?6";
pub(crate) const PERSON_SEGMENTS: &str =
    "SELECT s.id, s.name, s.description, s.manual FROM segment_members m \
     JOIN segments s ON s.id = m.segment_id \
     WHERE m.workspace_id = ?1 AND m.person_key = ?2 ORDER BY s.id";
pub(crate) const OBJECT_RELATIONSHIPS: &str = "SELECT person_key, attributes FROM relationships \
     WHERE workspace_id = ?1 AND type_id = ?2 AND object_id = ?3 ORDER BY person_key";
pub(crate) const READ_LOG: &str =
    "SELECT offset, source, received_at, operation, raw FROM event_log \
     WHERE workspace_id = ?1 AND offset > ?2 ORDER BY offset LIMIT ?3";

pub(crate) fn resolve(
    conn: &Connection,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<Option<PersonKey>> {
    conn.prepare_cached(RESOLVE)
        .and_then(|mut stmt| {
            stmt.query_row(
                params![ws.0, identifier.kind().as_str(), identifier.value()],
                |row| row.get(0),
            )
            .optional()
        })
        .map(|key| key.map(PersonKey))
        .map_err(from_sqlite)
}

pub(crate) fn load_person(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Option<PersonState>> {
    let row = conn
        .prepare_cached(LOAD_PERSON)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, key.0], PersonRow::read)
                .optional()
        })
        .map_err(from_sqlite)?;
    row.map(PersonRow::decode).transpose()
}

pub(crate) fn workspaces(conn: &Connection) -> StoreResult<Vec<nudge_core::Workspace>> {
    let mut stmt = conn
        .prepare_cached("SELECT id, name, env, site_id FROM workspaces ORDER BY id")
        .map_err(from_sqlite)?;
    let rows = stmt
        .query_map([], WorkspaceRow::read)
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

pub(crate) fn workspace_by_name(
    conn: &Connection,
    name: &str,
) -> StoreResult<Option<nudge_core::Workspace>> {
    let row = conn
        .prepare_cached("SELECT id, name, env, site_id FROM workspaces WHERE name = ?1")
        .and_then(|mut stmt| stmt.query_row([name], WorkspaceRow::read).optional())
        .map_err(from_sqlite)?;
    row.map(WorkspaceRow::decode).transpose()
}

pub(crate) fn find_key(conn: &Connection, hash: &KeyHash) -> StoreResult<Option<KeyOwner>> {
    let row = conn
        .prepare_cached(
            "SELECT w.id, w.name, w.env, w.site_id, k.kind FROM api_keys k
             JOIN workspaces w ON w.id = k.workspace_id WHERE k.hash = ?1",
        )
        .and_then(|mut stmt| {
            stmt.query_row([hash], |row| {
                Ok((WorkspaceRow::read(row)?, row.get::<_, String>(4)?))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    row.map(|(workspace, kind)| {
        Ok(KeyOwner {
            workspace: workspace.decode()?,
            kind: codec::api_kind(&kind)?,
        })
    })
    .transpose()
}

/// Every identifier that resolves to the person, sorted.
pub(crate) fn person_identifiers(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Vec<Identifier>> {
    let mut stmt = conn
        .prepare_cached(PERSON_IDENTIFIERS)
        .map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, key.0], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(from_sqlite)?;
    let mut identifiers = rows
        .map(|row| {
            let (kind, value) = row.map_err(from_sqlite)?;
            codec::identifier(&kind, &value)
        })
        .collect::<StoreResult<Vec<_>>>()?;
    identifiers.sort();
    Ok(identifiers)
}

pub(crate) fn person(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Option<PersonView>> {
    let Some(state) = load_person(conn, ws, key)? else {
        return Ok(None);
    };
    let identifiers = person_identifiers(conn, ws, key)?;
    let mut stmt = conn.prepare_cached(PERSON_DEVICES).map_err(from_sqlite)?;
    let devices = stmt
        .query_map(params![ws.0, key.0], DeviceRow::read)
        .map_err(from_sqlite)?
        .map(|row| row.map_err(from_sqlite)?.decode())
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(PersonView {
        state,
        identifiers,
        devices,
    }))
}

pub(crate) fn activities(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
    query: &ActivityQuery,
) -> StoreResult<Vec<StoredActivity>> {
    // One cached statement serves every filter combination: kinds travel as a JSON array.
    let kinds = if query.kinds.is_empty() {
        None
    } else {
        let names: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
        Some(codec::to_json(&names)?)
    };
    let mut stmt = conn.prepare_cached(ACTIVITIES).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(
            params![
                ws.0,
                key.0,
                query.before_seq.unwrap_or(i64::MAX),
                kinds,
                query.name,
                limit(query.limit),
            ],
            ActivityRow::read,
        )
        .map_err(from_sqlite)?;
    rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
}

pub(crate) fn person_segments(
    conn: &Connection,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Vec<Segment>> {
    let mut stmt = conn.prepare_cached(PERSON_SEGMENTS).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, key.0], |row| {
            Ok(Segment {
                id: row.get(0)?,
                name: row.get(1)?,
                description: row.get(2)?,
                manual: row.get(3)?,
            })
        })
        .map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}

pub(crate) fn object(
    conn: &Connection,
    ws: WorkspaceId,
    object: &ObjectRef,
) -> StoreResult<Option<ObjectView>> {
    let attributes = object_attributes(conn, ws, object)?;
    let Some(attributes) = attributes else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached(OBJECT_RELATIONSHIPS)
        .map_err(from_sqlite)?;
    let relationships = stmt
        .query_map(params![ws.0, object.type_id, object.object_id], |row| {
            Ok((row.get::<_, i64>(0)?, row.get::<_, String>(1)?))
        })
        .map_err(from_sqlite)?
        .map(|row| {
            let (key, attributes) = row.map_err(from_sqlite)?;
            Ok((
                PersonKey(key),
                from_json(&attributes, "relationship attributes")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(ObjectView {
        object: object.clone(),
        attributes,
        relationships,
    }))
}

/// The object's own attributes, `None` if there is no such object. Shared with the writer.
pub(crate) fn object_attributes(
    conn: &Connection,
    ws: WorkspaceId,
    object: &ObjectRef,
) -> StoreResult<Option<nudge_core::JsonMap>> {
    let text: Option<String> = conn
        .prepare_cached(OBJECT_ATTRIBUTES)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, object.type_id, object.object_id], |row| {
                row.get(0)
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    text.map(|text| from_json(&text, "object attributes"))
        .transpose()
}

pub(crate) fn read_log(
    conn: &Connection,
    ws: WorkspaceId,
    after: i64,
    max: usize,
) -> StoreResult<Vec<LogRecord>> {
    let mut stmt = conn.prepare_cached(READ_LOG).map_err(from_sqlite)?;
    let rows = stmt
        .query_map(params![ws.0, after, limit(max)], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, i64>(2)?,
                row.get::<_, String>(3)?,
                row.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(from_sqlite)?;
    rows.map(|row| {
        let (offset, source, received_at, operation, raw) = row.map_err(from_sqlite)?;
        Ok(LogRecord {
            offset,
            entry: LogEntry {
                source,
                received_at: nudge_core::Timestamp::from_millis(received_at),
                operation: from_json(&operation, "logged operation")?,
                raw: raw
                    .map(|raw| from_json(&raw, "logged raw payload"))
                    .transpose()?,
            },
        })
    })
    .collect()
}

/// SQLite's LIMIT takes an i64; anything larger means "no limit" anyway.
pub(crate) fn limit(max: usize) -> i64 {
    i64::try_from(max).unwrap_or(i64::MAX)
}
