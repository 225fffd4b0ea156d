//! The event contract as configuration, on SQLite and on PostgreSQL, through the real binary
//! and a live server's App API: a contract applied with journeys and templates that conform;
//! a template rendering a property the trigger event does not have and a journey triggered by
//! a misspelt event refused with the file, the node and a did-you-mean; a contract change
//! that would break a live template refused unless forced; `GET /v1/contract/versions`
//! listing every version with its diff; `PUT /v1/contract` refusing a bad type at its node
//! and App API writes of journeys checked like files; the same files applied through a running
//! server's App API (`--url`); and Lumen Skin's whole configuration
//! (`examples/d2c/definitions`, contract included) applying cleanly.

mod common;

use std::path::Path;

use common::TestServer;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::process::Command;

struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

async fn nudge(server: &TestServer, command: &str, dir: &Path, extra: &[&str]) -> Run {
    let store = server.store_args();
    let mut process = Command::new(env!("CARGO_BIN_EXE_nudge"));
    process
        .arg(command)
        .arg("-f")
        .arg(dir)
        .args(["--workspace", "development"])
        .args(extra)
        .env("NUDGE_DATA_DIR", &store.data_dir)
        .env("NUDGE_LOG", "warn");
    match &store.database_url {
        Some(url) => process.env("NUDGE_DATABASE_URL", url),
        None => process.env_remove("NUDGE_DATABASE_URL"),
    };
    let output = process.output().await.expect("nudge runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// `nudge COMMAND -f DIR` through the server's App API (`--url`, `--app-key`).
async fn remote(server: &TestServer, command: &str, dir: &Path, extra: &[&str]) -> Run {
    let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .arg(command)
        .arg("-f")
        .arg(dir)
        .args([
            "--url",
            &server.base,
            "--app-key",
            &server.creds.app_api_key,
        ])
        .args(extra)
        .env_remove("NUDGE_DATABASE_URL")
        .env("NUDGE_LOG", "warn")
        .output()
        .await
        .expect("nudge runs");
    Run {
        success: output.status.success(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

async fn refused(server: &TestServer, dir: &Path) -> String {
    let run = nudge(server, "apply", dir, &[]).await;
    assert!(!run.success, "apply should refuse: {}", run.stdout);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    run.stderr
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

const CONTRACT: &str = "\
kind: contract
format: 1
events:
  Added to Cart:
    properties:
      cart_id: {type: string, required: true}
      cart_value: {type: number, required: true}
      items:
        type: array
        items:
          type: object
          properties:
            name: {type: string}
            price: {type: number}
  Order Completed:
    version: 1
    properties:
      order_id: {type: string, required: true}
      cart_id: {type: string, required: true}
person:
  attributes:
    email: {type: string}
    first_name: {type: string}
";

const CART: &str = "\
kind: journey
format: 1
id: cart
name: Cart
trigger:
  event: Added to Cart
  where:
    - {field: cart_value, operator: gt, value: 60}
entry: {key: cart_id}
exit:
  - {event: Order Completed, match: [cart_id], reason: bought}
steps:
  - {id: wait, delay: 30m}
  - {id: sms, send: {channel: sms, template: cart-sms}}
---
kind: template
format: 1
id: cart-sms
channel: sms
body: \"{{ customer.first_name }}, your cart of {{ event.cart_value }}:{% for item in event.items %} {{ item.name }}{% endfor %}\"
";

/// A journey on `Order Completed` sending a template that renders `body`.
fn thanks(trigger: &str, body: &str) -> String {
    format!(
        "kind: journey\nformat: 1\nid: thanks\nname: Thanks\ntrigger: {{event: {trigger}}}\n\
         steps:\n  - {{id: sms, send: {{channel: sms, template: thanks-sms}}}}\n---\n\
         kind: template\nformat: 1\nid: thanks-sms\nchannel: sms\nbody: \"{body}\"\n"
    )
}

async fn contract(server: &TestServer) -> Value {
    let reply = server.app_get("/v1/contract").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["contract"].clone()
}

async fn put(server: &TestServer, path: &str, body: &Value) -> common::Reply {
    let request = server
        .http
        .put(format!("{}{path}", server.base))
        .bearer_auth(&server.creds.app_api_key)
        .json(body);
    server.send(request).await
}

async fn files_are_checked_against_the_contract(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "contract.yaml", CONTRACT);
    write(dir.path(), "cart.yaml", CART);
    let plan = nudge(server, "plan", dir.path(), &[]).await;
    assert!(plan.success, "{}", plan.stderr);
    assert!(plan.stdout.contains("contract: create"), "{}", plan.stdout);
    let applied = nudge(server, "apply", dir.path(), &[]).await;
    assert!(applied.success, "{}", applied.stderr);
    let stored = contract(server).await;
    assert_eq!(stored["version"], 1);
    assert_eq!(
        stored["document"]["events"]["Added to Cart"]["properties"]["cart_value"]["type"],
        "number"
    );

    // A template rendering a property its journey's trigger event does not have.
    write(
        dir.path(),
        "thanks.yaml",
        &thanks("Order Completed", "Thanks for {{ event.cart_value }}"),
    );
    let stderr = refused(server, dir.path()).await;
    assert!(
        stderr.contains(
            "thanks.yaml (document 2): template thanks-sms: /body: reads event.cart_value \
             (sent by journey thanks, step sms): event 'Order Completed' declares no property \
             'cart_value'"
        ),
        "{stderr}"
    );

    // A trigger on the snake_case spelling of a declared event.
    write(
        dir.path(),
        "thanks.yaml",
        &thanks("order_completed", "Thanks for {{ event.order_id }}"),
    );
    let stderr = refused(server, dir.path()).await;
    assert!(
        stderr.contains(
            "thanks.yaml (document 1): journey thanks: /trigger/event: event 'order_completed' \
             is not declared in the contract (did you mean 'Order Completed'?)"
        ),
        "{stderr}"
    );
    let journeys = server.app_get("/v1/journeys").await;
    assert_eq!(journeys.body["journeys"].as_array().unwrap().len(), 1);

    // The contract drops cart_value while the cart journey changes too: what a changed
    // journey sends must conform, forced or not.
    std::fs::remove_file(dir.path().join("thanks.yaml")).unwrap();
    let without = CONTRACT.replace("      cart_value: {type: number, required: true}\n", "");
    write(dir.path(), "contract.yaml", &without);
    let on_cart_id = CART.replace(
        "cart_value, operator: gt, value: 60",
        "cart_id, operator: exists",
    );
    write(dir.path(), "cart.yaml", &on_cart_id);
    let run = nudge(server, "apply", dir.path(), &["--force-contract"]).await;
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "cart.yaml (document 2): template cart-sms: /body: reads event.cart_value (sent by \
             journey cart, step sms): event 'Added to Cart' declares no property 'cart_value'"
        ),
        "{}",
        run.stderr
    );
    // Only the contract changes: what it breaks can be forced.
    write(dir.path(), "cart.yaml", CART);
    let stderr = refused(server, dir.path()).await;
    assert!(
        stderr.contains(
            "contract.yaml (document 1): contract: the change would break template cart-sms: \
             /body: reads event.cart_value (sent by journey cart, step sms): event 'Added to \
             Cart' declares no property 'cart_value'"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("journey cart: /trigger/where/0/field"),
        "{stderr}"
    );
    assert!(stderr.contains("--force-contract"), "{stderr}");
    assert_eq!(contract(server).await["version"], 1, "nothing was changed");
    let forced = nudge(server, "apply", dir.path(), &["--force-contract"]).await;
    assert!(forced.success, "{}", forced.stderr);
    assert!(
        forced
            .stdout
            .contains("event 'Added to Cart': cart_value: removed (was number, required)"),
        "{}",
        forced.stdout
    );
    assert_eq!(contract(server).await["version"], 2);

    let versions = server.app_get("/v1/contract/versions").await;
    assert_eq!(versions.status, StatusCode::OK, "{}", versions.body);
    let versions = versions.body["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(versions[0]["version"], 1);
    assert!(versions[0]["diff"]
        .as_array()
        .unwrap()
        .contains(&json!("event 'Added to Cart': added (version 1)")));
    assert_eq!(
        versions[1]["diff"],
        json!(["event 'Added to Cart': cart_value: removed (was number, required)"])
    );
    assert_eq!(versions[1]["changes"][0]["change"], "property_removed");
    assert_eq!(versions[1]["changes"][0]["path"], "cart_value");
}

async fn the_app_api_stores_and_enforces_the_contract(server: &TestServer) {
    let none = server.app_get("/v1/contract").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.body);

    let bad = json!({"format": 1, "events": {"Order Completed": {"properties": {
        "order_id": {"type": "string"}, "price": {"type": "float"}}}}});
    let reply = put(server, "/v1/contract", &bad).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(
        error["source"]["pointer"],
        "/events/Order Completed/properties/price/type"
    );
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("unknown type 'float'"),
        "{error}"
    );

    let good: Value = serde_json::to_value(
        serde_norway::from_str::<Value>(CONTRACT).expect("the contract is YAML"),
    )
    .unwrap();
    let reply = put(server, "/v1/contract", &good).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["contract"]["version"], 1);

    let journey = json!({"name": "Thanks", "trigger": {"event": "Order Complete"},
        "steps": [{"id": "end", "exit": {}}]});
    let reply = put(server, "/v1/journeys/thanks", &journey).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(error["source"]["pointer"], "/trigger/event");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .contains("event 'Order Complete' is not declared in the contract (did you mean 'Order Completed'?)"),
        "{error}"
    );

    let computed = json!({"aggregate": "sum", "event": "order_completed", "value": "revenue"});
    let reply = put(server, "/v1/computed_attributes/spend", &computed).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(error["source"]["pointer"], "/event");
    assert!(
        error["detail"]
            .as_str()
            .unwrap()
            .ends_with("(did you mean 'Order Completed'?)"),
        "{error}"
    );
    let segment = json!({"segment": {"name": "Buyers", "conditions": {"event": {
        "name": "Order Completed", "where": [{"field": "order_ids", "operator": "exists"}]}}}});
    let reply = server.app_post("/v1/segments", segment).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{}", reply.body);
    let error = &reply.body["errors"][0];
    assert_eq!(
        error["source"]["pointer"],
        "/segment/conditions/event/where/0/field"
    );
    assert!(
        error["detail"].as_str().unwrap().ends_with(
            "event 'Order Completed' declares no property 'order_ids' (did you mean 'order_id'?)"
        ),
        "{error}"
    );

    let template = json!({"channel": "sms", "body": "Order {{ event.order_id }}"});
    let reply = put(server, "/v1/templates/thanks-sms", &template).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let journey = json!({"name": "Thanks", "trigger": {"event": "Order Completed"},
        "steps": [{"id": "sms", "send": {"channel": "sms", "template": "thanks-sms"}}]});
    let reply = put(server, "/v1/journeys/thanks", &journey).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);

    let mut without = good.clone();
    without["events"]["Order Completed"]["properties"]
        .as_object_mut()
        .unwrap()
        .remove("order_id");
    let reply = put(server, "/v1/contract", &without).await;
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.body);
    let detail = reply.body["errors"][0]["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        detail.contains("would break template thanks-sms: /body: reads event.order_id"),
        "{detail}"
    );
    assert!(detail.contains("?force=true"), "{detail}");
    let reply = put(server, "/v1/contract?force=true", &without).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["contract"]["version"], 2);
    assert_eq!(
        reply.body["contract"]["changes"][0]["change"],
        "property_removed"
    );

    let versions = server.app_get("/v1/contract/versions").await;
    let versions = versions.body["versions"].as_array().unwrap().clone();
    assert_eq!(versions.len(), 2);
    assert_eq!(
        versions[1]["diff"],
        json!(["event 'Order Completed': order_id: removed (was string, required)"])
    );
}

