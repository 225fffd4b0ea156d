//! JSON (or YAML read into JSON) → [`Journey`]: the document's top level, its trigger, entry,
//! exits, goal and migration. Steps are read in `steps` and their connections checked in
//! `graph`. Anything malformed is refused with the JSON pointer of the offending node.

mod graph;
mod reader;
mod steps;
mod waits;

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::error::JourneyError;
use crate::model::{
    Attribution, Entry, ExitRule, Frequency, Goal, Journey, Migration, Retrigger, SegmentEdge,
    Step, Trigger,
};
use crate::reasons;
use reader::{
    child, condition, duration, event_match, fail, field_path, identifier, object, only_keys,
    reason, required, signed_duration, text, Parsed,
};

pub use steps::STEP_KINDS;

const TOP_KEYS: &[&str] = &[
    "id",
    "name",
    "description",
    "trigger",
    "entry",
    "exit",
    "goal",
    "max_lateness",
    "migrate",
    "steps",
];

const TRIGGER_KINDS: &[&str] = &["event", "segment", "attribute_changed", "date", "broadcast"];

/// Reads and validates a journey document (without the file's `kind` and `format`).
pub fn parse_journey(document: &Value) -> Result<Journey, JourneyError> {
    let map = object(document, "", "a journey document")?;
    only_keys(map, TOP_KEYS, "")?;
    let id = identifier(required(map, "id", "")?, "/id")?;
    let name = text(required(map, "name", "")?, "/name")?;
    let description = match map.get("description") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return fail("/description", "description is text"),
    };
    let trigger = trigger(required(map, "trigger", "")?, "/trigger")?;
    let entry = match map.get("entry") {
        None => Entry::default(),
        Some(v) => entry(v, "/entry")?,
    };
    let exits = match map.get("exit") {
        None => Vec::new(),
        Some(v) => exits(v, "/exit")?,
    };
    let goal = map.get("goal").map(|v| goal(v, "/goal")).transpose()?;
    let max_lateness = map
        .get("max_lateness")
        .map(|v| duration(v, "/max_lateness"))
        .transpose()?;
    let steps = steps::parse_steps(required(map, "steps", "")?, "/steps")?;
    let index = graph::check(&steps)?;
    waits::check_computed_offsets(&trigger, &steps, "/steps")?;
    let migrate = match map.get("migrate") {
        None => Migration::default(),
        Some(v) => migration(v, "/migrate", &steps, &index)?,
    };
    Ok(Journey {
        id,
        name,
        description,
        trigger,
        entry,
        exits,
        goal,
        max_lateness,
        migrate,
        steps,
        index,
    })
}

fn trigger(value: &Value, at: &str) -> Parsed<Trigger> {
    let map = object(value, at, "trigger")?;
    only_keys(
        map,
        &[TRIGGER_KINDS, &["where", "on", "offset"]].concat(),
        at,
    )?;
    let kinds: Vec<&str> = TRIGGER_KINDS
        .iter()
        .copied()
        .filter(|k| map.contains_key(*k))
        .collect();
    let kind = match kinds.as_slice() {
        [one] => *one,
        [] => {
            return fail(
                at,
                format!("a trigger needs one of: {}", TRIGGER_KINDS.join(", ")),
            )
        }
        [first, second, ..] => {
            return fail(
                &child(at, second),
                format!("a trigger has exactly one kind; found '{first}' and '{second}'"),
            )
        }
    };
    for (extra, owner) in [("where", "event"), ("on", "segment"), ("offset", "date")] {
        if map.contains_key(extra) && kind != owner {
            return fail(
                &child(at, extra),
                format!("'{extra}' goes with a {owner} trigger, not a {kind} trigger"),
            );
        }
    }
    let here = child(at, kind);
    Ok(match kind {
        "event" => {
            let matcher = event_match(map, "event", at)?;
            Trigger::Event {
                name: matcher.name,
                filters: matcher.filters,
            }
        }
        "segment" => {
            let Some(id) = map[kind].as_i64() else {
                return fail(&here, "segment is a segment id (an integer)");
            };
            let on = match map.get("on").map(|v| (v, v.as_str())) {
                None => SegmentEdge::Entered,
                Some((_, Some("entered"))) => SegmentEdge::Entered,
                Some((_, Some("exited"))) => SegmentEdge::Exited,
                Some(_) => return fail(&child(at, "on"), "on is entered or exited"),
            };
            Trigger::Segment { id, on }
        }
        "attribute_changed" => Trigger::AttributeChanged {
            field: field_path(&map[kind], &here)?,
        },
        "date" => Trigger::Date {
            attribute: field_path(&map[kind], &here)?,
            offset: match map.get("offset") {
                None => 0,
                Some(v) => signed_duration(v, &child(at, "offset"))?,
            },
        },
        _ => match map[kind] {
            Value::Bool(true) => Trigger::Broadcast,
            _ => return fail(&here, "broadcast takes true"),
        },
    })
}

