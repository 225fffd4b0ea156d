//! JSON (or YAML read as JSON) → [`Contract`], refusing unknown keys, bad types and bad names
//! with a message that names the node by its JSON pointer
//! (`/events/Order Completed/properties/price/type: unknown type 'float'`).

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::model::{
    AdditionalProperties, Contract, Mode, Properties, Property, Schema, Section, StringFormat,
};
use crate::names::{event_name_problem, property_name_problem};

/// The only format this Nudge reads.
pub const FORMAT: u64 = 1;

/// Schemas nest at most this deep (an object in an array in an object … counts each level).
pub const MAX_DEPTH: usize = 32;

/// The keys each node of the format takes, as the docs and the JSON Schema list them.
pub mod keys {
    pub const DOCUMENT: &[&str] = &["kind", "format", "mode", "events", "person"];
    pub const EVENT: &[&str] = &[
        "version",
        "description",
        "mode",
        "additional_properties",
        "properties",
    ];
    pub const PERSON: &[&str] = &[
        "version",
        "description",
        "mode",
        "additional_properties",
        "attributes",
    ];
    pub const PROPERTY: &[&str] = &[
        "type",
        "required",
        "description",
        "format",
        "enum",
        "properties",
        "items",
    ];
    /// An array's `items` schema: a property without `required` and `description`.
    pub const ITEMS: &[&str] = &["type", "format", "enum", "properties", "items"];
    /// The values of `type`.
    pub const TYPES: &[&str] = &["string", "integer", "number", "boolean", "object", "array"];
}

/// A refused contract. `pointer` is the JSON pointer of the offending node (`""` is the whole
/// document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pointer}: {message}")]
pub struct ContractError {
    pub pointer: String,
    pub message: String,
}

type Parsed<T> = Result<T, ContractError>;

fn fail<T>(pointer: &str, message: impl Into<String>) -> Parsed<T> {
    Err(ContractError {
        pointer: pointer.to_string(),
        message: message.into(),
    })
}

/// `{at}/{key}`, with the key escaped as a JSON pointer token (`~` → `~0`, `/` → `~1`).
fn child(at: &str, key: &str) -> String {
    format!("{at}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn object<'a>(value: &'a Value, at: &str, what: &str) -> Parsed<&'a Map<String, Value>> {
    value
        .as_object()
        .map_or_else(|| fail(at, format!("{what} must be a mapping")), Ok)
}

fn only_keys(map: &Map<String, Value>, allowed: &[&str], at: &str) -> Parsed<()> {
    match map.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => fail(
            &child(at, key),
            format!("unknown key '{key}' (allowed: {})", allowed.join(", ")),
        ),
        None => Ok(()),
    }
}

/// A contract document: `format: 1`, an optional `kind: contract` (so the file can sit among
/// other definition files), `mode`, `events` and `person`.
pub fn parse(value: &Value) -> Parsed<Contract> {
    let map = object(value, "", "a contract")?;
    only_keys(map, keys::DOCUMENT, "")?;
    match map.get("kind") {
        None => {}
        Some(Value::String(kind)) if kind == "contract" => {}
        Some(other) => return fail("/kind", format!("kind must be 'contract', got {other}")),
    }
    match map.get("format") {
        Some(Value::Number(n)) if n.as_u64() == Some(FORMAT) => {}
        Some(other) => {
            return fail(
                "/format",
                format!("format {other} is not supported: this Nudge reads format {FORMAT}"),
            )
        }
        None => return fail("/format", format!("format is required (format: {FORMAT})")),
    }
    let mode = match map.get("mode") {
        None => Mode::Allow,
        Some(value) => mode(value, "/mode")?,
    };
    let mut events = BTreeMap::new();
    if let Some(value) = map.get("events") {
        for (name, event) in object(value, "/events", "events")? {
            let at = child("/events", name);
            if let Some(problem) = event_name_problem(name) {
                return fail(&at, problem);
            }
            events.insert(
                name.clone(),
                section(event, &at, keys::EVENT, "properties")?,
            );
        }
    }
    let person = match map.get("person") {
        None => Section::default(),
        Some(value) => section(value, "/person", keys::PERSON, "attributes")?,
    };
    Ok(Contract {
        mode,
        events,
        person,
    })
}

fn mode(value: &Value, at: &str) -> Parsed<Mode> {
    value
        .as_str()
        .and_then(Mode::parse)
        .map_or_else(|| fail(at, "mode is one of allow, quarantine, reject"), Ok)
}

