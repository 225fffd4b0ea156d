//! `journey_metrics` (Nudge's shape, docs/journeys.md): a journey's timeline counters and its
//! waiting instances summed per journey and per step — entered, waiting, sent, skipped by
//! reason, exited by reason, converted. Pure arithmetic over what the store counted.

use std::collections::BTreeMap;

use nudge_store::{Document, JourneyCounter};
use serde_json::{json, Value};

use super::campaign::{step_id, step_kind, steps};
use crate::app::documents::wire;

/// Counts by reason, in reason order.
type ByReason = BTreeMap<String, u64>;

#[derive(Debug, Default)]
struct Tally {
    reached: u64,
    waiting: u64,
    sent: u64,
    skipped: ByReason,
    exited: ByReason,
    converted: u64,
}

/// The metrics of the journey whose history (oldest version first) is given, from its
/// counters and its active instances by (version, step, count). Steps come in the order of
/// the journey's last live version, then steps only older versions had, by id.
pub fn journey_metrics(
    history: &[Document],
    counters: &[JourneyCounter],
    waiting: &[(i64, Option<String>, u64)],
) -> Value {
    let shown = wire::last_live(history);
    let body = shown.map_or(&Value::Null, |d| &d.body);
    let mut order: Vec<String> = steps(body)
        .iter()
        .filter_map(step_id)
        .map(str::to_string)
        .collect();
    let mut per_step: BTreeMap<String, Tally> = BTreeMap::new();
    let mut journey = Tally::default();
    let mut entered = 0;
    for counter in counters {
        let count = counter.count;
        let reason = if counter.reason.is_empty() {
            "none".to_string()
        } else {
            counter.reason.clone()
        };
        let step = (!counter.step.is_empty()).then(|| per_step.entry(counter.step.clone()));
        let tally = step.map(|entry| entry.or_default());
        match counter.kind.as_str() {
            "entered" => entered += count,
            "step_reached" => {
                if let Some(tally) = tally {
                    tally.reached += count;
                }
            }
            "message_sent" => {
                journey.sent += count;
                if let Some(tally) = tally {
                    tally.sent += count;
                }
            }
            "message_skipped" | "step_skipped" => {
                *journey.skipped.entry(reason.clone()).or_default() += count;
                if let Some(tally) = tally {
                    *tally.skipped.entry(reason).or_default() += count;
                }
            }
            "exited" => {
                *journey.exited.entry(reason.clone()).or_default() += count;
                if let Some(tally) = tally {
                    *tally.exited.entry(reason).or_default() += count;
                }
            }
            "converted" => {
                journey.converted += count;
                if let Some(tally) = tally {
                    tally.converted += count;
                }
            }
            _ => {}
        }
    }
    for (_, step, count) in waiting {
        journey.waiting += count;
        if let Some(step) = step {
            per_step.entry(step.clone()).or_default().waiting += count;
        }
    }
    let older: Vec<String> = per_step
        .keys()
        .filter(|id| !order.contains(id))
        .cloned()
        .collect();
    order.extend(older);
    let kinds: BTreeMap<&str, &str> = steps(body)
        .iter()
        .filter_map(|step| Some((step_id(step)?, step_kind(step)?)))
        .collect();
    let rendered_steps: Vec<Value> = order
        .iter()
        .map(|id| {
            let empty = Tally::default();
            let tally = per_step.get(id).unwrap_or(&empty);
            json!({
                "id": id,
                "type": kinds.get(id.as_str()),
                "reached": tally.reached,
                "waiting": tally.waiting,
                "sent": tally.sent,
                "skipped": tally.skipped,
                "exited": tally.exited,
                "converted": tally.converted,
            })
        })
        .collect();
    json!({
        "id": history.last().map(|d| d.name.clone()),
        "version": shown.map(|d| d.version),
        "entered": entered,
        "waiting": journey.waiting,
        "sent": journey.sent,
        "skipped": journey.skipped,
        "exited": journey.exited,
        "converted": journey.converted,
        "steps": rendered_steps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use nudge_store::DocumentKind;

    fn counter(step: &str, kind: &str, reason: &str, count: u64) -> JourneyCounter {
        JourneyCounter {
            journey: "cart".into(),
            step: step.into(),
            kind: kind.into(),
            reason: reason.into(),
            count,
        }
    }

    #[test]
    fn counters_and_waiting_instances_sum_per_journey_and_step() {
        let body = json!({"id": "cart", "steps": [
            {"id": "wait", "delay": "30m"},
            {"id": "sms", "send": {"channel": "sms", "template": "t"}},
            {"id": "email", "send": {"channel": "email", "template": "e"}}]});
        let history = [Document {
            kind: DocumentKind::Journey,
            name: "cart".into(),
            version: 4,
            body,
            created_at: Timestamp::from_millis(0),
            deleted: false,
        }];
        let counters = [
            counter("", "entered", "", 5),
            counter("wait", "step_reached", "", 5),
            counter("sms", "step_reached", "", 3),
            counter("sms", "message_sent", "", 2),
            counter("sms", "message_skipped", "no_recipient", 1),
            counter("email", "message_skipped", "late", 1),
            counter("email", "message_sent", "", 1),
            counter("email", "exited", "completed", 1),
            counter("wait", "exited", "converted", 1),
            counter("gone", "exited", "exit_step", 1),
            counter("sms", "converted", "", 1),
            counter("email", "attributes_updated", "", 9),
        ];
        let waiting = [
            (3, Some("wait".to_string()), 2),
            (4, Some("wait".into()), 1),
        ];
        let metrics = journey_metrics(&history, &counters, &waiting);
        assert_eq!(metrics["id"], "cart");
        assert_eq!(metrics["version"], 4);
        assert_eq!(metrics["entered"], 5);
        assert_eq!(metrics["waiting"], 3);
        assert_eq!(metrics["sent"], 3);
        assert_eq!(metrics["converted"], 1);
        assert_eq!(metrics["skipped"], json!({"late": 1, "no_recipient": 1}));
        assert_eq!(
            metrics["exited"],
            json!({"completed": 1, "converted": 1, "exit_step": 1})
        );
        let ids: Vec<&str> = metrics["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap())
            .collect();
        assert_eq!(ids, ["wait", "sms", "email", "gone"], "old steps last");
        assert_eq!(
            metrics["steps"][0],
            json!({"id": "wait", "type": "delay", "reached": 5, "waiting": 3, "sent": 0,
                   "skipped": {}, "exited": {"converted": 1}, "converted": 0})
        );
        assert_eq!(metrics["steps"][1]["sent"], 2);
        assert_eq!(metrics["steps"][1]["converted"], 1);
        assert_eq!(metrics["steps"][3]["type"], Value::Null);
    }
}
