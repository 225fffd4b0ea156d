//! A journey's exit rules as the re-check applies them to a message's instance: ended by one of
//! them at or after the message was queued, or an event matching one of its exit events has
//! arrived since the trigger (the purchase that makes "complete your purchase" wrong, even when
//! the instance had already finished its steps). The rules of each journey version are read
//! once and kept; the events are read by the caller, batched with the rest of the re-check.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use nudge_core::{Timestamp, WorkspaceId};
use nudge_journeys::{EventMatch, ExitRule, Instance, Status};
use nudge_store::{entry_activity_range, Delivery, DocumentKind, Store, StoreResult, StoredEvent};
use serde::Deserialize;
use serde_json::Value;

/// Finish reasons that end an instance from outside its steps, whatever the journey calls its
/// exit rules: an exit event that was the goal, and a merge into another live instance.
const ALWAYS_CANCELLING: [&str; 2] = ["converted", "merged"];

/// What the re-check needs of one journey version's exit rules.
#[derive(Debug, Default)]
pub(super) struct ExitRules {
    reasons: HashSet<String>,
    /// The event rules, with the reason each records.
    events: Vec<(EventMatch, String)>,
    /// The names of the events they match, sorted, once each.
    names: Vec<String>,
}

impl ExitRules {
    /// The event names to read for the instance.
    pub(super) fn names(&self) -> &[String] {
        &self.names
    }

    /// Why the instance was ended by an exit rule at or after `queued_at` (when a message
    /// was queued), if it was.
    pub(super) fn ended(&self, instance: &Instance, queued_at: Timestamp) -> Option<String> {
        let Status::Finished { reason, at } = &instance.status else {
            return None;
        };
        let by_rule = ALWAYS_CANCELLING.contains(&reason.as_str()) || self.reasons.contains(reason);
        (by_rule && *at >= queued_at).then(|| reason.clone())
    }

    /// The reason of the first of `events` (the person's events named in [`names`](Self::names)
    /// since the trigger, in timestamp order) that matches an exit rule, the trigger's own
    /// events aside.
    pub(super) fn matched(
        &self,
        events: &[StoredEvent],
        instance: &Instance,
        now: Timestamp,
    ) -> Option<String> {
        let trigger = &instance.trigger;
        let (trigger_first, trigger_last) = entry_activity_range(trigger.offset);
        for event in events {
            if trigger.offset != 0 && (trigger_first..=trigger_last).contains(&event.seq) {
                continue;
            }
            for (matcher, reason) in &self.events {
                if matcher.matches(&event.name, &event.data, &trigger.data, now) {
                    return Some(reason.clone());
                }
            }
        }
        None
    }
}

/// What an instance says about a message before its events are read.
pub(super) enum InstanceCheck {
    /// Nothing in the instance stops the message.
    Clear,
    /// Ended by an exit rule at or after the message was queued, for this reason.
    Exited(String),
    /// The events named by `rules` since the trigger decide.
    Watch {
        rules: Arc<ExitRules>,
        instance: Box<Instance>,
    },
}

type RulesCache = HashMap<(WorkspaceId, String, i64), Arc<ExitRules>>;

/// The exit rules of each journey version, read once.
#[derive(Default)]
pub(super) struct Exits {
    rules: Mutex<RulesCache>,
}

impl Exits {
    /// The check of `delivery`'s instance, whose stored state is `state`.
    pub(super) fn check(
        &self,
        store: &dyn Store,
        delivery: &Delivery,
        state: &Value,
    ) -> StoreResult<InstanceCheck> {
        let Ok(instance) = Instance::deserialize(state) else {
            return Ok(InstanceCheck::Clear);
        };
        let rules = self.rules(store, delivery.ws, &instance.journey, instance.version)?;
        if let Some(reason) = rules.ended(&instance, delivery.message.created_at) {
            return Ok(InstanceCheck::Exited(reason));
        }
        if rules.events.is_empty() {
            return Ok(InstanceCheck::Clear);
        }
        Ok(InstanceCheck::Watch {
            rules,
            instance: Box::new(instance),
        })
    }

