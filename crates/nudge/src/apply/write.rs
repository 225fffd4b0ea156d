//! Carrying out a validated plan: its changes in the one order that never shows a running
//! server a reference to something not there yet (the contract, channels, computed attributes, segments
//! after the segments they read, templates, journeys), written to a [`Target`]: the store itself, or a
//! server's App API ([`super::remote`]).

use std::collections::{BTreeSet, HashMap};

use anyhow::Context;
use nudge_core::{Timestamp, WorkspaceId};
use nudge_store::{DocumentKind, NewSegment, Store, CONTRACT_NAME};
use serde_json::Value;

use super::files::Definition;
use super::plan::{Action, Plan, Step};

/// Where the definitions of one workspace are written.
pub trait Target {
    /// Creates or replaces a computed attribute's definition.
    fn put_computed(&self, name: &str, definition: &Value) -> anyhow::Result<()>;
    /// Creates a segment with the id `new` names.
    fn create_segment(&self, new: &NewSegment) -> anyhow::Result<()>;
    /// Replaces an existing segment's name, description and conditions.
    fn update_segment(&self, id: i64, new: &NewSegment) -> anyhow::Result<()>;
    /// Stores a journey, template or channel (a new version when the body changed).
    fn put_document(&self, kind: DocumentKind, name: &str, body: &Value) -> anyhow::Result<()>;
    /// Stores the contract; `force` lets it break stored definitions (the plan checked the
    /// whole set, the definitions it changes included, before anything was written).
    fn put_contract(&self, body: &Value, force: bool) -> anyhow::Result<()>;
}

/// A workspace in a store opened by this process.
pub struct StoreTarget<'a> {
    pub store: &'a dyn Store,
    pub ws: WorkspaceId,
    pub now: Timestamp,
}

impl Target for StoreTarget<'_> {
    fn put_computed(&self, name: &str, definition: &Value) -> anyhow::Result<()> {
        self.store
            .put_computed_definition(self.ws, name, definition, self.now)?;
        Ok(())
    }

    fn create_segment(&self, new: &NewSegment) -> anyhow::Result<()> {
        self.store.create_segment(self.ws, new, self.now)?;
        Ok(())
    }

    fn update_segment(&self, id: i64, new: &NewSegment) -> anyhow::Result<()> {
        if self
            .store
            .update_segment(self.ws, id, new, self.now)?
            .is_none()
        {
            anyhow::bail!("segment {id} was deleted meanwhile");
        }
        Ok(())
    }

    fn put_document(&self, kind: DocumentKind, name: &str, body: &Value) -> anyhow::Result<()> {
        self.store
            .put_document(self.ws, kind, name, body, self.now)?;
        Ok(())
    }

    fn put_contract(&self, body: &Value, _force: bool) -> anyhow::Result<()> {
        self.put_document(DocumentKind::Contract, CONTRACT_NAME, body)
    }
}

/// Writes the plan's changes: the contract first (what the rest is checked against: a
/// server checks each later write with it), channels (what the rest may send through), then
/// computed attributes, then segments, each after the segments its conditions read, then
/// templates, then journeys, so a processor reloading midway never sees a reference to
/// something that is not there yet.
pub fn execute(target: &dyn Target, plan: &Plan) -> anyhow::Result<()> {
    let ordered = ordered_changes(plan);
    let total = ordered.len();
    // Definitions the plan changes may conform to the new contract only once they are
    // written: the plan checked them, so the contract goes first, forced.
    let force = plan.force_contract || total > 1;
    for (done, step) in ordered.into_iter().enumerate() {
        write(target, step, force).with_context(|| {
            format!(
                "applying {} ({done} of {total} changes were applied before it)",
                step.subject
            )
        })?;
    }
    Ok(())
}

/// The plan's changes (unchanged definitions left out) in the order they are written.
pub fn ordered_changes(plan: &Plan) -> Vec<&Step> {
    let changed: Vec<&Step> = plan
        .steps
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .collect();
    let of = |wanted: fn(&Definition) -> bool| -> Vec<&Step> {
        changed
            .iter()
            .copied()
            .filter(|s| wanted(&s.definition))
            .collect()
    };
    let contract =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Contract));
    let channels =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Channel));
    let computed = of(|d| matches!(d, Definition::Computed { .. }));
    let segments = of(|d| matches!(d, Definition::Segment { .. }));
    let templates =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Template));
    let journeys =
        of(|d| matches!(d, Definition::Document { kind, .. } if *kind == DocumentKind::Journey));
    contract
        .into_iter()
        .chain(channels)
        .chain(computed)
        .chain(dependency_order(&segments))
        .chain(templates)
        .chain(journeys)
        .collect()
}

