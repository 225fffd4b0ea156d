//! The delivery worker's batched re-check reads on PostgreSQL: a claimed batch's instances in
//! one statement, then its people (with their identifiers and devices), suppressed addresses,
//! marketing sends and exit events in one read-only snapshot, one statement per table for the
//! whole batch (keys as arrays) instead of several round trips per delivery. Every statement
//! reaches its rows through an index (the plan test below checks). Rows come back unordered
//! and are put in the single reads' order here.

use std::collections::{BTreeSet, HashMap};

use nudge_core::{Device, PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Address, AddressSuppression, InstanceRow, MarketingSend, PersonView, RecheckQuery,
    RecheckReads, StoreResult, SuppressionCategory,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt};
use crate::processor_reads::event_from_row;
use crate::read::{identifier, json_map, person_from_row};
use crate::Statements;

const INSTANCES: &str = "SELECT id, journey, version, person_key, key, active, step, wake_at, \
     watch_until, entered_at, state FROM journey_instances \
     WHERE workspace_id = $1 AND id = ANY($2::INT8[])";
const PEOPLE: &str = "SELECT key, cio_id, id, email, phone, attributes, attribute_times, \
     created_at, updated_at FROM people WHERE workspace_id = $1 AND key = ANY($2::INT8[])";
const IDENTIFIERS: &str = "SELECT person_key, kind, value FROM identifiers \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[])";
const DEVICES: &str = "SELECT person_key, token, platform, last_used, attributes FROM devices \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[])";
const SUPPRESSIONS: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = $1 AND address = ANY($2::TEXT[])";
/// As `SendHistory` reads them: only JSON `true` marks a message transactional; the channel
/// list is `MARKETING_CHANNELS`.
const MARKETING_SENDS: &str = "SELECT person_key, message_id, sent_at FROM journey_outbox \
     WHERE workspace_id = $1 AND person_key = ANY($2::INT8[]) AND sent_at >= $3 \
     AND channel IN ('email', 'sms', 'push') \
     AND (payload::jsonb -> 'transactional') IS DISTINCT FROM 'true'::jsonb";
/// Every query's person and start, numbered; the names of all of them (each query keeps its
/// own below).
const EVENTS: &str = "SELECT wanted.n, a.seq, a.name, a.\"timestamp\", a.data \
     FROM unnest($2::INT8[], $3::INT8[]) WITH ORDINALITY AS wanted (person_key, since, n) \
     JOIN activities a ON a.workspace_id = $1 AND a.person_key = wanted.person_key \
     AND a.name = ANY($4::TEXT[]) AND a.\"timestamp\" >= wanted.since \
     AND a.kind IN ('event', 'page', 'screen')";

/// The instances with these ids, by id.
pub(super) fn instances(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    ids: &[i64],
) -> StoreResult<Vec<InstanceRow>> {
    let rows = statements.query(client, INSTANCES, &[&ws.0, &ids])?;
    let mut instances = rows.iter().map(instance).collect::<StoreResult<Vec<_>>>()?;
    instances.sort_by_key(|i| i.id);
    Ok(instances)
}