/// An event's declaration, or the person's (whose properties sit under `attributes`).
fn section(value: &Value, at: &str, allowed: &[&str], properties_key: &str) -> Parsed<Section> {
    let map = object(value, at, "a declaration")?;
    only_keys(map, allowed, at)?;
    let version = match map.get("version") {
        None => 1,
        Some(v) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => n,
            _ => return fail(&child(at, "version"), "version is a whole number from 1"),
        },
    };
    let mode = match map.get("mode") {
        None => None,
        Some(value) => Some(mode(value, &child(at, "mode"))?),
    };
    let additional_properties = match map.get("additional_properties") {
        None => AdditionalProperties::Allow,
        Some(value) => value
            .as_str()
            .and_then(AdditionalProperties::parse)
            .map_or_else(
                || {
                    fail(
                        &child(at, "additional_properties"),
                        "additional_properties is allow or flag",
                    )
                },
                Ok,
            )?,
    };
    let properties = match map.get(properties_key) {
        None => Properties::new(),
        Some(value) => properties(value, &child(at, properties_key), 1)?,
    };
    Ok(Section {
        version,
        description: description(map, at)?,
        mode,
        additional_properties,
        properties,
    })
}

fn description(map: &Map<String, Value>, at: &str) -> Parsed<Option<String>> {
    match map.get("description") {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => fail(&child(at, "description"), "description must be text"),
    }
}

fn properties(value: &Value, at: &str, depth: usize) -> Parsed<Properties> {
    let map = object(value, at, "properties")?;
    let mut out = Properties::new();
    for (name, property) in map {
        let here = child(at, name);
        if let Some(problem) = property_name_problem(name) {
            return fail(&here, problem);
        }
        let property_map = object(property, &here, "a property")?;
        only_keys(property_map, keys::PROPERTY, &here)?;
        let required = match property_map.get("required") {
            None => false,
            Some(Value::Bool(required)) => *required,
            Some(_) => return fail(&child(&here, "required"), "required is true or false"),
        };
        out.insert(
            name.clone(),
            Property {
                schema: schema(property_map, &here, depth)?,
                required,
                description: description(property_map, &here)?,
            },
        );
    }
    Ok(out)
}

/// The type keywords of a property or of an array's `items` (whose keys were checked).
fn schema(map: &Map<String, Value>, at: &str, depth: usize) -> Parsed<Schema> {
    if depth > MAX_DEPTH {
        return fail(at, format!("schemas nest deeper than {MAX_DEPTH} levels"));
    }
    let type_at = child(at, "type");
    let type_name = match map.get("type") {
        Some(Value::String(name)) => name.as_str(),
        Some(_) => return fail(&type_at, "type must be text"),
        None => {
            return fail(
                &type_at,
                format!("type is required: {}", keys::TYPES.join(", ")),
            )
        }
    };
    let applies = |key: &str, types: &[&str]| -> Parsed<()> {
        if map.contains_key(key) && !types.contains(&type_name) {
            return fail(
                &child(at, key),
                format!(
                    "{key} applies to type {} only, not {type_name}",
                    types.join(" and ")
                ),
            );
        }
        Ok(())
    };
    if !keys::TYPES.contains(&type_name) {
        return fail(
            &type_at,
            format!(
                "unknown type '{type_name}' (types: {})",
                keys::TYPES.join(", ")
            ),
        );
    }
    applies("format", &["string"])?;
    applies("enum", &["string", "integer", "number"])?;
    applies("properties", &["object"])?;
    applies("items", &["array"])?;
    let enum_at = child(at, "enum");
    let listed = match map.get("enum") {
        None => None,
        Some(Value::Array(values)) if !values.is_empty() => Some(values),
        Some(_) => return fail(&enum_at, "enum is a non-empty list of values"),
    };
    Ok(match type_name {
        "string" => Schema::String {
            format: match map.get("format") {
                None => None,
                Some(Value::String(f)) if f == "date-time" => Some(StringFormat::DateTime),
                Some(_) => return fail(&child(at, "format"), "the one format is date-time"),
            },
            values: enum_values(listed, &enum_at, "text", |v| v.as_str().map(str::to_string))?,
        },
        "integer" => Schema::Integer {
            values: enum_values(listed, &enum_at, "whole numbers", whole_number)?,
        },
        "number" => Schema::Number {
            values: enum_values(listed, &enum_at, "numbers", Value::as_f64)?,
        },
        "boolean" => Schema::Boolean,
        "object" => Schema::Object {
            properties: match map.get("properties") {
                None => Properties::new(),
                Some(value) => properties(value, &child(at, "properties"), depth + 1)?,
            },
        },
        _ => Schema::Array {
            items: match map.get("items") {
                None => None,
                Some(value) => {
                    let items_at = child(at, "items");
                    let items = object(value, &items_at, "items")?;
                    only_keys(items, keys::ITEMS, &items_at)?;
                    Some(Box::new(schema(items, &items_at, depth + 1)?))
                }
            },
        },
    })
}

