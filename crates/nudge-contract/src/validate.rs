//! Validation of one event's properties, or one identify call's traits, against the contract:
//! every [`Violation`] with its path, what was expected and what came. Runs on the ingest hot
//! path, so a conforming event costs no allocation at all (an empty `Vec` does not allocate);
//! messages are built only for violations.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{AdditionalProperties, Contract, Properties, Schema, Section, Subject};
use crate::path::{Indices, Path};
use crate::walk::{self, Sink};
use nudge_core::JsonMap;

/// What is wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViolationKind {
    /// The contract declares no event of this name.
    UndeclaredEvent,
    /// A required property is absent or null.
    MissingRequired,
    /// A value of another type than declared.
    WrongType,
    /// A value the property's `enum` does not list.
    NotInEnum,
    /// A `format: date-time` string that is not RFC 3339.
    BadDateTime,
    /// A property the contract does not declare, where `additional_properties: flag`.
    UndeclaredProperty,
}

impl ViolationKind {
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::UndeclaredEvent => "undeclared_event",
            ViolationKind::MissingRequired => "missing_required",
            ViolationKind::WrongType => "wrong_type",
            ViolationKind::NotInEnum => "not_in_enum",
            ViolationKind::BadDateTime => "bad_date_time",
            ViolationKind::UndeclaredProperty => "undeclared_property",
        }
    }
}

/// One way an event or identify call breaks the contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The event (by name) or the person attributes.
    pub subject: Subject,
    /// Where in the properties: `items[2].price`; empty for an undeclared event.
    pub path: String,
    /// What the contract asks for: `number`, `string (date-time)`, `one of "a", "b"`.
    pub expected: String,
    /// What came: `string "12.5"`, `nothing`, `integer 3`.
    pub actual: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ViolationKind::UndeclaredEvent => {
                write!(f, "{}: not declared in the contract", self.subject)
            }
            ViolationKind::UndeclaredProperty => write!(
                f,
                "{}: {}: not declared in the contract, got {}",
                self.subject, self.path, self.actual
            ),
            _ => write!(
                f,
                "{}: {}: expected {}, got {}",
                self.subject, self.path, self.expected, self.actual
            ),
        }
    }
}

/// The violations of one event named `name` with these properties: one `undeclared_event` if
/// the contract does not declare it, else every property problem, in property name order.
pub fn validate_event(contract: &Contract, name: &str, properties: &JsonMap) -> Vec<Violation> {
    match contract.events.get(name) {
        None => vec![Violation {
            kind: ViolationKind::UndeclaredEvent,
            subject: Subject::Event(name.to_string()),
            path: String::new(),
            expected: "a declared event".into(),
            actual: format!("an event named {}", quoted(name)),
        }],
        Some(section) => check(section, properties, || Subject::Event(name.to_string())),
    }
}

/// The violations of one identify call's traits. Each call is checked on its own: a required
/// attribute must be in every call, whatever the person already has.
pub fn validate_traits(contract: &Contract, traits: &JsonMap) -> Vec<Violation> {
    check(&contract.person, traits, || Subject::Person)
}

fn check(section: &Section, observed: &JsonMap, subject: impl Fn() -> Subject) -> Vec<Violation> {
    let mut collect = Collect {
        subject,
        flag_undeclared: section.additional_properties == AdditionalProperties::Flag,
        found: Vec::new(),
    };
    walk::object(&section.properties, observed, None, &mut collect);
    collect.found
}

struct Collect<F> {
    subject: F,
    flag_undeclared: bool,
    found: Vec<Violation>,
}

impl<F: Fn() -> Subject> Collect<F> {
    fn push(&mut self, kind: ViolationKind, at: &Path<'_>, expected: String, actual: String) {
        self.found.push(Violation {
            kind,
            subject: (self.subject)(),
            path: at.render(Indices::Exact),
            expected,
            actual,
        });
    }
}

