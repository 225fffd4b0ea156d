//! Marks ([`Marked`]): the newest log offset that changed a person, an identifier or an
//! object, written by ingestion beside each change and read by replay to recognise entries
//! the store already reflects. A person's mark lives on their cio_id, so it outlives them.
//! Every statement reaches its rows by key or index (the plan test in `statements` checks).

use nudge_core::WorkspaceId;
use nudge_store::{Marked, StoreResult, ACTIVITIES_PER_ENTRY};
use rusqlite::{params, Connection, OptionalExtension};

use crate::errors::from_sqlite;

const MARK: &str = "INSERT INTO applied_marks (workspace_id, subject, key, value, \
     applied_offset) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = max(applied_offset, excluded.applied_offset)";
const MARK_PERSON: &str = "INSERT INTO applied_marks (workspace_id, subject, key, value, \
     applied_offset) SELECT workspace_id, 'identifier', 'cio_id', cio_id, ?3 FROM people \
     WHERE key = ?2 AND workspace_id = ?1 ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = max(applied_offset, excluded.applied_offset)";
const MARK_IDENTIFIERS_OF: &str = "INSERT INTO applied_marks (workspace_id, subject, key, \
     value, applied_offset) SELECT workspace_id, 'identifier', kind, value, ?3 FROM identifiers \
     WHERE workspace_id = ?1 AND person_key = ?2 ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = max(applied_offset, excluded.applied_offset)";
const MARKED: &str = "SELECT applied_offset FROM applied_marks \
     WHERE workspace_id = ?1 AND subject = ?2 AND key = ?3 AND value = ?4";
const MARKED_PERSON: &str = "SELECT \
     (SELECT m.applied_offset FROM applied_marks m WHERE m.workspace_id = p.workspace_id \
      AND m.subject = 'identifier' AND m.key = 'cio_id' AND m.value = p.cio_id), \
     (SELECT max(a.seq) FROM activities a WHERE a.workspace_id = p.workspace_id \
      AND a.person_key = p.key) \
     FROM people p WHERE p.key = ?2 AND p.workspace_id = ?1";
const MARKED_IDENTIFIERS_OF: &str = "SELECT max(m.applied_offset) FROM identifiers i \
     JOIN applied_marks m ON m.workspace_id = i.workspace_id AND m.subject = 'identifier' \
     AND m.key = i.kind AND m.value = i.value \
     WHERE i.workspace_id = ?1 AND i.person_key = ?2";

/// The statements that read existing rows, for the plan test.
#[cfg(test)]
pub(crate) const STATEMENTS: [&str; 5] = [
    MARK_PERSON,
    MARK_IDENTIFIERS_OF,
    MARKED,
    MARKED_PERSON,
    MARKED_IDENTIFIERS_OF,
];

pub(crate) fn mark(
    conn: &Connection,
    ws: WorkspaceId,
    subject: Marked<'_>,
    offset: i64,
) -> StoreResult<()> {
    let run = |sql: &str, params: &[&dyn rusqlite::ToSql]| {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| stmt.execute(params))
            .map(drop)
            .map_err(from_sqlite)
    };
    match subject {
        Marked::Person(key) => run(MARK_PERSON, params![ws.0, key.0, offset]),
        Marked::IdentifiersOf(key) => run(MARK_IDENTIFIERS_OF, params![ws.0, key.0, offset]),
        Marked::Identifier(identifier) => {
            let (kind, value) = (identifier.kind().as_str(), identifier.value());
            run(MARK, params![ws.0, "identifier", kind, value, offset])
        }
        Marked::Object(object) => {
            let (type_id, object_id) = (&object.type_id, &object.object_id);
            run(MARK, params![ws.0, "object", type_id, object_id, offset])
        }
    }
}

pub(crate) fn marked(conn: &Connection, ws: WorkspaceId, subject: Marked<'_>) -> StoreResult<i64> {
    let one = |sql: &str, params: &[&dyn rusqlite::ToSql]| -> StoreResult<Option<i64>> {
        conn.prepare_cached(sql)
            .and_then(|mut stmt| {
                stmt.query_row(params, |row| row.get::<_, Option<i64>>(0))
                    .optional()
            })
            .map(Option::flatten)
            .map_err(from_sqlite)
    };
    let offset = match subject {
        Marked::Person(key) => {
            let row = conn
                .prepare_cached(MARKED_PERSON)
                .and_then(|mut stmt| {
                    stmt.query_row(params![ws.0, key.0], |row| {
                        Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, Option<i64>>(1)?))
                    })
                    .optional()
                })
                .map_err(from_sqlite)?;
            // An activity's position names the entry that recorded it.
            row.and_then(|(own, newest_seq)| {
                own.max(newest_seq.map(|seq| seq.div_euclid(ACTIVITIES_PER_ENTRY)))
            })
        }
        Marked::IdentifiersOf(key) => one(MARKED_IDENTIFIERS_OF, params![ws.0, key.0])?,
        Marked::Identifier(identifier) => {
            let (kind, value) = (identifier.kind().as_str(), identifier.value());
            one(MARKED, params![ws.0, "identifier", kind, value])?
        }
        Marked::Object(object) => {
            let (type_id, object_id) = (&object.type_id, &object.object_id);
            one(MARKED, params![ws.0, "object", type_id, object_id])?
        }
    };
    Ok(offset.unwrap_or(0))
}
