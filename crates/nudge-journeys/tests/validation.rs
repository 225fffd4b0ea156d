//! Every refusal of a journey document names the JSON pointer of the offending node.

use nudge_journeys::parse_journey;
use serde_json::{json, Value};

fn valid() -> Value {
    json!({
        "id": "cart-recovery",
        "name": "Cart recovery",
        "trigger": {"event": "Added to Cart", "where": [{"field": "cart_value", "operator": "gt", "value": 60}]},
        "entry": {"key": "cart_id", "frequency": {"once_per": "1d"}},
        "exit": [{"event": "Order Completed", "reason": "converted"}],
        "goal": {"event": "Order Completed", "within": "3d"},
        "steps": [
            {"id": "wait", "delay": "30m"},
            {"id": "big", "branch": {"if": {"attribute": {"field": "vip", "operator": "eq", "value": true}},
                                     "then": "sms", "else": "ab"}},
            {"id": "ab", "random": {"paths": [{"weight": 1, "next": "sms"}, {"weight": 1, "next": "daytime"}],
                                    "holdout": 10}},
            {"id": "daytime", "time_window": {"from": "09:00", "to": "17:00", "fallback_timezone": "Europe/Paris"}},
            {"id": "sms", "send": {"channel": "sms", "template": "cart-sms"}},
            {"id": "wait-order", "wait_until": {"event": {"name": "Order Completed"}, "timeout": "3d",
                                                "on_timeout": "email"}},
            {"id": "email", "send": {"channel": "email", "template": "cart-email"}}
        ]
    })
}

/// `doc` with the node at `pointer` replaced by `value` (or removed when `None`).
fn with(pointer: &str, value: Option<Value>) -> Value {
    let mut doc = valid();
    let (parent, key) = pointer.rsplit_once('/').expect("a pointer");
    let parent = doc.pointer_mut(parent).expect("the parent exists");
    match (parent, value) {
        (Value::Object(map), Some(v)) => {
            map.insert(key.to_string(), v);
        }
        (Value::Object(map), None) => {
            map.remove(key);
        }
        (Value::Array(items), Some(v)) => {
            let i: usize = key.parse().expect("an index");
            if i < items.len() {
                items[i] = v;
            } else {
                items.push(v);
            }
        }
        (Value::Array(items), None) => {
            items.remove(key.parse::<usize>().expect("an index"));
        }
        _ => panic!("{pointer} is not inside an object or array"),
    }
    doc
}

/// Asserts the document is refused at `pointer`, with a message containing `says`.
fn refused(doc: Value, pointer: &str, says: &str) {
    let error = parse_journey(&doc).expect_err("the document is refused");
    assert_eq!(error.pointer, pointer, "{error}");
    assert!(
        error.message.contains(says),
        "'{}' should say '{says}'",
        error.message
    );
    assert_eq!(error.to_string(), format!("{pointer}: {}", error.message));
}

#[test]
fn the_base_document_is_valid() {
    let journey = parse_journey(&valid()).expect("valid");
    assert_eq!(journey.steps.len(), 7);
    assert_eq!(journey.first_step().id, "wait");
}

#[test]
fn unknown_keys_anywhere() {
    refused(
        with("/kind", Some(json!("journey"))),
        "/kind",
        "unknown key 'kind'",
    );
    refused(
        with("/trigger/on_event", Some(json!(1))),
        "/trigger/on_event",
        "unknown key",
    );
    refused(
        with("/entry/keys", Some(json!("a"))),
        "/entry/keys",
        "unknown key",
    );
    refused(
        with("/exit/0/when", Some(json!(1))),
        "/exit/0/when",
        "unknown key",
    );
    refused(
        with("/goal/match_on", Some(json!([]))),
        "/goal/match_on",
        "unknown key",
    );
    refused(
        with("/steps/0/label", Some(json!("x"))),
        "/steps/0/label",
        "unknown key",
    );
    refused(
        with("/steps/1/branch/elif", Some(json!("x"))),
        "/steps/1/branch/elif",
        "unknown key",
    );
    refused(
        with("/steps/4/send/subject", Some(json!("x"))),
        "/steps/4/send/subject",
        "unknown key",
    );
    refused(
        with("/migrate", Some(json!({"steps": {}, "all": true}))),
        "/migrate/all",
        "unknown key",
    );
    refused(
        with("/steps/0/a~b", Some(json!(1))),
        "/steps/0/a~0b",
        "unknown key",
    );
}