fn entry(value: &Value, at: &str) -> Parsed<Entry> {
    let map = object(value, at, "entry")?;
    only_keys(map, &["conditions", "frequency", "key", "on_retrigger"], at)?;
    let conditions = map
        .get("conditions")
        .map(|v| condition(v, &child(at, "conditions")))
        .transpose()?;
    let frequency_at = child(at, "frequency");
    let frequency = match map.get("frequency") {
        None => Frequency::EveryTime,
        Some(Value::String(s)) if s == "once" => Frequency::Once,
        Some(Value::String(s)) if s == "every_time" => Frequency::EveryTime,
        Some(Value::Object(period)) if period.len() == 1 && period.contains_key("once_per") => {
            Frequency::OncePer(duration(
                &period["once_per"],
                &child(&frequency_at, "once_per"),
            )?)
        }
        Some(_) => {
            return fail(
                &frequency_at,
                "frequency is once, every_time or {once_per: <duration>}",
            )
        }
    };
    let key = map
        .get("key")
        .map(|v| field_path(v, &child(at, "key")))
        .transpose()?;
    let on_retrigger = match map.get("on_retrigger").map(Value::as_str) {
        None | Some(Some("restart")) => Retrigger::Restart,
        Some(Some("update")) => Retrigger::Update,
        Some(Some("ignore")) => Retrigger::Ignore,
        Some(_) => {
            return fail(
                &child(at, "on_retrigger"),
                "on_retrigger is restart, update or ignore",
            )
        }
    };
    Ok(Entry {
        conditions,
        frequency,
        key,
        on_retrigger,
    })
}

fn exits(value: &Value, at: &str) -> Parsed<Vec<ExitRule>> {
    let Some(items) = value.as_array() else {
        return fail(at, "exit is a list of exit rules");
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| exit_rule(item, &format!("{at}/{i}")))
        .collect()
}

fn exit_rule(value: &Value, at: &str) -> Parsed<ExitRule> {
    let map = object(value, at, "an exit rule")?;
    match (map.contains_key("event"), map.contains_key("conditions")) {
        (true, false) => {
            only_keys(map, &["event", "where", "match", "reason"], at)?;
            Ok(ExitRule::Event {
                matcher: event_match(map, "event", at)?,
                reason: reason(map, at, reasons::EXIT_EVENT)?,
            })
        }
        (false, true) => {
            only_keys(map, &["conditions", "reason"], at)?;
            Ok(ExitRule::Condition {
                condition: condition(&map["conditions"], &child(at, "conditions"))?,
                reason: reason(map, at, reasons::EXIT_CONDITION)?,
            })
        }
        (true, true) => fail(
            &child(at, "conditions"),
            "an exit rule has either event or conditions, not both",
        ),
        (false, false) => fail(at, "an exit rule needs event or conditions"),
    }
}

fn goal(value: &Value, at: &str) -> Parsed<Goal> {
    let map = object(value, at, "goal")?;
    only_keys(
        map,
        &["event", "where", "match", "within", "attribution"],
        at,
    )?;
    Ok(Goal {
        matcher: event_match(map, "event", at)?,
        within: duration(required(map, "within", at)?, &child(at, "within"))?,
        attribution: attribution(map.get("attribution"), &child(at, "attribution"))?,
    })
}

/// `sent` (the default), `opened` or `clicked`.
fn attribution(value: Option<&Value>, at: &str) -> Parsed<Attribution> {
    let Some(value) = value else {
        return Ok(Attribution::Sent);
    };
    let names = Attribution::ALL.map(Attribution::as_str).join(", ");
    match value.as_str().and_then(Attribution::parse) {
        Some(attribution) => Ok(attribution),
        None => fail(at, format!("attribution is one of {names}, not {value}")),
    }
}

fn migration(
    value: &Value,
    at: &str,
    steps: &[Step],
    index: &BTreeMap<String, usize>,
) -> Parsed<Migration> {
    let map = object(value, at, "migrate")?;
    only_keys(map, &["steps", "by_step_id"], at)?;
    let by_step_id = match map.get("by_step_id") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return fail(&child(at, "by_step_id"), "by_step_id is true or false"),
    };
    let mut mapped = BTreeMap::new();
    if let Some(pairs) = map.get("steps") {
        let steps_at = child(at, "steps");
        let pairs: &Map<String, Value> = object(pairs, &steps_at, "migrate.steps")?;
        for (old, new) in pairs {
            let here = child(&steps_at, old);
            let Some(new) = new.as_str() else {
                return fail(&here, "each old step id maps to a step id of this version");
            };
            if !index.contains_key(new) {
                let known = steps.iter().map(|s| s.id.as_str()).collect::<Vec<_>>();
                return fail(
                    &here,
                    format!(
                        "no step '{new}' in this version (steps: {})",
                        known.join(", ")
                    ),
                );
            }
            mapped.insert(old.clone(), new.to_string());
        }
    }
    Ok(Migration {
        steps: mapped,
        by_step_id,
    })
}
