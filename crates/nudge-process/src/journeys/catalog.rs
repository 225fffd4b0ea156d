//! A workspace's journeys and templates, validated and indexed for the processor: every
//! stored version of every journey (instances keep the version they entered with), the live
//! version of each for new triggers, which event names and segment transitions can start or
//! concern an instance, and the compiled templates sends render. `nudge apply`, the App API
//! and the processor all validate through [`compile_journeys`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use nudge_journeys::{parse_journey, Journey, SegmentEdge, Trigger};
use nudge_store::{Document, EventRead};
use nudge_templates::{parse_template, Template};

use crate::CatalogError;

/// `journey cart-recovery`: how refusals name a journey.
pub fn journey_subject(id: &str) -> String {
    format!("journey {id}")
}

/// `template cart-email`: how refusals name a template.
pub fn template_subject(id: &str) -> String {
    format!("template {id}")
}

/// Journeys and templates ready to run.
#[derive(Debug, Clone, Default)]
pub struct JourneyCatalog {
    /// Every stored version of every journey, deleted ones included.
    versions: BTreeMap<(String, i64), Arc<Journey>>,
    /// The live version of each journey that is not deleted: what new triggers start.
    live: BTreeMap<String, (i64, Arc<Journey>)>,
    templates: BTreeMap<String, Arc<Template>>,
    /// Live journeys an event of this name can start.
    by_event: BTreeMap<String, Vec<String>>,
    /// Live journeys a segment transition can start: (segment, entered?).
    by_segment: BTreeMap<(i64, bool), Vec<String>>,
    /// Live journeys started by a change of this top-level attribute.
    by_attribute: BTreeMap<String, Vec<String>>,
    /// Live journeys started a while after a date attribute.
    by_date: Vec<String>,
    /// Event names any version's instances react to (exits, goals, waits).
    watched_events: BTreeSet<String>,
    /// Per stored version, the event names that can move its instances (its goal, exits and
    /// waits): an event of another name changes nothing but the offset an instance has seen.
    reacting_events: BTreeMap<(String, i64), BTreeSet<String>>,
    /// Event names any version's conditions read: loaded with the person's facts.
    condition_events: BTreeSet<String>,
    /// Whether any version has a condition an instance re-checks when the person changes.
    rechecks: bool,
    /// Whether any version has a step that appends to the log (attribute updates, emitted
    /// events): entries applied as the writer applies them, which can change other people.
    appends_entries: bool,
}

impl JourneyCatalog {
    pub fn is_empty(&self) -> bool {
        self.versions.is_empty()
    }

    pub fn version(&self, journey: &str, version: i64) -> Option<&Arc<Journey>> {
        self.versions.get(&(journey.to_string(), version))
    }

    /// The version new instances of `journey` start with; `None` once it is deleted.
    pub fn live(&self, journey: &str) -> Option<(i64, &Arc<Journey>)> {
        self.live.get(journey).map(|(v, j)| (*v, j))
    }

    pub fn live_journeys(&self) -> impl Iterator<Item = (&String, i64, &Arc<Journey>)> {
        self.live.iter().map(|(id, (v, j))| (id, *v, j))
    }

    pub fn template(&self, id: &str) -> Option<&Arc<Template>> {
        self.templates.get(id)
    }

    pub fn started_by_event(&self, name: &str) -> &[String] {
        self.by_event.get(name).map_or(&[], Vec::as_slice)
    }

    pub fn started_by_segment(&self, segment: i64, entered: bool) -> &[String] {
        self.by_segment
            .get(&(segment, entered))
            .map_or(&[], Vec::as_slice)
    }

    pub fn started_by_attribute(&self, attribute: &str) -> &[String] {
        self.by_attribute.get(attribute).map_or(&[], Vec::as_slice)
    }

