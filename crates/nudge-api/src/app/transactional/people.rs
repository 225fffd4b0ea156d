//! Who a transactional message is for: the person `identifiers` names, created through the
//! ingest writer (an identify, logged like any other) when nobody has that id or email yet, as
//! Customer.io does for transactional sends; and the address a message goes to when the
//! request gives none.

use nudge_core::{Identifier, IdentifierKind, JsonMap, Operation, PersonState, WorkspaceId};
use nudge_ingest::Outcome;
use nudge_store::PersonView;
use nudge_templates::Channel;
use serde_json::Value;

use crate::{ApiError, AppState};

/// The source of the identifies that create people for transactional messages.
const SOURCE: &str = "app_api";

/// The person `identifier` names, created when it is an unknown id or email.
pub(super) async fn person(
    state: &AppState,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> Result<PersonView, ApiError> {
    if let Some(view) = find(state, ws, identifier).await? {
        return Ok(view);
    }
    if identifier.kind() == IdentifierKind::CioId {
        return Err(ApiError::bad_request(
            "identifiers.cio_id",
            format!("no person has cio_id '{}'", identifier.value()),
        ));
    }
    let create = Operation::Identify {
        person: identifier.clone(),
        attributes: JsonMap::new(),
        update_only: false,
        timestamp: None,
    };
    let outcomes = state
        .ingestor
        .submit(ws, SOURCE, vec![create.into()])
        .await?;
    if let Some(view) = find(state, ws, identifier).await? {
        return Ok(view);
    }
    let why = match outcomes.first() {
        Some(Outcome::Dropped(why) | Outcome::Refused(why)) => why.clone(),
        _ => "it was not kept".to_string(),
    };
    Err(ApiError::bad_request(
        "identifiers",
        format!("no person has {identifier}, and none could be created: {why}"),
    ))
}

async fn find(
    state: &AppState,
    ws: WorkspaceId,
    identifier: &Identifier,
) -> Result<Option<PersonView>, ApiError> {
    let identifier = identifier.clone();
    state
        .read(move |store| match store.resolve(ws, &identifier)? {
            Some(key) => store.person(ws, key),
            None => Ok(None),
        })
        .await
}

/// Where a message on `channel` goes by default: the person's email or phone (the
/// identifier, else the attribute of that name); push goes to the person's devices, found at
/// send time, under their cio_id.
pub(super) fn default_address(channel: Channel, person: &PersonState) -> Option<String> {
    let (identifier, attribute) = match channel {
        Channel::Email => (&person.email, "email"),
        Channel::Sms => (&person.phone, "phone"),
        _ => return Some(person.cio_id.clone()),
    };
    identifier.clone().or_else(|| {
        person
            .attributes
            .get(attribute)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .map(str::to_string)
    })
}
