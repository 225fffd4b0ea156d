//! The queries behind [`Store`](nudge_store::Store): workspaces, keys, people, timelines,
//! segments, objects, the log. `resolve`, `load_person` and `object_attributes` are shared
//! with the write transaction; nothing else here writes. Every query is an indexed lookup or
//! a bounded range scan, except listing workspaces.

use nudge_core::person::StoredActivity;
use nudge_core::{
    Activity, ActivityKind, ApiKind, Device, Env, Identifier, IdentifierKind, JsonMap, ObjectRef,
    PersonKey, PersonState, Timestamp, Workspace, WorkspaceId,
};
use nudge_store::{
    ActivityQuery, KeyHash, KeyOwner, LogEntry, LogRecord, ObjectView, PersonView, Segment,
    StoreResult,
};
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt, pg};
use crate::Statements;

pub(crate) const WORKSPACES: &str = "SELECT id, name, env, site_id FROM workspaces ORDER BY id";
const WORKSPACE_BY_NAME: &str = "SELECT id, name, env, site_id FROM workspaces WHERE name = $1";
const FIND_KEY: &str = "SELECT k.kind, w.id, w.name, w.env, w.site_id FROM api_keys k \
     JOIN workspaces w ON w.id = k.workspace_id WHERE k.hash = $1";
const RESOLVE: &str =
    "SELECT person_key FROM identifiers WHERE workspace_id = $1 AND kind = $2 AND value = $3";
const LOAD_PERSON: &str = "SELECT key, cio_id, id, email, phone, attributes, attribute_times, \
     created_at, updated_at FROM people WHERE key = $2 AND workspace_id = $1";
const PERSON_IDENTIFIERS: &str =
    "SELECT kind, value FROM identifiers WHERE workspace_id = $1 AND person_key = $2";
const PERSON_DEVICES: &str = "SELECT token, platform, last_used, attributes FROM devices \
     WHERE workspace_id = $1 AND person_key = $2";
// One statement serves every filter combination; the index walks the person's timeline
// newest first from `before_seq`.
const ACTIVITIES: &str = "SELECT seq, kind, name, \"timestamp\", data, event_id, can_trigger, \
     recorded_at FROM activities WHERE workspace_id = $1 AND person_key = $2 AND seq < $3 \
     AND (cardinality($4::TEXT[]) = 0 OR kind = ANY($4::TEXT[])) \
     AND ($5::TEXT IS NULL OR name = $5::TEXT) \
     ORDER BY seq DESC LIMIT $6";
const PERSON_SEGMENTS: &str = "SELECT s.id, s.name, s.description, s.manual \
     FROM segment_members m JOIN segments s ON s.id = m.segment_id \
     WHERE m.workspace_id = $1 AND m.person_key = $2 ORDER BY s.id";
const OBJECT_ATTRIBUTES: &str = "SELECT attributes FROM objects \
     WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3";
const OBJECT_ATTRIBUTES_FOR_UPDATE: &str = "SELECT attributes FROM objects \
     WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3 FOR UPDATE";
const OBJECT_RELATIONSHIPS: &str = "SELECT person_key, attributes FROM relationships \
     WHERE workspace_id = $1 AND type_id = $2 AND object_id = $3 ORDER BY person_key";
const READ_LOG: &str = "SELECT \"offset\", source, received_at, operation, raw FROM event_log \
     WHERE workspace_id = $1 AND \"offset\" > $2 ORDER BY \"offset\" LIMIT $3";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        WORKSPACES,
        WORKSPACE_BY_NAME,
        FIND_KEY,
        RESOLVE,
        LOAD_PERSON,
        PERSON_IDENTIFIERS,
        PERSON_DEVICES,
        ACTIVITIES,
        PERSON_SEGMENTS,
        OBJECT_ATTRIBUTES,
        OBJECT_ATTRIBUTES_FOR_UPDATE,
        OBJECT_RELATIONSHIPS,
        READ_LOG,
    ]
}

// --- workspaces and keys ------------------------------------------------------------------

pub(crate) fn workspaces(
    client: &mut impl GenericClient,
    statements: &mut Statements,
) -> StoreResult<Vec<Workspace>> {
    let statement = statements.get(client, WORKSPACES)?;
    let rows = client.query(&statement, &[]).map_err(pg)?;
    rows.iter().map(|row| workspace(row, 0)).collect()
}

