//! What the worker checks again right before a claimed batch goes out, since each message was
//! queued: that its journey instance has not been ended by an exit rule and that no event
//! matching one of the journey's exit events has arrived since the trigger (see
//! [`exits`](super::exits)); that the person still exists; that the address it goes to is not
//! suppressed; that the person's consent covers it; for push, that they still have a device;
//! and for marketing, that it is not quiet hours for them and the frequency cap has room.
//! A batch is read together, per workspace: its instances in one read, then its people,
//! suppressions, recent sends and exit events in one more ([`Deliveries::recheck_reads`]), never
//! a read per delivery. Reads only (the cap reserves a send in memory); each verdict decides
//! between sending, skipping, deferring and giving up, in claim order.
//!
//! [`Deliveries::recheck_reads`]: nudge_store::Deliveries::recheck_reads

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use nudge_core::{PersonKey, Timestamp, WorkspaceId};
use nudge_store::{
    Address, Delivery, EventsQuery, MarketingSend, PersonView, RecheckQuery, RecheckReads,
    SendsQuery, Store, StoreResult, SUPPRESSIBLE_CHANNELS,
};

use super::caps::{describe_time, CapDecision, CapTracker};
use super::consent::{is_marketing, ConsentRules};
use super::exits::{Exits, InstanceCheck};
use super::policy::SendPolicy;
use super::quiet::{zone_of, QuietHours};

/// Send to this person, skip with a reason, try again later, or give up.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Send(Arc<PersonView>),
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

/// The re-check, with the exit rules of each journey version read once.
#[derive(Default)]
pub struct Recheck {
    exits: Exits,
    consent: ConsentRules,
    quiet_hours: Option<QuietHours>,
    cap: Option<CapTracker>,
}

/// What one delivery's verdict needs besides the batch's reads.
struct Plan {
    /// Who the message is for: its instance's person (merges move instances), else its own.
    person: PersonKey,
    instance: InstanceCheck,
    /// Where its exit events are in the batch's event reads, when it has any to look at.
    events: Option<usize>,
}

impl Recheck {
    /// The re-check of `policy`; a send the cap lets through stays reserved for `hold` (longer
    /// than it takes to record its outcome).
    pub fn new(policy: &SendPolicy, hold: std::time::Duration) -> Self {
        Self {
            exits: Exits::default(),
            consent: policy.consent.clone(),
            quiet_hours: policy.quiet_hours,
            cap: (policy.frequency_cap.clone()).map(|cap| CapTracker::new(cap, hold)),
        }
    }

    /// The verdict on each of `claimed`, in order, from reads of the store made together for
    /// each workspace of the batch. A workspace whose reads failed has the error for each of
    /// its deliveries.
    pub fn verdicts(
        &self,
        store: &dyn Store,
        claimed: &[Delivery],
        now: Timestamp,
    ) -> Vec<StoreResult<Verdict>> {
        let mut by_workspace: BTreeMap<WorkspaceId, Vec<usize>> = BTreeMap::new();
        for (at, delivery) in claimed.iter().enumerate() {
            by_workspace.entry(delivery.ws).or_default().push(at);
        }
        let mut verdicts: Vec<Option<StoreResult<Verdict>>> = vec![None; claimed.len()];
        for (ws, positions) in by_workspace {
            let batch: Vec<&Delivery> = positions.iter().map(|&at| &claimed[at]).collect();
            match self.workspace_verdicts(store, ws, &batch, now) {
                Ok(found) => {
                    for (at, verdict) in positions.into_iter().zip(found) {
                        verdicts[at] = Some(Ok(verdict));
                    }
                }
                Err(e) => {
                    for at in positions {
                        verdicts[at] = Some(Err(e.clone()));
                    }
                }
            }
        }
        (verdicts.into_iter())
            .map(|verdict| verdict.expect("every delivery belongs to a workspace of the batch"))
            .collect()
    }

    /// Gives back the frequency cap's reservation of a delivery that did not go out.
    pub fn not_sent(&self, delivery: &Delivery, person: PersonKey) {
        if let Some(cap) = &self.cap {
            cap.release(delivery.ws, person, &delivery.message.message_id);
        }
    }

