//! A person's recent marketing sends, read from the delivery ledger: what a workspace-wide
//! frequency cap counts. One indexed read per person (`sent_at` of that person's rows), never
//! a scan of the ledger.

use nudge_core::{PersonKey, Timestamp, WorkspaceId};

use crate::StoreResult;

/// One marketing message that went out to a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketingSend {
    /// The delivery id (the message id).
    pub delivery_id: String,
    pub sent_at: Timestamp,
}

/// The channels whose messages count as marketing unless marked transactional.
pub const MARKETING_CHANNELS: [&str; 3] = ["email", "sms", "push"];

pub trait SendHistory {
    /// The person's marketing messages sent at or after `since`, oldest first: deliveries of
    /// an email, SMS or push that have a `sent_at` (whatever happened to them since: a bounce
    /// or an open still counts as a send) and whose payload does not say
    /// `"transactional": true`.
    fn marketing_sends_since(
        &self,
        ws: WorkspaceId,
        person: PersonKey,
        since: Timestamp,
    ) -> StoreResult<Vec<MarketingSend>>;
}
