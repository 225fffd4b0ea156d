//! The identify resolution rules of the Track API (create, update, assign the path
//! identifier, conflicts logged as failed attribute changes, auto-merge of an id-only and an
//! email-only profile) and merges that carry a secondary person into a primary.

use nudge_core::{
    Activity, ActivityKind, Identifier, IdentifierKind, JsonMap, PersonKey, PersonState, Timestamp,
};
use nudge_store::{Marked, StoreError, StoreResult};
use serde_json::{json, Value};

use super::{set_identifier_field, Cx, Outcome};
use crate::attributes::apply_attributes;

pub(crate) fn identify(
    cx: &mut Cx<'_>,
    path: &Identifier,
    attributes: &JsonMap,
    update_only: bool,
    timestamp: Option<Timestamp>,
) -> StoreResult<Outcome> {
    if cx.tx.is_suppressed(cx.ws, path)? {
        return Ok(Outcome::Dropped(format!("{path} is suppressed")));
    }
    let body_ids = body_identifiers(attributes);
    let path_key = cx.tx.resolve(cx.ws, path)?;
    if path.kind() == IdentifierKind::CioId && path_key.is_none() {
        return Ok(Outcome::Dropped(format!(
            "no person has cio_id {}",
            path.value()
        )));
    }
    let mut candidates: Vec<PersonKey> = path_key.into_iter().collect();
    for identifier in &body_ids {
        if let Some(key) = cx.tx.resolve(cx.ws, identifier)? {
            if !candidates.contains(&key) {
                candidates.push(key);
            }
        }
    }
    let target = match candidates.as_slice() {
        [] if update_only => {
            return Ok(Outcome::Dropped(format!(
                "no person matches {path} and _update forbids creating one"
            )))
        }
        [] => {
            let mut all = vec![path];
            all.extend(body_ids.iter().filter(|i| i.kind() != path.kind()));
            cx.create_person(&all)?
        }
        [one] => *one,
        [first, second] => match auto_merge(cx, *first, *second)? {
            Some(primary) => primary,
            None => {
                let reason = "identifiers in the request belong to different people";
                cx.record_failure(*first, reason, attributes)?;
                return Ok(Outcome::Applied);
            }
        },
        [first, ..] => {
            let reason = "identifiers in the request belong to different people";
            cx.record_failure(*first, reason, attributes)?;
            return Ok(Outcome::Applied);
        }
    };
    let mut person = load(cx, target)?;
    let may_change = path.kind() == IdentifierKind::CioId;
    let mut wanted: Vec<&Identifier> = body_ids.iter().collect();
    if path_key.is_none() {
        wanted.push(path);
    }
    // Check every assignment before making any, so a refused request changes nothing.
    for (n, identifier) in wanted.iter().enumerate() {
        let twin = wanted[..n]
            .iter()
            .find(|other| other.kind() == identifier.kind() && other.value() != identifier.value());
        let conflict = match twin {
            Some(other) => Some(format!(
                "the request names two {}s: {other} and {identifier}",
                identifier.kind().as_str()
            )),
            None => assignment_conflict(cx, &person, identifier, may_change)?,
        };
        if let Some(reason) = conflict {
            cx.record_failure(target, &reason, attributes)?;
            return Ok(Outcome::Applied);
        }
    }
    for identifier in wanted {
        assign_identifier(cx, &mut person, identifier)?;
    }
    if let Some(anon) = attributes.get("anonymous_id").and_then(Value::as_str) {
        if let Err(reason) = adopt_anonymous(cx, &mut person, anon)? {
            cx.record_failure(target, &reason, attributes)?;
        }
    }
    let set_at = timestamp.unwrap_or(cx.now).millis();
    let changes = apply_attributes(&mut person, attributes, set_at);
    person.updated_at = cx.now;
    cx.tx.save_person(cx.ws, &person)?;
    cx.mark(Marked::Person(target))?;
    if !changes.is_empty() {
        cx.record(
            target,
            Activity {
                kind: ActivityKind::AttributeChange,
                name: String::new(),
                timestamp: Timestamp::from_millis(set_at),
                data: changes,
                event_id: None,
                can_trigger: true,
            },
        )?;
    }
    Ok(Outcome::Applied)
}

