//! The d2c cart-recovery journey walked through the acceptance stories (1, 2, 3, 4, 5, 6)
//! at the engine level: a small driver plays each story's events the way the processor
//! does (admit each trigger, fire due timers before each later event, feed events to the
//! live instance) and the messages and exits are compared with the stories' table.

mod support;

use nudge_journeys::{
    admit, start, Admission, Context, Effect, Input, Instance, Journey, Timestamp,
};
use serde_json::{json, Value};
use support::*;

const CART_RECOVERY: &str = r#"
id: cart-recovery
name: Cart recovery
trigger:
  event: Added to Cart
  where: [{field: cart_value, operator: gt, value: 60}]
entry:
  key: cart_id
  on_retrigger: restart
exit:
  - event: Order Completed
    reason: converted
goal:
  event: Order Completed
  within: 3d
steps:
  - id: wait-30m
    delay: 30m
  - id: sms
    send: {channel: sms, template: cart-sms}
    skip_if: {not: {attribute: {field: accepts_sms, operator: eq, value: true}}}
  - id: until-6h
    delay_until: {time: trigger.timestamp, offset: 6h}
  - id: email
    send: {channel: email, template: cart-email}
"#;

/// What happened, in time order: `(time, what)` with `what` one of `entered`,
/// `sms`/`email` (sent), `skipped:<step>:<reason>`, `exited:<reason>`, `converted:<step>`.
type Timeline = Vec<(Timestamp, String)>;

struct Story {
    journey: Journey,
    facts: Facts,
    instance: Option<Instance>,
    timeline: Timeline,
    offset: i64,
}

impl Story {
    fn new(person: Value) -> Self {
        Self {
            journey: journey(CART_RECOVERY),
            facts: Facts::with(person),
            instance: None,
            timeline: Vec::new(),
            offset: 0,
        }
    }

    fn record(&mut self, now: Timestamp, effects: &[Effect]) {
        for effect in effects {
            let what = match effect {
                Effect::Entered => "entered".to_string(),
                Effect::Send { step, .. } => step.clone(),
                Effect::Skipped { step, reason } => format!("skipped:{step}:{reason}"),
                Effect::Exited { reason } => format!("exited:{reason}"),
                Effect::Converted { step, .. } => format!("converted:{step}"),
                _ => continue,
            };
            self.timeline.push((now, what));
        }
    }

    /// Fires every timer due by `until`, at its due time.
    fn run_timers(&mut self, until: Timestamp) {
        while let Some(instance) = self.instance.clone() {
            let Some(due) = instance.wake_at.filter(|due| *due <= until) else {
                return;
            };
            let out = feed(
                &self.journey,
                &instance,
                Input::Wake { due },
                due,
                &self.facts,
            );
            self.record(due, &out.effects);
            self.instance = Some(out.instance);
        }
    }

    /// A tracked event at `now`: timers first, then the trigger path and the event path.
    fn track(&mut self, name: &str, now: Timestamp, data: Value) {
        self.run_timers(now);
        self.offset += 1;
        let data = map(data);
        self.facts
            .events
            .push((name.to_string(), now, data.clone()));
        if let Some(instance) = self.instance.clone() {
            let out = feed(
                &self.journey,
                &instance,
                event(name, now, &data, self.offset),
                now,
                &self.facts,
            );
            self.record(now, &out.effects);
            self.instance = Some(out.instance);
        }
        if !self.journey.trigger.matches_event(name, &data, now) {
            return;
        }
        let trigger = nudge_journeys::TriggerData {
            event: Some(name.to_string()),
            timestamp: now,
            data,
            offset: self.offset,
        };
        let live = self.instance.clone().filter(|i| {
            i.is_active() && Some(i.key.clone()) == self.journey.entry.key_of(&trigger.data)
        });
        let last_entered = self.instance.as_ref().map(|i| i.entered_at);
        let ctx = Context {
            now,
            facts: &self.facts,
        };
        match admit(&self.journey, &trigger, live.as_ref(), last_entered, &ctx) {
            Admission::Start { key } => {
                let fresh = start(&self.journey, 1, trigger, key, now);
                let out = feed(&self.journey, &fresh, Input::Enter, now, &self.facts);
                self.record(now, &out.effects);
                self.instance = Some(out.instance);
            }
            Admission::Retrigger => {
                let Some(live) = live else { return };
                let out = feed(
                    &self.journey,
                    &live,
                    Input::Retrigger(trigger),
                    now,
                    &self.facts,
                );
                self.record(now, &out.effects);
                self.instance = Some(out.instance);
            }
            Admission::Refuse { reason } => panic!("refused: {reason}"),
        }
    }

    /// Runs the clock to the end of the day after, like the simulator's end of file.
    fn finish(mut self) -> (Timeline, Instance) {
        self.run_timers(at("2026-03-04T00:00:00Z"));
        let instance = self.instance.expect("the story entered the journey");
        (self.timeline, instance)
    }
}