pub(crate) fn workspace_by_name(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    name: &str,
) -> StoreResult<Option<Workspace>> {
    let statement = statements.get(client, WORKSPACE_BY_NAME)?;
    let row = client.query_opt(&statement, &[&name]).map_err(pg)?;
    row.map(|row| workspace(&row, 0)).transpose()
}

pub(crate) fn find_key(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    hash: &KeyHash,
) -> StoreResult<Option<KeyOwner>> {
    let statement = statements.get(client, FIND_KEY)?;
    let Some(row) = client.query_opt(&statement, &[&&hash[..]]).map_err(pg)? else {
        return Ok(None);
    };
    let kind: &str = column(&row, 0)?;
    let kind = ApiKind::parse(kind).ok_or_else(|| corrupt("api key kind", kind))?;
    Ok(Some(KeyOwner {
        workspace: workspace(&row, 1)?,
        kind,
    }))
}

/// Decodes `id, name, env, site_id`, starting at column `at`.
pub(crate) fn workspace(row: &Row, at: usize) -> StoreResult<Workspace> {
    let env: &str = column(row, at + 2)?;
    Ok(Workspace {
        id: WorkspaceId(column(row, at)?),
        name: column(row, at + 1)?,
        env: env
            .parse::<Env>()
            .map_err(|e| corrupt("workspace env", e))?,
        site_id: column(row, at + 3)?,
    })
}

// --- people -------------------------------------------------------------------------------

