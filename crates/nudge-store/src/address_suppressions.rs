//! Address suppressions and delivery metrics: an email address or phone number that hard
//! bounced or drew a spam complaint is suppressed (the address, not the person: a person who
//! changes address is reachable again), and every later message to it is skipped. Metrics a
//! provider or a receiver reports for a delivery (Track `POST /api/v1/metrics`) move its
//! ledger state forward or leave a note on it. Plain data, the rule that decides what a metric
//! does ([`metric_effect`]), and the [`AddressSuppressions`] trait the backends implement.

use nudge_core::{Timestamp, WorkspaceId};
use serde::{Deserialize, Serialize};

use crate::{Delivery, DeliveryState, StoreResult};

/// An address as suppressions key it: trimmed, and lower-cased when it is an email address
/// (emails are compared lower-cased everywhere in Nudge); phone numbers are kept as given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Address(String);

impl Address {
    /// The longest address accepted (longer than any valid email address or phone number).
    pub const MAX_LENGTH: usize = 320;

    /// `None` for an empty or overlong address.
    pub fn new(raw: &str) -> Option<Address> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > Self::MAX_LENGTH {
            return None;
        }
        if trimmed.contains('@') {
            Some(Address(trimmed.to_lowercase()))
        } else {
            Some(Address(trimmed.to_string()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why an address is suppressed, in Customer.io's ESP suppression types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionCategory {
    /// A hard bounce: the mailbox or number does not exist.
    Bounces,
    /// The receiving server refuses mail from the sender.
    Blocks,
    /// The recipient marked a message as spam.
    SpamReports,
    /// The address is not valid at all.
    InvalidEmails,
}

impl SuppressionCategory {
    pub const ALL: [SuppressionCategory; 4] = [
        SuppressionCategory::Bounces,
        SuppressionCategory::Blocks,
        SuppressionCategory::SpamReports,
        SuppressionCategory::InvalidEmails,
    ];

    /// The name stored and shown (`bounces`, `blocks`, `spam_reports`, `invalid_emails`).
    pub fn as_str(self) -> &'static str {
        match self {
            SuppressionCategory::Bounces => "bounces",
            SuppressionCategory::Blocks => "blocks",
            SuppressionCategory::SpamReports => "spam_reports",
            SuppressionCategory::InvalidEmails => "invalid_emails",
        }
    }

    pub fn parse(name: &str) -> Option<SuppressionCategory> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }
}

/// One suppressed address of a workspace.
#[derive(Debug, Clone, PartialEq)]
pub struct AddressSuppression {
    pub address: Address,
    pub category: SuppressionCategory,
    /// What the provider said (`550 5.1.1 mailbox unknown`), when it said anything.
    pub reason: Option<String>,
    /// The delivery whose metric suppressed it; `None` for one added by hand.
    pub delivery_id: Option<String>,
    pub created_at: Timestamp,
}

/// Which suppressions of a workspace to list: by address, ascending.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SuppressionQuery {
    /// Only addresses after this one (a page's last).
    pub after: Option<Address>,
    pub category: Option<SuppressionCategory>,
    pub limit: usize,
}

/// A delivery metric, as Customer.io's Track API and reporting name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryMetric {
    Delivered,
    Opened,
    Clicked,
    Converted,
    Bounced,
    Spammed,
    Dropped,
    Deferred,
    /// The person unsubscribed from this message (`POST /unsubscribe/...`).
    Unsubscribed,
}

impl DeliveryMetric {
    /// What Track `POST /api/v1/metrics` accepts (every metric but `unsubscribed`, which has
    /// its own endpoint).
    pub const REPORTED: [DeliveryMetric; 8] = [
        DeliveryMetric::Bounced,
        DeliveryMetric::Clicked,
        DeliveryMetric::Converted,
        DeliveryMetric::Deferred,
        DeliveryMetric::Delivered,
        DeliveryMetric::Dropped,
        DeliveryMetric::Opened,
        DeliveryMetric::Spammed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryMetric::Delivered => "delivered",
            DeliveryMetric::Opened => "opened",
            DeliveryMetric::Clicked => "clicked",
            DeliveryMetric::Converted => "converted",
            DeliveryMetric::Bounced => "bounced",
            DeliveryMetric::Spammed => "spammed",
            DeliveryMetric::Dropped => "dropped",
            DeliveryMetric::Deferred => "deferred",
            DeliveryMetric::Unsubscribed => "unsubscribed",
        }
    }

    /// One of [`REPORTED`](Self::REPORTED) by name.
    pub fn parse_reported(name: &str) -> Option<DeliveryMetric> {
        Self::REPORTED.into_iter().find(|m| m.as_str() == name)
    }

    /// The suppression this metric causes for the delivery's address, if any.
    pub fn suppresses(self) -> Option<SuppressionCategory> {
        match self {
            DeliveryMetric::Bounced => Some(SuppressionCategory::Bounces),
            DeliveryMetric::Spammed => Some(SuppressionCategory::SpamReports),
            _ => None,
        }
    }
}