/// `id` and `email` given in the body (the edge has already checked their shape).
pub(crate) fn body_identifiers(attributes: &JsonMap) -> Vec<Identifier> {
    [IdentifierKind::Id, IdentifierKind::Email]
        .into_iter()
        .filter_map(|kind| {
            let value = attributes.get(kind.as_str())?.as_str()?;
            Identifier::new(kind, value).ok()
        })
        .collect()
}

fn load(cx: &mut Cx<'_>, key: PersonKey) -> StoreResult<PersonState> {
    cx.tx
        .load_person(cx.ws, key)?
        .ok_or_else(|| StoreError::Backend(format!("person {} vanished mid-write", key.0)))
}

/// Why `person` cannot be given `identifier`: it belongs to someone else, or it would replace
/// one they have (allowed only when the request addressed them by cio_id). Reads only.
fn assignment_conflict(
    cx: &mut Cx<'_>,
    person: &PersonState,
    identifier: &Identifier,
    may_change: bool,
) -> StoreResult<Option<String>> {
    let current = current_value(person, identifier);
    if current.as_deref() == Some(identifier.value()) {
        return Ok(None);
    }
    if let Some(owner) = cx.tx.resolve(cx.ws, identifier)? {
        if owner != person.key {
            return Ok(Some(format!(
                "{identifier} already belongs to another person"
            )));
        }
    }
    match current {
        Some(old) if !may_change => Ok(Some(format!(
            "cannot change {} from '{old}' to '{}': address the person by cio_{} to change it",
            identifier.kind().as_str(),
            identifier.value(),
            person.cio_id
        ))),
        _ => Ok(None),
    }
}

fn current_value(person: &PersonState, identifier: &Identifier) -> Option<String> {
    match identifier.kind() {
        IdentifierKind::Id => person.id.clone(),
        IdentifierKind::Email => person.email.clone(),
        _ => None,
    }
}

/// Gives the person `identifier` (checked by [`assignment_conflict`]), retiring the one of
/// the same kind it replaces.
fn assign_identifier(
    cx: &mut Cx<'_>,
    person: &mut PersonState,
    identifier: &Identifier,
) -> StoreResult<()> {
    let current = current_value(person, identifier);
    if current.as_deref() == Some(identifier.value()) {
        return Ok(());
    }
    if let Some(old) = current {
        let old = Identifier::new(identifier.kind(), &old)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        cx.tx.unlink_identifier(cx.ws, &old)?;
        cx.mark(Marked::Identifier(&old))?;
    }
    cx.tx.link_identifier(cx.ws, identifier, person.key)?;
    set_identifier_field(person, identifier);
    Ok(())
}

/// Links an anonymous id to the person; an anonymous-only profile already holding it is
/// merged in (the known person's values win).
fn adopt_anonymous(
    cx: &mut Cx<'_>,
    person: &mut PersonState,
    anonymous_id: &str,
) -> StoreResult<Result<(), String>> {
    let anon = match Identifier::new(IdentifierKind::AnonymousId, anonymous_id) {
        Ok(anon) => anon,
        Err(e) => return Ok(Err(e.to_string())),
    };
    match cx.tx.resolve(cx.ws, &anon)? {
        None => {
            cx.tx.link_identifier(cx.ws, &anon, person.key)?;
            record_link(cx, person, &anon, How::Stitch)?;
        }
        Some(key) if key == person.key => {}
        Some(key) => {
            let other = load(cx, key)?;
            if other.id.is_some() || other.email.is_some() {
                return Ok(Err(format!("{anon} already belongs to a known person")));
            }
            *person = merge_into(cx, person.clone(), other, How::Stitch)?;
        }
    }
    Ok(Ok(()))
}

