//! This backend's schema history: numbered SQL files under `migrations/`, embedded at build
//! time and applied in order at open, each recorded in `schema_migrations`. Files are
//! append-only: a shipped migration is never edited, a change is a new file. A migration that
//! adds an index also gives it planner statistics (see `0002_planner_statistics.sql`).

use nudge_store::{StoreError, StoreResult};
use rusqlite::{params, Connection, TransactionBehavior};

use crate::errors::from_sqlite;

/// One step of the schema history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    sql: &'static str,
}

/// Every migration this build knows, in the order they apply.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "planner_statistics",
        sql: include_str!("../migrations/0002_planner_statistics.sql"),
    },
    Migration {
        version: 3,
        name: "log_raw_payload",
        sql: include_str!("../migrations/0003_log_raw_payload.sql"),
    },
    Migration {
        version: 4,
        name: "rejected_messages",
        sql: include_str!("../migrations/0004_rejected_messages.sql"),
    },
    Migration {
        version: 5,
        name: "exports",
        sql: include_str!("../migrations/0005_exports.sql"),
    },
    Migration {
        version: 6,
        name: "applied_marks",
        sql: include_str!("../migrations/0006_applied_marks.sql"),
    },
    Migration {
        version: 7,
        name: "suppression_groups",
        sql: include_str!("../migrations/0007_suppression_groups.sql"),
    },
    Migration {
        version: 8,
        name: "processing",
        sql: include_str!("../migrations/0008_processing.sql"),
    },
    Migration {
        version: 9,
        name: "fold_states_per_person",
        sql: include_str!("../migrations/0009_fold_states_per_person.sql"),
    },
    Migration {
        version: 10,
        name: "event_times_from_the_index",
        sql: include_str!("../migrations/0010_event_times_from_the_index.sql"),
    },
    Migration {
        version: 11,
        name: "segment_checks",
        sql: include_str!("../migrations/0011_segment_checks.sql"),
    },
    Migration {
        version: 12,
        name: "journeys",
        sql: include_str!("../migrations/0012_journeys.sql"),
    },
    Migration {
        version: 13,
        name: "broadcasts",
        sql: include_str!("../migrations/0013_broadcasts.sql"),
    },
    Migration {
        version: 14,
        name: "delivery_ledger",
        sql: include_str!("../migrations/0014_delivery_ledger.sql"),
    },
    Migration {
        version: 15,
        name: "transactional",
        sql: include_str!("../migrations/0015_transactional.sql"),
    },
    Migration {
        version: 16,
        name: "address_suppressions",
        sql: include_str!("../migrations/0016_address_suppressions.sql"),
    },
    Migration {
        version: 17,
        name: "reporting_webhooks",
        sql: include_str!("../migrations/0017_reporting_webhooks.sql"),
    },
];

/// A migration as recorded in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    pub version: i64,
    pub name: String,
    /// When it was applied, in milliseconds since the Unix epoch.
    pub applied_at: i64,
}

const CREATE_HISTORY: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at INTEGER NOT NULL
)";

/// Applies every migration the database lacks, all in one immediate transaction so two
/// processes opening the same file at once cannot both apply one. Refuses a database that
/// records a migration this build does not know (written by a newer Nudge) or knows under
/// another name (an edited history).
pub(crate) fn apply(conn: &mut Connection) -> StoreResult<Vec<AppliedMigration>> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(from_sqlite)?;
    tx.execute_batch(CREATE_HISTORY).map_err(from_sqlite)?;
    let recorded = applied(&tx)?;
    for done in &recorded {
        match MIGRATIONS.iter().find(|m| m.version == done.version) {
            None => {
                return Err(StoreError::Backend(format!(
                    "the database has migration {} ({}) that this build does not know; \
                     it was written by a newer Nudge",
                    done.version, done.name
                )))
            }
            Some(known) if known.name != done.name => {
                return Err(StoreError::Corrupt(format!(
                    "migration {} is recorded as '{}' but this build calls it '{}'",
                    done.version, done.name, known.name
                )))
            }
            Some(_) => {}
        }
    }
    let latest = recorded.iter().map(|m| m.version).max().unwrap_or(0);
    for migration in MIGRATIONS.iter().filter(|m| m.version > latest) {
        tx.execute_batch(migration.sql).map_err(|err| {
            StoreError::Backend(format!(
                "migration {} ({}) failed: {err}",
                migration.version, migration.name
            ))
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES (?1, ?2, CAST(unixepoch('subsec') * 1000 AS INTEGER))",
            params![migration.version, migration.name],
        )
        .map_err(from_sqlite)?;
    }
    let now_applied = applied(&tx)?;
    tx.commit().map_err(from_sqlite)?;
    Ok(now_applied)
}