#[test]
fn missing_parts() {
    refused(with("/id", None), "/id", "required");
    refused(with("/name", None), "/name", "required");
    refused(with("/trigger", None), "/trigger", "required");
    refused(with("/steps", None), "/steps", "required");
    refused(
        with("/steps", Some(json!([]))),
        "/steps",
        "at least one step",
    );
    refused(with("/steps/0/id", None), "/steps/0/id", "required");
    refused(
        with("/steps/0", Some(json!({"id": "wait"}))),
        "/steps/0",
        "needs one kind",
    );
    refused(
        with("/steps/4/send/template", None),
        "/steps/4/send/template",
        "required",
    );
    refused(with("/goal/within", None), "/goal/within", "required");
    refused(
        with("/steps/5/wait_until/timeout", None),
        "/steps/5/wait_until/timeout",
        "required",
    );
    refused(
        with("/exit/0", Some(json!({"reason": "x"}))),
        "/exit/0",
        "needs event or conditions",
    );
}

#[test]
fn ids_and_duplicates() {
    refused(
        with("/id", Some(json!("Cart Recovery"))),
        "/id",
        "not an id",
    );
    refused(
        with("/steps/1/id", Some(json!("wait"))),
        "/steps/1/id",
        "duplicate step id 'wait'",
    );
    refused(
        with("/steps/0/id", Some(json!("-wait"))),
        "/steps/0/id",
        "not an id",
    );
}

#[test]
fn bad_durations() {
    refused(
        with("/steps/0/delay", Some(json!("30 minutes"))),
        "/steps/0/delay",
        "duration",
    );
    refused(
        with("/steps/0/delay", Some(json!("0m"))),
        "/steps/0/delay",
        "duration",
    );
    refused(
        with("/steps/0/delay", Some(json!("-5m"))),
        "/steps/0/delay",
        "duration",
    );
    refused(
        with("/goal/within", Some(json!(3))),
        "/goal/within",
        "duration",
    );
    refused(
        with("/max_lateness", Some(json!("2 hours"))),
        "/max_lateness",
        "duration",
    );
    refused(
        with("/entry/frequency/once_per", Some(json!("monthly"))),
        "/entry/frequency/once_per",
        "duration",
    );
    refused(
        with(
            "/steps/0",
            Some(
                json!({"id": "wait", "delay_until": {"time": "trigger.timestamp", "offset": "6 h"}}),
            ),
        ),
        "/steps/0/delay_until/offset",
        "offset",
    );
    refused(
        with(
            "/trigger",
            Some(json!({"date": "renews_at", "offset": "-x"})),
        ),
        "/trigger/offset",
        "offset",
    );
}

#[test]
fn jumps_must_name_a_step() {
    refused(
        with("/steps/1/branch/then", Some(json!("nowhere"))),
        "/steps/1/branch/then",
        "no step 'nowhere'",
    );
    refused(
        with("/steps/1/branch/else", Some(json!("nowhere"))),
        "/steps/1/branch/else",
        "no step 'nowhere'",
    );
    refused(
        with("/steps/0/next", Some(json!("nowhere"))),
        "/steps/0/next",
        "no step 'nowhere'",
    );
    refused(
        with("/steps/5/wait_until/on_timeout", Some(json!("nowhere"))),
        "/steps/5/wait_until/on_timeout",
        "no step",
    );
    refused(
        with("/steps/2/random/paths/1/next", Some(json!("nowhere"))),
        "/steps/2/random/paths/1/next",
        "no step",
    );
    refused(
        with(
            "/steps/1",
            Some(
                json!({"id": "big", "split": {"paths": [{"if": {"segment": {"id": 1}}, "next": "x"}], "else": "ab"}}),
            ),
        ),
        "/steps/1/split/paths/0/next",
        "no step 'x'",
    );
    refused(
        with("/migrate", Some(json!({"steps": {"old-wait": "gone"}}))),
        "/migrate/steps/old-wait",
        "no step 'gone'",
    );
    refused(
        with("/steps/1/next", Some(json!("sms"))),
        "/steps/1/next",
        "takes no next",
    );
}

