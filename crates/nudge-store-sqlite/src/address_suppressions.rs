//! [`AddressSuppressions`] on [`SqliteStore`]: suppressed addresses in their own table keyed
//! by (workspace, address), and metrics recorded on the ledger's rows. A metric is one
//! immediate transaction on the writer connection: read the delivery, apply
//! [`metric_effect`], suppress its address; reads use the read pool.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    metric_effect, reported_metric, Address, AddressSuppression, AddressSuppressions, Deliveries,
    DeliveryState, MetricReport, RecordedMetric, StoreResult, SuppressionCategory,
    SuppressionQuery, SUPPRESSIBLE_CHANNELS,
};
use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::errors::{corrupt, from_sqlite};
use crate::read::limit;
use crate::reporting_webhooks::stream;
use crate::SqliteStore;
use nudge_store::DeliveryChange;

const METRIC_TARGET: &str = "SELECT id, state, reason, channel, recipient FROM journey_outbox \
     WHERE workspace_id = ?1 AND message_id = ?2";
/// Fenced by the state read in the same transaction.
const RECORD_METRIC: &str = "UPDATE journey_outbox SET state = ?3, reason = ?4, updated_at = ?5 \
     WHERE id = ?1 AND workspace_id = ?2 AND state = ?6";
const SUPPRESS: &str = "INSERT INTO address_suppressions \
     (workspace_id, address, category, reason, delivery_id, created_at) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (workspace_id, address) DO NOTHING";
const SUPPRESSION: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = ?1 AND address = ?2";
const SUPPRESSIONS: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = ?1 AND address > ?2 \
     AND (?3 IS NULL OR category = ?3) ORDER BY address LIMIT ?4";
const UNSUPPRESS: &str =
    "DELETE FROM address_suppressions WHERE workspace_id = ?1 AND address = ?2";

impl AddressSuppressions for SqliteStore {
    fn record_delivery_metric(
        &self,
        ws: WorkspaceId,
        report: &MetricReport,
    ) -> StoreResult<Option<RecordedMetric>> {
        let suppressed = self.in_transaction(|tx| record_metric(tx, ws, report))?;
        let Some(suppressed) = suppressed else {
            return Ok(None);
        };
        let delivery = self
            .delivery(ws, &report.delivery_id)?
            .ok_or_else(|| corrupt("delivery", format!("'{}' vanished", report.delivery_id)))?;
        Ok(Some(RecordedMetric {
            delivery,
            suppressed,
        }))
    }

    fn suppress_address(
        &self,
        ws: WorkspaceId,
        suppression: &AddressSuppression,
    ) -> StoreResult<bool> {
        self.in_transaction(|tx| suppress(tx, ws, suppression))
    }

    fn address_suppression(
        &self,
        ws: WorkspaceId,
        address: &Address,
    ) -> StoreResult<Option<AddressSuppression>> {
        self.with_reader(|conn| {
            let row = conn
                .prepare_cached(SUPPRESSION)
                .and_then(|mut stmt| {
                    stmt.query_row(params![ws.0, address.as_str()], SuppressionRow::read)
                        .optional()
                })
                .map_err(from_sqlite)?;
            row.map(SuppressionRow::decode).transpose()
        })
    }

    fn address_suppressions(
        &self,
        ws: WorkspaceId,
        query: &SuppressionQuery,
    ) -> StoreResult<Vec<AddressSuppression>> {
        let after = query.after.as_ref().map_or("", Address::as_str);
        let category = query.category.map(SuppressionCategory::as_str);
        self.with_reader(|conn| {
            let mut stmt = conn.prepare_cached(SUPPRESSIONS).map_err(from_sqlite)?;
            let rows = stmt
                .query_map(
                    params![ws.0, after, category, limit(query.limit)],
                    SuppressionRow::read,
                )
                .map_err(from_sqlite)?;
            rows.map(|row| row.map_err(from_sqlite)?.decode()).collect()
        })
    }

    fn remove_address_suppression(&self, ws: WorkspaceId, address: &Address) -> StoreResult<bool> {
        self.in_transaction(|tx| {
            let removed = tx
                .prepare_cached(UNSUPPRESS)
                .and_then(|mut stmt| stmt.execute(params![ws.0, address.as_str()]))
                .map_err(from_sqlite)?;
            Ok(removed == 1)
        })
    }
}