async fn files_are_checked_through_a_running_server(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "contract.yaml", CONTRACT);
    write(dir.path(), "cart.yaml", CART);
    let applied = remote(server, "apply", dir.path(), &[]).await;
    assert!(applied.success, "{}", applied.stderr);
    assert_eq!(contract(server).await["version"], 1);
    let again = remote(server, "plan", dir.path(), &[]).await;
    assert!(
        again.stdout.contains("contract: unchanged"),
        "{}",
        again.stdout
    );

    let without = CONTRACT.replace("      cart_value: {type: number, required: true}\n", "");
    write(dir.path(), "contract.yaml", &without);
    let run = remote(server, "apply", dir.path(), &[]).await;
    assert!(!run.success, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("the change would break template cart-sms: /body: reads event.cart_value"),
        "{}",
        run.stderr
    );
    assert_eq!(contract(server).await["version"], 1, "nothing was changed");
    let forced = remote(server, "apply", dir.path(), &["--force-contract"]).await;
    assert!(forced.success, "{}", forced.stderr);
    assert_eq!(contract(server).await["version"], 2);
}

async fn the_d2c_configuration_conforms_to_its_contract(server: &TestServer) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/d2c/definitions");
    assert!(dir.join("contract.yaml").exists());
    let applied = nudge(server, "apply", &dir, &[]).await;
    assert!(applied.success, "{}", applied.stderr);
    let stored = contract(server).await;
    assert!(stored["document"]["events"]["Order Completed"].is_object());
    let again = nudge(server, "plan", &dir, &[]).await;
    assert!(
        again.stdout.contains("contract: unchanged"),
        "{}",
        again.stdout
    );
}

on_both_stores!(
    files_are_checked_against_the_contract,
    the_app_api_stores_and_enforces_the_contract,
    files_are_checked_through_a_running_server,
    the_d2c_configuration_conforms_to_its_contract,
);
