//! Tests that guard the storage promises a type cannot: every statement the store runs reaches
//! its rows through an index (so each `WriteTx` call stays O(log n)), and `append_log` holds
//! its workspace's log lock until the transaction ends.

use std::collections::HashMap;

use nudge_core::{Operation, Timestamp};
use nudge_store::{LogEntry, Store};
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls};

use crate::test_database::TestDatabase;
use crate::{
    admin, broadcasts, computed_catalogue, definitions, derived, documents, event_rows, export,
    journey_records, journeys, marks, objects, person_data, processing_tx, processor_reads, read,
    read_ahead, rejections, reserved_ids, segment_catalogue, suppressions, write_tx,
    written_behind, PostgresStore,
};

/// A sample argument of the type the server inferred for a parameter.
fn sample_argument(ty: &Type) -> Box<dyn ToSql + Sync> {
    match *ty {
        Type::INT8 => Box::new(1_i64),
        Type::INT4 => Box::new(1_i32),
        Type::TEXT | Type::VARCHAR => Box::new("x"),
        Type::BOOL => Box::new(true),
        Type::BYTEA => Box::new(vec![0_u8; 32]),
        Type::TEXT_ARRAY => Box::new(vec!["event"]),
        Type::INT8_ARRAY => Box::new(vec![1_i64]),
        Type::BOOL_ARRAY => Box::new(vec![true]),
        ref other => panic!("no sample_argument for parameter type {other}"),
    }
}

/// The plan PostgreSQL would run `sql` with when a sequential scan is priced out of reach.
fn plan(client: &mut Client, sql: &str) -> serde_json::Value {
    let statement = client.prepare(sql).unwrap();
    let args: Vec<Box<dyn ToSql + Sync>> = statement.params().iter().map(sample_argument).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
    let row = client
        .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &refs)
        .unwrap();
    let text: serde_json::Value = row.get(0);
    text
}

/// The first column of each index: an index scan that does not constrain it reads the
/// whole index, which is no better than a table scan.
fn leading_columns(client: &mut Client) -> HashMap<String, String> {
    client
        .query(
            "SELECT c.relname::TEXT, a.attname::TEXT FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
             JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public'",
            &[],
        )
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

/// Every way `node` (and what it runs) reads a table that is not a bounded index lookup.
fn scans(node: &serde_json::Value, leading: &HashMap<String, String>, found: &mut Vec<String>) {
    scans_below(node, false, leading, found);
}

/// `limited`: `node` feeds a Limit directly, so an index walk without a filter stops after
/// the limit's rows (the first entries of a partial index, say), however large the index.
fn scans_below(
    node: &serde_json::Value,
    limited: bool,
    leading: &HashMap<String, String>,
    found: &mut Vec<String>,
) {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    if kind == "Seq Scan" {
        found.push(format!("Seq Scan on {}", node["Relation Name"]));
    }
    if let Some(index) = node["Index Name"].as_str() {
        let condition = node["Index Cond"].as_str().unwrap_or_default();
        let column = &leading[index];
        let bounded_walk = limited && node["Filter"].is_null();
        if !condition.contains(&format!("({column} ")) && !bounded_walk {
            found.push(format!("{kind} on {index} without {column}: '{condition}'"));
        }
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        scans_below(child, kind == "Limit", leading, found);
    }
}

#[test]
fn every_statement_is_an_indexed_lookup() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    PostgresStore::connect(db.url()).unwrap();
    let mut client = Client::connect(db.url(), NoTls).unwrap();
    client.batch_execute("SET enable_seqscan = off").unwrap();
    let leading = leading_columns(&mut client);
    // Listing every workspace is the one deliberate full read: there are a handful.
    let full_reads = [read::WORKSPACES];
    let statements = (write_tx::statements().into_iter())
        .chain(event_rows::statements())
        .chain(objects::statements())
        .chain(admin::statements())
        .chain(read::statements())
        .chain(rejections::statements())
        .chain(export::statements())
        .chain(marks::statements())
        .chain(derived::statements())
        .chain(definitions::statements())
        .chain(segment_catalogue::statements())
        .chain(computed_catalogue::statements())
        .chain(processor_reads::statements())
        .chain(read_ahead::statements())
        .chain(processing_tx::statements())
        .chain(crate::page::statements())
        .chain(person_data::statements())
        .chain(suppressions::statements())
        .chain(documents::statements())
        .chain(journeys::statements())
        .chain(crate::prefetched_instances::statements())
        .chain(crate::pending_messages::statements())
        .chain(journey_records::statements())
        .chain(reserved_ids::statements())
        .chain(written_behind::statements())
        .chain(broadcasts::statements())
        .chain(crate::address_suppressions::statements())
        .chain(crate::send_history::statements())
        .chain(crate::reporting_webhooks::statements());
    let mut checked = 0;
    for sql in statements.filter(|sql| !full_reads.contains(sql)) {
        let plan = plan(&mut client, sql);
        let mut found = Vec::new();
        scans(&plan[0]["Plan"], &leading, &mut found);
        assert!(
            found.is_empty(),
            "{sql}\nreads more than it needs: {found:?}\n{plan:#}"
        );
        checked += 1;
    }
    assert!(checked > 70, "only {checked} statements checked");
}

#[test]
fn appending_to_a_log_holds_its_lock_until_commit() {
    let Some(db) = TestDatabase::create() else {
        return;
    };
    let store = PostgresStore::connect(db.url()).unwrap();
    let mut observer = Client::connect(db.url(), NoTls).unwrap();
    let ws = store
        .create_workspace(&nudge_store::NewWorkspace {
            name: "lumen".into(),
            env: nudge_core::Env::Production,
            site_id: "site".into(),
            keys: vec![],
            now: Timestamp::from_millis(1),
        })
        .unwrap()
        .id;
    let (class, key) = write_tx::log_lock(ws);
    let lock_free = |observer: &mut Client| -> bool {
        let free: bool = observer
            .query_one("SELECT pg_try_advisory_lock($1, $2)", &[&class, &key])
            .unwrap()
            .get(0);
        if free {
            observer
                .execute("SELECT pg_advisory_unlock($1, $2)", &[&class, &key])
                .unwrap();
        }
        free
    };
    let entry = LogEntry {
        source: "track_v1".into(),
        received_at: Timestamp::from_millis(2),
        operation: Operation::DeleteObject {
            object: nudge_core::ObjectRef {
                type_id: "1".into(),
                object_id: "acme".into(),
            },
        },
        raw: None,
    };
    assert!(lock_free(&mut observer));
    store
        .write(&mut |tx| {
            tx.append_log(ws, &entry)?;
            assert!(!lock_free(&mut observer), "held after the append");
            tx.append_log(ws, &entry)?;
            Ok(())
        })
        .unwrap();
    assert!(lock_free(&mut observer), "released at commit");
}
