//! Contract checks for reporting webhooks ([`ReportingWebhooks`](crate::ReportingWebhooks)):
//! endpoints are kept per workspace and start at their stream's head; a delivery's outcome,
//! retry or metric appends its report in the transaction that records it (and nothing when
//! the record is refused, or while no endpoint is enabled); cursors move only when fenced by
//! the cursor read, failures count per row, and rows every enabled endpoint has passed are
//! pruned; concurrent appends are numbered without gaps.

use std::sync::Barrier;

use serde_json::json;

use super::deliveries::{claim, enqueue, finish, queued_message, retry, sent};
use super::{at, cio_id, person, workspace};
use crate::{
    DeliveryMetric, MetricReport, NewReport, ReportingFailure, ReportingProgress, Store,
    StoredReport, WebhookSettings,
};
use nudge_core::WorkspaceId;

fn settings(name: &str, disabled: bool) -> WebhookSettings {
    WebhookSettings {
        name: name.into(),
        endpoint: format!("https://hooks.example.com/{name}"),
        events: vec!["email_sent".into(), "email_opened".into()],
        disabled,
        full_resolution: false,
        with_content: true,
    }
}

fn report(metric: &str, ms: i64) -> NewReport {
    NewReport {
        object_type: "customer".into(),
        metric: metric.into(),
        first: true,
        at: at(ms),
        data: json!({"customer_id": metric}),
    }
}

fn all_reports(store: &dyn Store, ws: WorkspaceId) -> Vec<StoredReport> {
    store.reports_after(ws, 0, 1000).expect("read the stream")
}

fn seqs(reports: &[StoredReport]) -> Vec<i64> {
    reports.iter().map(|r| r.seq).collect()
}

fn metrics(reports: &[StoredReport]) -> Vec<String> {
    reports.iter().map(|r| r.event_name()).collect()
}

fn progress(ws: WorkspaceId, id: i64, from: i64, to: i64) -> ReportingProgress {
    ReportingProgress {
        ws,
        id,
        from,
        to,
        failure: None,
        release: true,
    }
}

pub fn reporting_webhooks_are_kept_per_workspace_and_start_at_the_head(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let ember = workspace(store, "ember");
    let first = store
        .create_reporting_webhook(lumen, &settings("a", false), "key-a", at(100))
        .unwrap();
    assert_eq!(first.cursor, 0);
    assert_eq!(first.settings, settings("a", false));
    assert_eq!(first.signing_key, "key-a");
    assert_eq!((first.failures, first.next_attempt_at), (0, None));
    store
        .append_reports(
            lumen,
            &[report("subscribed", 1), report("unsubscribed", 2)],
            at(150),
        )
        .unwrap();
    let second = store
        .create_reporting_webhook(lumen, &settings("b", true), "key-b", at(200))
        .unwrap();
    assert_eq!(second.cursor, 2, "a new endpoint does not replay history");
    assert_eq!(
        store.reporting_webhooks(lumen).unwrap(),
        [first.clone(), second.clone()]
    );
    assert!(store.reporting_webhooks(ember).unwrap().is_empty());
    assert_eq!(store.reporting_webhook(ember, first.id).unwrap(), None);
    assert_eq!(
        store.reporting_webhook(lumen, first.id).unwrap(),
        Some(first.clone())
    );

    store
        .append_reports(lumen, &[report("subscribed", 3)], at(250))
        .unwrap();
    let mut enabled = settings("b2", false);
    enabled.events = vec!["customer_subscribed".into()];
    let updated = store
        .update_reporting_webhook(lumen, second.id, &enabled, at(300))
        .unwrap()
        .expect("the endpoint exists");
    assert_eq!(updated.settings, enabled);
    assert_eq!(updated.cursor, 3, "enabled again, it starts at the head");
    assert_eq!(updated.updated_at, at(300));
    assert_eq!(updated.created_at, at(200));
    let same = store
        .update_reporting_webhook(lumen, second.id, &enabled, at(400))
        .unwrap()
        .unwrap();
    assert_eq!(same.cursor, 3);
    assert_eq!(
        store
            .update_reporting_webhook(ember, second.id, &enabled, at(400))
            .unwrap(),
        None
    );
    // A lease still held when the endpoint is disabled ends when it is enabled again.
    store
        .append_reports(lumen, &[report("subscribed", 4)], at(450))
        .unwrap();
    assert!(store
        .claim_reporting_endpoint(lumen, second.id, 3, at(460), at(9999))
        .unwrap());
    let off = WebhookSettings {
        disabled: true,
        ..enabled.clone()
    };
    store
        .update_reporting_webhook(lumen, second.id, &off, at(470))
        .unwrap();
    store
        .update_reporting_webhook(lumen, second.id, &enabled, at(480))
        .unwrap();
    store
        .append_reports(lumen, &[report("subscribed", 5)], at(490))
        .unwrap();
    let pending = store.pending_reporting_endpoints().unwrap();
    let again = pending.iter().find(|p| p.id == second.id).unwrap();
    assert_eq!((again.cursor, again.head, again.lease_until), (4, 5, None));
    assert!(!store.delete_reporting_webhook(ember, first.id).unwrap());
    assert!(store.delete_reporting_webhook(lumen, first.id).unwrap());
    assert!(!store.delete_reporting_webhook(lumen, first.id).unwrap());
    assert_eq!(store.reporting_webhooks(lumen).unwrap().len(), 1);
}

