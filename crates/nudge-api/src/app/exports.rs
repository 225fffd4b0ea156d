//! App API exports: `POST /v1/exports/customers` records a job and writes its NDJSON file in
//! the background (a task reading the store on the blocking pool, page by page);
//! `GET /v1/exports/{id}` shows its status; `GET /v1/exports/{id}/download` answers a URL that
//! fetches the file with a signed token expiring on the injected clock. Rows look as `rows`
//! says, shared with `nudge export`.

mod filter;
pub mod rows;

use std::io::Write;
use std::path::PathBuf;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use nudge_core::{Clock, Timestamp, WorkspaceId};
use nudge_store::{ExportEnd, ExportJob, ExportScope, ExportStatus, NewExport, Store};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::Sha256;

use crate::auth::AppAuth;
use crate::json::decode;
use crate::{ApiError, AppState};
use filter::Filter;

/// How long a download URL works.
pub const DOWNLOAD_TTL_MILLIS: i64 = 15 * 60 * 1000;
/// People read per store round trip while writing a file.
const PAGE: usize = 1000;

/// Where export files go and the key their download tokens are signed with.
pub struct ExportFiles {
    dir: PathBuf,
    secret: [u8; 32],
    scheme: &'static str,
}

impl ExportFiles {
    /// Files under `dir`; download URLs use `https` when the server serves TLS itself. The
    /// signing key is random per process: URLs do not outlive a restart.
    pub fn new(dir: PathBuf, tls: bool) -> Self {
        Self {
            dir,
            secret: rand::random(),
            scheme: if tls { "https" } else { "http" },
        }
    }

    fn path(&self, ws: WorkspaceId, id: i64) -> PathBuf {
        self.dir.join(format!("{ws}-{id}.ndjson"))
    }

    fn mac(&self, ws: WorkspaceId, id: i64, expires: i64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes any key length");
        mac.update(format!("export:{ws}:{id}:{expires}").as_bytes());
        mac
    }

    /// `{workspace}.{expires ms}.{hex HMAC}`.
    fn token(&self, ws: WorkspaceId, id: i64, expires: Timestamp) -> String {
        let signature = self.mac(ws, id, expires.millis()).finalize().into_bytes();
        format!("{ws}.{}.{}", expires.millis(), hex::encode(signature))
    }

    /// The workspace a token opens export `id` of, if it is genuine and not expired.
    fn check(&self, token: &str, id: i64, now: Timestamp) -> Option<WorkspaceId> {
        let mut parts = token.splitn(3, '.');
        let ws = WorkspaceId(parts.next()?.parse().ok()?);
        let expires: i64 = parts.next()?.parse().ok()?;
        let signature = hex::decode(parts.next()?).ok()?;
        self.mac(ws, id, expires).verify_slice(&signature).ok()?;
        (now.millis() < expires).then_some(ws)
    }
}

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/exports/customers", post(create))
        .route("/v1/exports/{id}", get(status))
        .route("/v1/exports/{id}/download", get(download))
        .route("/v1/exports/{id}/file", get(file))
}

type Reply = Result<Json<Value>, ApiError>;

fn render(job: &ExportJob) -> Value {
    let mut export = json!({
        "id": job.id,
        "type": job.kind,
        "status": job.status.as_str(),
        "failed": job.status == ExportStatus::Failed,
        "total": job.total,
        "downloads": job.downloads,
        "description": "",
        "created_at": job.created_at.unix_seconds(),
        "updated_at": job.updated_at.unix_seconds(),
    });
    if let Some(error) = &job.error {
        export["error"] = json!(error);
    }
    json!({ "export": export })
}

async fn create(State(state): State<AppState>, AppAuth(ws): AppAuth, body: Bytes) -> Reply {
    #[derive(Deserialize)]
    struct Body {
        filters: Option<Value>,
    }
    let Body { filters } = if body.iter().all(u8::is_ascii_whitespace) {
        Body { filters: None }
    } else {
        decode(&body)?
    };
    let filter = filter::parse(filters.as_ref(), state.clock.now())?;
    let new = NewExport {
        kind: "customers".into(),
        filters: filters.unwrap_or(Value::Null),
        now: state.clock.now(),
    };
    let ws = ws.id;
    let job = state
        .read(move |store| store.create_export(ws, &new))
        .await?;
    let path = state.exports.path(ws, job.id);
    let (store, clock, id) = (state.store.clone(), state.clock.clone(), job.id);
    tokio::task::spawn_blocking(move || {
        run_job(store.as_ref(), clock.as_ref(), ws, id, &filter, path)
    });
    Ok(Json(render(&job)))
}

/// Writes the file, then records how the job ended. Runs on the blocking pool.
fn run_job(
    store: &dyn Store,
    clock: &dyn Clock,
    ws: WorkspaceId,
    id: i64,
    filter: &Filter,
    path: PathBuf,
) {
    let end = match write_file(store, ws, filter, &path) {
        Ok(total) => ExportEnd::Done { total },
        Err(error) => {
            tracing::error!(%error, export = id, "export failed");
            ExportEnd::Failed { error }
        }
    };
    if let Err(error) = store.finish_export(ws, id, &end, clock.now()) {
        tracing::error!(%error, export = id, "could not record the end of an export");
    }
}