#[test]
fn unreachable_steps_and_loops_without_a_wait() {
    // The branch goes to sms or ab; with both to sms, ab and daytime are never reached.
    refused(
        with("/steps/1/branch/else", Some(json!("sms"))),
        "/steps/2",
        "step 'ab' is never reached",
    );
    let mut after_exit = with("/steps/7", Some(json!({"id": "done", "exit": {}})));
    after_exit["steps"]
        .as_array_mut()
        .expect("steps")
        .push(json!({"id": "late", "delay": "1d"}));
    refused(after_exit, "/steps/8", "'late' is never reached");
    // big → again → big never waits.
    let spinning = with(
        "/steps",
        Some(json!([
            {"id": "wait", "delay": "1m"},
            {"id": "big", "branch": {"if": {"segment": {"id": 1}}, "then": "again", "else": "done"}},
            {"id": "again", "send": {"channel": "email", "template": "t"}, "next": "big"},
            {"id": "done", "exit": {}}
        ])),
    );
    refused(
        spinning,
        "/steps/2/next",
        "big → again → big has no delay or wait",
    );
    // A loop through a wait is fine.
    assert!(parse_journey(&with("/steps/6/next", Some(json!("wait")))).is_ok());
}

#[test]
fn invalid_conditions_keep_the_condition_parsers_pointer() {
    refused(
        with(
            "/steps/1/branch/if",
            Some(json!({"attribute": {"field": "vip", "operator": "equals", "value": 1}})),
        ),
        "/steps/1/branch/if/attribute/operator",
        "unknown operator 'equals'",
    );
    refused(
        with("/entry/conditions", Some(json!({"and": []}))),
        "/entry/conditions/and",
        "non-empty",
    );
    refused(
        with("/exit/1", Some(json!({"conditions": {"bogus": {}}}))),
        "/exit/1/conditions",
        "unknown condition",
    );
    refused(
        with("/trigger/where/0/operator", Some(json!("bigger"))),
        "/trigger/where/0/operator",
        "unknown operator",
    );
    refused(
        with(
            "/steps/4/skip_if",
            Some(json!({"event": {"name": "X", "within": "soon"}})),
        ),
        "/steps/4/skip_if/event/within",
        "within",
    );
    refused(
        with("/steps/0/skip_if", Some(json!({"segment": {"id": 1}}))),
        "/steps/0/skip_if",
        "only on send",
    );
}

#[test]
fn time_windows() {
    refused(
        with(
            "/steps/3/time_window/fallback_timezone",
            Some(json!("Mars/Olympus")),
        ),
        "/steps/3/time_window/fallback_timezone",
        "not an IANA time zone",
    );
    refused(
        with("/steps/3/time_window/to", Some(json!("08:00"))),
        "/steps/3/time_window/to",
        "later than from",
    );
    refused(
        with("/steps/3/time_window/to", Some(json!("09:00"))),
        "/steps/3/time_window/to",
        "later than from",
    );
    refused(
        with("/steps/3/time_window/from", Some(json!("9am"))),
        "/steps/3/time_window/from",
        "HH:MM",
    );
    refused(
        with("/steps/3/time_window/days", Some(json!(["mon", "funday"]))),
        "/steps/3/time_window/days/1",
        "a day is",
    );
}

#[test]
fn random_weights_and_holdout() {
    refused(
        with("/steps/2/random/paths/0/weight", Some(json!(0))),
        "/steps/2/random/paths/0/weight",
        "above 0",
    );
    refused(
        with("/steps/2/random/paths/1/weight", Some(json!(-5))),
        "/steps/2/random/paths/1/weight",
        "above 0",
    );
    refused(
        with("/steps/2/random/paths/1/weight", Some(json!(0.5))),
        "/steps/2/random/paths/1/weight",
        "above 0",
    );
    refused(
        with("/steps/2/random/holdout", Some(json!(101))),
        "/steps/2/random/holdout",
        "0 to 100",
    );
    refused(
        with("/steps/2/random/holdout", Some(json!(-1))),
        "/steps/2/random/holdout",
        "0 to 100",
    );
    assert!(parse_journey(&with("/steps/2/random/holdout", Some(json!(100)))).is_ok());
    assert!(parse_journey(&with("/steps/2/random/holdout", Some(json!(0)))).is_ok());
}