/// A metric reported for one delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricReport {
    /// The delivery id (the message id).
    pub delivery_id: String,
    pub metric: DeliveryMetric,
    /// When it happened.
    pub at: Timestamp,
    /// The provider's reason (a bounce's SMTP answer).
    pub reason: Option<String>,
}

/// What recording a metric did.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedMetric {
    /// The delivery as it is now.
    pub delivery: Delivery,
    /// The address the metric suppressed (also when it already was).
    pub suppressed: Option<Address>,
}

/// What a metric changes on a delivery: its new state and reason (`None`: unchanged).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MetricEffect {
    pub state: Option<DeliveryState>,
    pub reason: Option<String>,
}

/// Channels whose recipient is an address that can be suppressed.
pub const SUPPRESSIBLE_CHANNELS: [&str; 2] = ["email", "sms"];

/// What `report` does to a delivery in `state` whose reason is `reason`. A delivery that is
/// still open (queued, or held by a worker) is left alone: its attempt will write its own
/// outcome. Otherwise `delivered`, `opened` and `clicked` move a delivery forward along
/// sent → delivered → opened → clicked (never back); `bounced` makes one that went out
/// `bounced`, with the provider's reason; the other metrics add a note to the reason (once).
pub fn metric_effect(
    state: DeliveryState,
    reason: Option<&str>,
    report: &MetricReport,
) -> MetricEffect {
    use DeliveryState as S;
    if state.is_open() {
        return MetricEffect::default();
    }
    let went_out = matches!(state, S::Sent | S::Delivered | S::Opened | S::Clicked);
    let rank = |s: DeliveryState| match s {
        S::Sent => 1,
        S::Delivered => 2,
        S::Opened => 3,
        S::Clicked => 4,
        _ => 0,
    };
    let forward = |to: DeliveryState| MetricEffect {
        state: (went_out && rank(to) > rank(state)).then_some(to),
        reason: None,
    };
    let detail = report
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty());
    let note = match detail {
        Some(detail) => format!("{}: {detail}", report.metric.as_str()),
        None => report.metric.as_str().to_string(),
    };
    match report.metric {
        DeliveryMetric::Delivered => forward(S::Delivered),
        DeliveryMetric::Opened => forward(S::Opened),
        DeliveryMetric::Clicked => forward(S::Clicked),
        DeliveryMetric::Bounced if went_out => MetricEffect {
            state: Some(S::Bounced),
            reason: Some(note),
        },
        DeliveryMetric::Bounced => MetricEffect::default(),
        DeliveryMetric::Converted
        | DeliveryMetric::Spammed
        | DeliveryMetric::Dropped
        | DeliveryMetric::Deferred
        | DeliveryMetric::Unsubscribed => {
            let noted = reason.is_some_and(|r| r.split("; ").any(|part| part == note));
            MetricEffect {
                state: None,
                reason: (!noted).then(|| match reason {
                    Some(existing) if !existing.is_empty() => format!("{existing}; {note}"),
                    _ => note,
                }),
            }
        }
    }
}

/// Suppressed addresses and reported metrics. Each call is its own transaction.
pub trait AddressSuppressions {
    /// Records `report` on the workspace's delivery it names ([`metric_effect`]) and, when the
    /// metric suppresses and the delivery went to an email address or a phone number,
    /// suppresses that address, all in one transaction. `None` when there is no such
    /// delivery.
    fn record_delivery_metric(
        &self,
        ws: WorkspaceId,
        report: &MetricReport,
    ) -> StoreResult<Option<RecordedMetric>>;

    /// Suppresses an address; `false` (and nothing changed) when it already was.
    fn suppress_address(
        &self,
        ws: WorkspaceId,
        suppression: &AddressSuppression,
    ) -> StoreResult<bool>;

