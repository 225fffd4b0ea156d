//! Marks ([`Marked`]): the newest log offset that changed a person, an identifier or an
//! object, written by ingestion beside each change and read by replay to recognise entries
//! the store already reflects. A person's mark lives on their cio_id, so it outlives them.
//! Every statement reaches its rows by key or index (the test in `plans.rs` checks).

use nudge_core::WorkspaceId;
use nudge_store::{Marked, StoreResult, ACTIVITIES_PER_ENTRY};
use postgres::types::ToSql;
use postgres::Transaction;

use crate::errors::{column, pg};
use crate::Statements;

const MARK: &str = "INSERT INTO applied_marks (workspace_id, subject, key, value, \
     applied_offset) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = GREATEST(applied_marks.applied_offset, excluded.applied_offset)";
const MARK_PERSON: &str = "INSERT INTO applied_marks (workspace_id, subject, key, value, \
     applied_offset) SELECT workspace_id, 'identifier', 'cio_id', cio_id, $3 FROM people \
     WHERE key = $2 AND workspace_id = $1 ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = GREATEST(applied_marks.applied_offset, excluded.applied_offset)";
const MARK_IDENTIFIERS_OF: &str = "INSERT INTO applied_marks (workspace_id, subject, key, \
     value, applied_offset) SELECT workspace_id, 'identifier', kind, value, $3 FROM identifiers \
     WHERE workspace_id = $1 AND person_key = $2 ON CONFLICT (workspace_id, subject, key, value) \
     DO UPDATE SET applied_offset = GREATEST(applied_marks.applied_offset, excluded.applied_offset)";
const MARKED: &str = "SELECT applied_offset FROM applied_marks \
     WHERE workspace_id = $1 AND subject = $2 AND key = $3 AND value = $4";
const MARKED_PERSON: &str = "SELECT \
     (SELECT m.applied_offset FROM applied_marks m WHERE m.workspace_id = p.workspace_id \
      AND m.subject = 'identifier' AND m.key = 'cio_id' AND m.value = p.cio_id), \
     (SELECT max(a.seq) FROM activities a WHERE a.workspace_id = p.workspace_id \
      AND a.person_key = p.key) \
     FROM people p WHERE p.key = $2 AND p.workspace_id = $1";
const MARKED_IDENTIFIERS_OF: &str = "SELECT max(m.applied_offset) FROM identifiers i \
     JOIN applied_marks m ON m.workspace_id = i.workspace_id AND m.subject = 'identifier' \
     AND m.key = i.kind AND m.value = i.value \
     WHERE i.workspace_id = $1 AND i.person_key = $2";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        MARK,
        MARK_PERSON,
        MARK_IDENTIFIERS_OF,
        MARKED,
        MARKED_PERSON,
        MARKED_IDENTIFIERS_OF,
    ]
}

pub(crate) fn mark(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    subject: Marked<'_>,
    offset: i64,
) -> StoreResult<()> {
    let mut run = |sql: &'static str, params: &[&(dyn ToSql + Sync)]| -> StoreResult<()> {
        let statement = statements.get(tx, sql)?;
        tx.execute(&statement, params).map(drop).map_err(pg)
    };
    match subject {
        Marked::Person(key) => run(MARK_PERSON, &[&ws.0, &key.0, &offset]),
        Marked::IdentifiersOf(key) => run(MARK_IDENTIFIERS_OF, &[&ws.0, &key.0, &offset]),
        Marked::Identifier(identifier) => {
            let (kind, value) = (identifier.kind().as_str(), identifier.value());
            run(MARK, &[&ws.0, &"identifier", &kind, &value, &offset])
        }
        Marked::Object(object) => {
            let (type_id, object_id) = (&object.type_id, &object.object_id);
            run(MARK, &[&ws.0, &"object", type_id, object_id, &offset])
        }
    }
}

pub(crate) fn marked(
    tx: &mut Transaction<'_>,
    statements: &mut Statements,
    ws: WorkspaceId,
    subject: Marked<'_>,
) -> StoreResult<i64> {
    let mut row = |sql: &'static str, params: &[&(dyn ToSql + Sync)]| {
        let statement = statements.get(tx, sql)?;
        tx.query_opt(&statement, params).map_err(pg)
    };
    let offset: Option<i64> = match subject {
        Marked::Person(key) => match row(MARKED_PERSON, &[&ws.0, &key.0])? {
            // An activity's position names the entry that recorded it.
            Some(found) => {
                let own: Option<i64> = column(&found, 0)?;
                let newest_seq: Option<i64> = column(&found, 1)?;
                own.max(newest_seq.map(|seq| seq.div_euclid(ACTIVITIES_PER_ENTRY)))
            }
            None => None,
        },
        Marked::IdentifiersOf(key) => match row(MARKED_IDENTIFIERS_OF, &[&ws.0, &key.0])? {
            Some(found) => column(&found, 0)?,
            None => None,
        },
        Marked::Identifier(identifier) => {
            let (kind, value) = (identifier.kind().as_str(), identifier.value());
            match row(MARKED, &[&ws.0, &"identifier", &kind, &value])? {
                Some(found) => column(&found, 0)?,
                None => None,
            }
        }
        Marked::Object(object) => {
            let (type_id, object_id) = (&object.type_id, &object.object_id);
            match row(MARKED, &[&ws.0, &"object", type_id, object_id])? {
                Some(found) => column(&found, 0)?,
                None => None,
            }
        }
    };
    Ok(offset.unwrap_or(0))
}
