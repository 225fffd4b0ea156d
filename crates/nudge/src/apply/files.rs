//! Reading a directory of definition files (docs/definitions.md): every `.yaml`, `.yml` and
//! `.json` file under it, each holding one or more documents with `kind` and `format: 1`.
//! Everything wrong with the files is collected (unparseable text with its line, unknown
//! kinds and keys, missing ids, channel settings and contracts that do not check out,
//! duplicates across files), so one run reports it all. No store
//! access here: checking the set against the workspace is `plan`'s job.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use nudge_delivery::workspace_channels::ChannelDefinition;
use nudge_store::DocumentKind;
use serde::Deserialize;
use serde_json::{Map, Value};

/// The only format this Nudge reads.
pub const FORMAT: u64 = 1;

/// Where a definition was written: a file (relative to the directory) and the document's
/// position in it, from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    pub document: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (document {})", self.file.display(), self.document)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Definition {
    Segment {
        id: i64,
        name: String,
        description: String,
        /// `None`: a manual segment.
        conditions: Option<Value>,
    },
    Computed {
        name: String,
        /// The document without `kind` and `format`: what the store keeps.
        definition: Value,
    },
    /// A journey, a template or a channel (a versioned document named by its `id`), or the
    /// workspace's contract (named `contract`, stored as `nudge_contract` writes it).
    Document {
        kind: DocumentKind,
        name: String,
        /// The document without `kind` and `format`: what the store keeps.
        body: Value,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Located {
    pub origin: Origin,
    pub definition: Definition,
}

/// Every definition under `dir`, in path order, or every problem found.
pub fn read_dir(dir: &Path) -> anyhow::Result<Result<Vec<Located>, Vec<String>>> {
    anyhow::ensure!(dir.is_dir(), "{} is not a directory", dir.display());
    let mut paths = Vec::new();
    collect_files(dir, &mut paths)?;
    paths.sort();
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        let (definitions, file_problems) = parse_file(&relative, &text);
        found.extend(definitions);
        problems.extend(file_problems);
    }
    problems.extend(duplicates(&found));
    Ok(if problems.is_empty() {
        Ok(found)
    } else {
        Err(problems)
    })
}

/// The definitions in one file's `text` and the problems found in it; `file` names it in
/// problems, and its extension says whether it is JSON or YAML.
pub fn parse_file(file: &Path, text: &str) -> (Vec<Located>, Vec<String>) {
    let documents = match documents(file, text) {
        Ok(documents) => documents,
        Err(problem) => return (Vec::new(), vec![problem]),
    };
    let mut found = Vec::new();
    let mut problems = Vec::new();
    for (index, value) in documents.into_iter().enumerate() {
        let origin = Origin {
            file: file.to_path_buf(),
            document: index + 1,
        };
        match definition(value) {
            Ok(definition) => found.push(Located { origin, definition }),
            Err(problem) => problems.push(format!("{origin}: {problem}")),
        }
    }
    (found, problems)
}

/// Definition files under `dir`, recursively; hidden files and directories are skipped.
fn collect_files(dir: &Path, into: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| anyhow::anyhow!("reading {}: {e}", dir.display()))?;
    for entry in entries {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            collect_files(&path, into)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            into.push(path);
        }
    }
    Ok(())
}

/// The documents of one file: YAML documents separated by `---`, or a JSON object or array
/// of objects. Empty YAML documents are skipped.
fn documents(file: &Path, text: &str) -> Result<Vec<Value>, String> {
    let name = file.display();
    if file.extension().and_then(|e| e.to_str()) == Some("json") {
        return match serde_json::from_str::<Value>(text) {
            Ok(Value::Array(items)) => Ok(items),
            Ok(other) => Ok(vec![other]),
            Err(e) => Err(format!("{name}: not valid JSON: {e}")),
        };
    }
    let mut out = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        // A failed stream yields its error for ever: stop at the first.
        match Value::deserialize(document) {
            Ok(Value::Null) => {}
            Ok(value) => out.push(value),
            Err(e) => return Err(format!("{name}: not valid YAML: {e}")),
        }
    }
    Ok(out)
}

