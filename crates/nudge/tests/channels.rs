//! Channels configured per workspace, on a live server with recording providers, on a virtual
//! clock: one workspace's channels applied through the App API, another's through `nudge
//! apply` files, each sending through its own SMS provider (a Twilio stand-in) and SMTP
//! server with its own credentials; a workspace with no channel records to the outbox; the
//! first workspace falls back to the environment's channels; a channel changed or deleted
//! while the server runs is used from the next delivery on; secret references reach only
//! `NUDGE_SECRET_*` variables and files in the secrets directory (a symlink out of it holds the
//! workspace's messages back, its target unread); and no inline secret appears in
//! `GET /v1/channels…` or in `nudge plan`.

mod common;
mod delivery;

use std::path::Path;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::{start_with, Backend, Reply, TestServer};
use delivery::{advance, at, Providers, TWILIO_SID, TWILIO_TOKEN};
use nudge_api::credentials::IssuedCredentials;
use nudge_delivery::sinks::http::{HttpSink, SinkResponse};
use nudge_delivery::sinks::smtp::{SmtpSink, SmtpSinkOptions};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const START: &str = "2026-03-02T09:00:00Z";

const ACME_SID: &str = "ACacme000000000000000000000000000";
const ACME_TOKEN: &str = "acme-inline-token-1";
const ACME_TOKEN_2: &str = "acme-inline-token-2";
const ACME_SMTP_PASSWORD: &str = "acme-smtp-password";
const GLOBEX_SID: &str = "ACglobex00000000000000000000000000";
const GLOBEX_TOKEN: &str = "globex-token-from-the-environment";
const GLOBEX_SMTP_PASSWORD: &str = "globex-inline-smtp-password";
/// Something of the server's own that no channel may read.
const SERVER_ONLY: &str = "server-only-credential";

/// A Twilio stand-in that accepts every message.
async fn twilio() -> HttpSink {
    let sink = HttpSink::start().await.expect("twilio sink");
    sink.answer(SinkResponse::json(
        201,
        &json!({"sid": "SM00000000000000000000000000000002", "status": "queued"}),
    ));
    sink
}

async fn smtp(user: &str, password: &str) -> SmtpSink {
    SmtpSink::start_with(SmtpSinkOptions {
        credentials: Some((user.into(), password.into())),
        ..SmtpSinkOptions::default()
    })
    .await
    .expect("smtp sink")
}

/// Creates a workspace in the server's store; its credentials.
async fn workspace(server: &TestServer, name: &str) -> IssuedCredentials {
    let (new, keys) = nudge_api::credentials::new_workspace(
        name,
        nudge_core::Env::Production,
        nudge_core::Timestamp::from_millis(0),
    );
    let args = server.store_args();
    let created = tokio::task::spawn_blocking(move || {
        let store = nudge::server::open_store(&args).expect("open the server's store");
        store.create_workspace(&new).expect("a new workspace")
    })
    .await
    .unwrap();
    keys.issued(&created)
}

