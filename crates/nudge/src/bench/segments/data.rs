//! The benchmark's synthetic d2c brand: people with profile attributes and a storefront's
//! events (views, carts, checkouts, orders, refunds) with realistic data, drawn from a seeded
//! generator so every run stores the same data. Builds operations only; submits nothing.

use nudge_core::{
    EventKind, EventRecord, Identifier, IdentifierKind, JsonMap, Operation, Timestamp,
};
use serde_json::{json, Value};

pub(super) const DAY_MS: i64 = 86_400_000;
/// Events are spread over this many days before the virtual now.
const HISTORY_DAYS: i64 = 180;
/// Sign-ups are spread over this many days before the virtual now.
const SIGNUP_DAYS: i64 = 730;

/// splitmix64: tiny, fast and good enough to shape a data set; fixed seeds make runs repeat.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n` > 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// A uniform float in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One of `choices`, each as likely as its weight.
    fn weighted<T: Copy>(&mut self, choices: &[(T, u32)]) -> T {
        let total: u32 = choices.iter().map(|c| c.1).sum();
        let mut roll = self.below(u64::from(total)) as u32;
        for &(choice, weight) in choices {
            if roll < weight {
                return choice;
            }
            roll -= weight;
        }
        choices[choices.len() - 1].0
    }

    /// A price-like amount in `[low, high)`, skewed towards `low`, to the cent.
    fn amount(&mut self, low: f64, high: f64) -> f64 {
        let u = self.unit();
        ((low + (high - low) * u * u) * 100.0).round() / 100.0
    }
}

/// The storefront's event mix.
pub(super) const EVENT_MIX: [(&str, u32); 5] = [
    ("Product Viewed", 60),
    ("Added to Cart", 25),
    ("Checkout Started", 4),
    ("Order Completed", 10),
    ("Order Refunded", 1),
];

const CATEGORIES: [&str; 6] = [
    "serum",
    "cleanser",
    "moisturizer",
    "sunscreen",
    "mask",
    "toner",
];
const PLANS: [(&str, u32); 3] = [("free", 60), ("pro", 30), ("enterprise", 10)];
const COUNTRIES: [(&str, u32); 10] = [
    ("US", 40),
    ("GB", 15),
    ("DE", 10),
    ("FR", 10),
    ("CA", 10),
    ("AU", 5),
    ("NL", 4),
    ("SE", 2),
    ("JP", 2),
    ("BR", 2),
];
const FIRST_NAMES: [&str; 12] = [
    "Ada", "Ben", "Chloé", "Dev", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luca",
];

pub(super) fn person_id(n: u64) -> Identifier {
    Identifier::new(IdentifierKind::Id, &format!("person-{n}")).expect("a valid id")
}

/// The identify that creates person `n`, as of `now`.
pub(super) fn identify(rng: &mut Rng, n: u64, now: Timestamp) -> Operation {
    let created_at = now.unix_seconds() - rng.below((SIGNUP_DAYS * DAY_MS / 1000) as u64) as i64;
    let attributes = json!({
        "plan": rng.weighted(&PLANS),
        "country": rng.weighted(&COUNTRIES),
        "accepts_sms": rng.chance(0.35),
        "first_name": FIRST_NAMES[rng.below(FIRST_NAMES.len() as u64) as usize],
        "created_at": created_at,
    });
    Operation::Identify {
        person: person_id(n),
        attributes: object(attributes),
        update_only: false,
        timestamp: None,
    }
}

/// Whom the next event is for: a tenth of the people (every tenth one) are regulars who send
/// 30% of the events; everyone else shares the rest evenly.
pub(super) fn event_person(rng: &mut Rng, people: u64) -> u64 {
    if people >= 10 && rng.chance(0.3) {
        rng.below(people / 10) * 10
    } else {
        rng.below(people)
    }
}

/// A past event of the mix, some moment of the last 180 days before `now`.
pub(super) fn past_event(rng: &mut Rng, n: u64, now: Timestamp) -> EventRecord {
    let ago = rng.below((HISTORY_DAYS * DAY_MS) as u64) as i64;
    event(rng, n, Some(now.minus_millis(ago)))
}

/// An event of the mix; `n` makes order ids unique; `timestamp` `None` is "when received".
pub(super) fn event(rng: &mut Rng, n: u64, timestamp: Option<Timestamp>) -> EventRecord {
    let name = rng.weighted(&EVENT_MIX);
    let category = CATEGORIES[rng.below(CATEGORIES.len() as u64) as usize];
    let product_id = format!("sku-{}", rng.below(400));
    let items = 1 + rng.below(5);
    let data = match name {
        "Product Viewed" => json!({"product_id": product_id, "category": category,
            "price": rng.amount(8.0, 98.0)}),
        "Added to Cart" => json!({"product_id": product_id, "category": category,
            "price": rng.amount(8.0, 98.0), "quantity": 1 + rng.below(3),
            "cart_value": rng.amount(15.0, 300.0), "items": items}),
        "Checkout Started" => json!({"checkout_id": format!("co-{n}"),
            "cart_value": rng.amount(15.0, 300.0), "items": items}),
        "Order Completed" => json!({"order_id": format!("order-{n}"),
            "revenue": rng.amount(20.0, 400.0), "items": items, "currency": "USD"}),
        _ => json!({"order_id": format!("order-{}", rng.below(n.max(1))),
            "amount": rng.amount(10.0, 200.0), "reason": "damaged"}),
    };
    EventRecord {
        kind: EventKind::Event,
        name: name.to_string(),
        id: None,
        timestamp,
        data: object(data),
    }
}

fn object(value: Value) -> JsonMap {
    match value {
        Value::Object(map) => map,
        _ => JsonMap::new(),
    }
}
