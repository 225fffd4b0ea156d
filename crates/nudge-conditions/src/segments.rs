//! Data-driven segment membership for one person: which segments a change can affect (an
//! index from attribute names, event names and segments to the segments that read them),
//! and, for those, who enters, who exits and when time alone could change the answer next.
//! Segments may use other segments; they are evaluated in dependency order, and a cycle is
//! refused when the set is built.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use nudge_core::Timestamp;

use crate::{evaluate, next_change, Condition, PersonFacts};

/// One data-driven segment.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentRule {
    pub id: i64,
    pub condition: Condition,
}

/// What changed for a person since their segments were last evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    pub attributes: BTreeSet<String>,
    pub events: BTreeSet<String>,
    /// Time passed (a scheduled re-evaluation): re-check every time-dependent segment.
    pub time: bool,
    /// Re-check everything (a new person, a merge, a backfill).
    pub everything: bool,
}

/// The outcome for one person.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transitions {
    pub entered: Vec<i64>,
    pub exited: Vec<i64>,
    /// The earliest moment time alone could change one of this person's memberships.
    pub next_check: Option<Timestamp>,
}

/// A workspace's data-driven segments, indexed by what they read.
#[derive(Debug, Clone, Default)]
pub struct SegmentSet {
    /// In dependency order: a segment comes after every segment it reads.
    ordered: Vec<SegmentRule>,
    by_attribute: HashMap<String, BTreeSet<i64>>,
    by_event: HashMap<String, BTreeSet<i64>>,
    by_segment: HashMap<i64, BTreeSet<i64>>,
    timed: BTreeSet<i64>,
    ids: BTreeSet<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentSetError {
    #[error("segments {0:?} depend on each other in a cycle")]
    Cycle(Vec<i64>),
}

impl SegmentSet {
    pub fn new(rules: Vec<SegmentRule>) -> Result<Self, SegmentSetError> {
        let ids: BTreeSet<i64> = rules.iter().map(|r| r.id).collect();
        let mut remaining: BTreeMap<i64, SegmentRule> =
            rules.into_iter().map(|r| (r.id, r)).collect();
        let mut set = SegmentSet {
            ids: ids.clone(),
            ..SegmentSet::default()
        };
        let mut placed: BTreeSet<i64> = BTreeSet::new();
        while !remaining.is_empty() {
            let ready: Vec<i64> = remaining
                .values()
                .filter(|r| {
                    r.condition
                        .dependencies()
                        .segments
                        .iter()
                        .all(|s| placed.contains(s) || !ids.contains(s))
                })
                .map(|r| r.id)
                .collect();
            if ready.is_empty() {
                return Err(SegmentSetError::Cycle(remaining.keys().copied().collect()));
            }
            for id in ready {
                let rule = remaining.remove(&id).expect("ready ids are remaining");
                let deps = rule.condition.dependencies();
                for a in deps.attributes {
                    set.by_attribute.entry(a).or_default().insert(id);
                }
                for e in deps.events {
                    set.by_event.entry(e).or_default().insert(id);
                }
                for s in deps.segments {
                    set.by_segment.entry(s).or_default().insert(id);
                }
                if deps.time {
                    set.timed.insert(id);
                }
                placed.insert(id);
                set.ordered.push(rule);
            }
        }
        Ok(set)
    }

    pub fn is_empty(&self) -> bool {
        self.ordered.is_empty()
    }

    /// Whether any segment reads this event (so an event of another name needs no work).
    pub fn reads_event(&self, name: &str) -> bool {
        self.by_event.contains_key(name)
    }

    /// The segments an evaluation with `changes` may re-evaluate: those the changes touch and
    /// every segment that reads one of them, however indirectly. Only these read the
    /// person's data; the others keep their stored next change.
    pub fn affected(&self, changes: &Changes) -> BTreeSet<i64> {
        let mut affected = self.dirty(changes);
        let mut frontier: Vec<i64> = affected.iter().copied().collect();
        while let Some(id) = frontier.pop() {
            for dependent in self.by_segment.get(&id).into_iter().flatten() {
                if affected.insert(*dependent) {
                    frontier.push(*dependent);
                }
            }
        }
        affected
    }

    /// The segments `changes` touch directly.
    fn dirty(&self, changes: &Changes) -> BTreeSet<i64> {
        let mut dirty: BTreeSet<i64> = BTreeSet::new();
        if changes.everything {
            dirty.extend(self.ordered.iter().map(|r| r.id));
        }
        if changes.time {
            dirty.extend(self.timed.iter().copied());
        }
        for a in &changes.attributes {
            dirty.extend(self.by_attribute.get(a).into_iter().flatten());
        }
        for e in &changes.events {
            dirty.extend(self.by_event.get(e).into_iter().flatten());
        }
        dirty
    }

