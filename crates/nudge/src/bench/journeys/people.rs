//! The benchmark's people and the operations that concern them: who they are (an id and an
//! email per cohort and number, so a message's recipient says whom it was for), the booking
//! events that start their reminders, and when each reminder is due (spread evenly over a
//! day by a fixed hash of the person's number, so it can be recomputed from the recipient
//! instead of remembered). Builds values only; submits nothing.

use nudge_core::{EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation};
use serde_json::{json, Value};

use super::definitions::{BOOKED_EVENT, CART_EVENT, CODE_EVENT};

/// Seconds in the day the pending reminders are spread over.
pub(super) const DAY_SECONDS: i64 = 86_400;
const EMAIL_DOMAIN: &str = "@bench.example";
const FIRST_NAMES: [&str; 8] = [
    "Ada", "Ben", "Chloé", "Dev", "Elif", "Femi", "Grace", "Hugo",
];

/// A group of people numbered from 0: the million with pending reminders, or the burst.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Cohort {
    Pending,
    Burst,
}

impl Cohort {
    fn prefix(self) -> &'static str {
        match self {
            Cohort::Pending => "p",
            Cohort::Burst => "burst",
        }
    }

    fn id(self, n: u64) -> String {
        format!("{}{n}", self.prefix())
    }

    pub(super) fn email(self, n: u64) -> String {
        format!("{}{n}{EMAIL_DOMAIN}", self.prefix())
    }

    /// The number of the person of this cohort `recipient` is the email of.
    pub(super) fn number_of(self, recipient: &str) -> Option<u64> {
        let digits = recipient
            .strip_prefix(self.prefix())?
            .strip_suffix(EMAIL_DOMAIN)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    }

    pub(super) fn identifier(self, n: u64) -> anyhow::Result<Identifier> {
        Ok(Identifier::new(IdentifierKind::Id, &self.id(n))?)
    }

    /// Creates the person with an email and a first name.
    pub(super) fn identify(self, n: u64) -> anyhow::Result<Operation> {
        let mut attributes = JsonMap::new();
        attributes.insert("email".into(), Value::String(self.email(n)));
        let first_name = FIRST_NAMES[(n % FIRST_NAMES.len() as u64) as usize];
        attributes.insert("first_name".into(), Value::String(first_name.into()));
        Ok(Operation::Identify {
            person: self.identifier(n)?,
            attributes,
            update_only: false,
            timestamp: None,
        })
    }

    /// A booking whose reminder is due at `due_seconds` (unix seconds).
    pub(super) fn booking(self, n: u64, due_seconds: i64) -> anyhow::Result<Operation> {
        let data = json!({"appointment_id": format!("a-{}", self.id(n)), "due_at": due_seconds});
        self.track(n, BOOKED_EVENT, data)
    }

    /// A change of cart `cart` of person `n` (a new cart, or one already started).
    pub(super) fn cart_change(self, n: u64, cart: u64) -> anyhow::Result<Operation> {
        let data = json!({"cart_id": format!("cart-{cart}"), "cart_value": 20 + cart % 180});
        self.track(n, CART_EVENT, data)
    }

    /// A request for a sign-in code that the email will carry.
    pub(super) fn code_request(self, n: u64, code: u64) -> anyhow::Result<Operation> {
        self.track(n, CODE_EVENT, json!({ "code": code }))
    }

    fn track(self, n: u64, name: &str, data: Value) -> anyhow::Result<Operation> {
        Ok(Operation::Track {
            person: self.identifier(n)?,
            event: EventRecord {
                kind: EventKind::Event,
                name: name.into(),
                id: None,
                timestamp: None,
                data: match data {
                    Value::Object(map) => map,
                    _ => JsonMap::new(),
                },
            },
        })
    }
}

/// The day the pending reminders are spread over.
#[derive(Debug, Clone, Copy)]
pub(super) struct Day {
    /// Unix seconds of its first second.
    pub start_seconds: i64,
}

impl Day {
    /// When person `n`'s reminder is due, in unix seconds: a whole second of the day, the
    /// same for the same `n`, every second about as likely as any other.
    pub(super) fn due_seconds(self, n: u64) -> i64 {
        self.start_seconds + (mix(n) % DAY_SECONDS as u64) as i64
    }
}

/// splitmix64's finaliser: a fixed, well-spread hash of `n`.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recipient_names_the_person_of_its_cohort() {
        for n in [0, 7, 999_999] {
            assert_eq!(
                Cohort::Pending.number_of(&Cohort::Pending.email(n)),
                Some(n)
            );
            assert_eq!(Cohort::Burst.number_of(&Cohort::Burst.email(n)), Some(n));
            assert_eq!(Cohort::Pending.number_of(&Cohort::Burst.email(n)), None);
            assert_eq!(Cohort::Burst.number_of(&Cohort::Pending.email(n)), None);
        }
        assert_eq!(Cohort::Pending.number_of("p12@elsewhere.example"), None);
        assert_eq!(Cohort::Pending.number_of("p@bench.example"), None);
        assert_eq!(Cohort::Pending.number_of("p+1@bench.example"), None);
        assert_eq!(Cohort::Burst.email(3), "burst3@bench.example");
    }

    #[test]
    fn reminders_are_spread_evenly_over_the_day() {
        let day = Day {
            start_seconds: 1_800_000_000,
        };
        let people = 240_000u64;
        // 24 hours: each should get about 10,000 reminders.
        let mut per_hour = [0u64; 24];
        for n in 0..people {
            let due = day.due_seconds(n);
            assert!((day.start_seconds..day.start_seconds + DAY_SECONDS).contains(&due));
            per_hour[((due - day.start_seconds) / 3600) as usize] += 1;
        }
        let expected = people / 24;
        for (hour, count) in per_hour.iter().enumerate() {
            assert!(
                count.abs_diff(expected) < expected / 20,
                "hour {hour}: {count} reminders, expected about {expected}"
            );
        }
        assert_eq!(day.due_seconds(42), day.due_seconds(42));
    }

    #[test]
    fn operations_carry_what_the_journeys_read() {
        let Operation::Track { person, event } =
            Cohort::Pending.booking(5, 1_800_000_123).expect("valid")
        else {
            panic!("a booking is a track");
        };
        assert_eq!(person.value(), "p5");
        assert_eq!(event.name, BOOKED_EVENT);
        assert_eq!(event.data["due_at"], json!(1_800_000_123));
        let Operation::Identify { attributes, .. } = Cohort::Burst.identify(2).expect("valid")
        else {
            panic!("identify");
        };
        assert_eq!(attributes["email"], json!("burst2@bench.example"));
    }
}