/// Inside one immediate transaction. `None` when there is no such delivery; otherwise the
/// address the metric suppressed, if any.
fn record_metric(
    conn: &Connection,
    ws: WorkspaceId,
    report: &MetricReport,
) -> StoreResult<Option<Option<Address>>> {
    type Target = (i64, String, Option<String>, String, String);
    let target: Option<Target> = conn
        .prepare_cached(METRIC_TARGET)
        .and_then(|mut stmt| {
            stmt.query_row(params![ws.0, report.delivery_id], |row| {
                Ok((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                ))
            })
            .optional()
        })
        .map_err(from_sqlite)?;
    let Some((id, state_name, reason, channel, recipient)) = target else {
        return Ok(None);
    };
    let state = DeliveryState::parse(&state_name)
        .ok_or_else(|| corrupt("delivery state", format!("unknown state '{state_name}'")))?;
    let effect = metric_effect(state, reason.as_deref(), report);
    let changed = effect.state.is_some() || effect.reason.is_some();
    if changed {
        let new_state = effect.state.unwrap_or(state);
        let new_reason = effect.reason.or(reason);
        conn.prepare_cached(RECORD_METRIC)
            .and_then(|mut stmt| {
                stmt.execute(params![
                    id,
                    ws.0,
                    new_state.as_str(),
                    new_reason,
                    report.at.millis(),
                    state.as_str(),
                ])
            })
            .map_err(from_sqlite)?;
    }
    if let Some(metric) = reported_metric(report.metric).filter(|_| !state.is_open()) {
        let change = DeliveryChange {
            outbox_id: id,
            metric,
            at: report.at,
            first: changed,
            failure_message: report.reason.as_deref(),
        };
        stream::append_delivery_changes(conn, ws, &[change], report.at)?;
    }
    let address = (report.metric.suppresses())
        .filter(|_| SUPPRESSIBLE_CHANNELS.contains(&channel.as_str()))
        .and_then(|category| Address::new(&recipient).map(|address| (category, address)));
    let Some((category, address)) = address else {
        return Ok(Some(None));
    };
    suppress(
        conn,
        ws,
        &AddressSuppression {
            address: address.clone(),
            category,
            reason: report.reason.clone(),
            delivery_id: Some(report.delivery_id.clone()),
            created_at: report.at,
        },
    )?;
    Ok(Some(Some(address)))
}

fn suppress(conn: &Connection, ws: WorkspaceId, s: &AddressSuppression) -> StoreResult<bool> {
    let added = conn
        .prepare_cached(SUPPRESS)
        .and_then(|mut stmt| {
            stmt.execute(params![
                ws.0,
                s.address.as_str(),
                s.category.as_str(),
                s.reason,
                s.delivery_id,
                s.created_at.millis(),
            ])
        })
        .map_err(from_sqlite)?;
    Ok(added == 1)
}

/// Read from `address, category, reason, delivery_id, created_at`, in order.
struct SuppressionRow {
    address: String,
    category: String,
    reason: Option<String>,
    delivery_id: Option<String>,
    created_at: i64,
}

impl SuppressionRow {
    fn read(row: &Row<'_>) -> rusqlite::Result<Self> {
        Ok(Self {
            address: row.get(0)?,
            category: row.get(1)?,
            reason: row.get(2)?,
            delivery_id: row.get(3)?,
            created_at: row.get(4)?,
        })
    }

    fn decode(self) -> StoreResult<AddressSuppression> {
        Ok(AddressSuppression {
            address: Address::new(&self.address)
                .ok_or_else(|| corrupt("suppressed address", "empty"))?,
            category: SuppressionCategory::parse(&self.category).ok_or_else(|| {
                corrupt(
                    "suppression category",
                    format!("unknown '{}'", self.category),
                )
            })?,
            reason: self.reason,
            delivery_id: self.delivery_id,
            created_at: Timestamp::from_millis(self.created_at),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each statement and the index it must seek: no scan, no temporary B-tree.
    #[test]
    fn every_suppression_statement_seeks_its_index() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::migrations::apply(&mut conn).unwrap();
        let key = "sqlite_autoindex_address_suppressions_1";
        let expected = [
            (
                METRIC_TARGET,
                "sqlite_autoindex_journey_outbox_1 (workspace_id=? AND message_id=?)",
            ),
            (RECORD_METRIC, "INTEGER PRIMARY KEY (rowid=?)"),
            (SUPPRESSION, "(workspace_id=? AND address=?)"),
            (SUPPRESSIONS, "(workspace_id=? AND address>?)"),
            (UNSUPPRESS, "(workspace_id=? AND address=?)"),
        ];
        for (sql, index) in expected {
            let plan = crate::send_history::plan(&conn, sql);
            assert!(
                plan.len() == 1
                    && plan[0].starts_with("SEARCH")
                    && plan[0].ends_with(index)
                    && (sql.contains("journey_outbox") || plan[0].contains(key)),
                "{sql}\n  plan: {plan:?}\n  expected one search of {index}"
            );
        }
    }
}
