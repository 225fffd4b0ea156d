//! Inference: a contract written from observed traffic, for a team starting from nothing. An
//! [`Inferrer`] folds events and identify calls one at a time (so a caller can stream a week
//! of the log through it), then [`Inferrer::finish`] declares every event and attribute seen,
//! each property with its most frequent type (integers and numbers together are `number`),
//! `required` when present in at least [`REQUIRED_PRESENCE`] of the calls, and notes where the
//! data was mixed. Enums are never inferred: a week of traffic does not show every value a
//! property can take, and a wrong enum would flag good data.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{
    Contract, JsonType, Properties, Property, Schema, Section, StringFormat, Subject,
};
use crate::names::{event_name_problem, property_name_problem};
use crate::parse::MAX_DEPTH;
use crate::walk::is_date_time;
use nudge_core::JsonMap;

/// The default share of calls a property must be present (and not null) in to be `required`.
pub const REQUIRED_PRESENCE: f64 = 0.99;

/// An object with more distinct keys than this is declared free-form: its keys look like data
/// (ids, dates), not like a schema.
pub const MAX_INFERRED_KEYS: usize = 200;

/// At most this many refused names are remembered per object (and event names overall).
const MAX_SKIPPED_NAMES: usize = 50;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InferOptions {
    /// A property is `required` when present in at least this share of calls (0 to 1).
    pub required_presence: f64,
}

impl Default for InferOptions {
    fn default() -> Self {
        Self {
            required_presence: REQUIRED_PRESENCE,
        }
    }
}

/// Something a reviewer of an inferred contract should know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// Values of several types were seen; the most frequent was declared.
    MixedTypes {
        subject: Subject,
        path: String,
        seen: BTreeMap<JsonType, u64>,
        declared: String,
    },
    /// More than [`MAX_INFERRED_KEYS`] distinct keys: declared as a free-form object.
    FreeFormObject { subject: Subject, path: String },
    /// An event name a contract cannot declare.
    SkippedEvent { event: String, reason: String },
    /// A property name a contract cannot declare (under `path`, empty at the top).
    SkippedProperty {
        subject: Subject,
        path: String,
        name: String,
        reason: String,
    },
}

/// The outcome: the contract, what to review in it, and how much traffic it rests on.
#[derive(Debug, Clone, PartialEq)]
pub struct Inference {
    pub contract: Contract,
    pub notes: Vec<Note>,
    /// Events seen, by name (declared or skipped).
    pub events_seen: BTreeMap<String, u64>,
    pub identify_calls: u64,
}

/// Folds observed traffic into the statistics a contract is written from.
#[derive(Debug, Clone, Default)]
pub struct Inferrer {
    options: InferOptions,
    events: BTreeMap<String, ObjectStats>,
    person: ObjectStats,
    skipped_events: BTreeMap<String, String>,
    events_seen: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Default)]
struct ObjectStats {
    /// Objects observed here.
    seen: u64,
    keys: BTreeMap<String, ValueStats>,
    /// Too many distinct keys: free-form.
    overflow: bool,
    skipped: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
struct ValueStats {
    /// Values observed (null ones only as array elements: a null property is absent).
    present: u64,
    types: BTreeMap<JsonType, u64>,
    /// Strings that were RFC 3339 timestamps.
    date_times: u64,
    fields: Option<Box<ObjectStats>>,
    items: Option<Box<ValueStats>>,
}

impl Inferrer {
    pub fn new(options: InferOptions) -> Self {
        Self {
            options,
            ..Self::default()
        }
    }

    pub fn observe_event(&mut self, name: &str, properties: &JsonMap) {
        *self.events_seen.entry(name.to_string()).or_default() += 1;
        if let Some(stats) = self.events.get_mut(name) {
            stats.observe(properties, 1);
            return;
        }
        if let Some(reason) = event_name_problem(name) {
            if self.skipped_events.len() < MAX_SKIPPED_NAMES {
                self.skipped_events.insert(name.to_string(), reason);
            }
            return;
        }
        let mut stats = ObjectStats::default();
        stats.observe(properties, 1);
        self.events.insert(name.to_string(), stats);
    }

    pub fn observe_traits(&mut self, traits: &JsonMap) {
        self.person.observe(traits, 1);
    }

    pub fn finish(self) -> Inference {
        let mut notes = Vec::new();
        for (event, reason) in &self.skipped_events {
            notes.push(Note::SkippedEvent {
                event: event.clone(),
                reason: reason.clone(),
            });
        }
        let mut writer = Writer {
            options: self.options,
            notes: &mut notes,
        };
        let events = self
            .events
            .iter()
            .map(|(name, stats)| {
                let subject = Subject::Event(name.clone());
                let properties = writer.object(&subject, "", stats);
                (name.clone(), section(properties))
            })
            .collect();
        let person = section(writer.object(&Subject::Person, "", &self.person));
        Inference {
            contract: Contract {
                mode: Default::default(),
                events,
                person,
            },
            notes,
            events_seen: self.events_seen,
            identify_calls: self.person.seen,
        }
    }
}

/// Convenience: a contract from a stream of events (name, properties) with default options.
pub fn infer<'a>(events: impl IntoIterator<Item = (&'a str, &'a JsonMap)>) -> Inference {
    let mut inferrer = Inferrer::new(InferOptions::default());
    for (name, properties) in events {
        inferrer.observe_event(name, properties);
    }
    inferrer.finish()
}

