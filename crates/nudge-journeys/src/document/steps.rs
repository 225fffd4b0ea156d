//! Reading the `steps` list: one reader per step kind, each refusing bad input with the JSON
//! pointer of the node. Connections between steps are checked afterwards, in `graph`.

use std::collections::{BTreeMap, BTreeSet};

use nudge_core::JsonMap;
use serde_json::{Map, Value};

use super::reader::{
    child, condition, duration, fail, identifier, object, only_keys, reason, required, text, Parsed,
};
use super::waits::{delay_until, time_window, wait_until};
use crate::model::{RandomPath, SplitPath, Step, StepKind, WebhookRequest};
use crate::reasons;

/// Every step kind, by the key that names it in a document.
pub const STEP_KINDS: &[&str] = &[
    "delay",
    "delay_until",
    "wait_until",
    "time_window",
    "branch",
    "split",
    "random",
    "send",
    "update",
    "webhook",
    "emit",
    "exit",
];

const CHANNELS: &[&str] = &["email", "sms", "push"];
const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE"];

pub(crate) fn parse_steps(value: &Value, at: &str) -> Parsed<Vec<Step>> {
    let Some(items) = value.as_array() else {
        return fail(at, "steps is a list of steps");
    };
    if items.is_empty() {
        return fail(at, "a journey needs at least one step");
    }
    let mut ids = BTreeSet::new();
    let mut steps = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{at}/{i}");
        let step = step(item, &here)?;
        if !ids.insert(step.id.clone()) {
            return fail(
                &child(&here, "id"),
                format!("duplicate step id '{}'", step.id),
            );
        }
        steps.push(step);
    }
    Ok(steps)
}

fn step(value: &Value, at: &str) -> Parsed<Step> {
    let map = object(value, at, "a step")?;
    only_keys(map, &[STEP_KINDS, &["id", "next", "skip_if"]].concat(), at)?;
    let id = identifier(required(map, "id", at)?, &child(at, "id"))?;
    let kinds: Vec<&str> = STEP_KINDS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let kind_name = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return fail(
                at,
                format!("a step needs one kind: {}", STEP_KINDS.join(", ")),
            )
        }
        [first, second, ..] => {
            return fail(
                &child(at, second),
                format!("a step has exactly one kind; found '{first}' and '{second}'"),
            )
        }
    };
    let kind = kind(kind_name, &map[kind_name], &child(at, kind_name), map, at)?;
    let next = match map.get("next") {
        None => None,
        Some(_) if kind.chooses_next() => {
            return fail(
                &child(at, "next"),
                format!("a {kind_name} step chooses its own way: it takes no next"),
            )
        }
        Some(v) => Some(identifier(v, &child(at, "next"))?),
    };
    if map.contains_key("skip_if") && kind_name != "send" {
        return fail(&child(at, "skip_if"), "skip_if goes only on send steps");
    }
    Ok(Step { id, kind, next })
}

fn kind(
    name: &str,
    value: &Value,
    at: &str,
    step: &Map<String, Value>,
    step_at: &str,
) -> Parsed<StepKind> {
    Ok(match name {
        "delay" => StepKind::Delay {
            duration: duration(value, at)?,
        },
        "delay_until" => delay_until(value, at)?,
        "wait_until" => wait_until(value, at)?,
        "time_window" => StepKind::TimeWindow(time_window(value, at)?),
        "branch" => {
            let map = object(value, at, "branch")?;
            only_keys(map, &["if", "then", "else"], at)?;
            StepKind::Branch {
                condition: condition(required(map, "if", at)?, &child(at, "if"))?,
                then: identifier(required(map, "then", at)?, &child(at, "then"))?,
                otherwise: identifier(required(map, "else", at)?, &child(at, "else"))?,
            }
        }
        "split" => split(value, at)?,
        "random" => random(value, at)?,
        "send" => {
            let map = object(value, at, "send")?;
            only_keys(map, &["channel", "template", "tracked"], at)?;
            let channel_at = child(at, "channel");
            let channel = text(required(map, "channel", at)?, &channel_at)?;
            if !CHANNELS.contains(&channel.as_str()) {
                return fail(
                    &channel_at,
                    format!(
                        "unknown channel '{channel}' (channels: {})",
                        CHANNELS.join(", ")
                    ),
                );
            }
            let tracked = match map.get("tracked") {
                None => false,
                Some(Value::Bool(flag)) => *flag,
                Some(_) => return fail(&child(at, "tracked"), "tracked is true or false"),
            };
            if tracked && channel != "email" {
                return fail(
                    &child(at, "tracked"),
                    format!("only email can be tracked, not {channel}"),
                );
            }
            StepKind::Send {
                tracked,
                channel,
                template: text(required(map, "template", at)?, &child(at, "template"))?,
                skip_if: step
                    .get("skip_if")
                    .map(|v| condition(v, &child(step_at, "skip_if")))
                    .transpose()?,
            }
        }
        "update" => {
            let map = object(value, at, "update")?;
            only_keys(map, &["attributes"], at)?;
            let attributes_at = child(at, "attributes");
            let attributes = object(
                required(map, "attributes", at)?,
                &attributes_at,
                "attributes",
            )?;
            if attributes.is_empty() {
                return fail(&attributes_at, "attributes must set at least one attribute");
            }
            StepKind::Update {
                attributes: attributes.clone(),
            }
        }
        "webhook" => StepKind::Webhook(webhook(value, at)?),
        "emit" => {
            let map = object(value, at, "emit")?;
            only_keys(map, &["event", "data"], at)?;
            StepKind::Emit {
                event: text(required(map, "event", at)?, &child(at, "event"))?,
                data: match map.get("data") {
                    None => JsonMap::new(),
                    Some(v) => object(v, &child(at, "data"), "data")?.clone(),
                },
            }
        }
        _ => {
            let empty = Map::new();
            let map = match value {
                Value::Null => &empty,
                other => object(other, at, "exit")?,
            };
            only_keys(map, &["reason"], at)?;
            StepKind::Exit {
                reason: reason(map, at, reasons::EXIT_STEP)?,
            }
        }
    })
}