    /// Re-evaluates the segments `changes` can affect for one person. `members` holds the
    /// person's current data-driven memberships and is updated in place, so segments that
    /// read other segments see this evaluation's result. `checks` holds, per time-driven
    /// segment, the moment time alone next changes its answer: updated for the segments
    /// evaluated, kept for the others (whose data did not change), and dropped for segments
    /// that no longer exist or no longer depend on time. `facts` need only hold what the
    /// [`affected`](Self::affected) segments read.
    pub fn evaluate_person(
        &self,
        facts: &dyn PersonFacts,
        members: &mut BTreeSet<i64>,
        changes: &Changes,
        now: Timestamp,
        checks: &mut BTreeMap<i64, Timestamp>,
    ) -> Transitions {
        let dirty = self.dirty(changes);
        checks.retain(|id, _| self.timed.contains(id));
        let mut out = Transitions::default();
        let mut decided: Vec<(i64, bool)> = Vec::new();
        // Evaluate in dependency order against a view that sees earlier decisions.
        let mut current = members.clone();
        for rule in &self.ordered {
            let id = rule.id;
            let touched_by_segment = rule
                .condition
                .dependencies()
                .segments
                .iter()
                .any(|s| decided.iter().any(|(d, changed)| d == s && *changed));
            if !dirty.contains(&id) && !touched_by_segment {
                continue;
            }
            let view = self.view(facts, &current);
            let member = evaluate(&rule.condition, &view, now);
            if self.timed.contains(&id) {
                match next_change(&rule.condition, &view, now) {
                    Some(at) => checks.insert(id, at),
                    None => checks.remove(&id),
                };
            }
            let was = current.contains(&id);
            if member != was {
                if member {
                    current.insert(id);
                    out.entered.push(id);
                } else {
                    current.remove(&id);
                    out.exited.push(id);
                }
            }
            decided.push((id, member != was));
        }
        *members = current;
        out.next_check = checks.values().copied().filter(|t| *t > now).min();
        out
    }

    fn view<'a>(&'a self, facts: &'a dyn PersonFacts, members: &'a BTreeSet<i64>) -> Members<'a> {
        Members {
            facts,
            members,
            data_driven: &self.ids,
        }
    }
}

/// The caller's facts, with segment membership answered from the evaluation in progress.
struct Members<'a> {
    facts: &'a dyn PersonFacts,
    members: &'a BTreeSet<i64>,
    data_driven: &'a BTreeSet<i64>,
}

