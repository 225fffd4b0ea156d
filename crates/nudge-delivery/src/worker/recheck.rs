//! What the worker checks again right before a message goes out, since it was queued: that
//! its journey instance has not been ended by an exit rule, and that no event matching one of
//! the journey's exit events has arrived since the trigger (the purchase that makes "complete
//! your purchase" wrong, even when the instance had already finished its steps); that the
//! person still exists; that the address it goes to is not suppressed; that the person's
//! consent covers it; for push, that they still have a device; and for marketing, that it is
//! not quiet hours for them and the frequency cap has room. Reads only (the cap reserves a
//! send in memory); the verdict decides between sending, skipping, deferring and giving up.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_journeys::{EventMatch, ExitRule, Instance, Status};
use nudge_store::{
    entry_activity_range, Address, Delivery, DocumentKind, PersonView, Store, StoreResult,
    SUPPRESSIBLE_CHANNELS,
};
use serde_json::Value;

use super::caps::{describe_time, CapDecision, CapTracker};
use super::consent::{is_marketing, ConsentRules};
use super::policy::SendPolicy;
use super::quiet::{zone_of, QuietHours};

/// Finish reasons that end an instance from outside its steps, whatever the journey calls its
/// exit rules: an exit event that was the goal, and a merge into another live instance.
const ALWAYS_CANCELLING: [&str; 2] = ["converted", "merged"];

/// Send to this person, skip with a reason, try again later, or give up.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send(Box<PersonView>),
    Skip {
        code: &'static str,
        detail: String,
    },
    /// Not now: quiet hours, or the frequency cap is reached until `until`.
    Defer {
        until: Timestamp,
        reason: String,
    },
    /// The frequency cap leaves no room before the message's deadline.
    Undeliverable {
        reason: String,
    },
}

fn skip(code: &'static str, detail: impl Into<String>) -> Verdict {
    Verdict::Skip {
        code,
        detail: detail.into(),
    }
}

/// What the re-check needs of one journey version's exit rules.
#[derive(Debug, Default)]
struct ExitRules {
    reasons: HashSet<String>,
    /// The event rules, with the reason each records.
    events: Vec<(EventMatch, String)>,
}

type RulesCache = HashMap<(WorkspaceId, String, i64), Arc<ExitRules>>;

/// The re-check, with the exit rules of each journey version read once.
#[derive(Default)]
pub struct Recheck {
    rules: Mutex<RulesCache>,
    consent: ConsentRules,
    quiet_hours: Option<QuietHours>,
    cap: Option<CapTracker>,
}

impl Recheck {
    /// The re-check of `policy`; a send the cap lets through stays reserved for `hold` (longer
    /// than it takes to record its outcome).
    pub fn new(policy: &SendPolicy, hold: std::time::Duration) -> Self {
        Self {
            rules: Mutex::default(),
            consent: policy.consent.clone(),
            quiet_hours: policy.quiet_hours,
            cap: (policy.frequency_cap.clone()).map(|cap| CapTracker::new(cap, hold)),
        }
    }

    /// Reads what the verdict on `delivery` needs from `store` and gives it.
    pub fn verdict(
        &self,
        store: &dyn Store,
        delivery: &Delivery,
        now: Timestamp,
    ) -> StoreResult<Verdict> {
        let message = &delivery.message;
        let mut person = message.person;
        if message.instance != 0 {
            if let Some(row) = store.instance(delivery.ws, message.instance)? {
                person = row.person;
                if let Some(reason) =
                    self.cancelled_by(store, delivery, row.person, &row.state, now)?
                {
                    return Ok(skip(
                        "instance_exited",
                        format!(
                            "the journey instance exited ({reason}) after the message was queued"
                        ),
                    ));
                }
            }
        }
        let Some(view) = store.person(delivery.ws, person)? else {
            return Ok(skip("person_deleted", "the person no longer exists"));
        };
        let channel = message.channel.as_str();
        if let Some(suppressed) = self.suppressed(store, delivery)? {
            return Ok(suppressed);
        }
        if let Some(refusal) = self.consent.refusal(message, &view.state) {
            return Ok(skip(refusal.code, refusal.detail));
        }
        if channel == "push" && view.devices.is_empty() {
            return Ok(skip("no_devices", "the person has no device for push"));
        }
        if is_marketing(message) {
            if let Some(held) = self.held_back(store, delivery, &view, now)? {
                return Ok(held);
            }
        }
        Ok(Verdict::Send(Box::new(view)))
    }

