//! Small readers shared by the document parser: objects with known keys, required values,
//! names, durations, field paths, conditions and event matchers, each refusing bad input with
//! the JSON pointer of the node.

use nudge_conditions::{parse, parse_duration, parse_filters, Condition, DurationMs, FieldPath};
use serde_json::{Map, Value};

use crate::error::JourneyError;
use crate::model::EventMatch;

pub(crate) type Parsed<T> = Result<T, JourneyError>;

pub(crate) fn fail<T>(pointer: &str, message: impl Into<String>) -> Parsed<T> {
    Err(JourneyError::at(pointer, message))
}

/// `{at}/{key}`, with the key escaped as a JSON pointer token (`~` → `~0`, `/` → `~1`).
pub(crate) fn child(at: &str, key: &str) -> String {
    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"))
}

pub(crate) fn object<'a>(value: &'a Value, at: &str, what: &str) -> Parsed<&'a Map<String, Value>> {
    value
        .as_object()
        .map_or_else(|| fail(at, format!("{what} must be an object")), Ok)
}

pub(crate) fn only_keys(map: &Map<String, Value>, allowed: &[&str], at: &str) -> Parsed<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => fail(
            &child(at, key),
            format!("unknown key '{key}' (allowed: {})", allowed.join(", ")),
        ),
        None => Ok(()),
    }
}

pub(crate) fn required<'a>(map: &'a Map<String, Value>, key: &str, at: &str) -> Parsed<&'a Value> {
    map.get(key)
        .map_or_else(|| fail(&child(at, key), format!("{key} is required")), Ok)
}

/// A non-empty string, trimmed.
pub(crate) fn text(value: &Value, at: &str) -> Parsed<String> {
    match value.as_str().map(str::trim) {
        Some(s) if !s.is_empty() => Ok(s.to_string()),
        _ => fail(at, "must be a non-empty string"),
    }
}

/// A journey or step id: a lower-case letter or digit, then up to 63 of `a-z 0-9 _ -`.
pub(crate) fn identifier(value: &Value, at: &str) -> Parsed<String> {
    let Some(id) = value.as_str() else {
        return fail(at, "an id is a string");
    };
    let mut chars = id.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok && id.len() <= 64 {
        Ok(id.to_string())
    } else {
        fail(
            at,
            format!("'{id}' is not an id: a-z or 0-9 first, then up to 63 of a-z, 0-9, _ and -"),
        )
    }
}

/// A positive duration: `30m`, `24h`, `7d`, `2w`, `90s`.
pub(crate) fn duration(value: &Value, at: &str) -> Parsed<DurationMs> {
    value.as_str().and_then(parse_duration).map_or_else(
        || {
            fail(
                at,
                "a duration is a whole number above 0 and a unit: 90s, 30m, 24h, 7d, 2w",
            )
        },
        Ok,
    )
}

/// A duration that may be negative (`-3d`: three days before).
pub(crate) fn signed_duration(value: &Value, at: &str) -> Parsed<DurationMs> {
    let parsed = value
        .as_str()
        .map(str::trim)
        .and_then(|s| match s.strip_prefix('-') {
            Some(rest) => parse_duration(rest).map(|d| -d),
            None => parse_duration(s),
        });
    parsed.map_or_else(
        || {
            fail(
                at,
                "an offset is a duration such as 6h, or a negative one such as -3d",
            )
        },
        Ok,
    )
}

pub(crate) fn field_path(value: &Value, at: &str) -> Parsed<FieldPath> {
    let Some(text) = value.as_str() else {
        return fail(
            at,
            "a field path is a string such as cart_id or items[].sku",
        );
    };
    FieldPath::parse(text).or_else(|message| fail(at, message))
}

/// A condition document; its errors keep the condition parser's pointer, under `at`.
pub(crate) fn condition(value: &Value, at: &str) -> Parsed<Condition> {
    parse(value).map_err(|e| JourneyError::at(&format!("{at}{}", e.pointer), e.message))
}

/// An event matcher whose name sits under `name_key` of `map`, beside optional `where` and
/// `match` lists.
pub(crate) fn event_match(
    map: &Map<String, Value>,
    name_key: &str,
    at: &str,
) -> Parsed<EventMatch> {
    let name = text(required(map, name_key, at)?, &child(at, name_key))?;
    let filters = match map.get("where") {
        None => Vec::new(),
        Some(list) => parse_filters(list, &child(at, "where"))
            .map_err(|e| JourneyError::at(&e.pointer, e.message))?,
    };
    let matching = match map.get("match") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, item)| field_path(item, &format!("{at}/match/{i}")))
            .collect::<Parsed<_>>()?,
        Some(_) => return fail(&child(at, "match"), "match is a list of field paths"),
    };
    Ok(EventMatch {
        name,
        filters,
        matching,
    })
}

/// An optional free-text reason, with a default.
pub(crate) fn reason(map: &Map<String, Value>, at: &str, default: &str) -> Parsed<String> {
    match map.get("reason") {
        None => Ok(default.to_string()),
        Some(v) => text(v, &child(at, "reason")),
    }
}
