//! [`AddressSuppressions`] on [`PostgresStore`]: suppressed addresses in their own table keyed
//! by (workspace, address), and metrics recorded on the ledger's rows. A metric is one
//! transaction: lock the delivery's row (`FOR UPDATE`, so a concurrent metric or outcome waits
//! its turn), apply [`metric_effect`], suppress its address.

use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{
    metric_effect, reported_metric, Address, AddressSuppression, AddressSuppressions, Deliveries,
    DeliveryState, MetricReport, RecordedMetric, StoreResult, SuppressionCategory,
    SuppressionQuery, SUPPRESSIBLE_CHANNELS,
};
use postgres::types::ToSql;
use postgres::{GenericClient, Row};

use crate::errors::{column, corrupt, pg};
use crate::reporting_webhooks::stream;
use crate::segment_catalogue::as_limit;
use crate::{PostgresStore, Statements};
use nudge_store::DeliveryChange;

const METRIC_TARGET: &str = "SELECT id, state, reason, channel, recipient FROM journey_outbox \
     WHERE workspace_id = $1 AND message_id = $2 FOR UPDATE";
const RECORD_METRIC: &str = "UPDATE journey_outbox SET state = $3, reason = $4, updated_at = $5 \
     WHERE id = $1 AND workspace_id = $2";
const SUPPRESS: &str = "INSERT INTO address_suppressions \
     (workspace_id, address, category, reason, delivery_id, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (workspace_id, address) DO NOTHING";
const SUPPRESSION: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = $1 AND address = $2";
const SUPPRESSIONS: &str = "SELECT address, category, reason, delivery_id, created_at \
     FROM address_suppressions WHERE workspace_id = $1 AND address > $2 \
     AND ($3::TEXT IS NULL OR category = $3) ORDER BY address LIMIT $4";
const UNSUPPRESS: &str =
    "DELETE FROM address_suppressions WHERE workspace_id = $1 AND address = $2";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![
        METRIC_TARGET,
        RECORD_METRIC,
        SUPPRESS,
        SUPPRESSION,
        SUPPRESSIONS,
        UNSUPPRESS,
    ]
}

impl AddressSuppressions for PostgresStore {
    fn record_delivery_metric(
        &self,
        ws: WorkspaceId,
        report: &MetricReport,
    ) -> StoreResult<Option<RecordedMetric>> {
        let suppressed = self.with_conn(|client, statements| {
            let mut tx = client.transaction().map_err(pg)?;
            let suppressed = record_metric(&mut tx, statements, ws, report)?;
            tx.commit().map_err(pg)?;
            Ok(suppressed)
        })?;
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
        self.with_conn(|c, s| suppress(c, s, ws, suppression))
    }

    fn address_suppression(
        &self,
        ws: WorkspaceId,
        address: &Address,
    ) -> StoreResult<Option<AddressSuppression>> {
        let rows = self.with_conn(|c, s| s.query(c, SUPPRESSION, &[&ws.0, &address.as_str()]))?;
        rows.first().map(suppression_from_row).transpose()
    }

    fn address_suppressions(
        &self,
        ws: WorkspaceId,
        query: &SuppressionQuery,
    ) -> StoreResult<Vec<AddressSuppression>> {
        let after = query.after.as_ref().map_or("", Address::as_str);
        let category = query.category.map(SuppressionCategory::as_str);
        let limit = as_limit(query.limit);
        let params: [&(dyn ToSql + Sync); 4] = [&ws.0, &after, &category, &limit];
        let rows = self.with_conn(|c, s| s.query(c, SUPPRESSIONS, &params))?;
        rows.iter().map(suppression_from_row).collect()
    }

    fn remove_address_suppression(&self, ws: WorkspaceId, address: &Address) -> StoreResult<bool> {
        let removed =
            self.with_conn(|c, s| s.execute(c, UNSUPPRESS, &[&ws.0, &address.as_str()]))?;
        Ok(removed == 1)
    }
}

/// Inside one transaction. `None` when there is no such delivery; otherwise the address the
/// metric suppressed, if any.
fn record_metric(
    tx: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    report: &MetricReport,
) -> StoreResult<Option<Option<Address>>> {
    let rows = statements.query(tx, METRIC_TARGET, &[&ws.0, &report.delivery_id])?;
    let Some(row) = rows.first() else {
        return Ok(None);
    };
    let id: i64 = column(row, 0)?;
    let state_name: &str = column(row, 1)?;
    let reason: Option<String> = column(row, 2)?;
    let channel: &str = column(row, 3)?;
    let recipient: &str = column(row, 4)?;
    let state = DeliveryState::parse(state_name)
        .ok_or_else(|| corrupt("delivery state", format!("unknown state '{state_name}'")))?;
    let effect = metric_effect(state, reason.as_deref(), report);
    let changed = effect.state.is_some() || effect.reason.is_some();
    if changed {
        let new_state = effect.state.unwrap_or(state).as_str();
        let new_reason = effect.reason.or(reason);
        let at = report.at.millis();
        let params: [&(dyn ToSql + Sync); 5] = [&id, &ws.0, &new_state, &new_reason, &at];
        statements.execute(tx, RECORD_METRIC, &params)?;
    }
    if let Some(metric) = reported_metric(report.metric).filter(|_| !state.is_open()) {
        let change = DeliveryChange {
            outbox_id: id,
            metric,
            at: report.at,
            first: changed,
            failure_message: report.reason.as_deref(),
        };
        stream::append_delivery_changes(tx, statements, ws, &[change], report.at)?;
    }
    let address = (report.metric.suppresses())
        .filter(|_| SUPPRESSIBLE_CHANNELS.contains(&channel))
        .and_then(|category| Address::new(recipient).map(|address| (category, address)));
    let Some((category, address)) = address else {
        return Ok(Some(None));
    };
    suppress(
        tx,
        statements,
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

fn suppress(
    client: &mut impl GenericClient,
    statements: &mut Statements,
    ws: WorkspaceId,
    s: &AddressSuppression,
) -> StoreResult<bool> {
    let params: [&(dyn ToSql + Sync); 6] = [
        &ws.0,
        &s.address.as_str(),
        &s.category.as_str(),
        &s.reason,
        &s.delivery_id,
        &s.created_at.millis(),
    ];
    Ok(statements.execute(client, SUPPRESS, &params)? == 1)
}

/// Decodes `address, category, reason, delivery_id, created_at`.
fn suppression_from_row(row: &Row) -> StoreResult<AddressSuppression> {
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
