//! The workspace's sending rules the worker enforces right before a send: consent settings,
//! the frequency cap, quiet hours, and how an email's unsubscribe link and tracking links are
//! made. Settings only; [`consent`](super::consent), [`caps`](super::caps) and
//! [`quiet`](super::quiet) decide.

use std::sync::Arc;

use nudge_core::WorkspaceId;

use super::caps::FrequencyCap;
use super::consent::ConsentRules;
use super::quiet::QuietHours;

/// Everything beyond the journey's own rules that decides whether a message goes now.
#[derive(Debug, Clone, Default)]
pub struct SendPolicy {
    pub consent: ConsentRules,
    /// `None`: no cap.
    pub frequency_cap: Option<FrequencyCap>,
    /// `None`: marketing goes at any hour.
    pub quiet_hours: Option<QuietHours>,
    /// `None`: emails carry no unsubscribe link.
    pub unsubscribe_links: Option<UnsubscribeLinks>,
    /// How tracked emails' links and open pixel are made; `None`: no email is tracked.
    pub tracking_links: Option<crate::tracking::TrackingLinks>,
}

/// A function from a workspace and a delivery id to a URL.
type MakeUrl = dyn Fn(WorkspaceId, &str) -> String + Send + Sync;

/// Makes the signed unsubscribe URL of a delivery (the HTTP edge owns its shape and verifies
/// it; the worker only puts it in marketing emails).
#[derive(Clone)]
pub struct UnsubscribeLinks(Arc<MakeUrl>);

impl UnsubscribeLinks {
    pub fn new(make: impl Fn(WorkspaceId, &str) -> String + Send + Sync + 'static) -> Self {
        Self(Arc::new(make))
    }

    /// The URL for `delivery_id` of workspace `ws`.
    pub fn url(&self, ws: WorkspaceId, delivery_id: &str) -> String {
        (self.0)(ws, delivery_id)
    }
}

impl std::fmt::Debug for UnsubscribeLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnsubscribeLinks")
    }
}
