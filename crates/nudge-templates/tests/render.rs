//! Rendering: every variable group, the strict-undefined rule (top level, nested, inside a
//! loop, in comparisons) and `default`.

mod support;

use nudge_templates::{parse_template, RenderContext, RenderError};
use serde_json::json;
use support::{cart_context, render_body};

fn check(body: &str, expected: &str) {
    match render_body(body, &cart_context()) {
        Ok(rendered) => assert_eq!(rendered, expected, "rendering {body:?}"),
        Err(error) => panic!("{body:?} should render, failed with {error}"),
    }
}

fn check_undefined(body: &str, variable: &str) {
    match render_body(body, &cart_context()) {
        Ok(rendered) => panic!("{body:?} should fail on {variable}, rendered {rendered:?}"),
        Err(RenderError {
            part,
            variable: reported,
            message,
        }) => {
            assert_eq!(part, "body");
            assert_eq!(reported.as_deref(), Some(variable), "variable for {body:?}");
            assert!(
                message.contains(variable),
                "message {message:?} names {variable}"
            );
        }
    }
}

#[test]
fn customer_variables() {
    check(
        "{{ customer.first_name }} {{ customer.id }} {{ customer.email }} {{ customer.phone }}",
        "Ada cus_42 ada@example.com +15551234567",
    );
}

#[test]
fn event_variables() {
    check(
        "{{ event_name }} at {{ event_timestamp }}: {{ event.cart_value }} via {{ event.cart_url }}",
        "cart_abandoned at 1705338000: 84 via https://shop.example.com/cart/abc",
    );
}

#[test]
fn trigger_and_journey_variables() {
    check(
        "{{ trigger.coupon }} {{ journey.id }}/{{ journey.name }}/{{ journey.step }}/{{ journey.message_id }}",
        "WELCOME10 cart-recovery/Cart recovery/email-1/msg_7",
    );
}

#[test]
fn loops_over_event_arrays() {
    check(
        "{% for item in event.items %}{{ forloop.index }}. {{ item.name }} ({{ item.variant_id }}) x{{ item.quantity }}\n{% endfor %}",
        "1. Glow Serum (gs-30ml) x1\n2. Night Cream (nc-50ml) x2\n",
    );
}

#[test]
fn undefined_top_level_variables_fail() {
    check_undefined("Hi {{ first_name }}", "first_name");
}

#[test]
fn undefined_nested_variables_fail() {
    check_undefined("Hi {{ customer.last_name }}", "customer.last_name");
    check_undefined("{{ event.items[5].name }}", "event.items[5]");
    check_undefined("{{ journey.campaign }}", "journey.campaign");
}

#[test]
fn null_values_count_as_undefined() {
    check_undefined("Hi {{ customer.nickname }}", "customer.nickname");
    check(
        "Hi {{ customer.nickname | default: customer.first_name }}",
        "Hi Ada",
    );
}

#[test]
fn undefined_members_inside_loops_fail_naming_the_collection() {
    check_undefined(
        "{% for item in event.items %}{{ item.name }}: {{ item.color }}{% endfor %}",
        "event.items[].color",
    );
    check_undefined("{% for item in event.lines %}x{% endfor %}", "event.lines");
}

#[test]
fn comparisons_on_undefined_values_fail_but_existence_tests_do_not() {
    check_undefined(
        "{% if customer.vip == true %}VIP{% endif %}",
        "customer.vip",
    );
    check(
        "{% if customer.vip %}VIP{% else %}regular{% endif %}{% unless customer.vip %}!{% endunless %}",
        "regular!",
    );
}

#[test]
fn default_covers_undefined_values() {
    check("Hi {{ customer.last_name | default: 'there' }}", "Hi there");
    check("Hi {{ missing | default: \"friend\" }}", "Hi friend");
    check("{{ customer.title | upcase | default: 'X' }}", "X");
    check("{{ customer.first_name | default: 'there' }}", "Ada");
    check(
        "{% for item in event.items %}{{ item.color | default: 'any' }} {% endfor %}",
        "any any ",
    );
    check(
        "{% assign name = customer.nick | default: customer.first_name %}{{ name }}",
        "Ada",
    );
}

#[test]
fn default_arguments_are_still_strict() {
    check_undefined(
        "{{ customer.last_name | default: customer.surname }}",
        "customer.surname",
    );
}

#[test]
fn a_default_elsewhere_does_not_excuse_other_reads() {
    check_undefined(
        "{{ customer.last_name | default: 'x' }} {{ customer.last_name }}",
        "customer.last_name",
    );
}

#[test]
fn defaults_inside_raw_blocks_stay_literal() {
    check(
        "{% raw %}{{ x | default: 'y' }}{% endraw %}",
        "{{ x | default: 'y' }}",
    );
}

#[test]
fn event_variables_are_undefined_without_an_event() {
    let context = RenderContext {
        event: None,
        ..cart_context()
    };
    let error = render_body("{{ event_name }}", &context).err();
    assert_eq!(
        error.and_then(|e| e.variable).as_deref(),
        Some("event_name")
    );
    let error = render_body("{{ event.cart_value }}", &context).err();
    assert_eq!(error.and_then(|e| e.variable).as_deref(), Some("event"));
}

#[test]
fn every_part_of_an_email_is_rendered() {
    let template = parse_template(&json!({
        "id": "cart-email",
        "channel": "email",
        "subject": "{{ customer.first_name }}, your cart",
        "body": "Total {{ event.cart_value }}",
        "html": "<p>Total {{ event.cart_value }}</p>",
    }))
    .expect("valid template");
    let rendered = template.render(&cart_context()).expect("renders");
    assert_eq!(rendered.subject.as_deref(), Some("Ada, your cart"));
    assert_eq!(rendered.body, "Total 84");
    assert_eq!(rendered.html.as_deref(), Some("<p>Total 84</p>"));
    assert_eq!(rendered.title, None);
}

#[test]
fn a_failing_part_is_named() {
    let template = parse_template(&json!({
        "id": "p",
        "channel": "push",
        "title": "{{ customer.first_name }}",
        "body": "{{ customer.surname }}",
    }))
    .expect("valid template");
    let error = template.render(&cart_context()).expect_err("body fails");
    assert_eq!(error.part, "body");
    assert_eq!(error.variable.as_deref(), Some("customer.surname"));
    assert!(error.to_string().starts_with("body: "));
}

#[test]
fn push_titles_are_rendered() {
    let template = parse_template(&json!({
        "id": "p",
        "channel": "push",
        "title": "{{ customer.first_name }}, still thinking?",
        "body": "{{ event.items.size }} items",
    }))
    .expect("valid template");
    let rendered = template.render(&cart_context()).expect("renders");
    assert_eq!(rendered.title.as_deref(), Some("Ada, still thinking?"));
    assert_eq!(rendered.body, "2 items");
    assert_eq!(rendered.subject, None);
}

#[test]
fn templates_can_be_shared_across_threads() {
    fn shareable<T: Send + Sync + Clone>() {}
    shareable::<nudge_templates::Template>();
    shareable::<RenderContext>();
}
