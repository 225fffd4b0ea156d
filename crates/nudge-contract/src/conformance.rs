//! Configuration checked against the contract: what journeys, segments, computed attributes
//! and templates read from events and person attributes ([`Usage`]s, which the caller lists
//! from its documents), and the [`Breach`]es of the ones the contract does not declare, each
//! naming the document, the node in it and the likely name it meant. `breaks` tells which
//! breaches a contract change causes in configuration that conformed before. Pure data in
//! and out.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use crate::model::{Contract, Properties, Schema};
use crate::rename::likely_renames;

/// What a piece of configuration reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// An event by name: a trigger, an exit or goal, a wait, an event condition, a computed
    /// attribute's source.
    Event(String),
    /// A property of an event, as a path into its data: `cart_value`, `items[].price`,
    /// `items[0].sku`, `items.size` (Liquid's size of an array or a string).
    EventProperty { event: String, path: String },
    /// A person attribute, as a path: `first_name`, `address.city`.
    PersonAttribute(String),
}

/// One read, where it is written: the document (`journey cart-recovery`, `template
/// cart-email`, `segment 101 (VIP)`, `computed attribute lifetime_value`), the JSON pointer
/// of the node in it, and optionally what the read is for (`sent by journey cart-recovery`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub document: String,
    pub pointer: String,
    pub read: Read,
    pub context: Option<String>,
}

impl Usage {
    pub fn new(document: impl Into<String>, pointer: impl Into<String>, read: Read) -> Self {
        Self {
            document: document.into(),
            pointer: pointer.into(),
            read,
            context: None,
        }
    }

    pub fn with_context(mut self, context: impl Into<String>) -> Self {
        self.context = Some(context.into());
        self
    }
}

/// A read the contract does not declare.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Breach {
    pub document: String,
    pub pointer: String,
    pub message: String,
    /// The declared names it likely means, closest first.
    pub suggestions: Vec<String>,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.document, self.pointer, self.message)
    }
}

/// Person attributes that configuration may read without the contract declaring them: the
/// identifiers every person has.
pub const PERSON_IDENTIFIERS: [&str; 4] = ["id", "email", "phone", "cio_id"];

/// Every usage the contract does not declare, in the order given, each breach once.
///
/// Person attributes are checked only when the contract declares at least one (a contract
/// about events alone says nothing about them); `derived_attributes` are the attributes
/// Nudge itself writes (computed attributes, journeys' attribute updates), which identify
/// calls do not send and the contract therefore does not declare. A property of an event the
/// contract does not declare is not reported: the event itself is.
pub fn check(
    contract: &Contract,
    usages: &[Usage],
    derived_attributes: &BTreeSet<String>,
) -> Vec<Breach> {
    let mut seen = BTreeSet::new();
    let mut breaches = Vec::new();
    for usage in usages {
        let Some((message, suggestions)) = problem(contract, &usage.read, derived_attributes)
        else {
            continue;
        };
        let message = match &usage.context {
            Some(context) => format!("{context}: {message}"),
            None => message,
        };
        let breach = Breach {
            document: usage.document.clone(),
            pointer: usage.pointer.clone(),
            message,
            suggestions,
        };
        if seen.insert(breach.clone()) {
            breaches.push(breach);
        }
    }
    breaches
}