fn definition(value: Value) -> Result<Definition, String> {
    let Value::Object(mut map) = value else {
        return Err("a definition must be a mapping with kind and format".into());
    };
    match map.remove("format") {
        Some(Value::Number(n)) if n.as_u64() == Some(FORMAT) => {}
        Some(other) => {
            return Err(format!(
                "format {other} is not supported: this Nudge reads format {FORMAT}"
            ))
        }
        None => return Err(format!("format is required (format: {FORMAT})")),
    }
    let kind = match map.remove("kind") {
        Some(Value::String(kind)) => kind,
        Some(other) => return Err(format!("kind must be a string, got {other}")),
        None => return Err(format!("kind is required: {KINDS}")),
    };
    match kind.as_str() {
        "segment" => segment(map),
        "computed_attribute" => computed(map),
        "journey" => document(DocumentKind::Journey, map),
        "template" => document(DocumentKind::Template, map),
        "channel" => channel(map),
        "contract" => super::contract::definition(map),
        other => Err(format!("unknown kind '{other}': {KINDS}")),
    }
}

fn segment(mut map: Map<String, Value>) -> Result<Definition, String> {
    if let Some(key) = map
        .keys()
        .find(|k| !["id", "name", "description", "conditions"].contains(&k.as_str()))
    {
        return Err(format!(
            "unknown key '{key}' in a segment (id, name, description, conditions)"
        ));
    }
    let id = match map.get("id") {
        Some(Value::Number(n)) => n.as_i64().filter(|id| *id >= 1),
        _ => None,
    }
    .ok_or("a segment needs an id, a positive integer (conditions refer to segments by id)")?;
    let name = match map.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.trim().to_string(),
        _ => return Err(format!("segment {id}: name is required")),
    };
    let description = match map.get("description") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(_) => return Err(format!("segment {id}: description must be a string")),
    };
    let conditions = map.remove("conditions").filter(|c| !c.is_null());
    Ok(Definition::Segment {
        id,
        name,
        description,
        conditions,
    })
}

/// Every kind a definition file may hold.
const KINDS: &str = "segment, computed_attribute, journey, template, channel or contract";

/// A journey or template: checked in full by the plan, which compiles the whole set.
fn document(kind: DocumentKind, map: Map<String, Value>) -> Result<Definition, String> {
    let name = match map.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        _ => return Err(format!("a {} needs an id, a string", kind.as_str())),
    };
    Ok(Definition::Document {
        kind,
        name,
        body: Value::Object(map),
    })
}

/// A channel's settings, checked in full here (they depend on nothing else in the set);
/// references to secrets are resolved by the server that sends.
fn channel(map: Map<String, Value>) -> Result<Definition, String> {
    let name = match map.get("id") {
        Some(Value::String(id)) if !id.trim().is_empty() => id.clone(),
        _ => return Err("a channel needs an id: email, sms, push or webhook".into()),
    };
    let body = Value::Object(map);
    ChannelDefinition::parse(&name, &body).map_err(|error| format!("channel {name}: {error}"))?;
    Ok(Definition::Document {
        kind: DocumentKind::Channel,
        name,
        body,
    })
}

fn computed(map: Map<String, Value>) -> Result<Definition, String> {
    let name = match map.get("name") {
        Some(Value::String(name)) if !name.trim().is_empty() => name.clone(),
        _ => return Err("a computed attribute needs a name: the attribute it computes".into()),
    };
    Ok(Definition::Computed {
        name,
        definition: Value::Object(map),
    })
}