    /// Whether a change of one of these attributes can start a journey.
    pub fn watches_attributes<'a>(&self, mut attributes: impl Iterator<Item = &'a String>) -> bool {
        attributes.any(|a| self.by_attribute.contains_key(a))
    }

    /// Date-triggered journeys whose moment for a person with these attributes has come
    /// (at or before `now`, and recent enough to trigger), with that moment.
    pub fn dates_due(
        &self,
        attributes: &nudge_core::JsonMap,
        now: nudge_core::Timestamp,
    ) -> Vec<(&String, nudge_core::Timestamp)> {
        self.by_date
            .iter()
            .filter_map(|id| {
                let (_, journey) = self.live.get(id)?;
                let due = journey.trigger.date_due(attributes)?;
                let fresh = now.millis() - due.millis() <= nudge_journeys::TRIGGER_MAX_AGE_MS;
                (due <= now && fresh).then_some((id, due))
            })
            .collect()
    }

    /// The next moment a date-triggered journey's time comes for a person with these
    /// attributes: when the person must be looked at again.
    pub fn next_date_due(
        &self,
        attributes: &nudge_core::JsonMap,
        now: nudge_core::Timestamp,
    ) -> Option<nudge_core::Timestamp> {
        self.by_date
            .iter()
            .filter_map(|id| self.live.get(id)?.1.trigger.date_due(attributes))
            .filter(|due| *due > now)
            .min()
    }

    /// Whether an event of this name can concern an instance that is already running.
    pub fn watches_event(&self, name: &str) -> bool {
        self.watched_events.contains(name)
    }

    /// Whether an event of this name can move an instance of this journey version: its goal,
    /// one of its exits or one of its waits names it. `false` for a version not in the
    /// catalogue (its instances cannot run).
    pub fn version_reacts_to(&self, journey: &str, version: i64, name: &str) -> bool {
        self.reacting_events
            .get(&(journey.to_string(), version))
            .is_some_and(|names| names.contains(name))
    }

    pub fn rechecks(&self) -> bool {
        self.rechecks
    }

    /// Whether running an instance can append entries to the log: applied at once, like the
    /// writer's, they can reach other people than the instance's (a merge), so people read
    /// ahead of their turn may have changed by then.
    pub fn appends_entries(&self) -> bool {
        self.appends_entries
    }

    /// The person's events the journeys' conditions read (with data: `where` filters).
    pub fn condition_event_reads(&self) -> Vec<EventRead> {
        if self.condition_events.is_empty() {
            return Vec::new();
        }
        vec![EventRead {
            names: self.condition_events.iter().cloned().collect(),
            since: None,
            with_data: true,
        }]
    }
}

/// Validates and indexes a workspace's journeys (`all_versions`: every stored version) and
/// templates (the live ones). Refuses a document that does not parse, a journey that names a
/// segment not in `segments` or a template not in `templates`, and a send whose template is
/// for another channel. Only the live version of each journey is checked against segments
/// and templates: older versions ran when they were valid and keep running.
pub fn compile_journeys(
    all_versions: &[Document],
    templates: &[Document],
    segments: &BTreeSet<i64>,
) -> Result<JourneyCatalog, CatalogError> {
    let mut catalog = JourneyCatalog::default();
    for document in templates.iter().filter(|d| !d.deleted) {
        let template = parse_template(&document.body).map_err(|e| CatalogError {
            subject: template_subject(&document.name),
            pointer: e.pointer,
            message: e.message,
        })?;
        if template.id != document.name {
            return Err(CatalogError {
                subject: template_subject(&document.name),
                pointer: "/id".into(),
                message: format!("the document is template '{}'", template.id),
            });
        }
        catalog
            .templates
            .insert(document.name.clone(), Arc::new(template));
    }
    let mut latest: BTreeMap<&str, &Document> = BTreeMap::new();
    for document in all_versions {
        let entry = latest.entry(&document.name).or_insert(document);
        if document.version > entry.version {
            *entry = document;
        }
    }
    for document in all_versions.iter().filter(|d| !d.deleted) {
        let is_live = latest
            .get(document.name.as_str())
            .is_some_and(|l| l.version == document.version);
        let journey = match parse_journey(&document.body) {
            Ok(journey) => journey,
            // An old version that no longer parses (the format only grows) cannot be run.
            Err(_) if !is_live => continue,
            Err(e) => {
                return Err(CatalogError {
                    subject: journey_subject(&document.name),
                    pointer: e.pointer,
                    message: e.message,
                })
            }
        };
        if journey.id != document.name {
            return Err(CatalogError {
                subject: journey_subject(&document.name),
                pointer: "/id".into(),
                message: format!("the document is journey '{}'", journey.id),
            });
        }
        let journey = Arc::new(journey);
        if is_live {
            check_references(&journey, &catalog.templates, segments)?;
            index_triggers(&mut catalog, &journey);
            catalog
                .live
                .insert(journey.id.clone(), (document.version, journey.clone()));
        }
        catalog.watched_events.extend(watched_events(&journey));
        catalog.reacting_events.insert(
            (document.name.clone(), document.version),
            reacting_events(&journey),
        );
        for condition in journey.conditions() {
            let deps = condition.dependencies();
            catalog.condition_events.extend(deps.events);
        }
        catalog.rechecks |= has_rechecks(&journey);
        catalog.appends_entries |= journey.steps.iter().any(|s| {
            matches!(
                s.kind,
                nudge_journeys::StepKind::Update { .. } | nudge_journeys::StepKind::Emit { .. }
            )
        });
        catalog
            .versions
            .insert((document.name.clone(), document.version), journey);
    }
    Ok(catalog)
}

