//! docs/templates.md stays true: every ```yaml block with `kind: template` parses and renders,
//! the complete example renders to the text the page shows, and every filter example in its
//! tables renders to the output it states.

mod support;

use std::collections::BTreeMap;

use nudge_core::Timestamp;
use nudge_templates::{parse_template, EventContext, RenderContext, Rendered, Template};
use serde_json::{json, Value};
use support::{map, render_body};

const PAGE: &str = include_str!("../../../docs/templates.md");

/// The contents of every fenced block of `language`.
fn fenced_blocks(language: &str) -> Vec<String> {
    let opening = format!("```{language}");
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in PAGE.lines() {
        match current.as_mut() {
            None if line.trim_end() == opening => current = Some(String::new()),
            Some(block) if line.trim_end() == "```" => {
                blocks.push(std::mem::take(block));
                current = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None => {}
        }
    }
    blocks
}

/// The page's template documents, by id, with `kind` and `format` checked and removed as
/// the file loader does.
fn documented_templates() -> BTreeMap<String, Template> {
    let mut templates = BTreeMap::new();
    for block in fenced_blocks("yaml") {
        let document: Value = serde_norway::from_str(&block)
            .unwrap_or_else(|error| panic!("yaml block does not parse: {error}\n{block}"));
        if document.get("kind") != Some(&json!("template")) {
            continue;
        }
        assert_eq!(
            document.get("format"),
            Some(&json!(1)),
            "format of\n{block}"
        );
        let mut fields = map(document);
        fields.remove("kind");
        fields.remove("format");
        let template = parse_template(&Value::Object(fields))
            .unwrap_or_else(|error| panic!("template does not parse: {error}\n{block}"));
        templates.insert(template.id.clone(), template);
    }
    templates
}

/// Ada in New York, who abandoned the cart of the page's event at 2024-01-15T17:00:00Z.
fn ada_abandons_her_cart() -> RenderContext {
    RenderContext {
        customer: map(json!({
            "id": "ada-1",
            "email": "ada@example.com",
            "phone": "+15555550100",
            "first_name": "Ada",
            "timezone": "America/New_York",
        })),
        event: Some(EventContext {
            name: "cart_abandoned".into(),
            timestamp: Timestamp::from_millis(1_705_338_000_000),
            data: map(json!({
                "cart_value": 84,
                "currency": "EUR",
                "cart_url": "https://lumenskin.example/cart/7f3a",
                "items": [
                    {"name": "Glow Serum", "variant_id": "gs-30ml", "quantity": 1, "price": 54},
                    {"name": "Night Cream", "variant_id": "nc-50ml", "quantity": 2, "price": 15},
                ],
            })),
        }),
        trigger: map(json!({})),
        journey: map(
            json!({"id": "cart-recovery", "name": "Cart recovery", "step": "1", "message_id": "m1"}),
        ),
    }
}

fn render(templates: &BTreeMap<String, Template>, id: &str, context: &RenderContext) -> Rendered {
    let template = templates
        .get(id)
        .unwrap_or_else(|| panic!("the page has no template {id}"));
    template
        .render(context)
        .unwrap_or_else(|error| panic!("{id} does not render: {error}"))
}

#[test]
fn every_documented_template_parses_and_renders() {
    let templates = documented_templates();
    let ids: Vec<&str> = templates.keys().map(String::as_str).collect();
    assert_eq!(ids, ["cart-email", "cart-push", "cart-sms", "welcome-sms"]);
    let context = ada_abandons_her_cart();
    for id in ids {
        let rendered = render(&templates, id, &context);
        assert!(
            !rendered.body.trim().is_empty(),
            "{id} renders an empty body"
        );
    }
}

#[test]
fn the_cart_email_lists_every_item() {
    let templates = documented_templates();
    let email = render(&templates, "cart-email", &ada_abandons_her_cart());
    assert_eq!(email.subject.as_deref(), Some("Ada, your cart is waiting"));
    let expected_body = "Your cart, saved January 15 at 12:00 PM:\n\n\
                         - Glow Serum (gs-30ml) × 1: €54.00\n\
                         - Night Cream (nc-50ml) × 2: €15.00\n\n\
                         Total €84.00\n\n\
                         Pick up where you left off: https://lumenskin.example/cart/7f3a\n";
    assert_eq!(email.body, expected_body);
    let html = email.html.unwrap_or_default();
    assert!(
        html.contains("<li>Night Cream <small>(nc-50ml)</small> × 2: €15.00</li>"),
        "{html}"
    );
    assert!(
        html.contains("<a href=\"https://lumenskin.example/cart/7f3a\">"),
        "{html}"
    );
    assert!(
        PAGE.contains(expected_body.trim_end()),
        "the page shows the text part as rendered"
    );
}

#[test]
fn the_cart_sms_and_push() {
    let templates = documented_templates();
    let context = ada_abandons_her_cart();
    let sms = render(&templates, "cart-sms", &context);
    assert_eq!(
        sms.body,
        "Lumen: Ada, your 2 items (€84.00) are still in your cart: \
         https://lumenskin.example/cart/7f3a Reply STOP to opt out."
    );
    let push = render(&templates, "cart-push", &context);
    assert_eq!(push.title.as_deref(), Some("Ada, still thinking it over?"));
    assert_eq!(push.body, "Glow Serum and more are waiting in your cart.");
}

#[test]
fn without_a_cart_url_the_email_and_sms_fail_and_the_push_does_not() {
    let templates = documented_templates();
    let mut context = ada_abandons_her_cart();
    if let Some(event) = context.event.as_mut() {
        event.data.remove("cart_url");
    }
    for id in ["cart-email", "cart-sms"] {
        let error = templates[id].render(&context).expect_err("no cart url");
        assert_eq!(error.variable.as_deref(), Some("event.cart_url"), "{id}");
    }
    assert!(templates["cart-push"].render(&context).is_ok());
}

#[test]
fn the_cart_email_body_reads_what_the_page_lists() {
    let templates = documented_templates();
    let body: Vec<String> = templates["cart-email"]
        .variables()
        .into_iter()
        .filter(|variable| variable.part == "body")
        .map(|variable| variable.path)
        .collect();
    let expected = [
        "event_timestamp",
        "event.items",
        "event.items[].name",
        "event.items[].variant_id",
        "event.items[].quantity",
        "event.items[].price",
        "event.currency",
        "event.cart_value",
        "event.cart_url",
    ];
    assert_eq!(body, expected);
    let quoted: Vec<String> = expected.iter().map(|path| format!("`{path}`")).collect();
    let (last, others) = quoted.split_last().expect("paths");
    let listed = format!("{} and {last}", others.join(", "));
    let page_text = PAGE.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(page_text.contains(&listed), "the page lists {listed}");
    let subject = templates["cart-email"]
        .variables()
        .into_iter()
        .filter(|variable| variable.part == "subject")
        .count();
    assert_eq!(subject, 0);
}

/// Rows of the page's tables whose two cells are each one code span: Liquid and its output.
fn table_examples() -> Vec<(String, String)> {
    PAGE.lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.split(" | ").collect();
            let [liquid, output] = cells.as_slice() else {
                return None;
            };
            let liquid = liquid.strip_prefix("| `")?.strip_suffix('`')?;
            let output = output.strip_prefix('`')?.strip_suffix("` |")?;
            if !liquid.starts_with("{{") || output.contains('`') {
                return None;
            }
            Some((liquid.replace("\\|", "|"), output.to_owned()))
        })
        .collect()
}

#[test]
fn filter_examples_render_as_the_tables_say() {
    let examples = table_examples();
    assert!(examples.len() >= 8, "found only {examples:?}");
    let context = ada_abandons_her_cart();
    for (liquid, output) in examples {
        let rendered = render_body(&liquid, &context)
            .unwrap_or_else(|error| panic!("{liquid} does not render: {error}"));
        assert_eq!(rendered, output, "{liquid}");
    }
}
