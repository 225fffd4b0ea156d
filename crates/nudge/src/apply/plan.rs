//! What applying a set of definition files would change in a workspace: per definition
//! `create`, `update` (with a readable diff) or `unchanged`, and the stored definitions the
//! files leave alone. A plan exists only for a valid set: the stored definitions with the
//! files applied must compile (`nudge_process::compile`, then journeys and templates with
//! `compile_journeys`), ids must be free in other workspaces, no segment may switch
//! between manual and data-driven, and the set must agree with the workspace's event
//! contract ([`super::contract`]). Works on the stored definitions as data (read from a store
//! or through a server's App API); reads nothing itself.

use std::collections::{BTreeSet, HashMap};

use nudge_core::Timestamp;
use nudge_delivery::workspace_channels::{has_inline_secret, redacted};
use nudge_process::journeys::{compile_journeys, journey_subject, template_subject};
use nudge_process::CatalogError;
use nudge_process::{computed_subject, segment_subject};
use nudge_store::{ComputedDefinition, Document, DocumentKind, NewSegment, SegmentDefinition};
use serde_json::Value;

use super::contract;
use super::files::{Definition, Located, Origin};
use super::stored::StoredDefinitions;

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    Create,
    /// The stored version and what changes, line by line.
    Update {
        version: i64,
        diff: Vec<String>,
    },
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Step {
    /// `segment 6 (VIP)` or `computed attribute lifetime_value`, as `compile` names them.
    pub subject: String,
    pub origin: Origin,
    pub action: Action,
    pub definition: Definition,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub steps: Vec<Step>,
    /// The contract change may break stored definitions (`--force-contract`).
    pub force_contract: bool,
    /// Stored definitions no file mentions: left as they are.
    pub kept: Vec<String>,
}