/// The recorded history, oldest first.
pub(crate) fn applied(conn: &Connection) -> StoreResult<Vec<AppliedMigration>> {
    let mut stmt = conn
        .prepare("SELECT version, name, applied_at FROM schema_migrations ORDER BY version")
        .map_err(from_sqlite)?;
    let rows = stmt
        .query_map([], |row| {
            Ok(AppliedMigration {
                version: row.get(0)?,
                name: row.get(1)?,
                applied_at: row.get(2)?,
            })
        })
        .map_err(from_sqlite)?;
    rows.collect::<Result<_, _>>().map_err(from_sqlite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_states_move_into_one_row_per_person() {
        let conn = Connection::open_in_memory().unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.name == "fold_states_per_person");
        let (earlier, this) = MIGRATIONS.split_at(before.unwrap());
        for migration in earlier {
            conn.execute_batch(migration.sql).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO workspaces (id, name, env, site_id, created_at) \
             VALUES (1, 'w', 'production', 's', 0);
             INSERT INTO people (key, workspace_id, cio_id, attributes, attribute_times, \
             created_at, updated_at) VALUES (7, 1, 'c7', '{}', '{}', 0, 0), \
             (8, 1, 'c8', '{}', '{}', 0, 0);
             INSERT INTO computed_states (workspace_id, person_key, name, state) VALUES \
             (1, 7, 'orders', '{\"version\": 2, \"state\": {\"count\": 3}}'), \
             (1, 7, 'ltv', '{\"version\": 1, \"state\": {\"number\": 9.5}}'), \
             (1, 8, 'ltv', '{\"version\": 1, \"state\": {}}');",
        )
        .unwrap();
        conn.execute_batch(this[0].sql).unwrap();
        let states: Vec<(i64, serde_json::Value)> = conn
            .prepare("SELECT person_key, states FROM computed_states ORDER BY person_key")
            .unwrap()
            .query_map([], |row| {
                let text: String = row.get(1)?;
                Ok((row.get(0)?, serde_json::from_str(&text).unwrap()))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            states,
            [
                (
                    7,
                    serde_json::json!({"ltv": {"version": 1, "state": {"number": 9.5}},
                                       "orders": {"version": 2, "state": {"count": 3}}})
                ),
                (8, serde_json::json!({"ltv": {"version": 1, "state": {}}})),
            ]
        );
    }

    #[test]
    fn versions_count_up_from_one_without_gaps() {
        for (index, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version, index as i64 + 1, "{}", migration.name);
        }
    }

    #[test]
    fn every_file_in_the_directory_is_listed_under_its_number_and_name() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed);
    }

    #[test]
    fn every_index_has_planner_statistics_for_each_of_its_columns() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        let indexes: Vec<(String, String)> = conn
            .prepare("SELECT tbl_name, name FROM sqlite_schema WHERE type = 'index'")
            .unwrap()
            .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(indexes.len() > 10, "{indexes:?}");
        for (table, index) in indexes {
            let stat: Option<String> = conn
                .query_row(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = ?1 AND idx = ?2",
                    [&table, &index],
                    |row| row.get(0),
                )
                .ok();
            let columns: i64 = conn
                .query_row(
                    "SELECT count(*) FROM pragma_index_info(?1)",
                    [&index],
                    |row| row.get(0),
                )
                .unwrap();
            let numbers = stat.as_deref().map_or(0, |s| s.split(' ').count());
            assert_eq!(
                numbers as i64,
                columns + 1,
                "statistics of {table}.{index}: {stat:?}"
            );
        }
    }

    #[test]
    fn a_database_from_a_newer_build_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)",
            [],
        )
        .unwrap();
        let err = apply(&mut conn).unwrap_err();
        assert!(err.to_string().contains("newer Nudge"), "{err}");
    }

    #[test]
    fn a_renamed_migration_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        apply(&mut conn).unwrap();
        conn.execute(
            "UPDATE schema_migrations SET name = 'edited' WHERE version = 1",
            [],
        )
        .unwrap();
        assert!(matches!(apply(&mut conn), Err(StoreError::Corrupt(_))));
    }
}