fn write(target: &dyn Target, step: &Step, force_contract: bool) -> anyhow::Result<()> {
    match &step.definition {
        Definition::Computed { name, definition } => target.put_computed(name, definition),
        Definition::Document {
            kind: DocumentKind::Contract,
            body,
            ..
        } => target.put_contract(body, force_contract),
        Definition::Document { kind, name, body } => target.put_document(*kind, name, body),
        Definition::Segment {
            id,
            name,
            description,
            conditions,
        } => {
            let new = NewSegment {
                id: Some(*id),
                name: name.clone(),
                description: description.clone(),
                conditions: conditions.clone(),
            };
            if step.action == Action::Create {
                target.create_segment(&new)
            } else {
                target.update_segment(*id, &new)
            }
        }
    }
}

/// Segment steps ordered so that each comes after the changed segments it refers to (the set
/// compiled, so there is no cycle).
fn dependency_order<'a>(steps: &[&'a Step]) -> Vec<&'a Step> {
    let by_id: HashMap<i64, &'a Step> = steps
        .iter()
        .filter_map(|s| match s.definition {
            Definition::Segment { id, .. } => Some((id, *s)),
            Definition::Computed { .. } | Definition::Document { .. } => None,
        })
        .collect();
    fn visit<'a>(
        step: &'a Step,
        by_id: &HashMap<i64, &'a Step>,
        placed: &mut BTreeSet<i64>,
        out: &mut Vec<&'a Step>,
    ) {
        let Definition::Segment { id, conditions, .. } = &step.definition else {
            return;
        };
        if !placed.insert(*id) {
            return;
        }
        let reads = conditions
            .as_ref()
            .and_then(|c| nudge_conditions::parse(c).ok())
            .map(|c| c.dependencies().segments)
            .unwrap_or_default();
        for dependency in reads {
            if let Some(first) = by_id.get(&dependency) {
                visit(first, by_id, placed, out);
            }
        }
        out.push(step);
    }
    let mut placed = BTreeSet::new();
    let mut out = Vec::new();
    for step in steps {
        visit(step, &by_id, &mut placed, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::files::Origin;
    use serde_json::json;

    fn step(definition: Definition) -> Step {
        Step {
            subject: String::new(),
            origin: Origin {
                file: "f.yaml".into(),
                document: 1,
            },
            action: Action::Create,
            definition,
        }
    }

    fn segment(id: i64, reads: Option<i64>) -> Definition {
        Definition::Segment {
            id,
            name: format!("s{id}"),
            description: String::new(),
            conditions: Some(match reads {
                Some(other) => json!({"segment": {"id": other}}),
                None => json!({"attribute": {"field": "a", "operator": "exists"}}),
            }),
        }
    }

    fn document(kind: DocumentKind, name: &str) -> Definition {
        Definition::Document {
            kind,
            name: name.into(),
            body: json!({}),
        }
    }

    #[test]
    fn changes_are_written_computed_segments_templates_journeys() {
        let mut unchanged = step(segment(9, None));
        unchanged.action = Action::Unchanged;
        let plan = Plan {
            steps: vec![
                step(document(DocumentKind::Journey, "j")),
                step(segment(2, Some(1))),
                step(document(DocumentKind::Template, "t")),
                unchanged,
                step(segment(1, None)),
                step(document(DocumentKind::Channel, "sms")),
                step(document(DocumentKind::Contract, "contract")),
                step(Definition::Computed {
                    name: "c".into(),
                    definition: json!({}),
                }),
            ],
            force_contract: false,
            kept: Vec::new(),
        };
        let order: Vec<String> = ordered_changes(&plan)
            .iter()
            .map(|s| match &s.definition {
                Definition::Segment { id, .. } => format!("segment {id}"),
                Definition::Computed { name, .. } => format!("computed {name}"),
                Definition::Document { kind, name, .. } => format!("{kind} {name}"),
            })
            .collect();
        assert_eq!(
            order,
            [
                "contract contract",
                "channel sms",
                "computed c",
                "segment 1",
                "segment 2",
                "template t",
                "journey j"
            ]
        );
    }
}