async fn app(
    server: &TestServer,
    key: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Reply {
    let mut request = server
        .http
        .request(method, format!("{}{path}", server.base))
        .bearer_auth(key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    server.send(request).await
}

/// A transactional SMS with inline content: its delivery id.
async fn sms(server: &TestServer, key: &str, phone: &str, text: &str) -> String {
    let body = json!({"identifiers": {"id": phone}, "to": phone, "body": text});
    let reply = app(server, key, Method::POST, "/v1/send/sms", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["delivery_id"].as_str().unwrap().to_string()
}

/// A transactional email with inline content: its delivery id.
async fn email(server: &TestServer, key: &str, to: &str, subject: &str) -> String {
    let body = json!({"identifiers": {"id": to}, "to": to, "subject": subject, "body": "Hello"});
    let reply = app(server, key, Method::POST, "/v1/send/email", Some(body)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["delivery_id"].as_str().unwrap().to_string()
}

/// Lets the server do everything due at its clock's time, every workspace's deliveries too.
async fn settle(server: &TestServer) {
    let now = server.app_get("/v1/clock").await;
    advance(server, at(now.body["now"].as_str().unwrap())).await;
}

async fn message(server: &TestServer, key: &str, id: &str) -> Value {
    let path = format!("/v1/messages/{}", common::encode(id));
    let reply = app(server, key, Method::GET, &path, None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["message"].clone()
}

/// (basic-auth user:password, To, Body) of every SMS a Twilio stand-in received.
fn texts(sink: &HttpSink) -> Vec<(String, String, String)> {
    sink.requests()
        .iter()
        .map(|r| {
            let auth = r.header("authorization").unwrap_or_default();
            let decoded = STANDARD
                .decode(auth.trim_start_matches("Basic "))
                .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                .unwrap_or_default();
            assert!(r.path.ends_with("/Messages.json"), "{}", r.path);
            (
                decoded,
                r.form_value("To").unwrap_or_default(),
                r.form_value("Body").unwrap_or_default(),
            )
        })
        .collect()
}

/// (AUTH user, From, Subject) of every email an SMTP server received.
fn mails(sink: &SmtpSink) -> Vec<(Option<String>, String, String)> {
    sink.messages()
        .iter()
        .map(|mail| {
            (
                mail.authenticated_as.clone(),
                mail.header("From").unwrap_or_default().to_string(),
                mail.header("Subject").unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// `nudge plan|apply -f DIR --workspace NAME` through the real binary against the server's
/// store: (success, stdout, stderr).
async fn nudge(
    server: &TestServer,
    command: &str,
    dir: &Path,
    name: &str,
) -> (bool, String, String) {
    let mut process = tokio::process::Command::new(env!("CARGO_BIN_EXE_nudge"));
    process
        .args([command, "-f"])
        .arg(dir)
        .args(["--workspace", name])
        .env("NUDGE_DATA_DIR", server.data_dir.path())
        .env("NUDGE_LOG", "warn");
    match &server.database_url {
        Some(url) => process.env("NUDGE_DATABASE_URL", url),
        None => process.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = process.output().await.expect("nudge runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn globex_files(twilio: &HttpSink, smtp: &SmtpSink, smtp_password: &str) -> String {
    format!(
        r#"kind: channel
format: 1
id: sms
base_url: {twilio}
account_sid: {GLOBEX_SID}
auth_token: {{file: globex/twilio_token}}
from: "+15550003333"
---
kind: channel
format: 1
id: email
smtp_url: smtp://globex:{smtp_password}@{smtp}
from: Globex <hello@globex.example>
timeout_secs: 5
"#,
        twilio = twilio.url(),
        smtp = smtp.address(),
    )
}

async fn each_workspace_sends_through_its_own_channels(backend: Backend) {
    let env_providers = Providers::start().await;
    let mut args = env_providers.delivery_args(10);
    // The secrets directory holds Globex's token, and a link to a file outside it.
    let secrets_root = tempfile::tempdir().unwrap();
    let secrets_dir = secrets_root.path().join("secrets");
    std::fs::create_dir_all(secrets_dir.join("globex")).unwrap();
    std::fs::write(secrets_dir.join("globex/twilio_token"), GLOBEX_TOKEN).unwrap();
    let outside = secrets_root.path().join("server-credentials");
    std::fs::write(&outside, SERVER_ONLY).unwrap();
    std::os::unix::fs::symlink(&outside, secrets_dir.join("escape")).unwrap();
    let vars = args.provider_env.as_mut().unwrap();
    vars.insert(
        "NUDGE_SECRETS_DIR".into(),
        secrets_dir.to_str().unwrap().into(),
    );
    vars.insert("NUDGE_SECRET_ACME_SMTP".into(), ACME_SMTP_PASSWORD.into());
    // Set on the server, but no channel's to read.
    vars.insert("CLOUD_API_KEY".into(), SERVER_ONLY.into());
    let Some(server) = start_with(backend, Some(at(START)), args).await else {
        return;
    };
    let (acme_twilio, acme_twilio_2, globex_twilio) =
        (twilio().await, twilio().await, twilio().await);
    let acme_smtp = smtp("acme", ACME_SMTP_PASSWORD).await;
    let globex_smtp = smtp("globex", GLOBEX_SMTP_PASSWORD).await;
    let acme = workspace(&server, "acme").await;
    let globex = workspace(&server, "globex").await;
    let initech = workspace(&server, "initech").await;
    let dev = server.creds.app_api_key.clone();

    // Acme's channels through the App API: an inline token, an SMTP password by reference.
    let put = app(
        &server,
        &acme.app_api_key,
        Method::PUT,
        "/v1/channels/sms",
        Some(json!({
        "base_url": acme_twilio.url(), "account_sid": ACME_SID, "auth_token": ACME_TOKEN,
        "from": "+15550002222"})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["channel"]["document"]["auth_token"], "<redacted>");
    let put = app(
        &server,
        &acme.app_api_key,
        Method::PUT,
        "/v1/channels/email",
        Some(json!({
        "smtp_url": format!("smtp://acme@{}", acme_smtp.address()),
        "password": {"env": "NUDGE_SECRET_ACME_SMTP"}, "from": "Acme <hello@acme.example>"})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);

    // A refusal names the field, in the App API's error shape, and stores nothing: the
    // server's own variables, any variable outside NUDGE_SECRET_*, a path climbing out of the
    // secrets directory.
    for (credentials, pointer) in [
        (json!({"env": "NUDGE_DATABASE_URL"}), "/credentials/env"),
        (json!({"env": "CLOUD_API_KEY"}), "/credentials/env"),
        (
            json!({"file": "../server-credentials"}),
            "/credentials/file",
        ),
    ] {
        let refused = app(
            &server,
            &acme.app_api_key,
            Method::PUT,
            "/v1/channels/push",
            Some(json!({ "credentials": credentials })),
        )
        .await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(
            refused.body["errors"][0]["source"]["pointer"], pointer,
            "{}",
            refused.body
        );
        assert!(
            !refused.body.to_string().contains(SERVER_ONLY),
            "{}",
            refused.body
        );
    }
    let none = app(
        &server,
        &acme.app_api_key,
        Method::GET,
        "/v1/channels/push",
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);
    let unknown = app(
        &server,
        &acme.app_api_key,
        Method::PUT,
        "/v1/channels/fax",
        Some(json!({})),
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST, "{}", unknown.body);
    assert_eq!(
        unknown.body["errors"][0]["source"]["pointer"], "/id",
        "{}",
        unknown.body
    );

    // Globex's through definition files and `nudge apply`.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("channels.yaml");
    std::fs::write(
        &file,
        globex_files(&globex_twilio, &globex_smtp, GLOBEX_SMTP_PASSWORD),
    )
    .unwrap();
    let (applied, out, err) = nudge(&server, "apply", dir.path(), "globex").await;
    assert!(applied, "{out}\n{err}");
    assert!(
        out.contains("channel email: create") && out.contains("channel sms: create"),
        "{out}"
    );
    assert!(!out.contains(GLOBEX_SMTP_PASSWORD), "{out}");

    advance(&server, at(START)).await;
    let dev_sms = sms(&server, &dev, "+15555550100", "dev text").await;
    let acme_sms = sms(&server, &acme.app_api_key, "+15555550101", "acme text").await;
    let globex_sms = sms(&server, &globex.app_api_key, "+15555550102", "globex text").await;
    let initech_sms = sms(
        &server,
        &initech.app_api_key,
        "+15555550103",
        "initech text",
    )
    .await;
    email(&server, &dev, "dev@example.com", "dev mail").await;
    email(&server, &acme.app_api_key, "a@example.com", "acme mail").await;
    email(&server, &globex.app_api_key, "g@example.com", "globex mail").await;
    let initech_mail = email(
        &server,
        &initech.app_api_key,
        "i@example.com",
        "initech mail",
    )
    .await;
    settle(&server).await;

    // Each to its own provider with its own credentials; the first workspace through the
    // environment's; the workspace with none configured nowhere.
    let basic = |sid: &str, token: &str| format!("{sid}:{token}");
    assert_eq!(
        texts(&env_providers.twilio),
        [(
            basic(TWILIO_SID, TWILIO_TOKEN),
            "+15555550100".into(),
            "dev text".into()
        )]
    );
    assert_eq!(
        texts(&acme_twilio),
        [(
            basic(ACME_SID, ACME_TOKEN),
            "+15555550101".into(),
            "acme text".into()
        )]
    );
    assert_eq!(
        texts(&globex_twilio),
        [(
            basic(GLOBEX_SID, GLOBEX_TOKEN),
            "+15555550102".into(),
            "globex text".into()
        )]
    );
    assert_eq!(
        mails(&env_providers.smtp),
        [(
            None,
            "\"Lumen Skin\" <hello@lumen.example>".into(),
            "dev mail".into()
        )]
    );
    assert_eq!(
        mails(&acme_smtp),
        [(
            Some("acme".into()),
            "Acme <hello@acme.example>".into(),
            "acme mail".into()
        )]
    );
    assert_eq!(
        mails(&globex_smtp),
        [(
            Some("globex".into()),
            "Globex <hello@globex.example>".into(),
            "globex mail".into()
        )]
    );
    for (id, key) in [
        (&dev_sms, &dev),
        (&acme_sms, &acme.app_api_key),
        (&globex_sms, &globex.app_api_key),
    ] {
        let entry = message(&server, key, id).await;
        assert_eq!(entry["state"], "sent", "{entry}");
        assert_eq!(entry["reason"], Value::Null, "{entry}");
    }
    for id in [&initech_sms, &initech_mail] {
        let entry = message(&server, &initech.app_api_key, id).await;
        assert_eq!(entry["state"], "sent", "{entry}");
        let reason = entry["reason"].as_str().unwrap_or_default();
        assert!(
            reason.starts_with("recorded only: no")
                && reason.ends_with("channel is configured for this workspace"),
            "{entry}"
        );
    }

    // Reads never show an inline secret; references are shown as they are.
    for (key, secrets) in [
        (&acme.app_api_key, [ACME_TOKEN, ACME_SMTP_PASSWORD]),
        (&globex.app_api_key, [GLOBEX_TOKEN, GLOBEX_SMTP_PASSWORD]),
    ] {
        for path in [
            "/v1/channels",
            "/v1/channels/sms",
            "/v1/channels/email",
            "/v1/channels/sms/versions",
            "/v1/channels/email/versions",
        ] {
            let reply = app(&server, key, Method::GET, path, None).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            let text = reply.body.to_string();
            for secret in secrets {
                assert!(!text.contains(secret), "{path} shows a secret: {text}");
            }
        }
    }
    let listed = app(
        &server,
        &acme.app_api_key,
        Method::GET,
        "/v1/channels",
        None,
    )
    .await;
    let ids: Vec<&str> = listed.body["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["email", "sms"]);
    let sms_channel = &listed.body["channels"][1]["document"];
    assert_eq!(sms_channel["auth_token"], "<redacted>", "{sms_channel}");
    assert_eq!(sms_channel["account_sid"], ACME_SID);
    assert_eq!(
        listed.body["channels"][0]["document"]["password"],
        json!({"env": "NUDGE_SECRET_ACME_SMTP"})
    );
    let globex_email = app(
        &server,
        &globex.app_api_key,
        Method::GET,
        "/v1/channels/email",
        None,
    )
    .await;
    let url = format!("smtp://globex:<redacted>@{}", globex_smtp.address());
    assert_eq!(
        globex_email.body["channel"]["document"]["smtp_url"],
        url.as_str()
    );
    let none = app(
        &server,
        &initech.app_api_key,
        Method::GET,
        "/v1/channels/sms",
        None,
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    // `nudge plan`: the same files change nothing; a new inline password is an update whose
    // diff shows neither password.
    let (planned, out, err) = nudge(&server, "plan", dir.path(), "globex").await;
    assert!(planned, "{out}\n{err}");
    assert!(
        out.contains("channel email: unchanged") && out.contains("channel sms: unchanged"),
        "{out}"
    );
    std::fs::write(
        &file,
        globex_files(&globex_twilio, &globex_smtp, "another-password"),
    )
    .unwrap();
    let (planned, out, err) = nudge(&server, "plan", dir.path(), "globex").await;
    assert!(planned, "{out}\n{err}");
    assert!(
        out.contains("channel email: update, version 1 → 2"),
        "{out}"
    );
    assert!(
        out.contains("a secret given inline changes (not shown)"),
        "{out}"
    );
    for secret in [GLOBEX_SMTP_PASSWORD, "another-password", GLOBEX_TOKEN] {
        assert!(
            !out.contains(secret) && !err.contains(secret),
            "{out}\n{err}"
        );
    }

    // A change while the server runs is used from the next delivery on, without a restart.
    let put = app(
        &server,
        &acme.app_api_key,
        Method::PUT,
        "/v1/channels/sms",
        Some(json!({
        "base_url": acme_twilio_2.url(), "account_sid": ACME_SID, "auth_token": ACME_TOKEN_2,
        "from": "+15550002222"})),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    assert_eq!(put.body["channel"]["version"], 2, "{}", put.body);
    sms(&server, &acme.app_api_key, "+15555550101", "acme again").await;
    settle(&server).await;
    assert_eq!(
        texts(&acme_twilio_2),
        [(
            basic(ACME_SID, ACME_TOKEN_2),
            "+15555550101".into(),
            "acme again".into()
        )]
    );
    assert_eq!(
        acme_twilio.request_count(),
        1,
        "the old provider got nothing more"
    );

    // A reference the server cannot resolve holds the workspace's messages back, saying why:
    // a file in the secrets directory that links out of it is not read, and neither is a
    // variable that is not set.
    for (auth_token, text, expected) in [
        (
            json!({"file": "escape"}),
            "acme held by a link",
            "auth_token.file: escape is not in the secrets directory",
        ),
        (
            json!({"env": "NUDGE_SECRET_UNSET"}),
            "acme held by a variable",
            "auth_token.env: the variable NUDGE_SECRET_UNSET is not set",
        ),
    ] {
        let put = app(
            &server,
            &acme.app_api_key,
            Method::PUT,
            "/v1/channels/sms",
            Some(json!({"account_sid": ACME_SID, "auth_token": auth_token,
                        "from": "+15550002222", "base_url": acme_twilio_2.url()})),
        )
        .await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
        let held = sms(&server, &acme.app_api_key, "+15555550101", text).await;
        settle(&server).await;
        let entry = message(&server, &acme.app_api_key, &held).await;
        assert_eq!(entry["state"], "queued", "{entry}");
        let reason = entry["reason"].as_str().unwrap_or_default();
        assert!(reason.contains(expected), "{entry}");
        assert!(!reason.contains(SERVER_ONLY), "{entry}");
        assert_eq!(acme_twilio_2.request_count(), 1);
    }

    // Deleted, the workspace's SMS is recorded in the outbox again.
    let deleted = app(
        &server,
        &acme.app_api_key,
        Method::DELETE,
        "/v1/channels/sms",
        None,
    )
    .await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT, "{}", deleted.body);
    let recorded = sms(&server, &acme.app_api_key, "+15555550101", "acme recorded").await;
    settle(&server).await;
    assert_eq!(acme_twilio_2.request_count(), 1);
    let entry = message(&server, &acme.app_api_key, &recorded).await;
    assert_eq!(
        entry["reason"], "recorded only: no sms channel is configured for this workspace",
        "{entry}"
    );
    assert_eq!(
        env_providers.twilio.request_count(),
        1,
        "never the first workspace's provider"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_workspace_sends_through_its_own_channels_on_sqlite() {
    each_workspace_sends_through_its_own_channels(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_workspace_sends_through_its_own_channels_on_postgres() {
    each_workspace_sends_through_its_own_channels(Backend::Postgres).await;
}
