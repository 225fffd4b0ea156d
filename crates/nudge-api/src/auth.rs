//! Authentication extractors. A key opens exactly one API of exactly one workspace: Track
//! takes HTTP Basic `site_id:track_api_key`, the App API `Authorization: Bearer <app key>`.
//! Keys are looked up by their SHA-256 and the remaining comparison is constant-time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use nudge_core::{ApiKind, Workspace};
use subtle::ConstantTimeEq;

use crate::credentials::hash_key;
use crate::{ApiError, AppState};

/// A request authenticated for the Track API of this workspace.
pub struct TrackAuth(pub Workspace);

/// A request authenticated for the App API of this workspace.
pub struct AppAuth(pub Workspace);

impl FromRequestParts<AppState> for TrackAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let (site_id, key) = basic_credentials(parts).ok_or_else(ApiError::unauthorized)?;
        let workspace = authenticate(state, ApiKind::Track, &key).await?;
        let same_site = workspace.site_id.as_bytes().ct_eq(site_id.as_bytes());
        if bool::from(same_site) {
            Ok(TrackAuth(workspace))
        } else {
            Err(ApiError::unauthorized())
        }
    }
}

impl FromRequestParts<AppState> for AppAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer_token(parts).ok_or_else(ApiError::unauthorized)?;
        authenticate(state, ApiKind::App, &key).await.map(AppAuth)
    }
}

/// The workspace whose `kind` key this is.
pub async fn authenticate(
    state: &AppState,
    kind: ApiKind,
    key: &str,
) -> Result<Workspace, ApiError> {
    if key.is_empty() || key.len() > 256 {
        return Err(ApiError::unauthorized());
    }
    let hash = hash_key(key);
    let owner = state.read(move |store| store.find_key(&hash)).await?;
    match owner {
        Some(owner) if owner.kind == kind => Ok(owner.workspace),
        _ => Err(ApiError::unauthorized()),
    }
}

pub fn basic_credentials(parts: &Parts) -> Option<(String, String)> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

pub fn bearer_token(parts: &Parts) -> Option<String> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}