fn split(value: &Value, at: &str) -> Parsed<StepKind> {
    let map = object(value, at, "split")?;
    only_keys(map, &["paths", "else"], at)?;
    let paths_at = child(at, "paths");
    let Some(items) = required(map, "paths", at)?
        .as_array()
        .filter(|a| !a.is_empty())
    else {
        return fail(&paths_at, "paths is a non-empty list of {if, next}");
    };
    let mut paths = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{paths_at}/{i}");
        let path = object(item, &here, "a split path")?;
        only_keys(path, &["if", "next"], &here)?;
        paths.push(SplitPath {
            condition: condition(required(path, "if", &here)?, &child(&here, "if"))?,
            next: identifier(required(path, "next", &here)?, &child(&here, "next"))?,
        });
    }
    Ok(StepKind::Split {
        paths,
        otherwise: identifier(required(map, "else", at)?, &child(at, "else"))?,
    })
}

fn random(value: &Value, at: &str) -> Parsed<StepKind> {
    let map = object(value, at, "random")?;
    only_keys(map, &["paths", "holdout"], at)?;
    let paths_at = child(at, "paths");
    let Some(items) = required(map, "paths", at)?
        .as_array()
        .filter(|a| !a.is_empty())
    else {
        return fail(&paths_at, "paths is a non-empty list of {weight, next}");
    };
    let mut paths = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let here = format!("{paths_at}/{i}");
        let path = object(item, &here, "a random path")?;
        only_keys(path, &["weight", "next"], &here)?;
        let weight_at = child(&here, "weight");
        let weight = required(path, "weight", &here)?
            .as_u64()
            .filter(|w| *w > 0)
            .and_then(|w| u32::try_from(w).ok());
        let Some(weight) = weight else {
            return fail(&weight_at, "a weight is a whole number above 0");
        };
        paths.push(RandomPath {
            weight,
            next: identifier(required(path, "next", &here)?, &child(&here, "next"))?,
        });
    }
    let holdout = match map.get("holdout") {
        None => 0,
        Some(v) => match v.as_u64().filter(|h| *h <= 100) {
            Some(h) => h as u8,
            None => {
                return fail(
                    &child(at, "holdout"),
                    "holdout is a percentage from 0 to 100",
                )
            }
        },
    };
    Ok(StepKind::Random { paths, holdout })
}

fn webhook(value: &Value, at: &str) -> Parsed<WebhookRequest> {
    let map = object(value, at, "webhook")?;
    only_keys(
        map,
        &["method", "url", "headers", "body", "map_response"],
        at,
    )?;
    let method = match map.get("method") {
        None => "POST".to_string(),
        Some(v) => {
            let method = text(v, &child(at, "method"))?.to_ascii_uppercase();
            if !METHODS.contains(&method.as_str()) {
                return fail(
                    &child(at, "method"),
                    format!("method is one of {}", METHODS.join(", ")),
                );
            }
            method
        }
    };
    let url_at = child(at, "url");
    let url = text(required(map, "url", at)?, &url_at)?;
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return fail(&url_at, "url starts with https:// or http://");
    }
    let headers = string_map(map.get("headers"), &child(at, "headers"), |_, _| Ok(()))?;
    let body = match map.get("body") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return fail(&child(at, "body"), "body is text (Liquid)"),
    };
    let map_response = string_map(
        map.get("map_response"),
        &child(at, "map_response"),
        |pointer, here| {
            if pointer.is_empty() || pointer.starts_with('/') {
                Ok(())
            } else {
                fail(here, "a response field is a JSON pointer such as /data/id")
            }
        },
    )?;
    Ok(WebhookRequest {
        method,
        url,
        headers,
        body,
        map_response,
    })
}

/// An optional object of strings, each value checked by `check(value, pointer)`.
fn string_map(
    value: Option<&Value>,
    at: &str,
    check: impl Fn(&str, &str) -> Parsed<()>,
) -> Parsed<BTreeMap<String, String>> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let mut out = BTreeMap::new();
    for (key, v) in object(value, at, "this")? {
        let here = child(at, key);
        let Some(s) = v.as_str() else {
            return fail(&here, "must be a string");
        };
        check(s, &here)?;
        out.insert(key.clone(), s.to_string());
    }
    Ok(out)
}
