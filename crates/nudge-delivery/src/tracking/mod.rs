//! Open and click tracking of an email's HTML: [`rewrite`] turns its web links into tracking
//! redirects and adds an open pixel; [`TrackingLinks`] says what those URLs are for a
//! delivery. The HTTP edge owns the URLs' signed tokens and records what they report; here
//! they are only written into the message. The text part is never changed.

pub mod rewrite;

use std::sync::Arc;

use nudge_core::WorkspaceId;

pub use rewrite::{track_html, UNTRACKED_ATTRIBUTE};

/// The URLs tracking writes into a message.
pub trait TrackingUrls: Send + Sync {
    /// The open pixel's URL for a delivery.
    fn open_url(&self, ws: WorkspaceId, delivery_id: &str) -> String;
    /// The redirect to `target` for a delivery.
    fn click_url(&self, ws: WorkspaceId, delivery_id: &str, target: &str) -> String;
    /// Whether `url` is one of the server's own pages (an unsubscribe link, a tracking URL),
    /// which stay as they are.
    fn is_own(&self, url: &str) -> bool;
}

/// Makes the tracking URLs of the messages the worker sends.
#[derive(Clone)]
pub struct TrackingLinks(Arc<dyn TrackingUrls>);

impl TrackingLinks {
    pub fn new(urls: impl TrackingUrls + 'static) -> Self {
        Self(Arc::new(urls))
    }

    /// `html` as a tracked message of delivery `delivery_id` carries it.
    pub fn rewrite(&self, ws: WorkspaceId, delivery_id: &str, html: &str) -> String {
        let urls = &self.0;
        track_html(
            html,
            &urls.open_url(ws, delivery_id),
            |target| urls.click_url(ws, delivery_id, target),
            |url| urls.is_own(url),
        )
    }
}

impl std::fmt::Debug for TrackingLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrackingLinks")
    }
}