    /// The verdicts on one workspace's deliveries: two reads for the lot.
    fn workspace_verdicts(
        &self,
        store: &dyn Store,
        ws: WorkspaceId,
        batch: &[&Delivery],
        now: Timestamp,
    ) -> StoreResult<Vec<Verdict>> {
        let ids: Vec<i64> = (batch.iter())
            .map(|d| d.message.instance)
            .filter(|id| *id != 0)
            .collect();
        let instances: HashMap<i64, _> = (store.instances(ws, &ids)?.into_iter())
            .map(|row| (row.id, row))
            .collect();
        let mut query = RecheckQuery::default();
        let mut sends_of = Vec::new();
        let mut plans = Vec::with_capacity(batch.len());
        for delivery in batch {
            let message = &delivery.message;
            let (person, instance) = match instances.get(&message.instance) {
                Some(row) => (row.person, self.exits.check(store, delivery, &row.state)?),
                None => (message.person, InstanceCheck::Clear),
            };
            let mut events = None;
            if let InstanceCheck::Watch { rules, instance } = &instance {
                events = Some(query.events.len());
                query.events.push(EventsQuery {
                    person,
                    names: rules.names().to_vec(),
                    since: Some(instance.trigger.timestamp),
                });
            }
            if !matches!(instance, InstanceCheck::Exited(_)) {
                query.people.push(person);
                query.addresses.extend(address_of(delivery));
                if self.cap.is_some() && is_marketing(message) {
                    sends_of.push(person);
                }
            }
            plans.push(Plan {
                person,
                instance,
                events,
            });
        }
        for keys in [&mut query.people, &mut sends_of] {
            keys.sort_unstable();
            keys.dedup();
        }
        query.addresses.sort_unstable();
        query.addresses.dedup();
        if let Some(cap) = self.cap.as_ref().filter(|_| !sends_of.is_empty()) {
            query.sends = Some(SendsQuery {
                people: sends_of,
                since: cap.window_start(now),
            });
        }
        let mut reads = store.recheck_reads(ws, &query)?;
        let people: HashMap<PersonKey, Arc<PersonView>> = (std::mem::take(&mut reads.people))
            .into_iter()
            .map(|(key, view)| (key, Arc::new(view)))
            .collect();
        Ok((batch.iter().zip(plans))
            .map(|(delivery, plan)| self.decide(delivery, plan, &reads, &people, now))
            .collect())
    }

    /// One delivery's verdict, the checks in their order: the first that stops it decides.
    fn decide(
        &self,
        delivery: &Delivery,
        plan: Plan,
        reads: &RecheckReads,
        people: &HashMap<PersonKey, Arc<PersonView>>,
        now: Timestamp,
    ) -> Verdict {
        let exited = match (&plan.instance, plan.events) {
            (InstanceCheck::Exited(reason), _) => Some(reason.clone()),
            (InstanceCheck::Watch { rules, instance }, Some(at)) => {
                rules.matched(&reads.events[at], instance, now)
            }
            _ => None,
        };
        if let Some(reason) = exited {
            return skip(
                "instance_exited",
                format!("the journey instance exited ({reason}) after the message was queued"),
            );
        }
        let Some(view) = people.get(&plan.person) else {
            return skip("person_deleted", "the person no longer exists");
        };
        let message = &delivery.message;
        if let Some(address) = address_of(delivery) {
            if let Some(found) = reads.suppressions.get(&address) {
                return skip(
                    "suppressed",
                    format!("{address} is suppressed ({})", found.category.as_str()),
                );
            }
        }
        if let Some(refusal) = self.consent.refusal(message, &view.state) {
            return skip(refusal.code, refusal.detail);
        }
        if message.channel == "push" && view.devices.is_empty() {
            return skip("no_devices", "the person has no device for push");
        }
        if is_marketing(message) {
            let recorded = reads
                .sends
                .get(&view.state.key)
                .map_or(&[][..], Vec::as_slice);
            if let Some(held) = self.held_back(delivery, view, recorded, now) {
                return held;
            }
        }
        Verdict::Send(view.clone())
    }

    /// Quiet hours in the person's time zone, then the frequency cap (which reserves the send
    /// when it lets it through), given the person's marketing sends the ledger recorded in
    /// the cap's window.
    fn held_back(
        &self,
        delivery: &Delivery,
        person: &PersonView,
        recorded: &[MarketingSend],
        now: Timestamp,
    ) -> Option<Verdict> {
        if let Some(quiet) = &self.quiet_hours {
            let zone = zone_of(&person.state.attributes);
            if let Some(until) = quiet.deferred_until(zone, now) {
                return Some(Verdict::Defer {
                    until,
                    reason: format!(
                        "quiet hours {} ({zone}); deferred until {}",
                        quiet.describe(),
                        describe_time(until)
                    ),
                });
            }
        }
        let cap = self.cap.as_ref()?;
        let message = &delivery.message;
        let decision = cap.admit(
            delivery.ws,
            person.state.key,
            &message.message_id,
            recorded,
            message.created_at,
            now,
        );
        match decision {
            CapDecision::Within => None,
            CapDecision::Deferred { until, reason } => Some(Verdict::Defer { until, reason }),
            CapDecision::Exhausted { reason } => Some(Verdict::Undeliverable { reason }),
        }
    }
}

/// The email address or phone number a message goes to, on the channels whose addresses can
/// be suppressed (transactional or not: a suppression is never bypassed).
fn address_of(delivery: &Delivery) -> Option<Address> {
    let message = &delivery.message;
    if !SUPPRESSIBLE_CHANNELS.contains(&message.channel.as_str()) {
        return None;
    }
    Address::new(&message.recipient)
}
