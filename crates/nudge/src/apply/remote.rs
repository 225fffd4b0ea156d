//! `nudge plan` and `nudge apply` through a running server (`--url`, `--app-key`): the
//! workspace's stored definitions read through the App API into the data the plan takes, and
//! the plan's changes written back through the same API. The set is validated here, before
//! any write, with the same compile functions as the server; the server checks each write
//! again. Blocking HTTP: the command does one thing at a time.

use std::time::Duration;

use anyhow::Context;
use nudge_core::Timestamp;
use nudge_store::{
    Backfill, ComputedDefinition, Document, DocumentKind, NewSegment, SegmentDefinition,
    CONTRACT_NAME,
};
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{json, Value};

use super::stored::StoredDefinitions;
use super::write::Target;

/// How long one request may take before the command gives up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The App API of one workspace of a running server (the app key names the workspace).
pub struct AppClient {
    base: String,
    key: String,
    http: Client,
}

impl AppClient {
    pub fn new(url: &str, key: &str) -> anyhow::Result<Self> {
        let base = url.trim().trim_end_matches('/').to_string();
        anyhow::ensure!(
            base.starts_with("http://") || base.starts_with("https://"),
            "--url must start with http:// or https://, got '{url}'"
        );
        anyhow::ensure!(
            !key.trim().is_empty(),
            "--app-key (NUDGE_APP_KEY) is empty: give the workspace's App API key"
        );
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client")?;
        Ok(Self {
            base,
            key: key.trim().to_string(),
            http,
        })
    }

    /// Everything the plan needs, as the server reports it.
    pub fn stored(&self) -> anyhow::Result<StoredDefinitions> {
        let segments: SegmentList = self.get("/v1/segments")?;
        let computed: ComputedList = self.get("/v1/computed_attributes")?;
        let mut journey_versions = Vec::new();
        let journeys: DocumentList = self.get("/v1/journeys")?;
        for journey in journeys.journeys.unwrap_or_default() {
            let path = format!("/v1/journeys/{}/versions", path_segment(&journey.id));
            let history: VersionList = self.get(&path)?;
            journey_versions.extend(history.versions.into_iter().map(|v| Document {
                kind: DocumentKind::Journey,
                name: journey.id.clone(),
                version: v.version,
                body: v.document,
                created_at: seconds(v.created_at),
                deleted: v.deleted,
            }));
        }
        let mut templates = Vec::new();
        let listed: DocumentList = self.get("/v1/templates")?;
        for template in listed.templates.unwrap_or_default() {
            let path = format!("/v1/templates/{}", path_segment(&template.id));
            let one: OneTemplate = self.get(&path)?;
            templates.push(Document {
                kind: DocumentKind::Template,
                name: template.id,
                version: one.template.version,
                body: one.template.document,
                created_at: seconds(one.template.updated_at),
                deleted: false,
            });
        }
        let contract = self.contract()?;
        let listed: ChannelList = self.get("/v1/channels")?;
        let channels = listed
            .channels
            .into_iter()
            .map(|channel| Document {
                kind: DocumentKind::Channel,
                name: channel.id,
                version: channel.version,
                body: channel.document,
                created_at: seconds(channel.updated_at),
                deleted: false,
            })
            .collect();
        Ok(StoredDefinitions {
            segments: segments.segments.into_iter().map(Into::into).collect(),
            computed: computed
                .computed_attributes
                .into_iter()
                .map(Into::into)
                .collect(),
            journey_versions,
            templates,
            channels,
            contract,
            channels_redacted: true,
            segments_elsewhere: Default::default(),
        })
    }

    /// The workspace's contract, or `None` when it has none (the server answers 404).
    fn contract(&self) -> anyhow::Result<Option<Document>> {
        let response = self
            .http
            .get(format!("{}/v1/contract", self.base))
            .bearer_auth(&self.key)
            .send()
            .with_context(|| format!("GET {}/v1/contract", self.base))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let one: OneContract = self.get("/v1/contract")?;
        Ok(Some(Document {
            kind: DocumentKind::Contract,
            name: CONTRACT_NAME.to_string(),
            version: one.contract.version,
            body: one.contract.document,
            created_at: seconds(one.contract.updated_at),
            deleted: false,
        }))
    }

    fn get<T: DeserializeOwned>(&self, path: &str) -> anyhow::Result<T> {
        let body = self.call(Method::GET, path, None)?;
        serde_json::from_value(body)
            .with_context(|| format!("GET {path}: the server's answer is not what Nudge serves"))
    }

    /// One request; a non-2xx answer is an error naming the App API's detail and pointer.
    fn call(&self, method: Method, path: &str, body: Option<&Value>) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .with_context(|| format!("{method} {}{path}", self.base))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("{method} {path}: reading the answer"))?;
        if !status.is_success() {
            anyhow::bail!("{method} {path}: {}", refusal(status, &text));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{method} {path}: the answer is not JSON"))
    }
}

impl Target for AppClient {
    fn put_computed(&self, name: &str, definition: &Value) -> anyhow::Result<()> {
        let path = format!("/v1/computed_attributes/{}", path_segment(name));
        self.call(Method::PUT, &path, Some(definition)).map(drop)
    }

    fn create_segment(&self, new: &NewSegment) -> anyhow::Result<()> {
        self.call(Method::POST, "/v1/segments", Some(&segment_body(new)))
            .map(drop)
    }

    fn update_segment(&self, id: i64, new: &NewSegment) -> anyhow::Result<()> {
        let path = format!("/v1/segments/{id}");
        self.call(Method::PUT, &path, Some(&segment_body(new)))
            .map(drop)
    }

