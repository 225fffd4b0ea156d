//! What changed between two versions of a contract: every change as a [`Change`] (serde, for
//! the App API and bookkeeping) that also reads as a line of text, in a stable order (the
//! workspace mode, then events by name, then person attributes; within each, the declaration's
//! settings, then properties in path order).

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::{AdditionalProperties, Contract, Mode, Properties, Schema, Section, Subject};

/// One difference between an old and a new contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum Change {
    WorkspaceModeChanged {
        from: Mode,
        to: Mode,
    },
    EventAdded {
        event: String,
        version: u32,
    },
    EventRemoved {
        event: String,
        version: u32,
    },
    VersionChanged {
        subject: Subject,
        from: u32,
        to: u32,
    },
    /// A declaration's own mode; `None` is "the workspace mode".
    ModeChanged {
        subject: Subject,
        from: Option<Mode>,
        to: Option<Mode>,
    },
    AdditionalPropertiesChanged {
        subject: Subject,
        from: AdditionalProperties,
        to: AdditionalProperties,
    },
    /// `path` is empty for the declaration's own description.
    DescriptionChanged {
        subject: Subject,
        path: String,
        from: Option<String>,
        to: Option<String>,
    },
    PropertyAdded {
        subject: Subject,
        path: String,
        #[serde(rename = "type")]
        type_label: String,
        required: bool,
    },
    PropertyRemoved {
        subject: Subject,
        path: String,
        #[serde(rename = "type")]
        type_label: String,
        required: bool,
    },
    /// `any` stands for an array without an item schema.
    TypeChanged {
        subject: Subject,
        path: String,
        from: String,
        to: String,
    },
    RequiredChanged {
        subject: Subject,
        path: String,
        from: bool,
        to: bool,
    },
    /// The `enum` list; `None` is "any value".
    ValuesChanged {
        subject: Subject,
        path: String,
        from: Option<Vec<Value>>,
        to: Option<Vec<Value>>,
    },
}

impl Change {
    /// What the change is about; `None` for the workspace mode.
    pub fn subject(&self) -> Option<Subject> {
        match self {
            Change::WorkspaceModeChanged { .. } => None,
            Change::EventAdded { event, .. } | Change::EventRemoved { event, .. } => {
                Some(Subject::Event(event.clone()))
            }
            Change::VersionChanged { subject, .. }
            | Change::ModeChanged { subject, .. }
            | Change::AdditionalPropertiesChanged { subject, .. }
            | Change::DescriptionChanged { subject, .. }
            | Change::PropertyAdded { subject, .. }
            | Change::PropertyRemoved { subject, .. }
            | Change::TypeChanged { subject, .. }
            | Change::RequiredChanged { subject, .. }
            | Change::ValuesChanged { subject, .. } => Some(subject.clone()),
        }
    }

    /// Whether the change alters what data conforms (modes, versions and descriptions do not).
    pub fn changes_shape(&self) -> bool {
        matches!(
            self,
            Change::AdditionalPropertiesChanged { .. }
                | Change::PropertyAdded { .. }
                | Change::PropertyRemoved { .. }
                | Change::TypeChanged { .. }
                | Change::RequiredChanged { .. }
                | Change::ValuesChanged { .. }
        )
    }
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = |m: &Option<Mode>| m.map_or("(workspace mode)".to_string(), |m| m.to_string());
        let at = |path: &String| {
            if path.is_empty() {
                String::new()
            } else {
                format!(" {path}:")
            }
        };
        let required = |r: &bool| if *r { "required" } else { "optional" };
        match self {
            Change::WorkspaceModeChanged { from, to } => write!(f, "workspace mode: {from} → {to}"),
            Change::EventAdded { event, version } => {
                write!(f, "event '{event}': added (version {version})")
            }
            Change::EventRemoved { event, version } => {
                write!(f, "event '{event}': removed (was version {version})")
            }
            Change::VersionChanged { subject, from, to } => {
                write!(f, "{subject}: version {from} → {to}")
            }
            Change::ModeChanged { subject, from, to } => {
                write!(f, "{subject}: mode {} → {}", mode(from), mode(to))
            }
            Change::AdditionalPropertiesChanged { subject, from, to } => {
                write!(f, "{subject}: additional_properties {from} → {to}")
            }
            Change::DescriptionChanged { subject, path, .. } => {
                write!(f, "{subject}:{} description changed", at(path))
            }
            Change::PropertyAdded {
                subject,
                path,
                type_label,
                required: r,
            } => write!(
                f,
                "{subject}: {path}: added ({type_label}, {})",
                required(r)
            ),
            Change::PropertyRemoved {
                subject,
                path,
                type_label,
                required: r,
            } => write!(
                f,
                "{subject}: {path}: removed (was {type_label}, {})",
                required(r)
            ),
            Change::TypeChanged {
                subject,
                path,
                from,
                to,
            } => write!(f, "{subject}: {path}: type {from} → {to}"),
            Change::RequiredChanged {
                subject, path, to, ..
            } => {
                write!(f, "{subject}: {path}: now {}", required(to))
            }
            Change::ValuesChanged {
                subject,
                path,
                from,
                to,
            } => {
                let values = |v: &Option<Vec<Value>>| match v {
                    None => "any".to_string(),
                    Some(values) => values
                        .iter()
                        .map(Value::to_string)
                        .collect::<Vec<_>>()
                        .join(", "),
                };
                write!(
                    f,
                    "{subject}: {path}: allowed values {} → {}",
                    values(from),
                    values(to)
                )
            }
        }
    }
}