fn ana(accepts_sms: bool) -> Value {
    json!({"email": "ana@example.com", "phone": "+15555550100", "first_name": "Ana", "accepts_sms": accepts_sms})
}

fn cart(value: f64, items: Value) -> Value {
    json!({"cart_id": "cart-1", "cart_value": value, "items": items})
}

fn two_items() -> Value {
    json!([{"product_id": "p-1", "variant_id": "v-30ml", "name": "Serum", "price": 52.0, "quantity": 1, "category": "serum"},
           {"product_id": "p-2", "variant_id": "v-50ml", "name": "Cleanser", "price": 32.0, "quantity": 1, "category": "cleanser"}])
}

fn timeline(entries: &[(&str, &str)]) -> Timeline {
    entries
        .iter()
        .map(|(t, what)| (day(t), what.to_string()))
        .collect()
}

#[test]
fn story_1_abandoned_cart_gets_an_sms_at_10_32_and_an_email_at_16_02() {
    let mut story = Story::new(ana(true));
    story.track("Added to Cart", day("10:02"), cart(84.0, two_items()));
    let (timeline_seen, instance) = story.finish();
    assert_eq!(
        timeline_seen,
        timeline(&[
            ("10:02", "entered"),
            ("10:32", "sms"),
            ("16:02", "email"),
            ("16:02", "exited:completed")
        ])
    );
    assert_eq!(
        instance.trigger.data["items"],
        two_items(),
        "the email lists both items"
    );
}

#[test]
fn story_2_an_order_at_10_20_leaves_before_any_message() {
    let mut story = Story::new(ana(true));
    story.track("Added to Cart", day("10:02"), cart(84.0, two_items()));
    story.track(
        "Order Completed",
        day("10:20"),
        json!({"order_id": "o-1", "cart_id": "cart-1", "revenue": 84.0}),
    );
    let (timeline_seen, _) = story.finish();
    assert_eq!(
        timeline_seen,
        timeline(&[("10:02", "entered"), ("10:20", "exited:converted")])
    );
}

#[test]
fn story_3_an_order_at_11_00_leaves_after_the_sms_and_credits_it() {
    let mut story = Story::new(ana(true));
    story.track("Added to Cart", day("10:02"), cart(84.0, two_items()));
    story.track(
        "Order Completed",
        day("11:00"),
        json!({"order_id": "o-1", "cart_id": "cart-1", "revenue": 84.0}),
    );
    let (timeline_seen, _) = story.finish();
    assert_eq!(
        timeline_seen,
        timeline(&[
            ("10:02", "entered"),
            ("10:32", "sms"),
            ("11:00", "converted:sms"),
            ("11:00", "exited:converted")
        ])
    );
}

#[test]
fn story_4_a_cart_of_40_never_enters() {
    let j = journey(CART_RECOVERY);
    let data = map(cart(40.0, json!([])));
    assert!(!j
        .trigger
        .matches_event("Added to Cart", &data, day("10:02")));
    assert!(j
        .trigger
        .matches_event("Added to Cart", &map(cart(84.0, json!([]))), day("10:02")));
}

#[test]
fn story_5_three_cart_changes_make_one_journey_timed_from_the_last() {
    let mut story = Story::new(ana(true));
    let first = json!([{"product_id": "p-1", "price": 52.0, "quantity": 1}]);
    story.track("Added to Cart", day("10:02"), cart(84.0, first));
    story.track(
        "Added to Cart",
        day("10:05"),
        cart(96.0, json!([{"product_id": "p-1"}, {"product_id": "p-3"}])),
    );
    let last_cart = cart(128.0, two_items());
    story.track("Added to Cart", day("10:09"), last_cart.clone());
    let (timeline_seen, instance) = story.finish();
    assert_eq!(
        timeline_seen,
        timeline(&[
            ("10:02", "entered"),
            ("10:39", "sms"),
            ("16:09", "email"),
            ("16:09", "exited:completed")
        ])
    );
    assert_eq!(
        Value::Object(instance.trigger.data.clone()),
        last_cart,
        "the email shows the 10:09 cart"
    );
    assert_eq!(instance.trigger.timestamp, day("10:09"));
}

#[test]
fn story_6_no_sms_consent_skips_the_sms_and_still_emails_at_16_02() {
    let mut story = Story::new(ana(false));
    story.track("Added to Cart", day("10:02"), cart(84.0, two_items()));
    let (timeline_seen, _) = story.finish();
    assert_eq!(
        timeline_seen,
        timeline(&[
            ("10:02", "entered"),
            ("10:32", "skipped:sms:skip_condition"),
            ("16:02", "email"),
            ("16:02", "exited:completed")
        ])
    );
}
