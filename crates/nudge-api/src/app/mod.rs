//! The App API (`/v1/...`, Bearer app key): reading people, their activities, segments and
//! objects, managing segment and computed-attribute definitions, the journey timeline, the
//! delivery ledger,
//! Customer.io-compatible where Customer.io has the endpoint; and a test server's virtual
//! clock ([`clock`], mounted only when the server runs on one).

mod broadcasts;
mod campaigns;
mod channels;
pub mod clock;
mod computed;
pub mod contract;
mod cursor;
mod definitions;
mod documents;
pub mod exports;
pub mod messages;
mod people;
mod preview;
mod processing;
mod rejections;
mod render;
pub(crate) mod reporting_webhooks;
mod segments;
mod suppressions;
mod template_preview;
mod timeline;
mod transactional;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::AppState;

pub const APP_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    people::router()
        .merge(segments::router())
        .merge(computed::router())
        .merge(documents::router())
        .merge(channels::router())
        .merge(contract::router())
        .merge(campaigns::router())
        .merge(broadcasts::router())
        .merge(processing::router())
        .merge(rejections::router())
        .merge(exports::router())
        .merge(timeline::router())
        .merge(messages::router())
        .merge(suppressions::router())
        .merge(reporting_webhooks::router())
        .merge(transactional::router())
        .merge(template_preview::router())
        .layer(DefaultBodyLimit::max(APP_BODY_LIMIT))
}
