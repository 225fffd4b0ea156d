//! The App API (`/v1/...`, Bearer app key): reading people, their activities, segments and
//! objects, managing segment and computed-attribute definitions, Customer.io-compatible where
//! Customer.io has the endpoint.

mod computed;
mod cursor;
mod definitions;
pub mod exports;
mod people;
mod preview;
mod processing;
mod rejections;
mod render;
mod segments;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::AppState;

pub const APP_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    people::router()
        .merge(segments::router())
        .merge(computed::router())
        .merge(processing::router())
        .merge(rejections::router())
        .merge(exports::router())
        .layer(DefaultBodyLimit::max(APP_BODY_LIMIT))
}