pub(crate) fn resolve(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> StoreResult<Option<PersonKey>> {
    let statement = statements.get(client, RESOLVE)?;
    let row = client
        .query_opt(
            &statement,
            &[&ws.0, &identifier.kind().as_str(), &identifier.value()],
        )
        .map_err(pg)?;
    row.map(|row| column(&row, 0).map(PersonKey)).transpose()
}

pub(crate) fn load_person(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Option<PersonState>> {
    let statement = statements.get(client, LOAD_PERSON)?;
    let Some(row) = client.query_opt(&statement, &[&ws.0, &key.0]).map_err(pg)? else {
        return Ok(None);
    };
    person_from_row(&row).map(Some)
}

/// A person from a row of `key, cio_id, id, email, phone, attributes, attribute_times,
/// created_at, updated_at`.
pub(crate) fn person_from_row(row: &Row) -> StoreResult<PersonState> {
    let attribute_times: &str = column(row, 6)?;
    Ok(PersonState {
        key: PersonKey(column(row, 0)?),
        cio_id: column(row, 1)?,
        id: column(row, 2)?,
        email: column(row, 3)?,
        phone: column(row, 4)?,
        attributes: json_map(column(row, 5)?, "person attributes")?,
        attribute_times: serde_json::from_str(attribute_times)
            .map_err(|e| corrupt("person attribute_times", e))?,
        created_at: Timestamp::from_millis(column(row, 7)?),
        updated_at: Timestamp::from_millis(column(row, 8)?),
    })
}

/// Every identifier that resolves to the person, sorted.
pub(crate) fn person_identifiers(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Vec<Identifier>> {
    let statement = statements.get(client, PERSON_IDENTIFIERS)?;
    let rows = client.query(&statement, &[&ws.0, &key.0]).map_err(pg)?;
    let mut identifiers = rows
        .iter()
        .map(|row| identifier(column(row, 0)?, column(row, 1)?))
        .collect::<StoreResult<Vec<_>>>()?;
    identifiers.sort();
    Ok(identifiers)
}

pub(crate) fn person_view(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Option<PersonView>> {
    let Some(state) = load_person(client, statements, ws, key)? else {
        return Ok(None);
    };
    let identifiers = person_identifiers(client, statements, ws, key)?;

    let statement = statements.get(client, PERSON_DEVICES)?;
    let rows = client.query(&statement, &[&ws.0, &key.0]).map_err(pg)?;
    let mut devices = rows
        .iter()
        .map(|row| {
            Ok(Device {
                token: column(row, 0)?,
                platform: column(row, 1)?,
                last_used: column::<Option<i64>>(row, 2)?.map(Timestamp::from_millis),
                attributes: json_map(column(row, 3)?, "device attributes")?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    // Sorted here rather than in SQL, where the order would follow the database's collation.
    devices.sort_by(|a, b| a.token.cmp(&b.token));
    Ok(Some(PersonView {
        state,
        identifiers,
        devices,
    }))
}

pub(crate) fn activities(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
    query: &ActivityQuery,
) -> StoreResult<Vec<StoredActivity>> {
    let statement = statements.get(client, ACTIVITIES)?;
    let kinds: Vec<&str> = query.kinds.iter().map(|k| k.as_str()).collect();
    let before = query.before_seq.unwrap_or(i64::MAX);
    let rows = client
        .query(
            &statement,
            &[
                &ws.0,
                &key.0,
                &before,
                &kinds,
                &query.name,
                &as_limit(query.limit),
            ],
        )
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(StoredActivity {
                seq: column(row, 0)?,
                activity: activity_columns(row)?,
                recorded_at: Timestamp::from_millis(column(row, 7)?),
            })
        })
        .collect()
}

/// An activity from columns 1–6 of a row: kind, name, timestamp, data, event_id, can_trigger
/// (column 0 being its seq), the order every activity query here selects them in.
pub(crate) fn activity_columns(row: &postgres::Row) -> StoreResult<Activity> {
    let kind: &str = column(row, 1)?;
    Ok(Activity {
        kind: ActivityKind::parse(kind).ok_or_else(|| corrupt("activity kind", kind))?,
        name: column(row, 2)?,
        timestamp: Timestamp::from_millis(column(row, 3)?),
        data: json_map(column(row, 4)?, "activity data")?,
        event_id: column(row, 5)?,
        can_trigger: column(row, 6)?,
    })
}

// --- segments -----------------------------------------------------------------------------

pub(crate) fn person_segments(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    key: PersonKey,
) -> StoreResult<Vec<Segment>> {
    let statement = statements.get(client, PERSON_SEGMENTS)?;
    let rows = client.query(&statement, &[&ws.0, &key.0]).map_err(pg)?;
    rows.iter()
        .map(|row| {
            Ok(Segment {
                id: column(row, 0)?,
                name: column(row, 1)?,
                description: column(row, 2)?,
                manual: column(row, 3)?,
            })
        })
        .collect()
}

// --- objects ------------------------------------------------------------------------------

/// The object's own attributes, if it exists.
pub(crate) fn object_attributes(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    object: &ObjectRef,
    for_update: bool,
) -> StoreResult<Option<JsonMap>> {
    let sql = if for_update {
        OBJECT_ATTRIBUTES_FOR_UPDATE
    } else {
        OBJECT_ATTRIBUTES
    };
    let statement = statements.get(client, sql)?;
    let row = client
        .query_opt(&statement, &[&ws.0, &object.type_id, &object.object_id])
        .map_err(pg)?;
    row.map(|row| json_map(column(&row, 0)?, "object attributes"))
        .transpose()
}

pub(crate) fn object_view(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    object: &ObjectRef,
) -> StoreResult<Option<ObjectView>> {
    let Some(attributes) = object_attributes(client, statements, ws, object, false)? else {
        return Ok(None);
    };
    let statement = statements.get(client, OBJECT_RELATIONSHIPS)?;
    let rows = client
        .query(&statement, &[&ws.0, &object.type_id, &object.object_id])
        .map_err(pg)?;
    let relationships = rows
        .iter()
        .map(|row| {
            Ok((
                PersonKey(column(row, 0)?),
                json_map(column(row, 1)?, "relationship attributes")?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(Some(ObjectView {
        object: object.clone(),
        attributes,
        relationships,
    }))
}

// --- the event log ------------------------------------------------------------------------

pub(crate) fn log(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    after: i64,
    limit: usize,
) -> StoreResult<Vec<LogRecord>> {
    let statement = statements.get(client, READ_LOG)?;
    let rows = client
        .query(&statement, &[&ws.0, &after, &as_limit(limit)])
        .map_err(pg)?;
    rows.iter()
        .map(|row| {
            let operation: &str = column(row, 3)?;
            let raw: Option<&str> = column(row, 4)?;
            Ok(LogRecord {
                offset: column(row, 0)?,
                entry: LogEntry {
                    source: column(row, 1)?,
                    received_at: Timestamp::from_millis(column(row, 2)?),
                    operation: serde_json::from_str(operation)
                        .map_err(|e| corrupt("event log operation", e))?,
                    raw: raw
                        .map(serde_json::from_str)
                        .transpose()
                        .map_err(|e| corrupt("event log raw payload", e))?,
                },
            })
        })
        .collect()
}

// --- decoding -----------------------------------------------------------------------------

pub(crate) fn identifier(kind: &str, value: &str) -> StoreResult<Identifier> {
    let kind = IdentifierKind::parse(kind).ok_or_else(|| corrupt("identifier kind", kind))?;
    Identifier::new(kind, value).map_err(|e| corrupt("identifier", e))
}

pub(crate) fn json_map(text: &str, what: &str) -> StoreResult<JsonMap> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

fn as_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}