/// `alias`: the profile `previous` names (an anonymous id, else an id or email) and `user`
/// become one person. An anonymous-only profile is merged into the user's; two known people
/// are never merged this way (that is what `merge` is for): the conflict is logged instead.
pub(crate) fn alias(cx: &mut Cx<'_>, previous: &str, user: &Identifier) -> StoreResult<Outcome> {
    if cx.tx.is_suppressed(cx.ws, user)? {
        return Ok(Outcome::Dropped(format!("{user} is suppressed")));
    }
    let anonymous = Identifier::new(IdentifierKind::AnonymousId, previous)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let mut previous_key = cx.tx.resolve(cx.ws, &anonymous)?;
    if previous_key.is_none() {
        if let Ok(known) = Identifier::infer_from_path(previous) {
            previous_key = cx.tx.resolve(cx.ws, &known)?;
        }
    }
    let user_key = cx.tx.resolve(cx.ws, user)?;
    match (previous_key, user_key) {
        (None, None) => {
            cx.create_person(&[user, &anonymous])?;
        }
        (None, Some(key)) => {
            cx.tx.link_identifier(cx.ws, &anonymous, key)?;
            cx.mark(Marked::Person(key))?;
            let person = load(cx, key)?;
            record_link(cx, &person, &anonymous, How::Alias)?;
        }
        (Some(key), None) => {
            let mut person = load(cx, key)?;
            if let Some(reason) = assignment_conflict(cx, &person, user, false)? {
                cx.record_failure(key, &reason, &JsonMap::new())?;
                return Ok(Outcome::Applied);
            }
            assign_identifier(cx, &mut person, user)?;
            person.updated_at = cx.now;
            cx.tx.save_person(cx.ws, &person)?;
            cx.mark(Marked::Person(key))?;
            record_link(cx, &person, &anonymous, How::Alias)?;
        }
        (Some(from), Some(to)) if from == to => {}
        (Some(from), Some(to)) => {
            let (primary, secondary) = (load(cx, to)?, load(cx, from)?);
            if secondary.id.is_some() || secondary.email.is_some() {
                let reason = format!("alias {previous} names a known person other than {user}");
                cx.record_failure(to, &reason, &JsonMap::new())?;
                return Ok(Outcome::Applied);
            }
            let merged = merge_into(cx, primary, secondary, How::Alias)?;
            cx.tx.save_person(cx.ws, &merged)?;
        }
    }
    Ok(Outcome::Applied)
}

/// Rule 7: an id-only profile and an email-only profile named together become one, the older
/// being primary. `None` when the two cannot be merged that way.
fn auto_merge(cx: &mut Cx<'_>, a: PersonKey, b: PersonKey) -> StoreResult<Option<PersonKey>> {
    let (pa, pb) = (load(cx, a)?, load(cx, b)?);
    let id_only = |p: &PersonState| p.id.is_some() && p.email.is_none();
    let email_only = |p: &PersonState| p.email.is_some() && p.id.is_none();
    if !((id_only(&pa) && email_only(&pb)) || (email_only(&pa) && id_only(&pb))) {
        return Ok(None);
    }
    let (primary, secondary) = if (pa.created_at, pa.key) <= (pb.created_at, pb.key) {
        (pa, pb)
    } else {
        (pb, pa)
    };
    let merged = merge_into(cx, primary, secondary, How::AutoMerge)?;
    cx.tx.save_person(cx.ws, &merged)?;
    Ok(Some(merged.key))
}

/// `POST /merge_customers`: both must exist; the secondary disappears into the primary.
pub(crate) fn merge(
    cx: &mut Cx<'_>,
    primary: &Identifier,
    secondary: &Identifier,
) -> StoreResult<Outcome> {
    let Some(primary_key) = cx.tx.resolve(cx.ws, primary)? else {
        return Ok(Outcome::Dropped(format!(
            "primary person {primary} does not exist"
        )));
    };
    let Some(secondary_key) = cx.tx.resolve(cx.ws, secondary)? else {
        return Ok(Outcome::Dropped(format!(
            "secondary person {secondary} does not exist"
        )));
    };
    if primary_key == secondary_key {
        return Ok(Outcome::Applied);
    }
    let (p, s) = (load(cx, primary_key)?, load(cx, secondary_key)?);
    let merged = merge_into(cx, p, s, How::Merge)?;
    cx.tx.save_person(cx.ws, &merged)?;
    Ok(Outcome::Applied)
}