/// The breaches a change from `old` (`None`: no contract) to `new` causes: those under `new`
/// that `old` did not have. Configuration that already broke the old contract is not this
/// change's doing.
pub fn breaks(
    old: Option<&Contract>,
    new: &Contract,
    usages: &[Usage],
    derived_attributes: &BTreeSet<String>,
) -> Vec<Breach> {
    let before: BTreeSet<Breach> = match old {
        Some(old) => check(old, usages, derived_attributes).into_iter().collect(),
        None => BTreeSet::new(),
    };
    check(new, usages, derived_attributes)
        .into_iter()
        .filter(|breach| !before.contains(breach))
        .collect()
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!(" (did you mean '{one}'?)"),
        several => format!(
            " (did you mean {}?)",
            several
                .iter()
                .map(|s| format!("'{s}'"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

fn problem(
    contract: &Contract,
    read: &Read,
    derived: &BTreeSet<String>,
) -> Option<(String, Vec<String>)> {
    match read {
        Read::Event(name) => {
            if contract.event(name).is_some() {
                return None;
            }
            let suggestions = owned(likely_renames(
                name,
                contract.events().keys().map(String::as_str),
            ));
            Some((
                format!(
                    "event '{name}' is not declared in the contract{}",
                    did_you_mean(&suggestions)
                ),
                suggestions,
            ))
        }
        Read::EventProperty { event, path } => {
            let section = contract.event(event)?;
            let (missing, suggestions) = resolve(&section.properties, path)?;
            Some((
                format!(
                    "event '{event}' declares no property {missing}{}",
                    did_you_mean(&suggestions)
                ),
                suggestions,
            ))
        }
        Read::PersonAttribute(path) => {
            let attributes = &contract.person().properties;
            let root = steps(path).into_iter().next().and_then(|step| match step {
                Step::Key(key) => Some(key),
                Step::Index(_) => None,
            })?;
            if attributes.is_empty() || PERSON_IDENTIFIERS.contains(&root) || derived.contains(root)
            {
                return None;
            }
            let (missing, suggestions) = resolve(attributes, path)?;
            Some((
                format!(
                    "person attribute {missing} is not declared in the contract{}",
                    did_you_mean(&suggestions)
                ),
                suggestions,
            ))
        }
    }
}

fn owned(names: Vec<&str>) -> Vec<String> {
    names.into_iter().map(str::to_string).collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    /// `[]` (any element) or `[n]`.
    Index(&'a str),
}

/// `items[].price` as `items`, `[]`, `price`.
fn steps(path: &str) -> Vec<Step<'_>> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(at) => (&part[..at], &part[at..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push(Step::Key(name));
        }
        while let Some(close) = rest.find(']') {
            out.push(Step::Index(&rest[1.min(close)..close]));
            rest = &rest[close + 1..];
        }
    }
    out
}

/// Where a declared schema stands while a path is followed.
#[derive(Clone, Copy)]
enum Node<'a> {
    Properties(&'a Properties),
    Schema(&'a Schema),
}

/// `None` when `path` reaches something `properties` declares (or goes inside a free-form
/// object or array, which declare nothing inside); else the undeclared part, quoted (`'cart_valu'`,
/// `'items[].prise'`), and the likely names.
fn resolve(properties: &Properties, path: &str) -> Option<(String, Vec<String>)> {
    let steps = steps(path);
    let mut node = Node::Properties(properties);
    let mut walked = String::new();
    for step in steps {
        let here = |walked: &str| match step {
            Step::Key(key) if walked.is_empty() => key.to_string(),
            Step::Key(key) => format!("{walked}.{key}"),
            Step::Index(index) => format!("{walked}[{index}]"),
        };
        let next = match (node, step) {
            (Node::Properties(declared), Step::Key(key))
            | (
                Node::Schema(Schema::Object {
                    properties: declared,
                }),
                Step::Key(key),
            ) => {
                if let Node::Schema(_) = node {
                    if declared.is_empty() {
                        return None;
                    }
                }
                match declared.get(key) {
                    Some(property) => Node::Schema(&property.schema),
                    None => {
                        let suggestions =
                            owned(likely_renames(key, declared.keys().map(String::as_str)));
                        let suggestions = suggestions
                            .into_iter()
                            .map(|s| here_with(&walked, &s))
                            .collect();
                        return Some((format!("'{}'", here(&walked)), suggestions));
                    }
                }
            }
            (Node::Schema(Schema::Array { items }), Step::Index(_)) => match items {
                Some(items) => Node::Schema(items),
                None => return None,
            },
            (Node::Schema(Schema::Array { items }), Step::Key("first" | "last")) => match items {
                Some(items) => Node::Schema(items),
                None => return None,
            },
            (Node::Schema(Schema::Array { .. } | Schema::String { .. }), Step::Key("size")) => {
                return None
            }
            (Node::Schema(schema), _) => {
                let what = match step {
                    Step::Key(_) => "has no properties",
                    Step::Index(_) => "has no elements",
                };
                return Some((
                    format!(
                        "'{}' ('{walked}' is {}: it {what})",
                        here(&walked),
                        article(schema)
                    ),
                    Vec::new(),
                ));
            }
            (Node::Properties(_), Step::Index(_)) => return None,
        };
        walked = here(&walked);
        node = next;
    }
    None
}

fn here_with(walked: &str, key: &str) -> String {
    if walked.is_empty() {
        key.to_string()
    } else {
        format!("{walked}.{key}")
    }
}

fn article(schema: &Schema) -> String {
    match schema {
        Schema::Integer { .. } | Schema::Array { .. } | Schema::Object { .. } => {
            format!("an {}", schema.label())
        }
        _ => format!("a {}", schema.label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONTRACT: &str = r#"
format: 1
events:
  Added to Cart:
    properties:
      cart_id: {type: string, required: true}
      cart_value: {type: number}
      metadata: {type: object}
      tags: {type: array}
      items:
        type: array
        items:
          type: object
          properties:
            name: {type: string}
            price: {type: number}
  Order Completed:
    properties:
      order_id: {type: string, required: true}
      shipping:
        type: object
        properties:
          city: {type: string}
person:
  attributes:
    email: {type: string}
    first_name: {type: string}
    address:
      type: object
      properties:
        city: {type: string}
"#;

    fn contract() -> Contract {
        Contract::from_yaml(CONTRACT).expect("a valid contract")
    }

    fn one(read: Read) -> Option<Breach> {
        let usage = Usage::new("journey cart", "/trigger/event", read);
        let mut found = check(&contract(), &[usage], &BTreeSet::new());
        assert!(found.len() <= 1);
        found.pop()
    }

    fn event(name: &str) -> Read {
        Read::Event(name.into())
    }

    fn property(event: &str, path: &str) -> Read {
        Read::EventProperty {
            event: event.into(),
            path: path.into(),
        }
    }

    #[test]
    fn an_undeclared_event_names_the_document_the_node_and_the_likely_name() {
        assert_eq!(one(event("Order Completed")), None);
        let breach = one(event("Order Complete")).expect("undeclared");
        assert_eq!(
            breach.to_string(),
            "journey cart: /trigger/event: event 'Order Complete' is not declared in the \
             contract (did you mean 'Order Completed'?)"
        );
        assert_eq!(breach.suggestions, ["Order Completed"]);
        let snake = one(event("order_completed")).expect("undeclared");
        assert_eq!(snake.suggestions, ["Order Completed"]);
        let unrelated = one(event("Page Viewed")).expect("undeclared");
        assert!(unrelated.suggestions.is_empty());
        assert!(!unrelated.message.contains("did you mean"), "{unrelated}");
    }

    #[test]
    fn event_properties_are_followed_through_objects_and_arrays() {
        for path in [
            "cart_value",
            "items",
            "items[].price",
            "items[0].name",
            "items.size",
            "items.first.name",
            "cart_id.size",
            "metadata.anything.at.all",
            "tags[].whatever",
        ] {
            assert_eq!(one(property("Added to Cart", path)), None, "{path}");
        }
        assert_eq!(one(property("Order Completed", "shipping.city")), None);
        let breach = one(property("Added to Cart", "cart_valu")).expect("undeclared");
        assert_eq!(
            breach.message,
            "event 'Added to Cart' declares no property 'cart_valu' (did you mean 'cart_value'?)"
        );
        let nested = one(property("Added to Cart", "items[].prise")).expect("undeclared");
        assert_eq!(
            nested.message,
            "event 'Added to Cart' declares no property 'items[].prise' (did you mean \
             'items[].price'?)"
        );
        let inside = one(property("Order Completed", "shipping.zip")).expect("undeclared");
        assert!(inside.message.contains("'shipping.zip'"), "{inside}");
        let scalar = one(property("Added to Cart", "cart_value.cents")).expect("a number");
        assert!(
            scalar.message.contains("'cart_value' is a number"),
            "{scalar}"
        );
        let elements = one(property("Added to Cart", "cart_id[0]")).expect("a string");
        assert!(elements.message.contains("has no elements"), "{elements}");
        assert_eq!(
            one(property("Page Viewed", "url")),
            None,
            "the undeclared event is reported, not each property"
        );
    }

    #[test]
    fn person_attributes_are_checked_when_the_contract_declares_some() {
        assert_eq!(one(Read::PersonAttribute("first_name".into())), None);
        assert_eq!(one(Read::PersonAttribute("address.city".into())), None);
        assert_eq!(one(Read::PersonAttribute("cio_id".into())), None);
        let breach = one(Read::PersonAttribute("firstname".into())).expect("undeclared");
        assert_eq!(
            breach.message,
            "person attribute 'firstname' is not declared in the contract (did you mean \
             'first_name'?)"
        );
        let derived = BTreeSet::from(["lifetime_value".to_string()]);
        let usage = Usage::new(
            "template t",
            "/body",
            Read::PersonAttribute("lifetime_value".into()),
        );
        assert!(check(&contract(), std::slice::from_ref(&usage), &derived).is_empty());
        assert_eq!(check(&contract(), &[usage], &BTreeSet::new()).len(), 1);
        let events_only = Contract::from_yaml("format: 1\nevents: {}\n").unwrap();
        let anything = Usage::new("template t", "/body", Read::PersonAttribute("x".into()));
        assert!(check(&events_only, &[anything], &BTreeSet::new()).is_empty());
    }

    #[test]
    fn breaches_carry_their_context_once() {
        let usage = Usage::new(
            "template cart-email",
            "/body",
            property("Added to Cart", "cart_total"),
        )
        .with_context("reads event.cart_total (sent by journey cart, step email)");
        let found = check(&contract(), &[usage.clone(), usage], &BTreeSet::new());
        assert_eq!(found.len(), 1);
        assert_eq!(
            found[0].to_string(),
            "template cart-email: /body: reads event.cart_total (sent by journey cart, step \
             email): event 'Added to Cart' declares no property 'cart_total'"
        );
    }

    #[test]
    fn a_change_breaks_only_what_conformed_before() {
        let old = contract();
        let new = Contract::from_yaml(&CONTRACT.replace("      cart_value: {type: number}\n", ""))
            .unwrap();
        let usages = [
            Usage::new(
                "template a",
                "/body",
                property("Added to Cart", "cart_value"),
            ),
            Usage::new("journey b", "/trigger/event", event("Cart Viewed")),
        ];
        let none = BTreeSet::new();
        let broken = breaks(Some(&old), &new, &usages, &none);
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert_eq!(broken[0].document, "template a");
        assert_eq!(breaks(Some(&old), &old, &usages, &none), []);
        assert_eq!(
            breaks(None, &old, &usages, &none).len(),
            1,
            "the first contract"
        );
    }
}