/// A whole number, written `3` or `3.0`.
pub(crate) fn whole_number(value: &Value) -> Option<i64> {
    if let Some(n) = value.as_i64() {
        return Some(n);
    }
    let f = value.as_f64()?;
    // i64::MAX as f64 rounds up to 2^63, which does not fit: the bound is exclusive.
    (f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64).then_some(f as i64)
}

fn enum_values<T: PartialEq>(
    listed: Option<&Vec<Value>>,
    at: &str,
    what: &str,
    read: impl Fn(&Value) -> Option<T>,
) -> Parsed<Option<Vec<T>>> {
    let Some(listed) = listed else {
        return Ok(None);
    };
    let mut values: Vec<T> = Vec::with_capacity(listed.len());
    for (i, value) in listed.iter().enumerate() {
        let Some(read) = read(value) else {
            return fail(
                &format!("{at}/{i}"),
                format!("this enum lists {what}, got {value}"),
            );
        };
        if values.contains(&read) {
            return fail(&format!("{at}/{i}"), format!("{value} is listed twice"));
        }
        values.push(read);
    }
    Ok(Some(values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refusal(value: Value) -> ContractError {
        parse(&value).expect_err("refused")
    }

    fn with_property(property: Value) -> Value {
        json!({"format": 1, "events": {"Order Completed": {"properties": {"price": property}}}})
    }

    const PRICE: &str = "/events/Order Completed/properties/price";

    #[test]
    fn the_document_needs_format_1_and_known_keys() {
        assert_eq!(
            refusal(json!([])).to_string(),
            ": a contract must be a mapping"
        );
        assert_eq!(
            refusal(json!({})).to_string(),
            "/format: format is required (format: 1)"
        );
        assert_eq!(refusal(json!({"format": 2})).pointer, "/format");
        assert_eq!(refusal(json!({"format": "1"})).pointer, "/format");
        let unknown = refusal(json!({"format": 1, "event": {}}));
        assert_eq!(unknown.pointer, "/event");
        assert!(unknown.message.contains("unknown key 'event'"));
        assert_eq!(
            refusal(json!({"format": 1, "kind": "journey"})).pointer,
            "/kind"
        );
        assert_eq!(
            refusal(json!({"format": 1, "mode": "block"})).to_string(),
            "/mode: mode is one of allow, quarantine, reject"
        );
        assert_eq!(
            refusal(json!({"format": 1, "events": []})).pointer,
            "/events"
        );
        assert!(parse(&json!({"format": 1, "kind": "contract"})).is_ok());
    }

    #[test]
    fn declarations_refuse_bad_settings_at_their_key() {
        let event = |body: Value| json!({"format": 1, "events": {"Viewed": body}});
        for (body, pointer) in [
            (json!({"version": 0}), "/events/Viewed/version"),
            (json!({"version": 1.5}), "/events/Viewed/version"),
            (json!({"version": "2"}), "/events/Viewed/version"),
            (json!({"mode": "drop"}), "/events/Viewed/mode"),
            (
                json!({"additional_properties": "strict"}),
                "/events/Viewed/additional_properties",
            ),
            (json!({"description": 3}), "/events/Viewed/description"),
            (json!({"attributes": {}}), "/events/Viewed/attributes"),
            (json!({"properties": []}), "/events/Viewed/properties"),
            (json!("Viewed"), "/events/Viewed"),
        ] {
            assert_eq!(refusal(event(body.clone())).pointer, pointer, "{body}");
        }
        let person = refusal(json!({"format": 1, "person": {"properties": {}}}));
        assert_eq!(person.pointer, "/person/properties");
    }

    #[test]
    fn bad_names_are_refused_where_they_stand() {
        let blank = refusal(json!({"format": 1, "events": {" ": {}}}));
        assert_eq!(blank.pointer, "/events/ ");
        assert!(blank.message.contains("blank"));
        let path_like = refusal(with_property(json!({"type": "object", "properties": {
            "a.b": {"type": "string"}}})));
        assert_eq!(path_like.pointer, format!("{PRICE}/properties/a.b"));
        let slash = refusal(json!({"format": 1, "events": {"a/b": {"version": 0}}}));
        assert_eq!(slash.pointer, "/events/a~1b/version");
    }

    #[test]
    fn properties_refuse_bad_types_and_misplaced_keywords() {
        for (property, pointer, message) in [
            (json!({}), "/type", "type is required"),
            (json!({"type": "float"}), "/type", "unknown type 'float'"),
            (json!({"type": 1}), "/type", "type must be text"),
            (
                json!({"type": "number", "format": "date-time"}),
                "/format",
                "format applies to type string only, not number",
            ),
            (
                json!({"type": "string", "format": "email"}),
                "/format",
                "the one format is date-time",
            ),
            (
                json!({"type": "string", "items": {"type": "string"}}),
                "/items",
                "items applies to type array only",
            ),
            (
                json!({"type": "array", "properties": {}}),
                "/properties",
                "properties applies to type object only",
            ),
            (
                json!({"type": "boolean", "enum": [true]}),
                "/enum",
                "enum applies to type string and integer and number only",
            ),
            (json!({"type": "string", "enum": []}), "/enum", "non-empty"),
            (
                json!({"type": "string", "enum": ["a", 1]}),
                "/enum/1",
                "lists text",
            ),
            (
                json!({"type": "string", "enum": ["a", "a"]}),
                "/enum/1",
                "twice",
            ),
            (
                json!({"type": "integer", "enum": [1, 1.5]}),
                "/enum/1",
                "whole numbers",
            ),
            (
                json!({"type": "string", "required": "yes"}),
                "/required",
                "true or false",
            ),
            (
                json!({"type": "string", "requird": true}),
                "/requird",
                "unknown key",
            ),
            (
                json!({"type": "array", "items": {"type": "string", "required": true}}),
                "/items/required",
                "unknown key 'required'",
            ),
            (
                json!({"type": "array", "items": {"type": "object", "properties": {"x": {"type": "map"}}}}),
                "/items/properties/x/type",
                "unknown type 'map'",
            ),
        ] {
            let error = refusal(with_property(property.clone()));
            assert_eq!(error.pointer, format!("{PRICE}{pointer}"), "{property}");
            assert!(error.message.contains(message), "{property}: {error}");
        }
    }

    #[test]
    fn every_type_parses() {
        let contract = parse(&with_property(json!({"type": "object", "properties": {
            "s": {"type": "string", "enum": ["a", "b"], "required": true, "description": "S"},
            "t": {"type": "string", "format": "date-time"},
            "i": {"type": "integer", "enum": [1, 2.0]},
            "n": {"type": "number", "enum": [1.5]},
            "b": {"type": "boolean"},
            "o": {"type": "object"},
            "a": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            "any": {"type": "array"}
        }})))
        .unwrap();
        let Schema::Object { properties } =
            &contract.event("Order Completed").unwrap().properties["price"].schema
        else {
            panic!("an object")
        };
        assert_eq!(
            properties["i"].schema,
            Schema::Integer {
                values: Some(vec![1, 2])
            }
        );
        assert_eq!(properties["t"].schema.label(), "string (date-time)");
        assert!(properties["s"].required && !properties["t"].required);
        assert_eq!(properties["s"].description.as_deref(), Some("S"));
        assert_eq!(properties["any"].schema, Schema::Array { items: None });
    }

    #[test]
    fn deep_schemas_are_refused_not_overflowed() {
        let mut property = json!({"type": "string"});
        for _ in 0..100 {
            property = json!({"type": "array", "items": property});
        }
        let error = refusal(with_property(property));
        assert!(error.message.contains("nest deeper than 32"), "{error}");
    }

    #[test]
    fn whole_numbers_include_integral_floats_in_range() {
        assert_eq!(whole_number(&json!(3)), Some(3));
        assert_eq!(whole_number(&json!(3.0)), Some(3));
        assert_eq!(whole_number(&json!(-2.0)), Some(-2));
        assert_eq!(whole_number(&json!(3.5)), None);
        assert_eq!(whole_number(&json!(1e300)), None);
        assert_eq!(whole_number(&json!("3")), None);
    }
}