#[test]
fn triggers() {
    refused(
        with("/trigger/segment", Some(json!(12))),
        "/trigger/segment",
        "exactly one kind",
    );
    refused(
        with("/trigger", Some(json!({"segment": 12, "broadcast": true}))),
        "/trigger/broadcast",
        "exactly one kind",
    );
    refused(
        with("/trigger", Some(json!({}))),
        "/trigger",
        "needs one of",
    );
    refused(
        with("/trigger", Some(json!({"segment": "vip"}))),
        "/trigger/segment",
        "segment id",
    );
    refused(
        with("/trigger", Some(json!({"segment": 3, "on": "joined"}))),
        "/trigger/on",
        "entered or exited",
    );
    refused(
        with("/trigger", Some(json!({"segment": 3, "where": []}))),
        "/trigger/where",
        "goes with a event trigger",
    );
    refused(
        with("/trigger", Some(json!({"broadcast": false}))),
        "/trigger/broadcast",
        "takes true",
    );
    refused(
        with("/trigger", Some(json!({"attribute_changed": "a..b"}))),
        "/trigger/attribute_changed",
        "empty name",
    );
}

#[test]
fn other_refusals() {
    refused(
        with("/steps/4/send/channel", Some(json!("fax"))),
        "/steps/4/send/channel",
        "unknown channel 'fax'",
    );
    refused(
        with("/entry/on_retrigger", Some(json!("again"))),
        "/entry/on_retrigger",
        "restart, update or ignore",
    );
    refused(
        with("/entry/frequency", Some(json!("twice"))),
        "/entry/frequency",
        "once, every_time",
    );
    refused(
        with(
            "/steps/0",
            Some(json!({"id": "wait", "delay": "1h", "exit": {}})),
        ),
        "/steps/0/exit",
        "exactly one kind",
    );
    refused(
        with(
            "/steps/0",
            Some(json!({"id": "wait", "webhook": {"url": "ftp://x"}})),
        ),
        "/steps/0/webhook/url",
        "https://",
    );
    refused(
        with(
            "/steps/0",
            Some(
                json!({"id": "wait", "webhook": {"url": "https://x", "map_response": {"a": "data.id"}}}),
            ),
        ),
        "/steps/0/webhook/map_response/a",
        "JSON pointer",
    );
    refused(
        with(
            "/steps/0",
            Some(json!({"id": "wait", "update": {"attributes": {}}})),
        ),
        "/steps/0/update/attributes",
        "at least one",
    );
    refused(
        with("/steps/5/wait_until", Some(json!({"timeout": "1d"}))),
        "/steps/5/wait_until",
        "an event, conditions, or both",
    );
    refused(
        with(
            "/steps/0",
            Some(json!({"id": "wait", "delay_until": {"time": "yesterday"}})),
        ),
        "/steps/0/delay_until/time",
        "trigger.timestamp",
    );
}

#[test]
fn tracking_and_goal_attribution() {
    use nudge_journeys::{Attribution, StepKind};
    let journey = parse_journey(&with("/steps/6/send/tracked", Some(json!(true)))).unwrap();
    assert!(matches!(
        journey.step("email").unwrap().kind,
        StepKind::Send { tracked: true, .. }
    ));
    let plain = parse_journey(&valid()).unwrap();
    assert!(matches!(
        plain.step("email").unwrap().kind,
        StepKind::Send { tracked: false, .. }
    ));
    assert_eq!(plain.goal.unwrap().attribution, Attribution::Sent);
    for name in ["sent", "opened", "clicked"] {
        let journey = parse_journey(&with("/goal/attribution", Some(json!(name)))).unwrap();
        assert_eq!(journey.goal.unwrap().attribution.as_str(), name);
    }
    refused(
        with("/steps/4/send/tracked", Some(json!(true))),
        "/steps/4/send/tracked",
        "only email can be tracked, not sms",
    );
    refused(
        with("/steps/6/send/tracked", Some(json!("yes"))),
        "/steps/6/send/tracked",
        "true or false",
    );
    refused(
        with("/goal/attribution", Some(json!("delivered"))),
        "/goal/attribution",
        "attribution is one of sent, opened, clicked",
    );
}
