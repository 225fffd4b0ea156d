//! The contract as [`parse`](crate::parse) validated it: the workspace's enforcement mode, one
//! [`Section`] per declared event and one for person attributes, each a tree of typed
//! properties. Plain data: only parsing and inference build a [`Contract`], so its names and
//! schemas are always ones the format accepts.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

/// What ingest does with an event or identify call that breaks the contract.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Accept it and record the violations.
    #[default]
    Allow,
    /// Store and record it, but keep it away from segments and journeys until released.
    Quarantine,
    /// Refuse it with every violation listed.
    Reject,
}

impl Mode {
    pub const ALL: [Mode; 3] = [Mode::Allow, Mode::Quarantine, Mode::Reject];

    pub fn name(self) -> &'static str {
        match self {
            Mode::Allow => "allow",
            Mode::Quarantine => "quarantine",
            Mode::Reject => "reject",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == text)
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Whether properties the contract does not declare are violations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdditionalProperties {
    /// Undeclared properties are accepted silently (drift still reports them).
    #[default]
    Allow,
    /// Every undeclared property is a violation.
    Flag,
}

impl AdditionalProperties {
    pub const ALL: [AdditionalProperties; 2] =
        [AdditionalProperties::Allow, AdditionalProperties::Flag];

    pub fn name(self) -> &'static str {
        match self {
            AdditionalProperties::Allow => "allow",
            AdditionalProperties::Flag => "flag",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.name() == text)
    }
}

impl fmt::Display for AdditionalProperties {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Properties by name, in name order (so files and diffs are stable).
pub type Properties = BTreeMap<String, Property>;

/// A workspace's event contract.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Contract {
    pub(crate) mode: Mode,
    pub(crate) events: BTreeMap<String, Section>,
    pub(crate) person: Section,
}

impl Contract {
    /// The workspace mode: for undeclared events and events without their own mode.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The declared events, by name.
    pub fn events(&self) -> &BTreeMap<String, Section> {
        &self.events
    }

    pub fn event(&self, name: &str) -> Option<&Section> {
        self.events.get(name)
    }

    /// The person attributes (identify traits).
    pub fn person(&self) -> &Section {
        &self.person
    }

    /// The mode that applies to an event named `name`: its own, or the workspace's.
    pub fn mode_for_event(&self, name: &str) -> Mode {
        self.events
            .get(name)
            .and_then(|section| section.mode)
            .unwrap_or(self.mode)
    }

    /// The mode that applies to identify calls.
    pub fn mode_for_traits(&self) -> Mode {
        self.person.mode.unwrap_or(self.mode)
    }
}

/// One declared event, or the person attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The author's version number of this declaration, from 1.
    pub version: u32,
    pub description: Option<String>,
    /// `None`: the workspace mode applies.
    pub mode: Option<Mode>,
    pub additional_properties: AdditionalProperties,
    pub properties: Properties,
}

impl Default for Section {
    fn default() -> Self {
        Self {
            version: 1,
            description: None,
            mode: None,
            additional_properties: AdditionalProperties::Allow,
            properties: Properties::new(),
        }
    }
}

/// A declared property: its schema, whether it must be present, and what it means.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    pub schema: Schema,
    /// A required property must be present and not null.
    pub required: bool,
    pub description: Option<String>,
}

/// A value's type, from the JSON Schema subset the contract speaks.
#[derive(Debug, Clone, PartialEq)]
pub enum Schema {
    String {
        format: Option<StringFormat>,
        /// `Some`: only these values.
        values: Option<Vec<String>>,
    },
    /// A whole number; `3.0` counts as whole.
    Integer {
        values: Option<Vec<i64>>,
    },
    /// Any number, whole or not.
    Number {
        values: Option<Vec<f64>>,
    },
    Boolean,
    /// An object; with no declared properties it is free-form and its content is not checked.
    Object {
        properties: Properties,
    },
    /// An array; `items: None` takes any elements.
    Array {
        items: Option<Box<Schema>>,
    },
}

/// The string formats the contract checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StringFormat {
    /// An RFC 3339 timestamp such as `2026-03-02T10:02:00Z`.
    DateTime,
}

impl StringFormat {
    pub fn name(self) -> &'static str {
        match self {
            StringFormat::DateTime => "date-time",
        }
    }
}

impl Schema {
    /// The `type` keyword: `string`, `integer`, `number`, `boolean`, `object`, `array`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Schema::String { .. } => "string",
            Schema::Integer { .. } => "integer",
            Schema::Number { .. } => "number",
            Schema::Boolean => "boolean",
            Schema::Object { .. } => "object",
            Schema::Array { .. } => "array",
        }
    }

    /// The type as messages say it: the type name, with the format when there is one.
    pub fn label(&self) -> &'static str {
        match self {
            Schema::String {
                format: Some(StringFormat::DateTime),
                ..
            } => "string (date-time)",
            other => other.type_name(),
        }
    }

    /// The allowed values as JSON, when the schema lists them.
    pub fn values(&self) -> Option<Vec<serde_json::Value>> {
        match self {
            Schema::String {
                values: Some(values),
                ..
            } => Some(values.iter().map(|v| v.as_str().into()).collect()),
            Schema::Integer {
                values: Some(values),
            } => Some(values.iter().map(|v| (*v).into()).collect()),
            Schema::Number {
                values: Some(values),
            } => Some(values.iter().map(|v| (*v).into()).collect()),
            _ => None,
        }
    }
}

/// What a violation, a drift finding or a change is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Subject {
    /// The event of this name.
    Event(String),
    /// Person attributes (identify traits).
    Person,
}

impl Subject {
    pub fn event_name(&self) -> Option<&str> {
        match self {
            Subject::Event(name) => Some(name),
            Subject::Person => None,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Event(name) => write!(f, "event '{name}'"),
            Subject::Person => f.write_str("person attributes"),
        }
    }
}

/// The JSON type of an observed value. Numbers written without a fraction or exponent are
/// `integer`, others `number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JsonType {
    Null,
    Boolean,
    Integer,
    Number,
    String,
    Array,
    Object,
}

impl JsonType {
    pub fn of(value: &serde_json::Value) -> Self {
        use serde_json::Value;
        match value {
            Value::Null => JsonType::Null,
            Value::Bool(_) => JsonType::Boolean,
            Value::Number(n) if n.is_i64() || n.is_u64() => JsonType::Integer,
            Value::Number(_) => JsonType::Number,
            Value::String(_) => JsonType::String,
            Value::Array(_) => JsonType::Array,
            Value::Object(_) => JsonType::Object,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            JsonType::Null => "null",
            JsonType::Boolean => "boolean",
            JsonType::Integer => "integer",
            JsonType::Number => "number",
            JsonType::String => "string",
            JsonType::Array => "array",
            JsonType::Object => "object",
        }
    }
}

impl fmt::Display for JsonType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