/// Moves everything of `secondary` onto `primary`: attributes fill the primary's gaps,
/// identifiers, activities, devices, memberships and relationships move, the secondary row
/// goes. Returns the primary's new state (not yet saved).
fn merge_into(
    cx: &mut Cx<'_>,
    mut primary: PersonState,
    secondary: PersonState,
    how: How,
) -> StoreResult<PersonState> {
    let identifiers_before = identity_card(&primary);
    // The merge confirms the primary's values as of now, so an older update to either
    // profile (a replayed or late one) never overturns what the merge decided.
    let merged_at = cx.now.millis();
    for name in primary.attributes.keys() {
        let at = primary
            .attribute_times
            .entry(name.clone())
            .or_insert(merged_at);
        *at = (*at).max(merged_at);
    }
    for (name, value) in &secondary.attributes {
        if !primary.attributes.contains_key(name) {
            primary.attributes.insert(name.clone(), value.clone());
            primary.attribute_times.insert(name.clone(), merged_at);
        }
    }
    primary.id = primary.id.or(secondary.id.clone());
    primary.email = primary.email.or(secondary.email.clone());
    primary.phone = primary.phone.or(secondary.phone.clone());
    primary.created_at = primary.created_at.min(secondary.created_at);
    primary.updated_at = cx.now;
    let moved = cx
        .tx
        .move_person_data(cx.ws, secondary.key, primary.key, cx.now)?;
    cx.tx.delete_person(cx.ws, secondary.key)?;
    cx.mark(Marked::Person(primary.key))?;
    let data = json!({"how": how.name(), "primary": identifiers_before,
                      "secondary": identity_card(&secondary), "moved": moved});
    record_audit(cx, primary.key, how.kind(), data)?;
    Ok(primary)
}

/// Why two profiles became one; each is recorded on the surviving person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum How {
    /// `merge_customers` / v2 `merge`.
    Merge,
    /// An identify naming an id-only and an email-only profile together.
    AutoMerge,
    /// An identify carrying an anonymous id whose profile is merged in.
    Stitch,
    /// A Pipelines `alias`.
    Alias,
}

impl How {
    fn name(self) -> &'static str {
        match self {
            How::Merge => "merge",
            How::AutoMerge => "auto_merge",
            How::Stitch => "stitch",
            How::Alias => "alias",
        }
    }

    fn kind(self) -> ActivityKind {
        match self {
            How::Merge | How::AutoMerge => ActivityKind::Merged,
            How::Stitch | How::Alias => ActivityKind::Stitched,
        }
    }
}

/// The identifiers a person is known by, for the audit trail.
fn identity_card(person: &PersonState) -> Value {
    json!({"cio_id": person.cio_id, "id": person.id, "email": person.email, "phone": person.phone})
}

fn record_audit(
    cx: &mut Cx<'_>,
    key: PersonKey,
    kind: ActivityKind,
    data: Value,
) -> StoreResult<()> {
    cx.record(
        key,
        Activity {
            kind,
            name: String::new(),
            timestamp: cx.now,
            data: data.as_object().cloned().unwrap_or_default(),
            event_id: None,
            can_trigger: false,
        },
    )
}

/// An anonymous id linked to a person before any anonymous activity existed: nothing moves,
/// but the link is part of the trail.
fn record_link(
    cx: &mut Cx<'_>,
    person: &PersonState,
    anonymous: &Identifier,
    how: How,
) -> StoreResult<()> {
    let data = json!({"how": how.name(), "primary": identity_card(person),
                      "secondary": {"anonymous_id": anonymous.value()},
                      "moved": nudge_store::MovedData::default()});
    record_audit(cx, person.key, ActivityKind::Stitched, data)
}