pub fn ledger_changes_append_their_reports_in_their_transaction(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let quiet = workspace(store, "quiet");
    let ana = person(store, lumen, "ana");
    let bob = person(store, quiet, "bob");
    store
        .create_reporting_webhook(lumen, &settings("a", false), "k", at(1))
        .unwrap();
    store
        .create_reporting_webhook(quiet, &settings("off", true), "k", at(1))
        .unwrap();
    enqueue(
        store,
        lumen,
        &[queued_message("m-1", ana, "cart", "email", 5)],
    );
    enqueue(
        store,
        quiet,
        &[queued_message("q-1", bob, "cart", "email", 5)],
    );
    let metric = |ws, metric, ms| {
        store
            .record_delivery_metric(
                ws,
                &MetricReport {
                    delivery_id: "m-1".into(),
                    metric,
                    at: at(ms),
                    reason: None,
                },
            )
            .unwrap()
    };
    assert!(metric(lumen, DeliveryMetric::Opened, 50).is_some());
    assert!(
        all_reports(store, lumen).is_empty(),
        "an open delivery reports no metric"
    );

    let claimed = claim(store, 1000, 2000, 10);
    assert_eq!(claimed.len(), 2);
    let mine = claimed.iter().find(|d| d.ws == lumen).unwrap();
    let theirs = claimed.iter().find(|d| d.ws == quiet).unwrap();
    assert!(finish(store, mine, &retry(1500, "503 busy"), 1100));
    assert!(finish(store, theirs, &sent("p"), 1100));
    assert!(!finish(store, mine, &sent("late"), 1150), "the claim ended");
    let reports = all_reports(store, lumen);
    assert_eq!(
        metrics(&reports),
        ["email_attempted"],
        "nothing for a refused update"
    );
    assert_eq!(reports[0].report.data["failure_message"], "503 busy");
    assert_eq!(reports[0].appended_at, at(1100));
    assert!(
        all_reports(store, quiet).is_empty(),
        "nothing is appended while no endpoint is enabled"
    );

    let again = claim(store, 1500, 2500, 10);
    assert!(finish(store, &again[0], &sent("p-1"), 1600));
    assert!(metric(lumen, DeliveryMetric::Opened, 1700).is_some());
    assert!(metric(lumen, DeliveryMetric::Opened, 1800).is_some());
    assert!(metric(lumen, DeliveryMetric::Deferred, 1850).is_some());
    assert!(metric(lumen, DeliveryMetric::Bounced, 1900).is_some());
    let reports = all_reports(store, lumen);
    assert_eq!(
        metrics(&reports),
        [
            "email_attempted",
            "email_sent",
            "email_opened",
            "email_opened",
            "email_bounced"
        ]
    );
    assert_eq!(seqs(&reports), [1, 2, 3, 4, 5]);
    let sent_report = &reports[1].report;
    assert_eq!(sent_report.at, at(1600));
    assert_eq!(sent_report.data["delivery_id"], "m-1");
    assert_eq!(
        sent_report.data["customer_id"], "",
        "the fixture's person row has no id"
    );
    assert_eq!(
        sent_report.data["identifiers"],
        json!({"id": null, "email": null, "cio_id": cio_id(lumen, "ana")})
    );
    assert_eq!(sent_report.data["journey_id"], "cart");
    assert_eq!(sent_report.data["content"], "<p>message m-1</p>");
    assert_eq!(sent_report.data["subject"], "Your cart");
    assert_eq!(
        (reports[2].report.first, reports[3].report.first),
        (true, false),
        "only the first open is a first"
    );
    assert_eq!(reports[2].report.at, at(1700));
}

