//! The filters Nudge adds: `money` and `local_date` (in the person's time zone).

mod support;

use nudge_templates::RenderContext;
use serde_json::json;
use support::{cart_context, map, render_body};

fn check(body: &str, context: &RenderContext, expected: &str) {
    match render_body(body, context) {
        Ok(rendered) => assert_eq!(rendered, expected, "rendering {body:?}"),
        Err(error) => panic!("{body:?} should render, failed with {error}"),
    }
}

fn check_fails(body: &str, context: &RenderContext, message_part: &str) {
    match render_body(body, context) {
        Ok(rendered) => panic!("{body:?} should fail, rendered {rendered:?}"),
        Err(error) => {
            assert_eq!(error.variable, None);
            assert!(
                error.message.contains(message_part),
                "{:?} should mention {message_part:?}",
                error.message
            );
        }
    }
}

fn person_in(timezone: Option<&str>) -> RenderContext {
    let customer = match timezone {
        Some(zone) => map(json!({"id": "1", "timezone": zone})),
        None => map(json!({"id": "1"})),
    };
    RenderContext {
        customer,
        ..RenderContext::default()
    }
}

#[test]
fn money_in_dollars_by_default() {
    let context = cart_context();
    check("{{ 84 | money }}", &context, "$84.00");
    check("{{ event.cart_value | money }}", &context, "$84.00");
    check("{{ 19.5 | money }}", &context, "$19.50");
    check("{{ 0.125 | money }}", &context, "$0.13");
    check("{{ 1234567.891 | money }}", &context, "$1234567.89");
    check("{{ -0.001 | money }}", &context, "$0.00");
    check("{{ -5 | money }}", &context, "-$5.00");
    check("{{ '12.3' | money }}", &context, "$12.30");
}

#[test]
fn money_with_a_currency_code() {
    let context = cart_context();
    check("{{ 84 | money: 'EUR' }}", &context, "€84.00");
    check("{{ 84 | money: \"GBP\" }}", &context, "£84.00");
    check("{{ 84 | money: 'usd' }}", &context, "$84.00");
    check("{{ 84 | money: 'XYZ' }}", &context, "84.00 XYZ");
    check("{{ 84 | money: event.currency }}", &context, "€84.00");
}

#[test]
fn money_refuses_what_is_not_an_amount() {
    let context = cart_context();
    check_fails("{{ 'lots' | money }}", &context, "money expects a number");
    check_fails("{{ customer | money }}", &context, "money expects a number");
    check_fails("{{ 84 | money: 'EURO' }}", &context, "three-letter");
}

#[test]
fn local_date_in_new_york_winter_and_summer() {
    let new_york = person_in(Some("America/New_York"));
    // 2024-01-15T17:00:00Z is noon EST (UTC-5); 2024-07-15T17:00:00Z is 1 pm EDT (UTC-4).
    check(
        "{{ 1705338000 | local_date: '%Y-%m-%d %H:%M %Z' }}",
        &new_york,
        "2024-01-15 12:00 EST",
    );
    check(
        "{{ 1721062800 | local_date: '%Y-%m-%d %H:%M %Z' }}",
        &new_york,
        "2024-07-15 13:00 EDT",
    );
    check(
        "{{ '2024-01-15T17:00:00Z' | local_date: '%B %-d, %-I:%M %p' }}",
        &new_york,
        "January 15, 12:00 PM",
    );
    check(
        "{{ '2024-07-15T19:00:00+02:00' | local_date: '%H:%M' }}",
        &new_york,
        "13:00",
    );
}

#[test]
fn local_date_falls_back_to_utc() {
    for context in [
        person_in(Some("Mars/Olympus_Mons")),
        person_in(None),
        person_in(Some("")),
    ] {
        check(
            "{{ 1705338000 | local_date: '%Y-%m-%d %H:%M' }}",
            &context,
            "2024-01-15 17:00",
        );
    }
    let numeric_zone = RenderContext {
        customer: map(json!({"timezone": 5})),
        ..RenderContext::default()
    };
    check(
        "{{ 1721062800 | local_date: '%H:%M' }}",
        &numeric_zone,
        "17:00",
    );
}

#[test]
fn local_date_reads_the_zone_of_each_render() {
    let template = support::sms("{{ 1705338000 | local_date: '%H:%M' }}");
    let tokyo = template
        .render(&person_in(Some("Asia/Tokyo")))
        .map(|r| r.body);
    let london = template
        .render(&person_in(Some("Europe/London")))
        .map(|r| r.body);
    assert_eq!(tokyo.ok().as_deref(), Some("02:00"));
    assert_eq!(london.ok().as_deref(), Some("17:00"));
}

#[test]
fn local_date_on_event_timestamps() {
    check(
        "{{ event_timestamp | local_date: '%A %-d %B' }}",
        &cart_context(),
        "Monday 15 January",
    );
}

#[test]
fn local_date_refuses_milliseconds_and_garbage() {
    let context = person_in(Some("America/New_York"));
    check_fails(
        "{{ 1705338000000 | local_date: '%Y' }}",
        &context,
        "milliseconds",
    );
    check_fails(
        "{{ 'yesterday' | local_date: '%Y' }}",
        &context,
        "unix seconds or an RFC 3339",
    );
    check_fails(
        "{{ 1705338000 | local_date: '%Q' }}",
        &context,
        "invalid strftime",
    );
}
