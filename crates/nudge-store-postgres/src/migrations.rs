//! The schema's history: append-only numbered SQL files, embedded in the binary and applied
//! in order, each in its own transaction together with its row in `schema_migrations`. A
//! session advisory lock makes nodes that start at once take turns, so each file runs once.
//! Never edit or renumber a file that has shipped; add a new one.

use postgres::{Client, Config, NoTls};

use nudge_store::{StoreError, StoreResult};

use crate::errors::{self, column, pg};

/// One schema step.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "log_raw_payload",
        sql: include_str!("../migrations/0002_log_raw_payload.sql"),
    },
    Migration {
        version: 3,
        name: "rejected_messages",
        sql: include_str!("../migrations/0003_rejected_messages.sql"),
    },
    Migration {
        version: 4,
        name: "exports",
        sql: include_str!("../migrations/0004_exports.sql"),
    },
    Migration {
        version: 5,
        name: "applied_marks",
        sql: include_str!("../migrations/0005_applied_marks.sql"),
    },
    Migration {
        version: 6,
        name: "suppression_groups",
        sql: include_str!("../migrations/0006_suppression_groups.sql"),
    },
    Migration {
        version: 7,
        name: "processing",
        sql: include_str!("../migrations/0007_processing.sql"),
    },
    Migration {
        version: 8,
        name: "fold_states_per_person",
        sql: include_str!("../migrations/0008_fold_states_per_person.sql"),
    },
    Migration {
        version: 9,
        name: "event_times_from_the_index",
        sql: include_str!("../migrations/0009_event_times_from_the_index.sql"),
    },
    Migration {
        version: 10,
        name: "segment_checks",
        sql: include_str!("../migrations/0010_segment_checks.sql"),
    },
    Migration {
        version: 11,
        name: "journeys",
        sql: include_str!("../migrations/0011_journeys.sql"),
    },
    Migration {
        version: 12,
        name: "broadcasts",
        sql: include_str!("../migrations/0012_broadcasts.sql"),
    },
    Migration {
        version: 13,
        name: "delivery_ledger",
        sql: include_str!("../migrations/0013_delivery_ledger.sql"),
    },
    Migration {
        version: 14,
        name: "transactional",
        sql: include_str!("../migrations/0014_transactional.sql"),
    },
    Migration {
        version: 15,
        name: "address_suppressions",
        sql: include_str!("../migrations/0015_address_suppressions.sql"),
    },
    Migration {
        version: 16,
        name: "reporting_webhooks",
        sql: include_str!("../migrations/0016_reporting_webhooks.sql"),
    },
];

/// Advisory lock keys (the two-integer form, so they cannot collide with one-key locks).
pub(crate) const LOCK_CLASS_MIGRATIONS: i32 = 0x6e75_0001;

/// Brings the database up to the newest schema this binary knows; returns how many
/// migrations it applied (zero when another node got there first).
pub(crate) fn run(config: &Config) -> StoreResult<usize> {
    // A dedicated session: if anything below fails, closing it releases the lock.
    let mut client = config.connect(NoTls).map_err(pg)?;
    client
        .execute("SELECT pg_advisory_lock($1, 0)", &[&LOCK_CLASS_MIGRATIONS])
        .map_err(pg)?;
    let applied = apply_pending(&mut client)?;
    client
        .execute(
            "SELECT pg_advisory_unlock($1, 0)",
            &[&LOCK_CLASS_MIGRATIONS],
        )
        .map_err(pg)?;
    Ok(applied)
}

fn apply_pending(client: &mut Client) -> StoreResult<usize> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version     INTEGER PRIMARY KEY,
                name        TEXT    NOT NULL,
                applied_at  BIGINT  NOT NULL
            )",
        )
        .map_err(pg)?;
    let rows = client
        .query("SELECT version, name FROM schema_migrations", &[])
        .map_err(pg)?;
    let mut done = Vec::with_capacity(rows.len());
    for row in &rows {
        let version: i32 = column(row, 0)?;
        let name: String = column(row, 1)?;
        if let Some(known) = MIGRATIONS.iter().find(|m| m.version == version) {
            if known.name != name {
                return Err(StoreError::Corrupt(format!(
                    "schema_migrations records version {version} as '{name}', but this \
                     binary's version {version} is '{}': a shipped migration was changed",
                    known.name
                )));
            }
        }
        // Versions this binary does not know come from a newer node; they are additive.
        done.push(version);
    }
    let mut applied = 0;
    for migration in MIGRATIONS.iter().filter(|m| !done.contains(&m.version)) {
        let mut tx = client.transaction().map_err(pg)?;
        tx.batch_execute(migration.sql).map_err(|e| {
            let context = format!("migration {} ({})", migration.version, migration.name);
            errors::with_context(pg(e), &context)
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, applied_at)
             VALUES ($1, $2, (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)",
            &[&migration.version, &migration.name],
        )
        .map_err(pg)?;
        tx.commit().map_err(pg)?;
        applied += 1;
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_states_move_into_one_row_per_person() {
        let Some(database) = crate::test_database::TestDatabase::create() else {
            return;
        };
        let mut client = Client::connect(database.url(), NoTls).unwrap();
        let before = MIGRATIONS
            .iter()
            .position(|m| m.name == "fold_states_per_person");
        let (earlier, this) = MIGRATIONS.split_at(before.unwrap());
        for migration in earlier {
            client.batch_execute(migration.sql).unwrap();
        }
        client
            .batch_execute(
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
        client.batch_execute(this[0].sql).unwrap();
        let rows = client
            .query(
                "SELECT person_key, states FROM computed_states ORDER BY person_key",
                &[],
            )
            .unwrap();
        let states: Vec<(i64, serde_json::Value)> = rows
            .iter()
            .map(|row| (row.get(0), serde_json::from_str(row.get(1)).unwrap()))
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
    fn versions_are_contiguous_from_one_and_named_once() {
        for (i, migration) in MIGRATIONS.iter().enumerate() {
            assert_eq!(migration.version as usize, i + 1, "{}", migration.name);
            assert!(!migration.sql.trim().is_empty(), "{}", migration.name);
        }
        let mut names: Vec<_> = MIGRATIONS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), MIGRATIONS.len());
    }
}
