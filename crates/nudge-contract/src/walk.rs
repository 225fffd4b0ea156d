//! The one walk of observed data against declared properties that validation and drift
//! classification share: it visits exactly what the schema declares (so arbitrary input
//! cannot make it recurse deeper than the contract nests) and tells a [`Sink`] what differs.
//! It allocates nothing itself; sinks spell paths only when they record something.

use serde_json::Value;

use crate::model::{Properties, Schema, StringFormat};
use crate::path::{Path, Step};
use nudge_core::JsonMap;

/// What a walk reports. Each method gets the path of the node and what it needs to describe it.
pub(crate) trait Sink {
    /// Whether [`Sink::undeclared`] is wanted; when not, undeclared keys are not even looked at.
    fn wants_undeclared(&self) -> bool;
    /// A required property is absent or null.
    fn missing(&mut self, at: &Path<'_>, schema: &Schema);
    /// A value of another JSON type than declared.
    fn wrong_type(&mut self, at: &Path<'_>, schema: &Schema, value: &Value);
    /// A value of the declared type that the enum does not list.
    fn not_in_enum(&mut self, at: &Path<'_>, schema: &Schema, value: &Value);
    /// A string declared `format: date-time` that is not RFC 3339.
    fn bad_date_time(&mut self, at: &Path<'_>, value: &Value);
    /// A key of `observed` that `declared` does not list (null values count as absent).
    fn undeclared(
        &mut self,
        at: &Path<'_>,
        value: &Value,
        declared: &Properties,
        observed: &JsonMap,
    );
}

/// Checks one object's keys against its declared properties. A null value counts as absent.
pub(crate) fn object<S: Sink>(
    declared: &Properties,
    observed: &JsonMap,
    parent: Option<&Path<'_>>,
    sink: &mut S,
) {
    for (name, property) in declared {
        let here = Path::new(parent, Step::Key(name));
        match observed.get(name.as_str()) {
            None | Some(Value::Null) => {
                if property.required {
                    sink.missing(&here, &property.schema);
                }
            }
            Some(value) => self::value(&property.schema, value, &here, sink),
        }
    }
    if sink.wants_undeclared() && !observed.is_empty() {
        for (name, value) in observed {
            if !value.is_null() && !declared.contains_key(name.as_str()) {
                let here = Path::new(parent, Step::Key(name));
                sink.undeclared(&here, value, declared, observed);
            }
        }
    }
}

/// Checks one present, non-null value against its schema.
pub(crate) fn value<S: Sink>(schema: &Schema, value: &Value, at: &Path<'_>, sink: &mut S) {
    match (schema, value) {
        (Schema::String { format, values }, Value::String(text)) => {
            if *format == Some(StringFormat::DateTime) && !is_date_time(text) {
                sink.bad_date_time(at, value);
            } else if values
                .as_ref()
                .is_some_and(|values| !values.iter().any(|v| v == text))
            {
                sink.not_in_enum(at, schema, value);
            }
        }
        (Schema::Integer { values }, Value::Number(n)) => match whole(n) {
            None => sink.wrong_type(at, schema, value),
            Some(whole) => {
                if values
                    .as_ref()
                    .is_some_and(|values| !values.iter().any(|v| *v as f64 == whole))
                {
                    sink.not_in_enum(at, schema, value);
                }
            }
        },
        (Schema::Number { values }, Value::Number(n)) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if values.as_ref().is_some_and(|values| !values.contains(&n)) {
                sink.not_in_enum(at, schema, value);
            }
        }
        (Schema::Boolean, Value::Bool(_)) => {}
        (Schema::Object { properties }, Value::Object(map)) => {
            // No declared properties: free-form, nothing inside is checked.
            if !properties.is_empty() {
                object(properties, map, Some(at), sink);
            }
        }
        (Schema::Array { items }, Value::Array(elements)) => {
            if let Some(items) = items {
                for (i, element) in elements.iter().enumerate() {
                    let here = Path::new(Some(at), Step::Index(i));
                    self::value(items, element, &here, sink);
                }
            }
        }
        _ => sink.wrong_type(at, schema, value),
    }
}

/// A number's value when it is whole (`3`, `3.0`, `-2`), as a float for comparison.
fn whole(n: &serde_json::Number) -> Option<f64> {
    if n.is_i64() || n.is_u64() {
        return n.as_f64();
    }
    n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0)
}

/// Whether the text is an RFC 3339 timestamp (`2026-03-02T10:02:00Z`, `…+01:00`).
pub(crate) fn is_date_time(text: &str) -> bool {
    nudge_core::Timestamp::parse_rfc3339(text).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn date_times_are_rfc_3339() {
        assert!(is_date_time("2026-03-02T10:02:00Z"));
        assert!(is_date_time("2026-03-02T10:02:00.250+01:00"));
        for bad in [
            "2026-03-02",
            "yesterday",
            "1772445720",
            "2026-13-02T10:02:00Z",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
    }

    #[test]
    fn whole_numbers_are_integers_whichever_way_they_are_written() {
        let number = |text: &str| serde_json::from_str::<serde_json::Number>(text).unwrap();
        assert_eq!(whole(&number("3")), Some(3.0));
        assert_eq!(whole(&number("3.0")), Some(3.0));
        assert_eq!(whole(&number("-4e2")), Some(-400.0));
        assert!(whole(&number("18446744073709551615")).is_some());
        assert_eq!(whole(&number("3.5")), None);
    }
}
