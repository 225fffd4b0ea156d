//! Outbox messages the processor's transaction writes behind on PostgreSQL, in one multi-row
//! statement instead of a round trip each: the messages of instances started in the same
//! transaction. Whether such a message is new can be answered without the table: its id is
//! made from the instance's trigger (journey, version, the trigger entry's offset and time,
//! step, visits, key), and the trigger entry is one this transaction is the first to process,
//! so no earlier transaction can have queued it; within the transaction the ids written
//! behind are remembered. Messages of older instances (a retrigger that sends a step again)
//! are inserted at once, where the table decides. Should a message written behind meet an
//! existing row anyway, the row stays as it was (nothing is sent twice) and the mismatch is
//! logged.

use std::collections::HashSet;

use nudge_core::WorkspaceId;
use nudge_store::{OutboxMessage, StoreResult};
use postgres::types::ToSql;
use postgres::GenericClient;

use crate::errors::column;
use crate::event_rows::to_json;
use crate::Statements;

/// The pending messages, one array element each (the columns `ENQUEUE_MESSAGE` writes).
const WRITE_MESSAGES: &str = "INSERT INTO journey_outbox (workspace_id, message_id, \
     person_key, journey, step, instance, channel, recipient, subject, body, payload, \
     created_at) \
     SELECT * FROM unnest($1::INT8[], $2::TEXT[], $3::INT8[], $4::TEXT[], $5::TEXT[], \
     $6::INT8[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::INT8[]) \
     ON CONFLICT (workspace_id, message_id) DO NOTHING RETURNING message_id";

/// Every statement this module runs, for the plan test.
#[cfg(test)]
pub(crate) fn statements() -> Vec<&'static str> {
    vec![WRITE_MESSAGES]
}

/// What one write transaction has started and queued.
#[derive(Default)]
pub(crate) struct PendingMessages {
    /// Instances inserted by this transaction.
    started: HashSet<(WorkspaceId, i64)>,
    /// Every message id this transaction has written behind, written yet or not.
    queued: HashSet<(WorkspaceId, String)>,
    /// Not written yet, in the order they were queued.
    pending: Vec<(WorkspaceId, OutboxMessage)>,
}

impl PendingMessages {
    /// Notes an instance this transaction inserted.
    pub(crate) fn started(&mut self, ws: WorkspaceId, instance: i64) {
        self.started.insert((ws, instance));
    }

    /// Takes `message` to write behind when it is an instance's that this transaction
    /// started: `Some(true)` when queued, `Some(false)` when this transaction queued its id
    /// before; `None` when it must be inserted at once.
    pub(crate) fn take(&mut self, ws: WorkspaceId, message: &OutboxMessage) -> Option<bool> {
        if !self.started.contains(&(ws, message.instance)) {
            return None;
        }
        if !self.queued.insert((ws, message.message_id.clone())) {
            return Some(false);
        }
        self.pending.push((ws, message.clone()));
        Some(true)
    }

    /// Whether a message with this id waits to be written.
    pub(crate) fn holds(&self, ws: WorkspaceId, message_id: &str) -> bool {
        self.pending
            .iter()
            .any(|(w, m)| *w == ws && m.message_id == message_id)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Writes the pending messages.
    pub(crate) fn write(
        &mut self,
        client: &mut impl GenericClient,
        statements: &mut Statements,
    ) -> StoreResult<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        let payloads = pending
            .iter()
            .map(|(_, m)| to_json(&m.payload))
            .collect::<StoreResult<Vec<String>>>()?;
        let workspaces: Vec<i64> = pending.iter().map(|(ws, _)| ws.0).collect();
        let ids: Vec<&str> = pending.iter().map(|(_, m)| m.message_id.as_str()).collect();
        let people: Vec<i64> = pending.iter().map(|(_, m)| m.person.0).collect();
        let journeys: Vec<&str> = pending.iter().map(|(_, m)| m.journey.as_str()).collect();
        let steps: Vec<&str> = pending.iter().map(|(_, m)| m.step.as_str()).collect();
        let instances: Vec<i64> = pending.iter().map(|(_, m)| m.instance).collect();
        let channels: Vec<&str> = pending.iter().map(|(_, m)| m.channel.as_str()).collect();
        let recipients: Vec<&str> = pending.iter().map(|(_, m)| m.recipient.as_str()).collect();
        let subjects: Vec<Option<&str>> =
            pending.iter().map(|(_, m)| m.subject.as_deref()).collect();
        let bodies: Vec<&str> = pending.iter().map(|(_, m)| m.body.as_str()).collect();
        let created: Vec<i64> = pending.iter().map(|(_, m)| m.created_at.millis()).collect();
        let params: [&(dyn ToSql + Sync); 12] = [
            &workspaces,
            &ids,
            &people,
            &journeys,
            &steps,
            &instances,
            &channels,
            &recipients,
            &subjects,
            &bodies,
            &payloads,
            &created,
        ];
        let written = statements.query(client, WRITE_MESSAGES, &params)?;
        if written.len() < pending.len() {
            let written = written
                .iter()
                .map(|row| column::<String>(row, 0))
                .collect::<StoreResult<HashSet<String>>>()?;
            let kept: Vec<&str> = ids
                .iter()
                .copied()
                .filter(|id| !written.contains(*id))
                .collect();
            tracing::warn!(
                messages = ?kept,
                "messages of newly started journey instances were already in the outbox; \
                 the queued ones were kept and nothing was queued again"
            );
        }
        Ok(())
    }
}