fn check_references(
    journey: &Journey,
    templates: &BTreeMap<String, Arc<Template>>,
    segments: &BTreeSet<i64>,
) -> Result<(), CatalogError> {
    let subject = || journey_subject(&journey.id);
    if let Some(missing) = journey
        .segment_refs()
        .iter()
        .find(|s| !segments.contains(s))
    {
        return Err(CatalogError {
            subject: subject(),
            pointer: String::new(),
            message: format!("there is no segment {missing}"),
        });
    }
    for (step, channel, template) in journey.template_refs() {
        let pointer = step_pointer(journey, &step);
        let Some(found) = templates.get(&template) else {
            return Err(CatalogError {
                subject: subject(),
                pointer,
                message: format!("there is no template '{template}'"),
            });
        };
        if found.channel.as_str() != channel {
            return Err(CatalogError {
                subject: subject(),
                pointer,
                message: format!(
                    "template '{template}' is for {}, not {channel}",
                    found.channel.as_str()
                ),
            });
        }
        if let Some(message) = unavailable_variable(journey, &template, found) {
            return Err(CatalogError {
                subject: subject(),
                pointer,
                message,
            });
        }
    }
    Ok(())
}

/// Why a template this journey sends reads a variable the journey can never supply: an
/// unknown root, the trigger event's data in a journey no event starts, or API trigger data
/// in one an event starts. (Whether an event carries a given property is the event
/// contract's business.)
fn unavailable_variable(journey: &Journey, id: &str, template: &Template) -> Option<String> {
    let has_event = matches!(journey.trigger, Trigger::Event { .. });
    template.variables().into_iter().find_map(|variable| {
        let root = variable
            .path
            .split(['.', '['])
            .next()
            .unwrap_or_default()
            .to_string();
        let why = match root.as_str() {
            "customer" | "journey" => return None,
            "event" | "event_name" | "event_timestamp" if has_event => return None,
            "trigger" if !has_event => return None,
            "event" | "event_name" | "event_timestamp" => "no event starts this journey",
            "trigger" => "an event starts this journey: its data is under event",
            _ => "there is no such variable (customer, event, trigger, journey)",
        };
        Some(format!(
            "template '{id}' reads {} in its {}, but {why}",
            variable.path, variable.part
        ))
    })
}

/// `/steps/3/send`: where a step's send sits in the journey's document.
fn step_pointer(journey: &Journey, step: &str) -> String {
    let index = journey.steps.iter().position(|s| s.id == step).unwrap_or(0);
    format!("/steps/{index}/send")
}

fn index_triggers(catalog: &mut JourneyCatalog, journey: &Arc<Journey>) {
    let id = journey.id.clone();
    match &journey.trigger {
        Trigger::Event { name, .. } => catalog.by_event.entry(name.clone()).or_default().push(id),
        Trigger::Segment { id: segment, on } => catalog
            .by_segment
            .entry((*segment, matches!(on, SegmentEdge::Entered)))
            .or_default()
            .push(id),
        Trigger::AttributeChanged { field } => catalog
            .by_attribute
            .entry(field.root().to_string())
            .or_default()
            .push(id),
        Trigger::Date { .. } => catalog.by_date.push(id),
        Trigger::Broadcast => {}
    }
}

/// Event names a running instance of `journey` reacts to: everything it names except a
/// trigger event that nothing else mentions.
fn watched_events(journey: &Journey) -> BTreeSet<String> {
    let mut names = journey.event_names();
    if let Trigger::Event { name, .. } = &journey.trigger {
        let elsewhere = journey
            .conditions()
            .iter()
            .any(|c| c.dependencies().events.contains(name))
            || reacting_events(journey).contains(name);
        if !elsewhere {
            names.remove(name);
        }
    }
    names
}

/// Event names an exit, the goal or a wait of `journey` names: the only events that move
/// its instances (see `nudge_journeys::step`).
fn reacting_events(journey: &Journey) -> BTreeSet<String> {
    use nudge_journeys::{ExitRule, StepKind};
    let exits = journey.exits.iter().filter_map(|e| match e {
        ExitRule::Event { matcher, .. } => Some(&matcher.name),
        ExitRule::Condition { .. } => None,
    });
    let goal = journey.goal.iter().map(|g| &g.matcher.name);
    let waits = journey.steps.iter().filter_map(|s| match &s.kind {
        StepKind::WaitUntil {
            event: Some(event), ..
        } => Some(&event.name),
        _ => None,
    });
    exits.chain(goal).chain(waits).cloned().collect()
}

/// Whether an instance of `journey` has conditions to re-check when the person changes.
fn has_rechecks(journey: &Journey) -> bool {
    use nudge_journeys::{ExitRule, StepKind};
    journey
        .exits
        .iter()
        .any(|e| matches!(e, ExitRule::Condition { .. }))
        || journey.steps.iter().any(|s| {
            matches!(
                &s.kind,
                StepKind::WaitUntil {
                    condition: Some(_),
                    ..
                }
            )
        })
}