/// The plan for `files` against a workspace holding `stored`, or every reason it is refused.
pub fn build(
    stored: &StoredDefinitions,
    files: Vec<Located>,
    now: Timestamp,
    force_contract: bool,
) -> Result<Plan, Vec<String>> {
    let stored_segments = &stored.segments;
    let stored_computed = &stored.computed;
    let documents = stored.live_documents();
    let mut proposed: Vec<Document> = Vec::new();
    let mut problems = Vec::new();
    let mut steps = Vec::new();
    let mut segments: HashMap<i64, SegmentDefinition> =
        stored_segments.iter().map(|s| (s.id, s.clone())).collect();
    let mut computed: HashMap<String, ComputedDefinition> = stored_computed
        .iter()
        .map(|c| (c.name.clone(), c.clone()))
        .collect();
    for located in files {
        let (subject, action) = match &located.definition {
            Definition::Segment {
                id,
                name,
                description,
                conditions,
            } => {
                let subject = segment_subject(*id, name);
                let new = NewSegment {
                    id: Some(*id),
                    name: name.clone(),
                    description: description.clone(),
                    conditions: conditions.clone(),
                };
                let wanted = SegmentDefinition::proposed(*id, &new, None, now);
                let action = match segments.get(id) {
                    None => {
                        if let Some(other) = stored.segments_elsewhere.get(id) {
                            problems.push(format!(
                                "{}: {subject}: id {id} is taken by workspace '{other}'",
                                located.origin
                            ));
                        }
                        Action::Create
                    }
                    Some(stored) if stored.manual() != wanted.manual() => {
                        let kind = |manual: bool| if manual { "manual" } else { "data-driven" };
                        problems.push(format!(
                            "{}: {subject}: is {} in the store and cannot become {} (delete it \
                             first, or give the new one another id)",
                            located.origin,
                            kind(stored.manual()),
                            kind(wanted.manual())
                        ));
                        Action::Unchanged
                    }
                    Some(stored) => segment_action(stored, &wanted),
                };
                segments.insert(*id, wanted);
                (subject, action)
            }
            Definition::Document { kind, name, body } => {
                let action = match documents.get(&(*kind, name.clone())) {
                    None => Action::Create,
                    Some(live) if *kind == DocumentKind::Channel => {
                        channel_action(live, body, stored.channels_redacted)
                    }
                    Some(live) if *kind == DocumentKind::Contract => contract::action(live, body)
                        .unwrap_or_else(|problem| {
                            problems.push(format!("{}: {problem}", located.origin));
                            Action::Unchanged
                        }),
                    Some(live) if &live.body == body => Action::Unchanged,
                    Some(live) => Action::Update {
                        version: live.version,
                        diff: json_diff(&live.body, body),
                    },
                };
                if action != Action::Unchanged {
                    proposed.push(Document {
                        kind: *kind,
                        name: name.clone(),
                        version: stored.next_version(*kind, name),
                        body: body.clone(),
                        created_at: now,
                        deleted: false,
                    });
                }
                (document_subject(*kind, name), action)
            }
            Definition::Computed { name, definition } => {
                let action = match computed.get(name) {
                    None => Action::Create,
                    Some(stored) if &stored.definition == definition => Action::Unchanged,
                    Some(stored) => Action::Update {
                        version: stored.version,
                        diff: json_diff(&stored.definition, definition),
                    },
                };
                computed.insert(
                    name.clone(),
                    ComputedDefinition::proposed(name, definition, now),
                );
                (computed_subject(name), action)
            }
        };
        steps.push(Step {
            subject,
            origin: located.origin,
            action,
            definition: located.definition,
        });
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut all_segments: Vec<SegmentDefinition> = segments.into_values().collect();
    all_segments.sort_by_key(|s| s.id);
    let all_computed: Vec<ComputedDefinition> = computed.into_values().collect();
    if let Err(error) = nudge_process::compile(&all_segments, &all_computed) {
        return Err(vec![refusal(&error, &steps)]);
    }
    let segment_ids = all_segments.iter().map(|s| s.id).collect();
    let (journeys, templates) = documents_with(stored, &proposed);
    if let Err(error) = compile_journeys(&journeys, &templates, &segment_ids) {
        return Err(vec![refusal(&error, &steps)]);
    }
    let configuration = contract::Configuration {
        stored: stored.contract.as_ref(),
        journeys: &journeys,
        templates: &templates,
        segments: &all_segments,
        computed: &all_computed,
    };
    contract::refusals(&configuration, &steps, force_contract)?;
    let in_files =
        |wanted: &dyn Fn(&Definition) -> bool| steps.iter().any(|s| wanted(&s.definition));
    let kept = stored_segments
        .iter()
        .filter(|stored| {
            !in_files(&|d| matches!(d, Definition::Segment { id, .. } if *id == stored.id))
        })
        .map(|s| segment_subject(s.id, &s.name))
        .chain(
            stored_computed
                .iter()
                .filter(|stored| {
                    !in_files(
                        &|d| matches!(d, Definition::Computed { name, .. } if *name == stored.name),
                    )
                })
                .map(|c| computed_subject(&c.name)),
        )
        .chain(
            documents
                .values()
                .filter(|stored| {
                    !in_files(&|d| {
                        matches!(d, Definition::Document { kind, name, .. }
                            if *kind == stored.kind && *name == stored.name)
                    })
                })
                .map(|d| document_subject(d.kind, &d.name)),
        )
        .collect();
    Ok(Plan {
        steps,
        force_contract,
        kept,
    })
}

/// `journey cart-recovery` or `template cart-email`, as `compile_journeys` names them;
/// `channel sms`; `contract`.
pub fn document_subject(kind: DocumentKind, name: &str) -> String {
    match kind {
        DocumentKind::Journey => journey_subject(name),
        DocumentKind::Template => template_subject(name),
        DocumentKind::Channel => format!("channel {name}"),
        DocumentKind::Contract => "contract".to_string(),
    }
}

/// What applying a channel file does to the stored channel. The diff shows both sides with
/// their inline secrets redacted, so a plan never prints a secret; a secret that changed is
/// said to have changed. Read through the App API the stored secrets are not known: a file
/// that gives one inline is then always an update (the server keeps a new version only if
/// something differs).
fn channel_action(live: &Document, body: &Value, stored_redacted: bool) -> Action {
    let (old, new) = (redacted(&live.body), redacted(body));
    let secret_note = if stored_redacted {
        "secrets given inline cannot be compared through the App API; the server keeps a \
         new version only if they changed"
    } else {
        "a secret given inline changes (not shown)"
    };
    let secrets_may_differ = if stored_redacted {
        has_inline_secret(body)
    } else {
        live.body != *body
    };
    if old == new && !secrets_may_differ {
        return Action::Unchanged;
    }
    let mut diff = if old == new {
        Vec::new()
    } else {
        json_diff(&old, &new)
    };
    if secrets_may_differ && (old == new || stored_redacted) {
        diff.push(secret_note.to_string());
    }
    Action::Update {
        version: live.version,
        diff,
    }
}

/// Every stored version of every journey with the proposed ones added as the newest, and
/// the live templates with the proposed ones in place of the stored.
fn documents_with(
    stored: &StoredDefinitions,
    proposed: &[Document],
) -> (Vec<Document>, Vec<Document>) {
    let mut journeys = stored.journey_versions.clone();
    journeys.extend(
        proposed
            .iter()
            .filter(|d| d.kind == DocumentKind::Journey)
            .cloned(),
    );
    let mut templates: HashMap<&str, &Document> = stored
        .templates
        .iter()
        .map(|d| (d.name.as_str(), d))
        .collect();
    for document in proposed.iter().filter(|d| d.kind == DocumentKind::Template) {
        templates.insert(&document.name, document);
    }
    (journeys, templates.into_values().cloned().collect())
}

fn segment_action(stored: &SegmentDefinition, wanted: &SegmentDefinition) -> Action {
    let mut diff = Vec::new();
    if stored.name != wanted.name {
        diff.push(format!("name: {:?} → {:?}", stored.name, wanted.name));
    }
    if stored.description != wanted.description {
        diff.push(format!(
            "description: {:?} → {:?}",
            stored.description, wanted.description
        ));
    }
    if stored.conditions != wanted.conditions {
        let none = Value::Null;
        diff.push("conditions:".into());
        diff.extend(
            json_diff(
                stored.conditions.as_ref().unwrap_or(&none),
                wanted.conditions.as_ref().unwrap_or(&none),
            )
            .into_iter()
            .map(|line| format!("  {line}")),
        );
    }
    if diff.is_empty() {
        Action::Unchanged
    } else {
        Action::Update {
            version: stored.version,
            diff,
        }
    }
}

/// A compile error as a message naming the file, the definition and the pointer in the file's
/// document (a segment's conditions sit under `/conditions`).
fn refusal(error: &CatalogError, steps: &[Step]) -> String {
    let step = steps.iter().find(|s| s.subject == error.subject);
    match step {
        Some(step) => {
            let pointer = match step.definition {
                Definition::Segment { .. } => format!("/conditions{}", error.pointer),
                Definition::Computed { .. } | Definition::Document { .. } => error.pointer.clone(),
            };
            format!(
                "{}: {}: {pointer}: {}",
                step.origin, error.subject, error.message
            )
        }
        None => {
            // A cycle names several segments; point at the files that define them.
            let ids: BTreeSet<i64> = error
                .subject
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|part| part.parse().ok())
                .collect();
            let files: Vec<String> = steps
                .iter()
                .filter(|s| match s.definition {
                    Definition::Segment { id, .. } => ids.contains(&id),
                    Definition::Computed { .. } | Definition::Document { .. } => false,
                })
                .map(|s| s.origin.to_string())
                .collect();
            let place = if files.is_empty() {
                "stored definitions".to_string()
            } else {
                files.join(", ")
            };
            let pointer = if error.pointer.is_empty() {
                String::new()
            } else {
                format!(" {}:", error.pointer)
            };
            format!("{place}: {}:{pointer} {}", error.subject, error.message)
        }
    }
}