    fn rules(
        &self,
        store: &dyn Store,
        ws: WorkspaceId,
        journey: &str,
        version: i64,
    ) -> StoreResult<Arc<ExitRules>> {
        let key = (ws, journey.to_string(), version);
        if let Some(known) = self.lock().get(&key) {
            return Ok(known.clone());
        }
        let mut rules = ExitRules::default();
        let parsed = store
            .document_versions(ws, DocumentKind::Journey, journey)?
            .into_iter()
            .find(|d| d.version == version && !d.deleted)
            .and_then(|d| nudge_journeys::parse_journey(&d.body).ok());
        for rule in parsed.map(|j| j.exits).unwrap_or_default() {
            match rule {
                ExitRule::Event { matcher, reason } => {
                    rules.reasons.insert(reason.clone());
                    rules.names.push(matcher.name.clone());
                    rules.events.push((matcher, reason));
                }
                ExitRule::Condition { reason, .. } => {
                    rules.reasons.insert(reason);
                }
            }
        }
        rules.names.sort();
        rules.names.dedup();
        let rules = Arc::new(rules);
        self.lock().insert(key, rules.clone());
        Ok(rules)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RulesCache> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_journeys::TriggerData;
    use serde_json::json;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms)
    }

    fn instance(status: Status, trigger_offset: i64) -> Instance {
        Instance {
            journey: "cart".into(),
            version: 1,
            key: String::new(),
            trigger: TriggerData {
                event: Some("cart_updated".into()),
                timestamp: at(100),
                data: Default::default(),
                offset: trigger_offset,
            },
            entered_at: at(100),
            status,
            step: None,
            step_started: at(100),
            wake_at: None,
            visits: 1,
            seen_offset: trigger_offset,
            last_message: None,
            goal_until: None,
        }
    }

    fn finished(reason: &str, ms: i64) -> Instance {
        let status = Status::Finished {
            reason: reason.into(),
            at: at(ms),
        };
        instance(status, 7)
    }

    /// Rules with an event exit `purchased` on `order_completed` and a condition exit
    /// `churned`.
    fn rules() -> ExitRules {
        let matcher = EventMatch {
            name: "order_completed".into(),
            filters: vec![],
            matching: vec![],
        };
        ExitRules {
            reasons: ["purchased".to_string(), "churned".to_string()].into(),
            events: vec![(matcher, "purchased".into())],
            names: vec!["order_completed".into()],
        }
    }

    #[test]
    fn an_instance_ended_by_an_exit_rule_after_the_message_was_queued_stops_it() {
        let rules = rules();
        let queued = at(500);
        for reason in ["churned", "purchased", "converted", "merged"] {
            assert_eq!(
                rules.ended(&finished(reason, 500), queued),
                Some(reason.into())
            );
            assert_eq!(
                rules.ended(&finished(reason, 499), queued),
                None,
                "{reason} before"
            );
        }
        assert_eq!(rules.ended(&finished("completed", 900), queued), None);
        assert_eq!(rules.ended(&instance(Status::Active, 7), queued), None);
    }

    #[test]
    fn exit_events_other_than_the_triggers_own_match() {
        let rules = rules();
        let event = |seq: i64, name: &str| StoredEvent {
            seq,
            name: name.into(),
            timestamp: at(200),
            data: json!({}).as_object().cloned().unwrap(),
        };
        let active = instance(Status::Active, 7);
        let (first, last) = entry_activity_range(7);
        let own = [
            event(first, "order_completed"),
            event(last, "order_completed"),
        ];
        assert_eq!(
            rules.matched(&own, &active, at(300)),
            None,
            "the trigger's own"
        );
        let later = [event(last + 1, "order_completed")];
        assert_eq!(
            rules.matched(&later, &active, at(300)),
            Some("purchased".into())
        );
        let other = [event(last + 1, "cart_updated")];
        assert_eq!(rules.matched(&other, &active, at(300)), None);
        assert_eq!(rules.names(), ["order_completed".to_string()]);
    }
}