impl<F: Fn() -> Subject> Sink for Collect<F> {
    fn wants_undeclared(&self) -> bool {
        self.flag_undeclared
    }

    fn missing(&mut self, at: &Path<'_>, schema: &Schema) {
        let expected = schema.label().to_string();
        self.push(
            ViolationKind::MissingRequired,
            at,
            expected,
            "nothing".into(),
        );
    }

    fn wrong_type(&mut self, at: &Path<'_>, schema: &Schema, value: &Value) {
        let expected = schema.label().to_string();
        self.push(ViolationKind::WrongType, at, expected, describe(value));
    }

    fn not_in_enum(&mut self, at: &Path<'_>, schema: &Schema, value: &Value) {
        let listed = schema.values().unwrap_or_default();
        self.push(
            ViolationKind::NotInEnum,
            at,
            one_of(&listed),
            describe(value),
        );
    }

    fn bad_date_time(&mut self, at: &Path<'_>, value: &Value) {
        self.push(
            ViolationKind::BadDateTime,
            at,
            "an RFC 3339 date-time".into(),
            describe(value),
        );
    }

    fn undeclared(&mut self, at: &Path<'_>, value: &Value, _: &Properties, _: &JsonMap) {
        self.push(
            ViolationKind::UndeclaredProperty,
            at,
            "a declared property".into(),
            describe(value),
        );
    }
}

/// Strings in messages stop after this many characters.
const SHOWN_CHARS: usize = 64;
/// Enum listings in messages stop after this many values.
const SHOWN_VALUES: usize = 10;

/// A value as messages show it: its type and, for scalars, the value.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("boolean {b}"),
        Value::Number(n) if n.is_i64() || n.is_u64() => format!("integer {n}"),
        Value::Number(n) => format!("number {n}"),
        Value::String(s) => format!("string {}", quoted(s)),
        Value::Array(items) if items.is_empty() => "an empty array".into(),
        Value::Array(items) if items.len() == 1 => "an array of 1 item".into(),
        Value::Array(items) => format!("an array of {} items", items.len()),
        Value::Object(_) => "an object".into(),
    }
}

/// Text in double quotes, JSON-escaped, cut at [`SHOWN_CHARS`] characters.
fn quoted(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        None => Value::from(text).to_string(),
        Some((cut, _)) => {
            let shown = Value::from(&text[..cut]).to_string();
            format!("{}…\"", &shown[..shown.len() - 1])
        }
    }
}

fn one_of(values: &[Value]) -> String {
    let mut listed: Vec<String> = values
        .iter()
        .take(SHOWN_VALUES)
        .map(|v| v.to_string())
        .collect();
    if values.len() > SHOWN_VALUES {
        listed.push(format!("… ({} in all)", values.len()));
    }
    format!("one of {}", listed.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_described_by_type_and_value() {
        assert_eq!(describe(&json!("12.5")), "string \"12.5\"");
        assert_eq!(describe(&json!(3)), "integer 3");
        assert_eq!(describe(&json!(3.5)), "number 3.5");
        assert_eq!(describe(&json!(true)), "boolean true");
        assert_eq!(describe(&json!(null)), "null");
        assert_eq!(describe(&json!([])), "an empty array");
        assert_eq!(describe(&json!([1])), "an array of 1 item");
        assert_eq!(describe(&json!([1, 2])), "an array of 2 items");
        assert_eq!(describe(&json!({"a": 1})), "an object");
        assert_eq!(describe(&json!("say \"hi\"")), r#"string "say \"hi\"""#);
    }

    #[test]
    fn long_text_and_long_lists_are_cut() {
        let long = "é".repeat(100);
        let shown = describe(&json!(long));
        assert_eq!(shown, format!("string \"{}…\"", "é".repeat(64)));
        let values: Vec<Value> = (0..12).map(Value::from).collect();
        assert_eq!(
            one_of(&values),
            "one of 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, … (12 in all)"
        );
        assert_eq!(one_of(&[json!("a"), json!("b")]), r#"one of "a", "b""#);
    }
}