/// Both values pretty-printed with sorted keys (a store may not keep key order) and compared
/// line by line: `- ` removed, `+ ` added, `  ` kept.
pub fn json_diff(old: &Value, new: &Value) -> Vec<String> {
    let pretty = |v: &Value| {
        let sorted = sorted_keys(v);
        serde_json::to_string_pretty(&sorted).unwrap_or_else(|_| sorted.to_string())
    };
    line_diff(&pretty(old), &pretty(new))
}

fn sorted_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by_key(|(key, _)| *key);
            Value::Object(
                entries
                    .into_iter()
                    .map(|(key, inner)| (key.clone(), sorted_keys(inner)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted_keys).collect()),
        other => other.clone(),
    }
}

pub fn line_diff(old: &str, new: &str) -> Vec<String> {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    // Longest common subsequence lengths of every pair of suffixes.
    let mut common = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            common[i][j] = if a[i] == b[j] {
                common[i + 1][j + 1] + 1
            } else {
                common[i + 1][j].max(common[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push(format!("  {}", a[i]));
            (i, j) = (i + 1, j + 1);
        } else if j == b.len() || (i < a.len() && common[i + 1][j] >= common[i][j + 1]) {
            out.push(format!("- {}", a[i]));
            i += 1;
        } else {
            out.push(format!("+ {}", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn located(definition: Definition) -> Located {
        Located {
            origin: Origin {
                file: "journeys.yaml".into(),
                document: 1,
            },
            definition,
        }
    }

    fn journey_sending(template: &str) -> Value {
        json!({"id": "gone", "name": "Gone", "trigger": {"event": "E"},
               "steps": [{"id": "mail", "send": {"channel": "email", "template": template}}]})
    }

    #[test]
    fn a_journey_deleted_in_the_store_and_back_in_the_files_is_checked_as_the_live_one() {
        let stored_version = |version: i64, body: Value| Document {
            kind: DocumentKind::Journey,
            name: "gone".into(),
            version,
            deleted: body.is_null(),
            body,
            created_at: Timestamp::from_millis(0),
        };
        let template = Document {
            kind: DocumentKind::Template,
            name: "mail".into(),
            version: 1,
            body: json!({"id": "mail", "channel": "email", "subject": "Hi", "body": "Hello"}),
            created_at: Timestamp::from_millis(0),
            deleted: false,
        };
        let stored = StoredDefinitions {
            journey_versions: vec![
                stored_version(1, journey_sending("mail")),
                stored_version(2, Value::Null),
            ],
            templates: vec![template],
            ..StoredDefinitions::default()
        };
        let now = Timestamp::from_millis(0);
        let back = |template: &str| {
            vec![located(Definition::Document {
                kind: DocumentKind::Journey,
                name: "gone".into(),
                body: journey_sending(template),
            })]
        };
        let plan = build(&stored, back("mail"), now, false).expect("a valid set");
        assert_eq!(plan.steps[0].action, Action::Create);
        let refused = build(&stored, back("missing"), now, false)
            .err()
            .unwrap_or_default();
        assert_eq!(refused.len(), 1, "{refused:?}");
        assert!(
            refused[0].contains("/steps/0/send: there is no template 'missing'"),
            "{refused:?}"
        );
    }

    #[test]
    fn channel_plans_never_print_an_inline_secret() {
        let live = Document {
            kind: DocumentKind::Channel,
            name: "sms".into(),
            version: 2,
            body: json!({"id": "sms", "account_sid": "AC1", "auth_token": "old-secret", "from": "+1"}),
            created_at: Timestamp::from_millis(0),
            deleted: false,
        };
        let same = live.body.clone();
        assert_eq!(channel_action(&live, &same, false), Action::Unchanged);
        let mut secret_only = same.clone();
        secret_only["auth_token"] = json!("new-secret");
        let Action::Update { version, diff } = channel_action(&live, &secret_only, false) else {
            panic!("an update");
        };
        assert_eq!(version, 2);
        assert_eq!(diff, ["a secret given inline changes (not shown)"]);
        let mut both = secret_only.clone();
        both["from"] = json!("+2");
        let Action::Update { diff, .. } = channel_action(&live, &both, false) else {
            panic!("an update");
        };
        let printed = diff.join("\n");
        assert!(printed.contains("+   \"from\": \"+2\""), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
        assert!(!printed.contains("secret\""), "{printed}");

        // Read through the App API the stored secret is redacted and cannot be compared.
        let shown = Document {
            body: redacted(&live.body),
            ..live.clone()
        };
        let Action::Update { diff, .. } = channel_action(&shown, &same, true) else {
            panic!("an inline secret cannot be compared");
        };
        assert!(diff[0].contains("cannot be compared"), "{diff:?}");
        let mut referenced = same.clone();
        referenced["auth_token"] = json!({"env": "TOKEN"});
        let stored = Document {
            body: referenced.clone(),
            ..live
        };
        assert_eq!(
            channel_action(&stored, &referenced, true),
            Action::Unchanged
        );
    }

    #[test]
    fn line_diffs_keep_what_is_common() {
        assert_eq!(
            line_diff("a\nb\nc", "a\nx\nc\nd"),
            ["  a", "- b", "+ x", "  c", "+ d"]
        );
        assert_eq!(line_diff("", "a"), ["+ a"]);
        let diff = json_diff(&json!({"gte": 1}), &json!({"gte": 2}));
        assert_eq!(diff, ["  {", "-   \"gte\": 1", "+   \"gte\": 2", "  }"]);
        let reordered = json_diff(&json!({"b": 1, "a": 2}), &json!({"a": 2, "b": 1}));
        assert!(
            reordered.iter().all(|line| line.starts_with("  ")),
            "{reordered:?}"
        );
    }
}