    fn put_document(&self, kind: DocumentKind, name: &str, body: &Value) -> anyhow::Result<()> {
        let plural = match kind {
            DocumentKind::Journey => "journeys",
            DocumentKind::Template => "templates",
            DocumentKind::Channel => "channels",
            DocumentKind::Contract => return self.put_contract(body, false),
        };
        let path = format!("/v1/{plural}/{}", path_segment(name));
        self.call(Method::PUT, &path, Some(body)).map(drop)
    }

    fn put_contract(&self, body: &Value, force: bool) -> anyhow::Result<()> {
        let path = if force {
            "/v1/contract?force=true"
        } else {
            "/v1/contract"
        };
        self.call(Method::PUT, path, Some(body)).map(drop)
    }
}

fn segment_body(new: &NewSegment) -> Value {
    let mut segment = json!({"id": new.id, "name": new.name, "description": new.description});
    if let Some(conditions) = &new.conditions {
        segment["conditions"] = conditions.clone();
    }
    json!({ "segment": segment })
}

/// What a refused request says: the App API's first error with its pointer, or the status.
fn refusal(status: StatusCode, text: &str) -> String {
    if status == StatusCode::UNAUTHORIZED {
        return "the server refused the app key (401): give the workspace's App API key".into();
    }
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let error = parsed.as_ref().and_then(|v| v.get("errors")?.get(0));
    match error {
        Some(error) => {
            let detail = error.get("detail").and_then(Value::as_str).unwrap_or("");
            match error.pointer("/source/pointer").and_then(Value::as_str) {
                Some(pointer) => format!("{status}: {detail} (at {pointer})"),
                None => format!("{status}: {detail}"),
            }
        }
        None => format!("{status}: {}", text.chars().take(200).collect::<String>()),
    }
}

/// A name as one path segment: everything but unreserved characters percent-encoded.
fn path_segment(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn seconds(secs: i64) -> Timestamp {
    Timestamp::from_unix_seconds(secs).unwrap_or(Timestamp::from_millis(0))
}

// --- the App API's answers, as far as the plan reads them ----------------------------------

#[derive(Deserialize)]
struct SegmentList {
    segments: Vec<SegmentWire>,
}

#[derive(Deserialize)]
struct SegmentWire {
    id: i64,
    name: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    conditions: Option<Value>,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<SegmentWire> for SegmentDefinition {
    fn from(wire: SegmentWire) -> Self {
        SegmentDefinition {
            id: wire.id,
            name: wire.name,
            description: wire.description.unwrap_or_default(),
            conditions: wire.conditions.filter(|c| !c.is_null()),
            version: wire.version,
            created_at: seconds(wire.created_at),
            updated_at: seconds(wire.updated_at),
            backfill: Backfill::COMPLETE,
        }
    }
}

#[derive(Deserialize)]
struct ComputedList {
    computed_attributes: Vec<ComputedWire>,
}

#[derive(Deserialize)]
struct ComputedWire {
    name: String,
    definition: Value,
    version: i64,
    created_at: i64,
    updated_at: i64,
}

impl From<ComputedWire> for ComputedDefinition {
    fn from(wire: ComputedWire) -> Self {
        ComputedDefinition {
            name: wire.name,
            definition: wire.definition,
            version: wire.version,
            created_at: seconds(wire.created_at),
            updated_at: seconds(wire.updated_at),
            backfill: Backfill::COMPLETE,
        }
    }
}

/// `{"journeys": [...]}` or `{"templates": [...]}`.
#[derive(Deserialize)]
struct DocumentList {
    journeys: Option<Vec<Listed>>,
    templates: Option<Vec<Listed>>,
}

#[derive(Deserialize)]
struct Listed {
    id: String,
}

/// `{"channels": [...]}`: each live channel with its document, secrets redacted.
#[derive(Deserialize)]
struct ChannelList {
    channels: Vec<ChannelWire>,
}

#[derive(Deserialize)]
struct ChannelWire {
    id: String,
    version: i64,
    updated_at: i64,
    document: Value,
}

#[derive(Deserialize)]
struct VersionList {
    versions: Vec<VersionWire>,
}

#[derive(Deserialize)]
struct VersionWire {
    version: i64,
    created_at: i64,
    deleted: bool,
    document: Value,
}

#[derive(Deserialize)]
struct OneTemplate {
    template: TemplateWire,
}

#[derive(Deserialize)]
struct OneContract {
    contract: TemplateWire,
}

#[derive(Deserialize)]
struct TemplateWire {
    version: i64,
    updated_at: i64,
    document: Value,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_name_the_detail_and_pointer() {
        let body = r#"{"errors": [{"detail": "steps.1.send: there is no template 'x'", "status": "400", "source": {"pointer": "/steps/1/send"}}]}"#;
        assert_eq!(
            refusal(StatusCode::BAD_REQUEST, body),
            "400 Bad Request: steps.1.send: there is no template 'x' (at /steps/1/send)"
        );
        assert!(refusal(StatusCode::UNAUTHORIZED, "").contains("app key"));
        assert_eq!(
            refusal(StatusCode::BAD_GATEWAY, "upstream down"),
            "502 Bad Gateway: upstream down"
        );
    }

    #[test]
    fn names_are_single_path_segments_and_urls_are_checked() {
        assert_eq!(path_segment("cart-email_2"), "cart-email_2");
        assert_eq!(path_segment("a b/c"), "a%20b%2Fc");
        assert!(AppClient::new("localhost:7700", "key").is_err());
        assert!(AppClient::new("http://localhost:7700/", " ").is_err());
        assert_eq!(
            AppClient::new("http://localhost:7700/", "key")
                .unwrap()
                .base,
            "http://localhost:7700"
        );
    }
}