    /// The suppression of this address, if it is suppressed.
    fn address_suppression(
        &self,
        ws: WorkspaceId,
        address: &Address,
    ) -> StoreResult<Option<AddressSuppression>>;

    /// The workspace's suppressions matching `query`, by address.
    fn address_suppressions(
        &self,
        ws: WorkspaceId,
        query: &SuppressionQuery,
    ) -> StoreResult<Vec<AddressSuppression>>;

    /// Lifts the suppression of an address; `false` when it was not suppressed.
    fn remove_address_suppression(&self, ws: WorkspaceId, address: &Address) -> StoreResult<bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(metric: DeliveryMetric, reason: Option<&str>) -> MetricReport {
        MetricReport {
            delivery_id: "d".into(),
            metric,
            at: Timestamp::from_millis(0),
            reason: reason.map(String::from),
        }
    }

    fn check(
        state: DeliveryState,
        reason: Option<&str>,
        metric: DeliveryMetric,
        want: (Option<DeliveryState>, Option<&str>),
    ) {
        let effect = metric_effect(state, reason, &report(metric, Some("550 no such user")));
        assert_eq!(
            (effect.state, effect.reason.as_deref()),
            want,
            "{metric:?} on {state:?} ({reason:?})"
        );
    }

    #[test]
    fn engagement_moves_forward_only_from_what_went_out() {
        use DeliveryMetric as M;
        use DeliveryState as S;
        check(S::Sent, None, M::Delivered, (Some(S::Delivered), None));
        check(S::Sent, None, M::Clicked, (Some(S::Clicked), None));
        check(S::Delivered, None, M::Opened, (Some(S::Opened), None));
        check(S::Clicked, None, M::Opened, (None, None));
        check(S::Opened, None, M::Delivered, (None, None));
        check(S::Failed, None, M::Delivered, (None, None));
        check(S::Skipped, None, M::Opened, (None, None));
    }

    #[test]
    fn a_bounce_ends_what_went_out_with_the_providers_reason() {
        use DeliveryMetric as M;
        use DeliveryState as S;
        check(
            S::Sent,
            None,
            M::Bounced,
            (Some(S::Bounced), Some("bounced: 550 no such user")),
        );
        check(
            S::Opened,
            None,
            M::Bounced,
            (Some(S::Bounced), Some("bounced: 550 no such user")),
        );
        check(S::Skipped, Some("unsubscribed"), M::Bounced, (None, None));
        let bare = metric_effect(S::Sent, None, &report(M::Bounced, Some("  ")));
        assert_eq!(bare.reason.as_deref(), Some("bounced"));
    }

    #[test]
    fn notes_are_added_once_and_open_deliveries_are_left_alone() {
        use DeliveryMetric as M;
        use DeliveryState as S;
        let spam = report(M::Spammed, None);
        let first = metric_effect(S::Sent, Some("recorded only"), &spam);
        assert_eq!(first.reason.as_deref(), Some("recorded only; spammed"));
        assert_eq!(first.state, None);
        let again = metric_effect(S::Sent, first.reason.as_deref(), &spam);
        assert_eq!(again, MetricEffect::default());
        let bare = metric_effect(S::Delivered, None, &report(M::Unsubscribed, None));
        assert_eq!(bare.reason.as_deref(), Some("unsubscribed"));
        for state in [S::Queued, S::Attempted] {
            for metric in [M::Bounced, M::Spammed, M::Delivered] {
                assert_eq!(
                    metric_effect(state, None, &report(metric, None)),
                    MetricEffect::default()
                );
            }
        }
    }

    #[test]
    fn addresses_key_emails_lower_cased_and_phones_as_given() {
        assert_eq!(
            Address::new("  Ana@Example.COM ").unwrap().as_str(),
            "ana@example.com"
        );
        assert_eq!(
            Address::new("+15555550100").unwrap().as_str(),
            "+15555550100"
        );
        assert_eq!(Address::new("   "), None);
        assert_eq!(Address::new(&"a".repeat(321)), None);
        assert_eq!(DeliveryMetric::parse_reported("unsubscribed"), None);
        assert_eq!(
            DeliveryMetric::parse_reported("spammed"),
            Some(DeliveryMetric::Spammed)
        );
        assert_eq!(
            SuppressionCategory::parse("spam_reports"),
            Some(SuppressionCategory::SpamReports)
        );
    }
}
