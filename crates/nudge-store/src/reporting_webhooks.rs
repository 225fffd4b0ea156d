//! Reporting webhooks: endpoints a workspace registers to be told, in order, what happened to
//! its messages and its people's subscriptions (Customer.io's `/v1/reporting_webhooks`).
//!
//! Every reportable change appends one row to the workspace's **report stream** in the same
//! transaction that makes the change: a delivery's outcome or retry (`finish_deliveries`), a
//! metric recorded on a delivery (`record_delivery_metric`). Rows are numbered per workspace
//! without gaps and in commit order, so "the rows after my cursor" never misses a row that
//! commits late. Each endpoint keeps a cursor (the last row it has been given or passed); a
//! dispatcher posts the rows after it, oldest first, and moves it only after a 2xx. Rows every
//! enabled endpoint has passed are pruned. Nothing is appended while a workspace has no
//! enabled endpoint: a new endpoint starts at the stream's head and never replays history.
//!
//! Plain data, the rules that name and shape a report ([`events`]), and the
//! [`ReportingWebhooks`] trait the backends implement.

mod events;

pub use events::*;

use nudge_core::{Timestamp, WorkspaceId};

use crate::StoreResult;

/// What a client sets on an endpoint (create and update).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    pub name: String,
    /// The absolute http(s) URL reports are posted to.
    pub endpoint: String,
    /// The event names it wants (`email_sent`, `customer_unsubscribed`, …; [`EVENT_NAMES`]).
    pub events: Vec<String>,
    /// A disabled endpoint is given nothing; enabling it again starts it at the head.
    pub disabled: bool,
    /// `false`: only the first open and the first click of a message; `true`: every one.
    pub full_resolution: bool,
    /// Whether `sent` reports carry the message's content.
    pub with_content: bool,
}

/// One endpoint as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportingWebhook {
    pub id: i64,
    pub ws: WorkspaceId,
    pub settings: WebhookSettings,
    /// The HMAC-SHA256 key of its `X-CIO-Signature`.
    pub signing_key: String,
    /// The last stream row it was given (or passed: not subscribed, or given up on).
    pub cursor: i64,
    /// Failed attempts at the row after the cursor, in a row.
    pub failures: u32,
    /// When that row is tried again (`None`: as soon as there is one).
    pub next_attempt_at: Option<Timestamp>,
    /// Why the last attempt failed, while it keeps failing.
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// An enabled endpoint that has rows after its cursor: work for a dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingEndpoint {
    pub ws: WorkspaceId,
    pub id: i64,
    pub cursor: i64,
    /// The stream's last row.
    pub head: i64,
    pub next_attempt_at: Option<Timestamp>,
    /// Held by a dispatcher until then (another node's, or one that died holding it).
    pub lease_until: Option<Timestamp>,
}

impl PendingEndpoint {
    /// When a dispatcher may take it: its retry time or the end of another's lease.
    pub fn due_at(&self) -> Timestamp {
        let zero = Timestamp::from_millis(0);
        self.next_attempt_at
            .unwrap_or(zero)
            .max(self.lease_until.unwrap_or(zero))
    }
}

/// A report to append to a workspace's stream.
#[derive(Debug, Clone, PartialEq)]
pub struct NewReport {
    /// `email`, `sms`, `push`, `webhook` (a delivery's channel) or `customer`.
    pub object_type: String,
    /// `sent`, `opened`, `unsubscribed`, … as Customer.io names them.
    pub metric: String,
    /// The first time this metric happened to its message (for endpoints without
    /// `full_resolution`, which get only the first open and click).
    pub first: bool,
    /// When it happened (the body's `timestamp`).
    pub at: Timestamp,
    /// The body's `data` object.
    pub data: serde_json::Value,
}

/// A stream row as read back.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReport {
    pub seq: i64,
    pub report: NewReport,
    /// When it was appended (what retention counts from).
    pub appended_at: Timestamp,
}

impl StoredReport {
    /// Its event name, as endpoints subscribe to it ([`event_name`]).
    pub fn event_name(&self) -> String {
        event_name(&self.report.object_type, &self.report.metric)
    }

