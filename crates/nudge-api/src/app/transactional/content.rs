//! What a transactional message says: the stored template the request names (its live
//! version), with the request's inline parts in place of the template's, or the inline parts
//! alone; compiled like any template and rendered strictly with the person (`customer.*`) and
//! `message_data` (`trigger.*`). An email given only HTML gets a text part made from it. The
//! result is the ledger row's subject, body and payload.

use nudge_core::{JsonMap, PersonState, WorkspaceId};
use nudge_process::PersonData;
use nudge_store::{DocumentKind, Store, StoreResult};
use nudge_templates::{parse_template, Channel, RenderContext, RenderError, Rendered, Template};
use serde_json::{json, Value};

use super::plain_text::html_to_text;
use super::request::SendRequest;
use crate::ApiError;

/// The id an inline message is compiled under.
const INLINE_ID: &str = "inline";

/// A template document ready to compile, and whether its text part is to be made from its
/// rendered HTML.
pub(super) struct Document {
    pub body: Value,
    pub text_from_html: bool,
}

/// The live version of template `id`, if there is one.
pub(super) fn stored_template(
    store: &dyn Store,
    ws: WorkspaceId,
    id: &str,
) -> StoreResult<Option<Value>> {
    let history = store.document_versions(ws, DocumentKind::Template, id)?;
    Ok(history
        .last()
        .filter(|d| !d.deleted)
        .map(|d| d.body.clone()))
}

/// The document to send: the template (checked to be for `request.channel`) with the inline
/// parts replacing its own, or the inline parts alone.
pub(super) fn document(
    request: &SendRequest,
    template: Option<Value>,
) -> Result<Document, ApiError> {
    let channel = request.channel;
    let mut body = match (&request.template, template) {
        (Some(id), Some(Value::Object(stored))) => {
            let of = stored
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if of != channel.as_str() {
                return Err(ApiError::bad_request(
                    "transactional_message_id",
                    format!("template '{id}' is for {of}, not {channel}"),
                ));
            }
            stored
        }
        (Some(id), _) => {
            return Err(ApiError::bad_request(
                "transactional_message_id",
                format!("there is no template '{id}'"),
            ))
        }
        (None, _) => {
            let mut inline = JsonMap::new();
            inline.insert("id".into(), json!(INLINE_ID));
            inline.insert("channel".into(), json!(channel.as_str()));
            inline
        }
    };
    let content = &request.content;
    let parts = [
        ("subject", &content.subject),
        ("title", &content.title),
        ("body", &content.text),
        ("html", &content.html),
    ];
    for (part, given) in parts {
        if let Some(source) = given {
            body.insert(part.into(), Value::String(source.clone()));
        }
    }
    // HTML given without its text: the text is made from the HTML, not kept from a template.
    let text_from_html = channel == Channel::Email
        && content.text.is_none()
        && (content.html.is_some() || !body.contains_key("body"));
    if text_from_html {
        let html = body.get("html").cloned().unwrap_or_default();
        body.insert("body".into(), html);
    }
    Ok(Document {
        body: Value::Object(body),
        text_from_html,
    })
}

/// Compiles the document; a Liquid error names the request field of the part.
pub(super) fn compile(document: &Document, channel: Channel) -> Result<Template, ApiError> {
    parse_template(&document.body).map_err(|error| {
        let part = error.pointer.trim_start_matches('/');
        ApiError::bad_request(
            wire_field(channel, part, document.text_from_html),
            format!("{}: {}", part_label(part), error.message),
        )
    })
}

/// Renders with the person and `message_data`; an undefined variable fails with a 400 naming
/// it (`message_data` for `trigger.*`, `identifiers` for `customer.*`).
pub(super) fn render(
    template: &Template,
    document: &Document,
    person: &PersonState,
    message_data: &JsonMap,
) -> Result<Rendered, ApiError> {
    let context = RenderContext {
        customer: customer_scope(person),
        trigger: message_data.clone(),
        ..RenderContext::default()
    };
    let mut rendered = template
        .render(&context)
        .map_err(|error| render_refusal(&error))?;
    if document.text_from_html {
        rendered.body = html_to_text(rendered.html.as_deref().unwrap_or_default());
    }
    Ok(rendered)
}

/// `customer.*`: the person's attributes with `id`, `email`, `phone` and `cio_id`, as a
/// journey's messages see them.
pub(crate) fn customer_scope(person: &PersonState) -> JsonMap {
    PersonData::for_person(
        person.clone(),
        Default::default(),
        std::iter::empty::<nudge_store::StoredEvent>(),
    )
    .attributes
}

/// A render failure as a 400: the undefined variable's scope names the request field.
fn render_refusal(error: &RenderError) -> ApiError {
    let field = match error.variable.as_deref() {
        Some(v) if v.starts_with("trigger.") || v == "trigger" => "message_data",
        Some(v) if v.starts_with("customer.") || v == "customer" => "identifiers",
        _ => "",
    };
    ApiError::bad_request(
        field,
        format!(
            "the message did not render: {}: {}",
            part_label(&error.part),
            error.message
        ),
    )
}