/// Segment ids, segment names and computed-attribute names must each be unique.
fn duplicates(found: &[Located]) -> Vec<String> {
    let mut seen: HashMap<String, &Origin> = HashMap::new();
    let mut problems = Vec::new();
    for located in found {
        let keys = match &located.definition {
            Definition::Segment { id, name, .. } => {
                vec![format!("segment id {id}"), format!("segment name '{name}'")]
            }
            Definition::Computed { name, .. } => vec![format!("computed attribute '{name}'")],
            Definition::Document { kind, name, .. } => vec![format!("{} '{name}'", kind.as_str())],
        };
        for key in keys {
            match seen.get(&key) {
                Some(first) => problems.push(format!(
                    "{}: {key} is already defined in {first}",
                    located.origin
                )),
                None => {
                    seen.insert(key, &located.origin);
                }
            }
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(file: &str, text: &str) -> Result<Vec<Definition>, String> {
        documents(Path::new(file), text)?
            .into_iter()
            .map(definition)
            .collect()
    }

    #[test]
    fn yaml_and_json_documents_become_definitions() {
        let yaml = "kind: segment\nformat: 1\nid: 3\nname: VIP\nconditions:\n  attribute: {field: ltv, operator: gte, value: 500}\n---\nkind: computed_attribute\nformat: 1\nname: ltv\naggregate: sum\nevent: Order\nvalue: total\n";
        let parsed = parse("a.yaml", yaml).unwrap();
        assert_eq!(
            parsed[0],
            Definition::Segment {
                id: 3,
                name: "VIP".into(),
                description: String::new(),
                conditions: Some(
                    json!({"attribute": {"field": "ltv", "operator": "gte", "value": 500}})
                ),
            }
        );
        assert_eq!(
            parsed[1],
            Definition::Computed {
                name: "ltv".into(),
                definition: json!({"name": "ltv", "aggregate": "sum", "event": "Order", "value": "total"}),
            }
        );
        let json_text = r#"[{"kind": "segment", "format": 1, "id": 4, "name": "Manual"}]"#;
        assert!(matches!(
            &parse("b.json", json_text).unwrap()[0],
            Definition::Segment {
                id: 4,
                conditions: None,
                ..
            }
        ));
    }

    #[test]
    fn mistakes_are_named() {
        let refused = |file: &str, text: &str| parse(file, text).unwrap_err();
        assert!(refused("a.yaml", "kind: segment\n  bad: [").contains("line"));
        assert!(refused("a.json", "{\"kind\": ").contains("line 1"));
        assert!(refused("a.yaml", "kind: jorney\nformat: 1").contains("unknown kind 'jorney'"));
        assert!(refused("a.yaml", "kind: journey\nformat: 1\nname: x").contains("needs an id"));
        assert!(refused("a.yaml", "kind: channel\nformat: 1\nfrom: x").contains("needs an id"));
        assert!(refused(
            "a.yaml",
            "kind: channel\nformat: 1\nid: sms\naccount_sid: AC1\nfrom: x\nauth_token: {env: NUDGE_DATABASE_URL}"
        )
        .contains("channel sms: auth_token.env: "));
        assert!(refused("a.yaml", "kind: channel\nformat: 1\nid: fax")
            .contains("channel fax: id: 'fax' is not a channel"));
        assert!(refused("a.yaml", "kind: segment\nformat: 2").contains("format 2"));
        assert!(refused(
            "a.yaml",
            "kind: contract\nformat: 1\nevents:\n  Viewed:\n    properties:\n      p: {type: float}"
        )
        .contains("contract: /events/Viewed/properties/p/type: unknown type 'float'"));
        let contract = parse("c.yaml", "kind: contract\nformat: 1\nevents:\n  Viewed: {}").unwrap();
        assert!(
            matches!(&contract[0], Definition::Document { kind: DocumentKind::Contract, name, body }
            if name == "contract" && body["events"]["Viewed"]["version"] == 1)
        );
        assert!(refused("a.yaml", "kind: segment\nname: x").contains("format is required"));
        assert!(refused("a.yaml", "kind: segment\nformat: 1\nname: x").contains("needs an id"));
        assert!(refused(
            "a.yaml",
            "kind: segment\nformat: 1\nid: 1\nname: x\nconditons: {}"
        )
        .contains("unknown key 'conditons'"));
        let twice = [
            Located {
                origin: Origin {
                    file: "a.yaml".into(),
                    document: 1,
                },
                definition: Definition::Segment {
                    id: 1,
                    name: "A".into(),
                    description: String::new(),
                    conditions: None,
                },
            },
            Located {
                origin: Origin {
                    file: "b.yaml".into(),
                    document: 2,
                },
                definition: Definition::Segment {
                    id: 1,
                    name: "A".into(),
                    description: String::new(),
                    conditions: None,
                },
            },
        ];
        let problems = duplicates(&twice);
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with(
            "b.yaml (document 2): segment id 1 is already defined in a.yaml (document 1)"
        ));
    }
}