/// Pages through the people in scope and writes those the filter matches; returns how many.
/// The file appears under its name only once complete.
fn write_file(
    store: &dyn Store,
    ws: WorkspaceId,
    filter: &Filter,
    path: &std::path::Path,
) -> Result<i64, String> {
    let dir = path.parent().ok_or("the export path has no directory")?;
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let partial = path.with_extension("ndjson.part");
    let file = std::fs::File::create(&partial).map_err(|e| format!("creating the file: {e}"))?;
    let mut out = std::io::BufWriter::new(file);
    let scope = ExportScope {
        segment: filter.required_segment(),
        since: None,
    };
    let (mut after, mut total) = (None, 0);
    loop {
        let page = store
            .people_page(ws, after, PAGE, &scope)
            .map_err(|e| e.to_string())?;
        for person in &page {
            let segments = if filter.mentions_segments() {
                let memberships = store
                    .person_segments(ws, person.key)
                    .map_err(|e| e.to_string())?;
                memberships.iter().map(|s| s.id).collect()
            } else {
                Vec::new()
            };
            if filter.matches(person, &segments) {
                serde_json::to_writer(&mut out, &rows::person_row(person))
                    .map_err(|e| e.to_string())?;
                out.write_all(b"\n").map_err(|e| e.to_string())?;
                total += 1;
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => after = Some(last.key),
            _ => break,
        }
    }
    let file = out.into_inner().map_err(|e| e.to_string())?;
    file.sync_all().map_err(|e| e.to_string())?;
    std::fs::rename(&partial, path).map_err(|e| format!("finishing the file: {e}"))?;
    Ok(total)
}

async fn job(state: &AppState, ws: WorkspaceId, id: i64) -> Result<ExportJob, ApiError> {
    state
        .read(move |store| store.export_job(ws, id))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no export with id {id}")))
}

async fn status(State(state): State<AppState>, AppAuth(ws): AppAuth, Path(id): Path<i64>) -> Reply {
    Ok(Json(render(&job(&state, ws.id, id).await?)))
}

async fn download(
    State(state): State<AppState>,
    AppAuth(ws): AppAuth,
    Path(id): Path<i64>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Reply {
    let job = job(&state, ws.id, id).await?;
    if job.status != ExportStatus::Done {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "export {id} is {}: only a done export has a file",
                job.status.as_str()
            ),
        ));
    }
    // HTTP/1.1 names the host in `Host`, HTTP/2 in the request's authority.
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(|a| a.as_str()))
        .ok_or_else(|| ApiError::bad_request("Host", "the request has no Host header"))?;
    let expires = state.clock.now().plus_millis(DOWNLOAD_TTL_MILLIS);
    let token = state.exports.token(ws.id, id, expires);
    let url = format!(
        "{}://{host}/v1/exports/{id}/file?token={token}",
        state.exports.scheme
    );
    Ok(Json(json!({ "url": url })))
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

async fn file(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(query): Query<TokenQuery>,
) -> Result<Response, ApiError> {
    let refused = || {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "the download link is invalid or has expired",
        )
    };
    let token = query.token.ok_or_else(refused)?;
    let ws = state
        .exports
        .check(&token, id, state.clock.now())
        .ok_or_else(refused)?;
    let job = job(&state, ws, id).await?;
    let path = state.exports.path(ws, job.id);
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("opening {}: {e}", path.display())))?;
    let now = state.clock.now();
    state
        .read(move |store| store.record_export_download(ws, id, now))
        .await?;
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, "application/x-ndjson".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"export-{id}.ndjson\""),
            ),
        ],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_open_one_export_of_one_workspace_until_they_expire() {
        let files = ExportFiles::new(PathBuf::from("/x"), false);
        let expires = Timestamp::from_millis(10_000);
        let token = files.token(WorkspaceId(3), 7, expires);
        assert_eq!(
            files.check(&token, 7, Timestamp::from_millis(9_999)),
            Some(WorkspaceId(3))
        );
        assert_eq!(files.check(&token, 7, expires), None, "expired");
        assert_eq!(
            files.check(&token, 8, Timestamp::from_millis(1)),
            None,
            "another export"
        );
        let forged = token.replacen("3.", "4.", 1);
        assert_eq!(
            files.check(&forged, 7, Timestamp::from_millis(1)),
            None,
            "another workspace"
        );
        let later = token.replace("10000", "99999");
        assert_eq!(
            files.check(&later, 7, Timestamp::from_millis(50_000)),
            None,
            "extended"
        );
        let other = ExportFiles::new(PathBuf::from("/x"), false);
        assert_eq!(
            other.check(&token, 7, Timestamp::from_millis(1)),
            None,
            "another key"
        );
    }
}