/// Everything `query` names, read in `client`'s snapshot.
pub(super) fn recheck_reads(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    query: &RecheckQuery,
) -> StoreResult<RecheckReads> {
    let mut reads = RecheckReads {
        people: people(client, statements, ws, &query.people)?,
        ..RecheckReads::default()
    };
    if !query.addresses.is_empty() {
        let addresses: Vec<&str> = query.addresses.iter().map(Address::as_str).collect();
        for row in statements.query(client, SUPPRESSIONS, &[&ws.0, &addresses])? {
            let found = suppression(&row)?;
            reads.suppressions.insert(found.address.clone(), found);
        }
    }
    if let Some(sends) = query.sends.as_ref().filter(|s| !s.people.is_empty()) {
        let keys: Vec<i64> = sends.people.iter().map(|p| p.0).collect();
        let params: [&(dyn ToSql + Sync); 3] = [&ws.0, &keys, &sends.since.millis()];
        for row in statements.query(client, MARKETING_SENDS, &params)? {
            let send = MarketingSend {
                delivery_id: column(&row, 1)?,
                sent_at: Timestamp::from_millis(column(&row, 2)?),
            };
            reads
                .sends
                .entry(PersonKey(column(&row, 0)?))
                .or_default()
                .push(send);
        }
        for found in reads.sends.values_mut() {
            found.sort_by_key(|s| s.sent_at);
        }
    }
    reads.events = vec![Vec::new(); query.events.len()];
    let names: BTreeSet<&String> = query.events.iter().flat_map(|q| &q.names).collect();
    if !names.is_empty() {
        let people: Vec<i64> = query.events.iter().map(|q| q.person.0).collect();
        let since: Vec<i64> = (query.events.iter())
            .map(|q| q.since.map_or(i64::MIN, Timestamp::millis))
            .collect();
        let names: Vec<&String> = names.into_iter().collect();
        let params: [&(dyn ToSql + Sync); 4] = [&ws.0, &people, &since, &names];
        for row in statements.query(client, EVENTS, &params)? {
            let n: i64 = column(&row, 0)?;
            let at = usize::try_from(n - 1).map_err(|e| corrupt("event query number", e))?;
            let event = event_from_row(&row, 1)?;
            if query.events[at].names.contains(&event.name) {
                reads.events[at].push(event);
            }
        }
        for events in &mut reads.events {
            events.sort_by_key(|e| (e.timestamp, e.seq));
        }
    }
    Ok(reads)
}

/// The people with these keys, with their identifiers (sorted) and devices (by token).
fn people(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    keys: &[PersonKey],
) -> StoreResult<HashMap<PersonKey, PersonView>> {
    let mut people = HashMap::new();
    if keys.is_empty() {
        return Ok(people);
    }
    let keys: Vec<i64> = keys.iter().map(|k| k.0).collect();
    for row in statements.query(client, PEOPLE, &[&ws.0, &keys])? {
        let state = person_from_row(&row)?;
        let view = PersonView {
            state,
            identifiers: Vec::new(),
            devices: Vec::new(),
        };
        people.insert(view.state.key, view);
    }
    for row in statements.query(client, IDENTIFIERS, &[&ws.0, &keys])? {
        if let Some(view) = people.get_mut(&PersonKey(column(&row, 0)?)) {
            view.identifiers
                .push(identifier(column(&row, 1)?, column(&row, 2)?)?);
        }
    }
    for row in statements.query(client, DEVICES, &[&ws.0, &keys])? {
        if let Some(view) = people.get_mut(&PersonKey(column(&row, 0)?)) {
            view.devices.push(Device {
                token: column(&row, 1)?,
                platform: column(&row, 2)?,
                last_used: column::<Option<i64>>(&row, 3)?.map(Timestamp::from_millis),
                attributes: json_map(column(&row, 4)?, "device attributes")?,
            });
        }
    }
    for view in people.values_mut() {
        view.identifiers.sort();
        // By token here rather than in SQL, where the order would follow the collation.
        view.devices.sort_by(|a, b| a.token.cmp(&b.token));
    }
    Ok(people)
}

/// Decodes a row of [`INSTANCES`].
fn instance(row: &Row) -> StoreResult<InstanceRow> {
    let wake_at: Option<i64> = column(row, 7)?;
    let watch_until: Option<i64> = column(row, 8)?;
    let state: &str = column(row, 10)?;
    Ok(InstanceRow {
        id: column(row, 0)?,
        journey: column(row, 1)?,
        version: column(row, 2)?,
        person: PersonKey(column(row, 3)?),
        key: column(row, 4)?,
        active: column(row, 5)?,
        step: column(row, 6)?,
        wake_at: wake_at.map(Timestamp::from_millis),
        watch_until: watch_until.map(Timestamp::from_millis),
        entered_at: Timestamp::from_millis(column(row, 9)?),
        state: serde_json::from_str(state).map_err(|e| corrupt("journey instance state", e))?,
    })
}