/// Every change from `old` to `new`, in a stable order.
pub fn diff(old: &Contract, new: &Contract) -> Vec<Change> {
    let mut out = Vec::new();
    if old.mode != new.mode {
        out.push(Change::WorkspaceModeChanged {
            from: old.mode,
            to: new.mode,
        });
    }
    let names: BTreeSet<&String> = old.events.keys().chain(new.events.keys()).collect();
    for name in names {
        match (old.events.get(name), new.events.get(name)) {
            (None, Some(added)) => out.push(Change::EventAdded {
                event: name.clone(),
                version: added.version,
            }),
            (Some(removed), None) => out.push(Change::EventRemoved {
                event: name.clone(),
                version: removed.version,
            }),
            (Some(a), Some(b)) => section(&Subject::Event(name.clone()), a, b, &mut out),
            (None, None) => {}
        }
    }
    section(&Subject::Person, &old.person, &new.person, &mut out);
    out
}

/// Declarations whose shape changed ([`Change::changes_shape`]) without a higher version.
pub fn changed_without_new_version(changes: &[Change]) -> Vec<Subject> {
    let bumped: BTreeSet<Subject> = changes
        .iter()
        .filter_map(|change| match change {
            Change::VersionChanged { subject, from, to } if to > from => Some(subject.clone()),
            _ => None,
        })
        .collect();
    let changed: BTreeSet<Subject> = changes
        .iter()
        .filter(|change| change.changes_shape())
        .filter_map(Change::subject)
        .collect();
    changed.difference(&bumped).cloned().collect()
}

fn section(subject: &Subject, old: &Section, new: &Section, out: &mut Vec<Change>) {
    if old.version != new.version {
        out.push(Change::VersionChanged {
            subject: subject.clone(),
            from: old.version,
            to: new.version,
        });
    }
    if old.mode != new.mode {
        out.push(Change::ModeChanged {
            subject: subject.clone(),
            from: old.mode,
            to: new.mode,
        });
    }
    if old.additional_properties != new.additional_properties {
        out.push(Change::AdditionalPropertiesChanged {
            subject: subject.clone(),
            from: old.additional_properties,
            to: new.additional_properties,
        });
    }
    if old.description != new.description {
        out.push(Change::DescriptionChanged {
            subject: subject.clone(),
            path: String::new(),
            from: old.description.clone(),
            to: new.description.clone(),
        });
    }
    properties(subject, "", &old.properties, &new.properties, out);
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn properties(
    subject: &Subject,
    path: &str,
    old: &Properties,
    new: &Properties,
    out: &mut Vec<Change>,
) {
    let names: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for name in names {
        let path = join(path, name);
        match (old.get(name), new.get(name)) {
            (None, Some(added)) => out.push(Change::PropertyAdded {
                subject: subject.clone(),
                path,
                type_label: added.schema.label().to_string(),
                required: added.required,
            }),
            (Some(removed), None) => out.push(Change::PropertyRemoved {
                subject: subject.clone(),
                path,
                type_label: removed.schema.label().to_string(),
                required: removed.required,
            }),
            (Some(a), Some(b)) => {
                if a.required != b.required {
                    out.push(Change::RequiredChanged {
                        subject: subject.clone(),
                        path: path.clone(),
                        from: a.required,
                        to: b.required,
                    });
                }
                if a.description != b.description {
                    out.push(Change::DescriptionChanged {
                        subject: subject.clone(),
                        path: path.clone(),
                        from: a.description.clone(),
                        to: b.description.clone(),
                    });
                }
                schema(subject, &path, &a.schema, &b.schema, out);
            }
            (None, None) => {}
        }
    }
}

fn schema(subject: &Subject, path: &str, old: &Schema, new: &Schema, out: &mut Vec<Change>) {
    if old.label() != new.label() {
        out.push(Change::TypeChanged {
            subject: subject.clone(),
            path: path.to_string(),
            from: old.label().to_string(),
            to: new.label().to_string(),
        });
        return;
    }
    let (from, to) = (old.values(), new.values());
    if from != to {
        out.push(Change::ValuesChanged {
            subject: subject.clone(),
            path: path.to_string(),
            from,
            to,
        });
    }
    match (old, new) {
        (Schema::Object { properties: a }, Schema::Object { properties: b }) => {
            properties(subject, path, a, b, out);
        }
        (Schema::Array { items: a }, Schema::Array { items: b }) => {
            let path = format!("{path}[]");
            match (a, b) {
                (Some(a), Some(b)) => schema(subject, &path, a, b, out),
                (None, None) => {}
                (a, b) => out.push(Change::TypeChanged {
                    subject: subject.clone(),
                    path,
                    from: a.as_ref().map_or("any", |s| s.label()).to_string(),
                    to: b.as_ref().map_or("any", |s| s.label()).to_string(),
                }),
            }
        }
        _ => {}
    }
}
