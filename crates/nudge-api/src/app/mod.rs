//! The App API (`/v1/...`, Bearer app key): reading people, their activities, segments and
//! objects, Customer.io-compatible where Customer.io has the endpoint.

mod cursor;
pub mod exports;
mod people;
mod rejections;
mod render;

use axum::extract::DefaultBodyLimit;
use axum::Router;

use crate::AppState;

pub const APP_BODY_LIMIT: usize = 1024 * 1024;

pub fn router() -> Router<AppState> {
    people::router()
        .merge(rejections::router())
        .merge(exports::router())
        .layer(DefaultBodyLimit::max(APP_BODY_LIMIT))
}
