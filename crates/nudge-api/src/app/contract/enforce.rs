//! The rule `nudge apply` and the App API share for configuration and the contract: when a
//! workspace has a contract, configuration that changes must conform to it (refused
//! otherwise, whatever the options), and a contract change must not break configuration
//! that conformed before (refused unless forced, listing what it breaks). Pure: the caller
//! hands in both contracts and the configuration as it will be.

use std::collections::BTreeSet;

use nudge_contract::{breaks, check, Breach, Contract, Usage};
use nudge_process::journeys::{journey_subject, template_subject};
use serde_json::Value;

use super::usages::{usages, Configuration};

/// What the check found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Breaches in the configuration being changed: always refused.
    pub own: Vec<Breach>,
    /// Breaches the contract change causes in configuration left as it was: refused unless
    /// forced.
    pub broken: Vec<Breach>,
}

impl Verdict {
    pub fn is_clean(&self) -> bool {
        self.own.is_empty() && self.broken.is_empty()
    }

    /// Every refusal as a line, `force` dropping what only forcing allows; empty when the
    /// change may go ahead.
    pub fn refusals(&self, force: bool, force_hint: &str) -> Vec<String> {
        let own = self.own.iter().map(ToString::to_string);
        let broken = self.broken.iter().filter(|_| !force).map(|breach| {
            format!("the contract change would break {breach} ({force_hint} to change it anyway)")
        });
        own.chain(broken).collect()
    }
}

/// The check of `config` (the configuration as it will be) against `new` (the contract as
/// it will be; `None`: the workspace has none, and nothing is checked), where `old` is the
/// contract before and `changed` names the documents being changed (`journey cart`,
/// `template cart-email`, `segment 7 (VIP)`, `computed attribute ltv`). A template sent by a
/// changed journey counts as changed: the journey decides which event it renders.
pub fn verdict(
    old: Option<&Contract>,
    new: Option<&Contract>,
    config: Configuration<'_>,
    changed: &BTreeSet<String>,
) -> Verdict {
    let Some(new) = new else {
        return Verdict::default();
    };
    let mut changed = changed.clone();
    for journey in config.journeys {
        if changed.contains(&journey_subject(&journey.name)) {
            changed.extend(sent_templates(&journey.body).map(|t| template_subject(&t)));
        }
    }
    let (all, derived) = usages(config);
    let (mine, others): (Vec<Usage>, Vec<Usage>) =
        all.into_iter().partition(|u| changed.contains(&u.document));
    let own = check(new, &mine, &derived);
    let broken = if old == Some(new) {
        Vec::new()
    } else {
        breaks(old, new, &others, &derived)
    };
    Verdict { own, broken }
}

/// The templates a journey document's send steps name.
fn sent_templates(body: &Value) -> impl Iterator<Item = String> + '_ {
    body.get("steps")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|step| step.pointer("/send/template").and_then(Value::as_str))
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nudge_core::Timestamp;
    use nudge_store::{Document, DocumentKind};
    use serde_json::json;

    fn document(kind: DocumentKind, name: &str, body: Value) -> Document {
        Document {
            kind,
            name: name.into(),
            version: 1,
            body,
            created_at: Timestamp::from_millis(0),
            deleted: false,
        }
    }

    fn contract(with_value: bool) -> Contract {
        let value = if with_value {
            "      cart_value: {type: number}\n"
        } else {
            ""
        };
        Contract::from_yaml(&format!(
            "format: 1\nevents:\n  Added to Cart:\n    properties:\n      cart_id: {{type: string}}\n{value}"
        ))
        .unwrap()
    }

    #[test]
    fn changed_configuration_must_conform_and_contract_changes_must_not_break() {
        let journeys = [document(
            DocumentKind::Journey,
            "cart",
            json!({"trigger": {"event": "Added to Cart"},
                   "steps": [{"id": "s", "send": {"channel": "sms", "template": "cart-sms"}}]}),
        )];
        let templates = [document(
            DocumentKind::Template,
            "cart-sms",
            json!({"id": "cart-sms", "channel": "sms", "body": "{{ event.cart_value }}"}),
        )];
        let config = Configuration {
            journeys: &journeys,
            templates: &templates,
            segments: &[],
            computed: &[],
        };
        let (with, without) = (contract(true), contract(false));
        let nothing = BTreeSet::new();
        assert!(verdict(None, None, config, &nothing).is_clean());
        assert!(verdict(Some(&with), Some(&with), config, &nothing).is_clean());

        let journey_changed = BTreeSet::from(["journey cart".to_string()]);
        let refused = verdict(Some(&without), Some(&without), config, &journey_changed);
        assert_eq!(refused.own.len(), 1, "the template the journey sends");
        assert_eq!(refused.own[0].document, "template cart-sms");
        assert!(refused.broken.is_empty());
        assert_eq!(
            refused.refusals(true, "force").len(),
            1,
            "forcing never helps"
        );

        let removal = verdict(Some(&with), Some(&without), config, &nothing);
        assert!(removal.own.is_empty());
        assert_eq!(removal.broken.len(), 1);
        let lines = removal.refusals(false, "use --force-contract");
        assert!(
            lines[0].starts_with("the contract change would break template cart-sms: /body:"),
            "{lines:?}"
        );
        assert!(lines[0].ends_with("(use --force-contract to change it anyway)"));
        assert!(removal.refusals(true, "").is_empty());
        assert_eq!(
            verdict(None, Some(&without), config, &nothing).broken.len(),
            1,
            "a first contract is a change too"
        );
    }
}