impl PersonFacts for Members<'_> {
    fn attributes(&self) -> &nudge_core::JsonMap {
        self.facts.attributes()
    }
    fn in_segment(&self, id: i64) -> bool {
        if self.data_driven.contains(&id) {
            self.members.contains(&id)
        } else {
            self.facts.in_segment(id)
        }
    }
    fn events(&self, name: &str) -> Vec<crate::EventFact<'_>> {
        self.facts.events(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::tests::{day, Facts};
    use crate::parse;
    use nudge_core::JsonMap;
    use proptest::prelude::*;
    use serde_json::{json, Value};

    fn rule(id: i64, v: Value) -> SegmentRule {
        SegmentRule {
            id,
            condition: parse(&v).unwrap(),
        }
    }

    fn vip_and_winback() -> SegmentSet {
        SegmentSet::new(vec![
            rule(2, json!({"and": [{"segment": {"id": 1}}, {"attribute": {"field": "last_order_date", "operator": "more_than_ago", "value": "90d"}}]})),
            rule(1, json!({"attribute": {"field": "lifetime_value", "operator": "gte", "value": 500}})),
        ])
        .unwrap()
    }

    fn facts(v: Value) -> Facts {
        Facts {
            attributes: v.as_object().unwrap().clone(),
            segments: vec![],
            events: vec![],
        }
    }

    #[test]
    fn a_refund_takes_a_vip_out_and_segments_of_segments_follow() {
        let set = vip_and_winback();
        let mut members = BTreeSet::new();
        let now = day(200);
        let rich = facts(json!({"lifetime_value": 520, "last_order_date": day(10).unix_seconds()}));
        let mut checks = BTreeMap::new();
        let t = set.evaluate_person(
            &rich,
            &mut members,
            &Changes {
                everything: true,
                ..Changes::default()
            },
            now,
            &mut checks,
        );
        assert_eq!(t.entered, vec![1, 2], "dependency order: 1 before 2");
        let refunded =
            facts(json!({"lifetime_value": 436, "last_order_date": day(10).unix_seconds()}));
        let changes = Changes {
            attributes: ["lifetime_value".to_string()].into(),
            ..Changes::default()
        };
        let t = set.evaluate_person(&refunded, &mut members, &changes, now, &mut checks);
        assert_eq!(
            t.exited,
            vec![1, 2],
            "leaving VIP takes them out of the segment built on it"
        );
        assert!(members.is_empty());
    }

    #[test]
    fn unrelated_changes_touch_nothing_and_time_is_scheduled() {
        let set = vip_and_winback();
        let mut members = BTreeSet::new();
        let mut checks = BTreeMap::new();
        let p = facts(json!({"lifetime_value": 520, "last_order_date": day(150).unix_seconds()}));
        let everything = Changes {
            everything: true,
            ..Changes::default()
        };
        set.evaluate_person(&p, &mut members, &everything, day(200), &mut checks);
        assert_eq!(
            checks,
            BTreeMap::from([(2, day(240))]),
            "winback's next change"
        );
        let changes = Changes {
            attributes: ["city".to_string()].into(),
            ..Changes::default()
        };
        assert!(set.affected(&changes).is_empty());
        // Facts without the data winback reads: it is not evaluated, its check is kept.
        let t = set.evaluate_person(
            &facts(json!({})),
            &mut members,
            &changes,
            day(200),
            &mut checks,
        );
        assert!(t.entered.is_empty() && t.exited.is_empty());
        assert_eq!(
            t.next_check,
            Some(day(240)),
            "winback flips 90 days after the last order"
        );
        let t = set.evaluate_person(
            &p,
            &mut members,
            &Changes {
                time: true,
                ..Changes::default()
            },
            day(240),
            &mut checks,
        );
        assert_eq!(t.entered, vec![2]);
        assert!(checks.is_empty(), "nothing left for time to change");
    }

    #[test]
    fn affected_segments_include_every_dependent() {
        let set = vip_and_winback();
        let ltv = Changes {
            attributes: ["lifetime_value".to_string()].into(),
            ..Changes::default()
        };
        assert_eq!(
            set.affected(&ltv),
            BTreeSet::from([1, 2]),
            "2 reads segment 1"
        );
        let time = Changes {
            time: true,
            ..Changes::default()
        };
        assert_eq!(set.affected(&time), BTreeSet::from([2]));
    }

    #[test]
    fn cycles_are_refused() {
        let err = SegmentSet::new(vec![
            rule(1, json!({"segment": {"id": 2}})),
            rule(2, json!({"not": {"segment": {"id": 1}}})),
        ])
        .unwrap_err();
        assert_eq!(err, SegmentSetError::Cycle(vec![1, 2]));
        assert!(SegmentSet::new(vec![rule(3, json!({"segment": {"id": 3}}))]).is_err());
    }

    proptest! {
        /// Incremental membership (only dependent segments re-evaluated on each change) equals
        /// a from-scratch evaluation of every segment, after every change.
        #[test]
        fn incremental_equals_from_scratch(changes in proptest::collection::vec((0usize..3, -50i64..50), 1..20)) {
            let set = SegmentSet::new(vec![
                rule(1, json!({"attribute": {"field": "a", "operator": "gt", "value": 0}})),
                rule(2, json!({"and": [{"segment": {"id": 1}}, {"attribute": {"field": "b", "operator": "lt", "value": 10}}]})),
                rule(3, json!({"or": [{"not": {"segment": {"id": 2}}}, {"attribute": {"field": "c", "operator": "eq", "value": 7}}]})),
            ]).unwrap();
            let mut attrs = JsonMap::new();
            let mut members = BTreeSet::new();
            let mut checks = BTreeMap::new();
            set.evaluate_person(&Facts { attributes: attrs.clone(), segments: vec![], events: vec![] }, &mut members,
                &Changes { everything: true, ..Changes::default() }, day(1), &mut checks);
            for (field, value) in changes {
                let name = ["a", "b", "c"][field];
                attrs.insert(name.into(), json!(value));
                let facts = Facts { attributes: attrs.clone(), segments: vec![], events: vec![] };
                let changed = Changes { attributes: [name.to_string()].into(), ..Changes::default() };
                set.evaluate_person(&facts, &mut members, &changed, day(1), &mut checks);
                let mut scratch = BTreeSet::new();
                set.evaluate_person(&facts, &mut scratch, &Changes { everything: true, ..Changes::default() }, day(1), &mut BTreeMap::new());
                prop_assert_eq!(&members, &scratch);
            }
        }
    }
}