    /// Gives back the frequency cap's reservation of a delivery that did not go out.
    pub fn not_sent(&self, delivery: &Delivery, person: PersonKey) {
        if let Some(cap) = &self.cap {
            cap.release(delivery.ws, person, &delivery.message.message_id);
        }
    }

    /// A skip when the email address or phone number the message goes to is suppressed
    /// (transactional or not: a suppression is never bypassed).
    fn suppressed(&self, store: &dyn Store, delivery: &Delivery) -> StoreResult<Option<Verdict>> {
        let message = &delivery.message;
        if !SUPPRESSIBLE_CHANNELS.contains(&message.channel.as_str()) {
            return Ok(None);
        }
        let Some(address) = Address::new(&message.recipient) else {
            return Ok(None);
        };
        let found = store.address_suppression(delivery.ws, &address)?;
        Ok(found.map(|s| {
            skip(
                "suppressed",
                format!("{address} is suppressed ({})", s.category.as_str()),
            )
        }))
    }

    /// Quiet hours in the person's time zone, then the frequency cap (which reserves the send
    /// when it lets it through).
    fn held_back(
        &self,
        store: &dyn Store,
        delivery: &Delivery,
        person: &PersonView,
        now: Timestamp,
    ) -> StoreResult<Option<Verdict>> {
        if let Some(quiet) = &self.quiet_hours {
            let zone = zone_of(&person.state.attributes);
            if let Some(until) = quiet.deferred_until(zone, now) {
                return Ok(Some(Verdict::Defer {
                    until,
                    reason: format!(
                        "quiet hours {} ({zone}); deferred until {}",
                        quiet.describe(),
                        describe_time(until)
                    ),
                }));
            }
        }
        let Some(cap) = &self.cap else {
            return Ok(None);
        };
        let key = person.state.key;
        let recorded = store.marketing_sends_since(delivery.ws, key, cap.window_start(now))?;
        let message = &delivery.message;
        let decision = cap.admit(
            delivery.ws,
            key,
            &message.message_id,
            &recorded,
            message.created_at,
            now,
        );
        Ok(match decision {
            CapDecision::Within => None,
            CapDecision::Deferred { until, reason } => Some(Verdict::Defer { until, reason }),
            CapDecision::Exhausted { reason } => Some(Verdict::Undeliverable { reason }),
        })
    }

    /// Why the message must not go: the instance was ended by an exit rule at or after the
    /// message was queued, or an event matching one of its exit events arrived after the
    /// trigger (which a finished instance no longer reacts to).
    fn cancelled_by(
        &self,
        store: &dyn Store,
        delivery: &Delivery,
        person: PersonKey,
        state: &Value,
        now: Timestamp,
    ) -> StoreResult<Option<String>> {
        let Ok(instance) = serde_json::from_value::<Instance>(state.clone()) else {
            return Ok(None);
        };
        let rules = self.rules(store, delivery.ws, &instance.journey, instance.version)?;
        if let Status::Finished { reason, at } = &instance.status {
            let by_rule =
                ALWAYS_CANCELLING.contains(&reason.as_str()) || rules.reasons.contains(reason);
            if by_rule && *at >= delivery.message.created_at {
                return Ok(Some(reason.clone()));
            }
        }
        if rules.events.is_empty() {
            return Ok(None);
        }
        let mut names: Vec<String> = rules.events.iter().map(|(m, _)| m.name.clone()).collect();
        names.sort();
        names.dedup();
        let trigger = &instance.trigger;
        let (trigger_first, trigger_last) = entry_activity_range(trigger.offset);
        let events = store.person_events(delivery.ws, person, &names, Some(trigger.timestamp))?;
        for event in events {
            if trigger.offset != 0 && (trigger_first..=trigger_last).contains(&event.seq) {
                continue;
            }
            for (matcher, reason) in &rules.events {
                if matcher.matches(&event.name, &event.data, &trigger.data, now) {
                    return Ok(Some(reason.clone()));
                }
            }
        }
        Ok(None)
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
                    rules.events.push((matcher, reason));
                }
                ExitRule::Condition { reason, .. } => {
                    rules.reasons.insert(reason);
                }
            }
        }
        let rules = Arc::new(rules);
        self.lock().insert(key, rules.clone());
        Ok(rules)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RulesCache> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner())
    }
}