fn section(properties: Properties) -> Section {
    Section {
        properties,
        ..Section::default()
    }
}

impl ObjectStats {
    fn observe(&mut self, map: &JsonMap, depth: usize) {
        self.seen += 1;
        for (key, value) in map {
            if value.is_null() || self.overflow {
                continue;
            }
            if !self.keys.contains_key(key) {
                if let Some(reason) = property_name_problem(key) {
                    if self.skipped.len() < MAX_SKIPPED_NAMES {
                        self.skipped.insert(key.clone(), reason);
                    }
                    continue;
                }
                if self.keys.len() >= MAX_INFERRED_KEYS {
                    self.overflow = true;
                    self.keys.clear();
                    continue;
                }
            }
            self.keys
                .entry(key.clone())
                .or_default()
                .observe(value, depth + 1);
        }
    }
}

impl ValueStats {
    fn observe(&mut self, value: &Value, depth: usize) {
        self.present += 1;
        *self.types.entry(JsonType::of(value)).or_default() += 1;
        match value {
            Value::String(text) if is_date_time(text) => self.date_times += 1,
            Value::Object(map) if depth < MAX_DEPTH => {
                self.fields.get_or_insert_default().observe(map, depth);
            }
            Value::Array(elements) if depth < MAX_DEPTH => {
                // Null elements are counted (as a type of their own): validation refuses them.
                for element in elements {
                    self.items
                        .get_or_insert_default()
                        .observe(element, depth + 1);
                }
            }
            _ => {}
        }
    }
}

/// Turns statistics into declarations, collecting notes.
struct Writer<'n> {
    options: InferOptions,
    notes: &'n mut Vec<Note>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl Writer<'_> {
    fn object(&mut self, subject: &Subject, path: &str, stats: &ObjectStats) -> Properties {
        for (name, reason) in &stats.skipped {
            self.notes.push(Note::SkippedProperty {
                subject: subject.clone(),
                path: path.to_string(),
                name: name.clone(),
                reason: reason.clone(),
            });
        }
        if stats.overflow {
            self.notes.push(Note::FreeFormObject {
                subject: subject.clone(),
                path: path.to_string(),
            });
            return Properties::new();
        }
        stats
            .keys
            .iter()
            .filter_map(|(name, value)| {
                let path = join(path, name);
                let required =
                    value.present as f64 >= self.options.required_presence * stats.seen as f64;
                // Only non-null values are recorded for a key, so there is always a schema.
                let (schema, description) = self.schema(subject, &path, value)?;
                let property = Property {
                    schema,
                    required,
                    description,
                };
                Some((name.clone(), property))
            })
            .collect()
    }

    /// The schema for what was seen at `path`, and a description when the data was mixed;
    /// `None` when nothing but nulls was seen.
    fn schema(
        &mut self,
        subject: &Subject,
        path: &str,
        stats: &ValueStats,
    ) -> Option<(Schema, Option<String>)> {
        let count = |t: JsonType| stats.types.get(&t).copied().unwrap_or(0);
        let numbers = count(JsonType::Integer) + count(JsonType::Number);
        let numeric = if count(JsonType::Number) > 0 {
            JsonType::Number
        } else {
            JsonType::Integer
        };
        // In this order, so that ties go to the more general type.
        let candidates = [
            (JsonType::String, count(JsonType::String)),
            (numeric, numbers),
            (JsonType::Boolean, count(JsonType::Boolean)),
            (JsonType::Object, count(JsonType::Object)),
            (JsonType::Array, count(JsonType::Array)),
        ];
        let (chosen, chosen_count) =
            candidates.iter().fold(
                candidates[0],
                |best, c| if c.1 > best.1 { *c } else { best },
            );
        if chosen_count == 0 {
            return None;
        }
        let schema = match chosen {
            JsonType::String => Schema::String {
                format: (stats.date_times > 0 && stats.date_times == count(JsonType::String))
                    .then_some(StringFormat::DateTime),
                values: None,
            },
            JsonType::Integer => Schema::Integer { values: None },
            JsonType::Number => Schema::Number { values: None },
            JsonType::Boolean => Schema::Boolean,
            JsonType::Object => Schema::Object {
                properties: match &stats.fields {
                    Some(fields) => self.object(subject, path, fields),
                    None => Properties::new(),
                },
            },
            _ => Schema::Array {
                items: stats
                    .items
                    .as_ref()
                    .and_then(|items| self.schema(subject, &format!("{path}[]"), items))
                    .map(|(schema, _)| Box::new(schema)),
            },
        };
        let nulls = u64::from(count(JsonType::Null) > 0);
        let kinds = candidates.iter().filter(|(_, n)| *n > 0).count() as u64 + nulls;
        if kinds < 2 {
            return Some((schema, None));
        }
        let seen: BTreeMap<JsonType, u64> = stats.types.clone();
        let declared = |t: JsonType| {
            t == chosen || (chosen == numeric && matches!(t, JsonType::Integer | JsonType::Number))
        };
        let others: Vec<String> = seen
            .iter()
            .filter(|(t, _)| !declared(**t))
            .map(|(t, n)| format!("{t} ({n})"))
            .collect();
        let description = format!(
            "Inferred as {}; also seen as {}.",
            schema.label(),
            others.join(", ")
        );
        self.notes.push(Note::MixedTypes {
            subject: subject.clone(),
            path: path.to_string(),
            seen,
            declared: schema.label().to_string(),
        });
        Some((schema, Some(description)))
    }
}
