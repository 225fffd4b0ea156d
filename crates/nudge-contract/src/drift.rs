//! Drift: what an observed event or identify call shows that the contract does not say. An
//! event never declared (with the declared events it likely renames), a property never
//! declared (with the declared siblings it likely renames), a type other than the declared
//! one, a required property missing. Unlike validation, drift ignores `additional_properties`
//! (an allowed extra property is still news) and the values of enums and formats (those are
//! violations, not a changed shape). Paths use `[]` for array elements so that counts
//! aggregate over elements; each finding is reported once per event.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{Contract, JsonType, Properties, Schema, Section, Subject};
use crate::path::{Indices, Path};
use crate::rename::likely_renames;
use crate::walk::{self, Sink};
use nudge_core::JsonMap;

/// One way the observed data departs from the contract.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "drift", rename_all = "snake_case")]
pub enum Drift {
    /// An event name the contract does not declare.
    UndeclaredEvent {
        event: String,
        /// Declared events it most likely renames, closest first.
        likely_renames: Vec<String>,
    },
    /// A property the contract does not declare.
    UndeclaredProperty {
        subject: Subject,
        path: String,
        observed: JsonType,
        /// Declared properties beside it, absent from this event, that it most likely renames.
        likely_renames: Vec<String>,
    },
    /// A value of another type than declared.
    TypeChanged {
        subject: Subject,
        path: String,
        declared: String,
        observed: JsonType,
    },
    /// A required property absent or null.
    MissingRequired { subject: Subject, path: String },
}

impl fmt::Display for Drift {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let renames = |names: &[String]| match names {
            [] => String::new(),
            names => format!(" (likely renames {})", quote_all(names)),
        };
        match self {
            Drift::UndeclaredEvent {
                event,
                likely_renames,
            } => write!(
                f,
                "event '{event}': never declared{}",
                renames(likely_renames)
            ),
            Drift::UndeclaredProperty {
                subject,
                path,
                observed,
                likely_renames,
            } => write!(
                f,
                "{subject}: {path}: never declared, seen as {observed}{}",
                renames(likely_renames)
            ),
            Drift::TypeChanged {
                subject,
                path,
                declared,
                observed,
            } => write!(
                f,
                "{subject}: {path}: declared {declared}, seen as {observed}"
            ),
            Drift::MissingRequired { subject, path } => {
                write!(f, "{subject}: {path}: required but missing")
            }
        }
    }
}

fn quote_all(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl Contract {
    /// Declared event names that `name` most likely renames, closest first (empty when `name`
    /// is declared). Depends only on the name: callers classifying a stream can keep it per name.
    pub fn likely_event_renames(&self, name: &str) -> Vec<String> {
        if self.events.contains_key(name) {
            return Vec::new();
        }
        likely_renames(name, self.events.keys().map(String::as_str))
            .into_iter()
            .map(str::to_string)
            .collect()
    }
}

/// What one observed event shows that the contract does not say; empty when it conforms in
/// shape. An undeclared event is reported alone (its properties have nothing to differ from).
pub fn classify_event(contract: &Contract, name: &str, properties: &JsonMap) -> Vec<Drift> {
    match contract.events.get(name) {
        None => vec![Drift::UndeclaredEvent {
            event: name.to_string(),
            likely_renames: contract.likely_event_renames(name),
        }],
        Some(section) => classify(section, properties, || Subject::Event(name.to_string())),
    }
}

/// What one identify call's traits show that the contract's person attributes do not say.
pub fn classify_traits(contract: &Contract, traits: &JsonMap) -> Vec<Drift> {
    classify(&contract.person, traits, || Subject::Person)
}

fn classify(section: &Section, observed: &JsonMap, subject: impl Fn() -> Subject) -> Vec<Drift> {
    let mut collect = Collect {
        subject,
        found: Vec::new(),
    };
    walk::object(&section.properties, observed, None, &mut collect);
    collect.found
}

struct Collect<F> {
    subject: F,
    found: Vec<Drift>,
}

impl<F: Fn() -> Subject> Collect<F> {
    /// Records a finding unless the same one is there already (another element of an array).
    fn push(&mut self, drift: Drift) {
        if !self.found.contains(&drift) {
            self.found.push(drift);
        }
    }
}

impl<F: Fn() -> Subject> Sink for Collect<F> {
    fn wants_undeclared(&self) -> bool {
        true
    }

    fn missing(&mut self, at: &Path<'_>, _: &Schema) {
        let drift = Drift::MissingRequired {
            subject: (self.subject)(),
            path: at.render(Indices::Any),
        };
        self.push(drift);
    }

    fn wrong_type(&mut self, at: &Path<'_>, schema: &Schema, value: &Value) {
        let drift = Drift::TypeChanged {
            subject: (self.subject)(),
            path: at.render(Indices::Any),
            declared: schema.label().to_string(),
            observed: JsonType::of(value),
        };
        self.push(drift);
    }

    fn not_in_enum(&mut self, _: &Path<'_>, _: &Schema, _: &Value) {}

    fn bad_date_time(&mut self, _: &Path<'_>, _: &Value) {}

    fn undeclared(
        &mut self,
        at: &Path<'_>,
        value: &Value,
        declared: &Properties,
        observed: &JsonMap,
    ) {
        let name = at.last_key().unwrap_or_default();
        // A rename replaces a name: only declared siblings this event lacks are candidates.
        let absent = declared
            .keys()
            .map(String::as_str)
            .filter(|key| observed.get(*key).is_none_or(Value::is_null));
        let likely_renames = likely_renames(name, absent)
            .into_iter()
            .map(str::to_string)
            .collect();
        let drift = Drift::UndeclaredProperty {
            subject: (self.subject)(),
            observed: JsonType::of(value),
            likely_renames,
            path: at.render(Indices::Any),
        };
        self.push(drift);
    }
}