/// The request field an inline part came from.
fn wire_field(channel: Channel, part: &str, text_from_html: bool) -> &'static str {
    match (channel, part) {
        (_, "subject") => "subject",
        (_, "title") => "title",
        (Channel::Email, "html") => "body",
        (Channel::Email, "body") if text_from_html => "body",
        (Channel::Email, "body") => "body_plain",
        (Channel::Push, "body") => "message",
        _ => "body",
    }
}

/// How a message names one of a template's parts.
pub(crate) fn part_label(part: &str) -> &str {
    match part {
        "html" => "the HTML body",
        "body" => "the text body",
        "subject" => "the subject",
        "title" => "the title",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::transactional::request::SendRequest;
    use nudge_core::{PersonKey, Timestamp};

    fn request(channel: Channel, body: Value) -> SendRequest {
        SendRequest::parse(
            channel,
            body.as_object().unwrap(),
            Timestamp::from_millis(0),
        )
        .unwrap()
    }

    fn ana() -> PersonState {
        let mut attributes = JsonMap::new();
        attributes.insert("first_name".into(), json!("Ana"));
        PersonState {
            key: PersonKey(1),
            cio_id: "cio-1".into(),
            id: Some("ana".into()),
            email: Some("ana@example.com".into()),
            phone: None,
            attributes,
            attribute_times: Default::default(),
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
        }
    }

    fn send(request: &SendRequest, template: Option<Value>) -> Result<Rendered, ApiError> {
        let document = document(request, template)?;
        let compiled = compile(&document, request.channel)?;
        render(&compiled, &document, &ana(), &request.message_data)
    }

    #[test]
    fn inline_html_gets_a_text_part_and_templates_take_overrides() {
        let inline = request(
            Channel::Email,
            json!({"identifiers": {"id": "ana"}, "subject": "Hi {{customer.first_name}}",
                   "body": "<p>Code <b>{{trigger.code}}</b></p>", "message_data": {"code": 42}}),
        );
        let rendered = send(&inline, None).unwrap();
        assert_eq!(rendered.subject.as_deref(), Some("Hi Ana"));
        assert_eq!(rendered.html.as_deref(), Some("<p>Code <b>42</b></p>"));
        assert_eq!(rendered.body, "Code 42");

        let stored = json!({"id": "receipt", "channel": "email", "subject": "Receipt",
                            "body": "Total {{trigger.total}}", "html": "<p>old</p>"});
        let with_template = request(
            Channel::Email,
            json!({"identifiers": {"id": "ana"}, "transactional_message_id": "RECEIPT",
                   "subject": "Your receipt", "message_data": {"total": 9}}),
        );
        let rendered = send(&with_template, Some(stored.clone())).unwrap();
        assert_eq!(rendered.subject.as_deref(), Some("Your receipt"));
        assert_eq!(rendered.body, "Total 9", "the template's text part stays");
        let new_html = request(
            Channel::Email,
            json!({"identifiers": {"id": "ana"}, "transactional_message_id": "receipt",
                   "body": "<p>new</p>", "message_data": {"total": 9}}),
        );
        let rendered = send(&new_html, Some(stored)).unwrap();
        assert_eq!(rendered.body, "new", "a new HTML body brings its own text");
    }

    #[test]
    fn refusals_name_the_template_field_or_the_variable_scope() {
        let field = |result: Result<Rendered, ApiError>| result.unwrap_err().field;
        let sms = json!({"id": "code", "channel": "sms", "body": "{{ trigger.code }}"});
        let wrong_channel = request(
            Channel::Email,
            json!({"identifiers": {"id": "a"}, "transactional_message_id": "code"}),
        );
        assert_eq!(
            field(send(&wrong_channel, Some(sms.clone()))).as_deref(),
            Some("transactional_message_id")
        );
        assert_eq!(
            field(send(&wrong_channel, None)).as_deref(),
            Some("transactional_message_id")
        );
        let no_code = request(
            Channel::Sms,
            json!({"identifiers": {"id": "a"}, "transactional_message_id": "code"}),
        );
        let error = send(&no_code, Some(sms)).unwrap_err();
        assert_eq!(error.field.as_deref(), Some("message_data"));
        assert!(error.message.contains("trigger.code"), "{}", error.message);
        let no_customer = request(
            Channel::Sms,
            json!({"identifiers": {"id": "a"}, "body": "{{ customer.plan }}"}),
        );
        assert_eq!(
            field(send(&no_customer, None)).as_deref(),
            Some("identifiers")
        );
        let syntax = request(
            Channel::Push,
            json!({"identifiers": {"id": "a"}, "title": "t", "message": "{% if %}"}),
        );
        assert_eq!(field(send(&syntax, None)).as_deref(), Some("message"));
    }
}
