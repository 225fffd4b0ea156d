//! Rendering never panics, whatever the template text and whatever the context: errors are
//! fine, panics are not. Half the generated templates are well-formed Liquid over the
//! context's names (so rendering really runs), half mix Liquid's delimiters and keywords with
//! arbitrary characters.

use nudge_core::Timestamp;
use nudge_templates::{parse_template, EventContext, JsonMap, RenderContext};
use proptest::prelude::*;
use serde_json::{json, Value};

const FRAGMENTS: &[&str] = &[
    "{{ ",
    " }}",
    "{{- ",
    " -}}",
    "{% ",
    " %}",
    "{%- ",
    " -%}",
    "if ",
    "elsif ",
    "else",
    "endif",
    "unless ",
    "endunless",
    "for ",
    "endfor",
    "tablerow ",
    "endtablerow",
    " in ",
    "case ",
    "when ",
    "endcase",
    "assign ",
    "capture ",
    "endcapture",
    "raw",
    "endraw",
    "comment",
    "endcomment",
    "cycle ",
    "break",
    "continue",
    "customer",
    "event",
    "trigger",
    "journey",
    "event_name",
    "event_timestamp",
    "item",
    "x",
    ".",
    "[",
    "]",
    "[0]",
    "['a']",
    "items",
    "first_name",
    "timezone",
    "price",
    "size",
    "first",
    " | ",
    "default",
    "money",
    "local_date",
    "upcase",
    "plus",
    "divided_by",
    "slice",
    "truncate",
    "date",
    "split",
    "join",
    ": ",
    ", ",
    "'EUR'",
    "'%Y-%m-%d'",
    "'%Q'",
    "\"x\"",
    "0",
    "-1",
    "1.5",
    "1705338000",
    "(1..3)",
    " == ",
    " > ",
    " contains ",
    " and ",
    " or ",
    "nil",
    "empty",
    "true",
    " limit: ",
    " offset: ",
    " reversed",
    "\n",
    " ",
    "=",
    "é",
    "{",
    "}",
    "%",
    "'",
    "\"",
];

const VALUES: &[&str] = &[
    "customer.first_name",
    "customer.timezone",
    "customer",
    "customer.items",
    "event.items",
    "event.items[0].price",
    "event.items.first.price",
    "event.cart_value",
    "event_timestamp",
    "event_name",
    "trigger.coupon",
    "journey.step",
    "item",
    "item.price",
    "item.name",
    "x",
    "forloop.index",
    "customer[x]",
    "'EUR'",
    "'%Y-%m-%d'",
    "'2024-01-15T17:00:00Z'",
    "0",
    "-3",
    "2.5",
    "1705338000",
    "nil",
    "true",
    "empty",
];

const FILTERS: &[&str] = &[
    "default: {}",
    "money",
    "money: {}",
    "local_date: {}",
    "upcase",
    "plus: {}",
    "size",
    "first",
    "slice: {}, {}",
    "truncate: {}",
    "divided_by: {}",
    "modulo: {}",
    "date: {}",
    "split: {}",
    "join: {}",
    "append: {}",
    "round: {}",
    "times: {}",
    "map: {}",
    "where: {}",
    "sort",
    "at_least: {}",
    "abs",
    "__nudge_optional: {}",
];

fn value() -> impl Strategy<Value = String> {
    proptest::sample::select(VALUES).prop_map(str::to_owned)
}

/// `value | filter: value | …` with the filters' placeholders filled in.
fn chain() -> impl Strategy<Value = String> {
    let filter = (proptest::sample::select(FILTERS), value(), value())
        .prop_map(|(filter, a, b)| filter.replacen("{}", &a, 1).replacen("{}", &b, 1));
    (value(), proptest::collection::vec(filter, 0..3)).prop_map(|(first, filters)| {
        filters
            .into_iter()
            .fold(first, |chain, filter| format!("{chain} | {filter}"))
    })
}

/// Well-formed Liquid built from the values and filters above, nested a few levels deep.
fn structured_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        chain().prop_map(|c| format!("{{{{ {c} }}}}")),
        chain().prop_map(|c| format!("{{% assign x = {c} %}}")),
        "[ -~]{0,6}",
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        let body = proptest::collection::vec(inner, 0..4).prop_map(|parts| parts.concat());
        prop_oneof![
            (value(), body.clone())
                .prop_map(|(v, b)| format!("{{% for item in {v} %}}{b}{{% endfor %}}")),
            (value(), body.clone()).prop_map(|(v, b)| format!("{{% if {v} %}}{b}{{% endif %}}")),
            (value(), value(), body.clone()).prop_map(|(a, c, b)| format!(
                "{{% if {a} > {c} %}}{b}{{% else %}}{b}{{% endif %}}"
            )),
            (value(), value(), body.clone()).prop_map(|(v, w, b)| {
                format!("{{% case {v} %}}{{% when {w} %}}{b}{{% endcase %}}")
            }),
            body.clone()
                .prop_map(|b| format!("{{% raw %}}{b}{{% endraw %}}")),
            body,
        ]
    })
}

/// Liquid's delimiters, keywords and the context's names mixed with arbitrary characters.
fn fragment_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => proptest::sample::select(FRAGMENTS).prop_map(str::to_owned),
        1 => "[ -~]{0,4}",
        1 => any::<char>().prop_map(String::from),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

fn template_text() -> impl Strategy<Value = String> {
    prop_oneof![structured_text(), fragment_text()]
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        "[ -~é]{0,8}".prop_map(Value::String),
        Just(json!("America/New_York")),
        Just(json!("2024-01-15T17:00:00Z")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            proptest::collection::vec((key(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        proptest::sample::select(
            &["items", "first_name", "timezone", "price", "a", "x", "size"][..]
        )
        .prop_map(str::to_owned),
        "[a-z_]{1,6}",
    ]
}

fn json_map() -> impl Strategy<Value = JsonMap> {
    proptest::collection::vec((key(), json_value()), 0..5)
        .prop_map(|entries| entries.into_iter().collect())
}

fn render_context() -> impl Strategy<Value = RenderContext> {
    (
        json_map(),
        proptest::option::of((json_map(), any::<i64>())),
        json_map(),
        json_map(),
    )
        .prop_map(|(customer, event, trigger, journey)| RenderContext {
            customer,
            event: event.map(|(data, millis)| EventContext {
                name: "cart_abandoned".into(),
                timestamp: Timestamp::from_millis(millis),
                data,
            }),
            trigger,
            journey,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn rendering_never_panics(text in template_text(), context in render_context()) {
        for channel in ["sms", "email"] {
            let document = json!({"id": "p", "channel": channel, "subject": text, "body": text});
            let document = if channel == "sms" {
                json!({"id": "p", "channel": channel, "body": text})
            } else {
                document
            };
            if let Ok(template) = parse_template(&document) {
                let _ = template.variables();
                let _ = template.render(&context);
            }
        }
    }

    #[test]
    fn parsing_never_panics_on_any_json(document in json_value()) {
        let _ = parse_template(&document);
    }
}