/// Decodes a row of [`SUPPRESSIONS`].
fn suppression(row: &Row) -> StoreResult<AddressSuppression> {
    let address: &str = column(row, 0)?;
    let category: &str = column(row, 1)?;
    Ok(AddressSuppression {
        address: Address::new(address).ok_or_else(|| corrupt("suppressed address", "empty"))?,
        category: SuppressionCategory::parse(category)
            .ok_or_else(|| corrupt("suppression category", format!("unknown '{category}'")))?,
        reason: column(row, 2)?,
        delivery_id: column(row, 3)?,
        created_at: Timestamp::from_millis(column(row, 4)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_database::TestDatabase;
    use crate::PostgresStore;
    use postgres::types::Type;
    use postgres::{Client, NoTls};

    /// Every index a plan reads, and whether it scans a table whole.
    fn scans(node: &serde_json::Value, found: &mut Vec<String>) {
        let kind = node["Node Type"].as_str().unwrap_or_default();
        if kind == "Seq Scan" {
            found.push(format!("Seq Scan on {}", node["Relation Name"]));
        }
        if let Some(index) = node["Index Name"].as_str() {
            found.push(index.to_string());
        }
        for child in node["Plans"].as_array().into_iter().flatten() {
            scans(child, found);
        }
    }

    /// Many workspaces, people and instances, analysed: on empty tables every index costs the
    /// same, and an index led by the workspace alone would do.
    const SEED: &str = "INSERT INTO workspaces (id, name, env, site_id, created_at) \
         SELECT n, 'w-' || n, 'production', 's-' || n, 0 FROM generate_series(1, 100) AS n; \
         INSERT INTO people (key, workspace_id, cio_id, attributes, attribute_times, \
         created_at, updated_at) SELECT n, 1 + n % 100, 'c-' || n, '{}', '{}', 0, 0 \
         FROM generate_series(1, 20000) AS n; \
         INSERT INTO journey_instances (workspace_id, journey, version, person_key, key, \
         active, entered_at, state) SELECT 1 + n % 100, 'cart', 1, n, 'k' || n, false, 0, '{}' \
         FROM generate_series(1, 20000) AS n, generate_series(1, 5) AS m; \
         ANALYZE";

    /// Each statement with sequential scans priced out reaches its rows through the index
    /// named, the workspace and the keys of the batch constraining it.
    #[test]
    fn every_recheck_read_seeks_its_index() {
        let Some(db) = TestDatabase::create() else {
            return;
        };
        PostgresStore::connect(db.url()).unwrap();
        let mut client = Client::connect(db.url(), NoTls).unwrap();
        client.batch_execute(SEED).unwrap();
        client.batch_execute("SET enable_seqscan = off").unwrap();
        let expected = [
            (INSTANCES, "journey_instances_pkey"),
            (PEOPLE, "people_pkey|people_workspace_id_key_key"),
            (IDENTIFIERS, "identifiers_person"),
            (DEVICES, "devices_person"),
            (SUPPRESSIONS, "address_suppressions_pkey"),
            (MARKETING_SENDS, "journey_outbox_person_sent"),
            (EVENTS, "activities_person_name"),
        ];
        let mut wrong = Vec::new();
        for (sql, index) in expected {
            let statement = client.prepare(sql).unwrap();
            let args: Vec<Box<dyn ToSql + Sync>> = (statement.params().iter())
                .map(|ty| -> Box<dyn ToSql + Sync> {
                    match *ty {
                        Type::INT8 => Box::new(1_i64),
                        Type::INT8_ARRAY => Box::new(vec![1_i64, 2]),
                        Type::TEXT_ARRAY => Box::new(vec!["x", "y"]),
                        ref other => panic!("no sample argument for {other}"),
                    }
                })
                .collect();
            let refs: Vec<&(dyn ToSql + Sync)> = args.iter().map(|a| a.as_ref()).collect();
            let plan: serde_json::Value = client
                .query_one(&format!("EXPLAIN (FORMAT JSON) {sql}"), &refs)
                .unwrap()
                .get(0);
            let mut found = Vec::new();
            scans(&plan[0]["Plan"], &mut found);
            if found.len() != 1 || !index.split('|').any(|i| i == found[0]) {
                wrong.push(format!("{sql}\nreads {found:?}\nexpected only {index}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
