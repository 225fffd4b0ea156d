//! The D2C brand's acceptance stories through the journey simulator: every scenario in
//! `examples/d2c/scenarios/` (the numbered cart stories and the replenishment journey's)
//! runs against the brand's whole configuration (`examples/d2c/definitions`) and its journey
//! timeline must equal the story's expected timeline line for line (segment transitions are
//! left out: they belong to the segments' own tests). One story also runs through the real
//! `nudge simulate` binary.

use std::path::{Path, PathBuf};
use std::process::Command;

use nudge::simulate::{scenario, simulate};
use serde_json::Value;

fn example(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/d2c")
        .join(path)
}

/// The kinds a story's expected timeline lists.
fn is_journey_line(line: &Value) -> bool {
    !line["kind"]
        .as_str()
        .is_some_and(|k| k.starts_with("segment_"))
}

/// `scenario` is a file name in `examples/d2c/scenarios` without `.ndjson`.
fn expected(scenario: &str) -> Vec<Value> {
    let path = example(&format!("scenarios/{scenario}.expected.ndjson"));
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("expected lines are JSON"))
        .collect()
}

fn simulated(scenario: &str) -> Vec<Value> {
    let path = example(&format!("scenarios/{scenario}.ndjson"));
    let lines = scenario::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
    simulate(&example("definitions"), &lines, None)
        .unwrap()
        .iter()
        .map(|e| e.to_json())
        .filter(is_journey_line)
        .collect()
}

fn check(scenario: &str) {
    let (want, got) = (expected(scenario), simulated(scenario));
    let show = |lines: &[Value]| {
        lines
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        got,
        want,
        "{scenario}\n--- simulated:\n{}\n--- expected:\n{}",
        show(&got),
        show(&want)
    );
}

/// One test per scenario, and the list of them all (which must be the directory's).
macro_rules! scenarios {
    ($($test:ident => $scenario:literal),* $(,)?) => {
        $(
            #[test]
            fn $test() {
                check($scenario);
            }
        )*
        const SCENARIOS: &[&str] = &[$($scenario),*];
    };
}

scenarios! {
    story_1_an_abandoned_cart_gets_an_sms_and_an_email => "story-1-abandoned",
    story_2_an_order_before_the_sms_ends_the_journey_with_no_message =>
        "story-2-ordered-before-sms",
    story_3_an_order_after_the_sms_converts_and_stops_the_email => "story-3-ordered-after-sms",
    story_4_a_small_cart_never_enters => "story-4-small-cart",
    story_5_cart_changes_restart_one_journey_with_the_latest_cart => "story-5-cart-changes",
    story_6_no_sms_consent_skips_the_sms_only => "story-6-no-sms-consent",
    story_7_a_guest_cart_follows_her_when_she_identifies => "story-7-guest-then-known",
    story_8_an_unsubscribed_customer_gets_nothing_and_the_reasons_are_recorded =>
        "story-8-unsubscribed",
    replenishment_the_reminder_goes_out_when_the_supply_runs_out => "replenishment-runs-out",
    replenishment_a_reorder_cancels_the_reminder_and_starts_its_own =>
        "replenishment-reordered",
}

#[test]
fn every_scenario_has_an_expected_timeline_and_a_test() {
    let dir = example("scenarios");
    let mut stories: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".ndjson") && !n.ends_with(".expected.ndjson"))
        .collect();
    stories.sort();
    let mut listed: Vec<String> = SCENARIOS.iter().map(|s| format!("{s}.ndjson")).collect();
    listed.sort();
    assert_eq!(
        stories, listed,
        "every scenario file has its test, and no more"
    );
    for story in stories {
        let expected = story.replace(".ndjson", ".expected.ndjson");
        assert!(dir.join(&expected).is_file(), "{expected} is missing");
    }
}

#[test]
fn the_binary_prints_the_same_timeline() {
    let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .args(["simulate", "--json", "--config"])
        .arg(example("definitions"))
        .arg("--scenario")
        .arg(example("scenarios/story-3-ordered-after-sms.ndjson"))
        .arg("--until")
        .arg("2026-03-03T00:00:00Z")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(is_journey_line)
        .collect();
    let until_midnight: Vec<Value> = expected("story-3-ordered-after-sms")
        .into_iter()
        .filter(|l| l["at"].as_str().is_some_and(|at| at < "2026-03-03"))
        .collect();
    assert_eq!(printed, until_midnight);
    assert_eq!(
        printed.len(),
        5,
        "entered, sms, converted, exited, cross-sell entered"
    );
}

#[test]
fn a_scenario_line_the_api_refuses_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ndjson");
    std::fs::write(
        &path,
        "{\"type\":\"identify\",\"userId\":\"c-1\",\"timestamp\":\"2026-03-02T09:00:00Z\"}\n\
         {\"type\":\"track\",\"userId\":\"c-1\",\"timestamp\":\"2026-03-02T09:01:00Z\"}\n",
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_nudge"))
        .args(["simulate", "--config"])
        .arg(example("definitions"))
        .arg("--scenario")
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("line 2"), "{stderr}");
    assert!(
        stderr.contains("event"),
        "names the missing field: {stderr}"
    );
}