    /// Its `event_id`: a ULID from its time and its place in the workspace's stream, the same
    /// at every retry.
    pub fn event_id(&self, ws: WorkspaceId) -> String {
        event_id(ws, self.seq, self.report.at)
    }
}

/// What a dispatcher records for an endpoint it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportingProgress {
    pub ws: WorkspaceId,
    pub id: i64,
    /// The cursor the dispatcher read (the fence: an endpoint re-enabled, or deleted, since
    /// is left alone).
    pub from: i64,
    /// The new cursor: every row up to it was given or passed.
    pub to: i64,
    /// The row after `to` failed: retry it then. `None` clears the failure count.
    pub failure: Option<ReportingFailure>,
    /// Lets go of the endpoint (the dispatcher is done with it for now).
    pub release: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReportingFailure {
    pub error: String,
    pub retry_at: Timestamp,
}

/// Reporting endpoints and the report stream. Each call is its own transaction.
pub trait ReportingWebhooks {
    /// Creates an endpoint whose cursor is the stream's head (it gets what happens from now
    /// on). `signing_key` is the caller's fresh secret.
    fn create_reporting_webhook(
        &self,
        ws: WorkspaceId,
        settings: &WebhookSettings,
        signing_key: &str,
        now: Timestamp,
    ) -> StoreResult<ReportingWebhook>;

    /// The workspace's endpoints, by id.
    fn reporting_webhooks(&self, ws: WorkspaceId) -> StoreResult<Vec<ReportingWebhook>>;

    fn reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<Option<ReportingWebhook>>;

    /// Replaces an endpoint's settings. One that goes from disabled to enabled starts again
    /// at the head, with no failure; `None` when there is no such endpoint.
    fn update_reporting_webhook(
        &self,
        ws: WorkspaceId,
        id: i64,
        settings: &WebhookSettings,
        now: Timestamp,
    ) -> StoreResult<Option<ReportingWebhook>>;

    /// Deletes an endpoint (nothing more is posted to it) and prunes what only it held;
    /// `false` when there was none.
    fn delete_reporting_webhook(&self, ws: WorkspaceId, id: i64) -> StoreResult<bool>;

    /// Appends reports to the workspace's stream in one transaction (for changes made
    /// elsewhere, such as a person's subscription written through the ingest writer); nothing
    /// when the workspace has no enabled endpoint. Returns how many were appended.
    fn append_reports(
        &self,
        ws: WorkspaceId,
        reports: &[NewReport],
        now: Timestamp,
    ) -> StoreResult<usize>;

    /// Every enabled endpoint of every workspace with rows after its cursor.
    fn pending_reporting_endpoints(&self) -> StoreResult<Vec<PendingEndpoint>>;

    /// Takes an endpoint until `lease_until` if it is still enabled, still at `cursor` and
    /// not held by anyone else at `now`; `false` otherwise.
    fn claim_reporting_endpoint(
        &self,
        ws: WorkspaceId,
        id: i64,
        cursor: i64,
        now: Timestamp,
        lease_until: Timestamp,
    ) -> StoreResult<bool>;

    /// The workspace's stream rows after `after`, oldest first, at most `limit`.
    fn reports_after(
        &self,
        ws: WorkspaceId,
        after: i64,
        limit: usize,
    ) -> StoreResult<Vec<StoredReport>>;

    /// The last row after `after` appended at or before `at` (`after` when none): where an
    /// endpoint that gives up on rows older than its retention moves to.
    fn last_report_appended_by(
        &self,
        ws: WorkspaceId,
        after: i64,
        at: Timestamp,
    ) -> StoreResult<i64>;

    /// Records a dispatcher's progress on an endpoint it holds, fenced by `progress.from`,
    /// and prunes the rows every enabled endpoint of the workspace has passed. `false` (and
    /// nothing written) when the fence refused it.
    fn record_reporting_progress(
        &self,
        progress: &ReportingProgress,
        now: Timestamp,
    ) -> StoreResult<bool>;
}