pub fn cursors_move_fenced_count_failures_and_prune_what_all_passed(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    let a = store
        .create_reporting_webhook(lumen, &settings("a", false), "k", at(1))
        .unwrap();
    let b = store
        .create_reporting_webhook(lumen, &settings("b", false), "k", at(1))
        .unwrap();
    let off = store
        .create_reporting_webhook(lumen, &settings("off", true), "k", at(1))
        .unwrap();
    let three = [
        report("subscribed", 1),
        report("unsubscribed", 2),
        report("subscribed", 3),
    ];
    assert_eq!(store.append_reports(lumen, &three, at(10)).unwrap(), 3);
    let mut pending = store.pending_reporting_endpoints().unwrap();
    pending.sort_by_key(|p| p.id);
    assert_eq!(
        pending
            .iter()
            .map(|p| (p.id, p.cursor, p.head))
            .collect::<Vec<_>>(),
        [(a.id, 0, 3), (b.id, 0, 3)],
        "enabled endpoints with rows after their cursor"
    );

    assert!(store
        .claim_reporting_endpoint(lumen, a.id, 0, at(20), at(80))
        .unwrap());
    assert!(
        !store
            .claim_reporting_endpoint(lumen, a.id, 0, at(30), at(90))
            .unwrap(),
        "held"
    );
    assert!(!store
        .claim_reporting_endpoint(lumen, off.id, 0, at(30), at(90))
        .unwrap());
    assert!(
        !store
            .claim_reporting_endpoint(lumen, b.id, 1, at(30), at(90))
            .unwrap(),
        "fenced"
    );
    let held = store.pending_reporting_endpoints().unwrap();
    let held = held.iter().find(|p| p.id == a.id).unwrap();
    assert_eq!(held.lease_until, Some(at(80)));
    assert_eq!(held.due_at(), at(80));

    let failing = ReportingProgress {
        failure: Some(ReportingFailure {
            error: "the endpoint answered 500".into(),
            retry_at: at(500),
        }),
        ..progress(lumen, a.id, 0, 1)
    };
    assert!(store.record_reporting_progress(&failing, at(40)).unwrap());
    let again = ReportingProgress {
        from: 1,
        ..failing.clone()
    };
    assert!(store.record_reporting_progress(&again, at(41)).unwrap());
    let a_now = store.reporting_webhook(lumen, a.id).unwrap().unwrap();
    assert_eq!((a_now.cursor, a_now.failures), (1, 2));
    assert_eq!(a_now.next_attempt_at, Some(at(500)));
    assert_eq!(
        a_now.last_error.as_deref(),
        Some("the endpoint answered 500")
    );
    assert!(
        !store.record_reporting_progress(&failing, at(42)).unwrap(),
        "fenced by the cursor"
    );
    assert!(
        store
            .claim_reporting_endpoint(lumen, a.id, 1, at(43), at(90))
            .unwrap(),
        "a released endpoint is taken again"
    );
    assert_eq!(
        seqs(&all_reports(store, lumen)),
        [1, 2, 3],
        "b has passed nothing"
    );

    assert!(store
        .record_reporting_progress(&progress(lumen, b.id, 0, 2), at(50))
        .unwrap());
    assert_eq!(
        seqs(&all_reports(store, lumen)),
        [2, 3],
        "everyone passed row 1"
    );
    assert!(store
        .record_reporting_progress(&progress(lumen, a.id, 1, 3), at(60))
        .unwrap());
    let a_now = store.reporting_webhook(lumen, a.id).unwrap().unwrap();
    assert_eq!(
        (a_now.cursor, a_now.failures, a_now.next_attempt_at),
        (3, 0, None)
    );
    assert_eq!(a_now.last_error, None);
    assert_eq!(seqs(&all_reports(store, lumen)), [3]);
    assert_eq!(
        store.reports_after(lumen, 2, 10).unwrap()[0].report,
        report("subscribed", 3)
    );
    assert_eq!(store.last_report_appended_by(lumen, 2, at(10)).unwrap(), 3);
    assert_eq!(store.last_report_appended_by(lumen, 2, at(9)).unwrap(), 2);
    let pending = store.pending_reporting_endpoints().unwrap();
    assert_eq!(pending.iter().map(|p| p.id).collect::<Vec<_>>(), [b.id]);

    assert!(store.delete_reporting_webhook(lumen, b.id).unwrap());
    assert!(all_reports(store, lumen).is_empty(), "only b held row 3");
    assert!(store.pending_reporting_endpoints().unwrap().is_empty());
}

pub fn concurrent_appends_are_numbered_without_gaps(store: &dyn Store) {
    let lumen = workspace(store, "lumen");
    store
        .create_reporting_webhook(lumen, &settings("a", false), "k", at(1))
        .unwrap();
    const WRITERS: usize = 4;
    const EACH: usize = 10;
    let barrier = Barrier::new(WRITERS);
    std::thread::scope(|scope| {
        for writer in 0..WRITERS {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                for n in 0..EACH {
                    let pair = [
                        report("subscribed", (writer * 100 + n) as i64),
                        report("unsubscribed", (writer * 100 + n) as i64),
                    ];
                    store.append_reports(lumen, &pair, at(5)).unwrap();
                }
            });
        }
    });
    let reports = all_reports(store, lumen);
    assert_eq!(
        seqs(&reports),
        (1..=(WRITERS * EACH * 2) as i64).collect::<Vec<_>>()
    );
    for pair in reports.chunks(2) {
        assert_eq!(
            pair[0].report.at, pair[1].report.at,
            "one append's rows stay together"
        );
        assert_eq!(
            metrics(pair),
            ["customer_subscribed", "customer_unsubscribed"]
        );
    }
}
