//! The event contract in a plan: a `kind: contract` file read and checked by
//! `nudge_contract`, its change shown as the contract diff, and the whole set checked against
//! the contract it will have (docs/contract.md, "Configuration checked against the
//! contract"): definitions the files change must conform, and a contract change must not
//! break stored definitions that conformed, unless `--force-contract`. Works on the plan's
//! data; reads nothing itself.

use std::collections::{BTreeSet, HashMap};

use nudge_api::app::contract::enforce::verdict;
use nudge_api::app::contract::usages::Configuration as Usages;
use nudge_contract::{diff, Contract};
use nudge_store::{ComputedDefinition, Document, DocumentKind, SegmentDefinition, CONTRACT_NAME};
use serde_json::{Map, Value};

use super::files::{Definition, FORMAT};
use super::plan::{Action, Step};

/// A contract file's document (without `kind` and `format`, which [`super::files`] took
/// off) as the definition stored: the canonical JSON `nudge_contract` writes.
pub fn definition(mut map: Map<String, Value>) -> Result<Definition, String> {
    map.insert("format".into(), Value::from(FORMAT));
    let contract =
        nudge_contract::parse(&Value::Object(map)).map_err(|error| format!("contract: {error}"))?;
    Ok(Definition::Document {
        kind: DocumentKind::Contract,
        name: CONTRACT_NAME.to_string(),
        body: contract.to_json(),
    })
}

/// A stored or proposed contract document as a contract.
pub fn parsed(document: &Value) -> Result<Contract, String> {
    nudge_contract::parse(document).map_err(|error| format!("the stored contract: {error}"))
}

/// What applying `new` over `live` changes: the contract diff, one change a line.
pub fn action(live: &Document, new: &Value) -> Result<Action, String> {
    if live.body == *new {
        return Ok(Action::Unchanged);
    }
    let changes = diff(&parsed(&live.body)?, &parsed(new)?);
    Ok(Action::Update {
        version: live.version,
        diff: changes.iter().map(ToString::to_string).collect(),
    })
}

/// The definitions a plan leaves, as the contract check reads them.
pub struct Configuration<'a> {
    /// The stored contract.
    pub stored: Option<&'a Document>,
    /// Every version of every journey, the plan's included.
    pub journeys: &'a [Document],
    /// The live templates, the plan's in place of the stored.
    pub templates: &'a [Document],
    pub segments: &'a [SegmentDefinition],
    pub computed: &'a [ComputedDefinition],
}

/// Every refusal of the plan's `steps` under the contract they leave (a contract step's, or
/// the stored one), naming the file of the definition (or of the contract, for what its
/// change breaks).
pub fn refusals(
    configuration: &Configuration<'_>,
    steps: &[Step],
    force: bool,
) -> Result<(), Vec<String>> {
    let proposed = steps.iter().find_map(|s| match &s.definition {
        Definition::Document { kind, body, .. } if *kind == DocumentKind::Contract => Some(body),
        _ => None,
    });
    let stored = configuration.stored.map(|c| &c.body);
    let parse = |document: Option<&Value>| document.map(parsed).transpose();
    let (old, new) = match (parse(stored), parse(proposed.or(stored))) {
        (Ok(old), Ok(new)) => (old, new),
        (Err(problem), _) | (_, Err(problem)) => return Err(vec![problem]),
    };
    let changed: BTreeSet<String> = steps
        .iter()
        .filter(|s| s.action != Action::Unchanged)
        .map(|s| s.subject.clone())
        .collect();
    let journeys = latest_versions(configuration.journeys);
    let config = Usages {
        journeys: &journeys,
        templates: configuration.templates,
        segments: configuration.segments,
        computed: configuration.computed,
    };
    let found = verdict(old.as_ref(), new.as_ref(), config, &changed);
    let origin = |subject: &str| {
        steps.iter().find(|s| s.subject == subject).map_or_else(
            || "stored definitions".to_string(),
            |s| s.origin.to_string(),
        )
    };
    let contract_origin = origin("contract");
    let mut problems: Vec<String> = found
        .own
        .iter()
        .map(|breach| format!("{}: {breach}", origin(&breach.document)))
        .collect();
    if !force {
        problems.extend(found.broken.iter().map(|breach| {
            format!(
                "{contract_origin}: contract: the change would break {breach} (apply with \
                 --force-contract to change it anyway)"
            )
        }));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

/// The newest version of each journey among `versions`.
fn latest_versions(versions: &[Document]) -> Vec<Document> {
    let mut latest: HashMap<&str, &Document> = HashMap::new();
    for version in versions {
        let newer = latest
            .get(version.name.as_str())
            .is_none_or(|seen| version.version > seen.version);
        if newer {
            latest.insert(&version.name, version);
        }
    }
    latest.into_values().cloned().collect()
}
