//! Authentication extractors. A key opens exactly one API of exactly one workspace: Track
//! takes HTTP Basic `site_id:track_api_key`, the App API `Authorization: Bearer <app key>`,
//! Pipelines HTTP Basic `write_key:` (empty password) or `Authorization: Bearer <write key>`.
//! Keys are looked up by their SHA-256 and the remaining comparison is constant-time.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use nudge_core::{ApiKind, Timestamp, Workspace};
use nudge_store::{KeyHash, KeyOwner};
use subtle::ConstantTimeEq;

use crate::credentials::hash_key;
use crate::{ApiError, AppState};

/// A request authenticated for the Track API of this workspace.
pub struct TrackAuth(pub Workspace);

/// A request authenticated for the App API of this workspace.
pub struct AppAuth(pub Workspace);

/// A request authenticated for the Pipelines API of this workspace.
pub struct PipelinesAuth(pub Workspace);

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

impl FromRequestParts<AppState> for PipelinesAuth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        // The Segment-spec clients send `base64(write_key:)`; a password would mean someone
        // sent another API's credentials here, so it is refused rather than ignored.
        let key = match basic_credentials(parts) {
            Some((key, password)) if password.is_empty() => key,
            Some(_) => return Err(ApiError::unauthorized()),
            None => bearer_token(parts).ok_or_else(ApiError::unauthorized)?,
        };
        authenticate(state, ApiKind::Pipelines, &key)
            .await
            .map(PipelinesAuth)
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
    let now = state.clock.now();
    let owner = match state.keys.get(&hash, now) {
        Some(owner) => Some(owner),
        None => {
            let found = state.read(move |store| store.find_key(&hash)).await?;
            if let Some(owner) = &found {
                state.keys.insert(hash, owner.clone(), now);
            }
            found
        }
    };
    match owner {
        Some(owner) if owner.kind == kind => Ok(owner.workspace),
        _ => Err(ApiError::unauthorized()),
    }
}

/// Keys recently found valid, so a request does not pay a store read to authenticate. An
/// entry lives [`KeyCache::TTL_MILLIS`]: a key rotated by another process (the CLI, another
/// node) stops working within that time. Unknown keys are never cached.
#[derive(Default)]
pub struct KeyCache {
    entries: std::sync::RwLock<std::collections::HashMap<KeyHash, (KeyOwner, Timestamp)>>,
}

impl KeyCache {
    pub const TTL_MILLIS: i64 = 1000;
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, hash: &KeyHash, now: Timestamp) -> Option<KeyOwner> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        match entries.get(hash) {
            Some((owner, expires)) if *expires > now => Some(owner.clone()),
            _ => None,
        }
    }

    fn insert(&self, hash: KeyHash, owner: KeyOwner, now: Timestamp) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= Self::MAX_ENTRIES {
            entries.retain(|_, (_, expires)| *expires > now);
        }
        entries.insert(hash, (owner, now.plus_millis(Self::TTL_MILLIS)));
    }

    /// Forgets every cached key, for changes made through this process.
    pub fn clear(&self) {
        self.entries
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
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
