//! Complaint numbers under the counter faults fault injection found (issue 13 item 4): the
//! counter's stream purged, its key deleted, an unparsable or an old value written over it,
//! its stream deleted. Whatever happens to the counter, no number is handed out twice with a
//! 201: a broken counter answers 503, `/readyz` says so, and a metric counts it.

use std::collections::BTreeSet;

use async_nats::jetstream::kv;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, TestEventLog};

/// The current year in Malaysia (UTC+8), as complaint numbers use.
fn year_now() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).year()
}

fn counter_key() -> String {
    format!("year-{}", year_now())
}

/// Every number handed out with a 201, to check that none came twice.
#[derive(Default)]
struct Handed(Vec<String>);

impl Handed {
    /// Files a complaint; returns the status, keeping the number of a 201.
    async fn file(&mut self, app: &CommandApp) -> u16 {
        let reply = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Nombor aduan diuji")).await;
        match reply.status {
            201 => self.0.push(reply.body["complaint_number"].as_str().unwrap().to_owned()),
            503 => assert!(reply.headers.contains_key("retry-after"), "{reply:?}"),
            _ => panic!("neither 201 nor 503: {reply:?}"),
        }
        reply.status
    }

    #[track_caller]
    fn assert_unique(&self) {
        let unique: BTreeSet<&String> = self.0.iter().collect();
        assert_eq!(unique.len(), self.0.len(), "a number was handed out twice: {:?}", self.0);
    }
}

async fn bucket(log: &TestEventLog) -> kv::Store {
    log.jetstream().await.get_key_value(log.config.numbers_bucket()).await.unwrap()
}

async fn readiness(app: &CommandApp) -> (u16, serde_json::Value) {
    let reply = app.get("/readyz", &ADMIN).await;
    (reply.status, reply.body)
}

/// Files three complaints on a healthy counter.
async fn three_filed(log: &TestEventLog) -> (CommandApp, Handed) {
    let app = CommandApp::spawn(&log.config).await;
    let mut handed = Handed::default();
    for _ in 0..3 {
        assert_eq!(handed.file(&app).await, 201);
    }
    assert_eq!(handed.0.last().unwrap(), &format!("ADU-{}-000003", year_now()));
    assert_eq!(readiness(&app).await.0, 200);
    (app, handed)
}

/// A broken counter: complaints are refused with 503 and readiness says not ready.
async fn assert_refused_while_broken(app: &CommandApp, handed: &mut Handed) {
    for _ in 0..2 {
        assert_eq!(handed.file(app).await, 503, "a broken counter must not hand out numbers");
    }
    let (status, body) = readiness(app).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["complaint_numbers"].as_str().is_some_and(|s| s != "ok"), "{body}");
    handed.assert_unique();
}

/// The operator's repair brings the counter to the highest number in the log.
async fn repair_and_resume(log: &TestEventLog, app: &CommandApp, handed: &mut Handed) {
    let js = log.jetstream().await;
    let report = ehelpdesk_command::numbers::repair::repair(&js, &log.config).await.unwrap();
    assert_eq!(report.counters.get(&year_now()), Some(&3), "{report:?}");
    assert_eq!(readiness(app).await.0, 200);
    assert_eq!(handed.file(app).await, 201);
    assert_eq!(handed.0.last().unwrap(), &format!("ADU-{}-000004", year_now()));
    handed.assert_unique();
}

#[tokio::test]
async fn the_counter_cannot_be_purged() {
    let log = TestEventLog::new();
    let (app, mut handed) = three_filed(&log).await;
    let js = log.jetstream().await;
    let mut stream = js.get_stream(format!("KV_{}", log.config.numbers_bucket())).await.unwrap();
    assert!(stream.purge().await.is_err(), "purging the counter's stream is refused");
    assert!(bucket(&log).await.purge(counter_key()).await.is_err(), "purging the key (a roll-up) is refused");
    assert!(stream.info().await.unwrap().config.deny_purge);
    assert_eq!(handed.file(&app).await, 201);
    handed.assert_unique();
}

#[tokio::test]
async fn a_deleted_key_is_a_hard_error_not_zero() {
    let log = TestEventLog::new();
    let (app, mut handed) = three_filed(&log).await;
    bucket(&log).await.delete(counter_key()).await.unwrap();
    assert_refused_while_broken(&app, &mut handed).await;
    let metrics = app.http.get(app.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(
        metrics.lines().any(|l| l.starts_with("ehelpdesk_complaint_number_faults_total{fault=\"deleted\"}")),
        "{metrics}"
    );
    repair_and_resume(&log, &app, &mut handed).await;
}

#[tokio::test]
async fn an_unparsable_value_is_a_hard_error() {
    let log = TestEventLog::new();
    let (app, mut handed) = three_filed(&log).await;
    bucket(&log).await.put(counter_key(), "tiga".into()).await.unwrap();
    assert_refused_while_broken(&app, &mut handed).await;
    repair_and_resume(&log, &app, &mut handed).await;
}

#[tokio::test]
async fn an_old_value_restored_hands_out_no_duplicate() {
    let log = TestEventLog::new();
    let (app, mut handed) = three_filed(&log).await;
    bucket(&log).await.put(counter_key(), "1".into()).await.unwrap();
    assert_refused_while_broken(&app, &mut handed).await;
    repair_and_resume(&log, &app, &mut handed).await;
}

#[tokio::test]
async fn a_deleted_bucket_stream_hands_out_no_duplicate_before_or_after_a_restart() {
    let log = TestEventLog::new();
    let (app, mut handed) = three_filed(&log).await;
    let js = log.jetstream().await;
    js.delete_stream(format!("KV_{}", log.config.numbers_bucket())).await.unwrap();
    assert_refused_while_broken(&app, &mut handed).await;
    app.stop().await;
    // A restart sets the bucket up again, empty: a missing key while the log has numbers.
    let app = CommandApp::spawn(&log.config).await;
    assert_refused_while_broken(&app, &mut handed).await;
    repair_and_resume(&log, &app, &mut handed).await;
}

#[tokio::test]
async fn racing_instances_never_share_a_number() {
    let log = TestEventLog::new();
    let (first, mut handed) = three_filed(&log).await;
    let second = CommandApp::spawn(&log.config).await;
    let file = |app: &CommandApp| {
        let request = app.http.post(app.url("/v1/complaints")).json(&complaint("AC", "Aduan serentak"));
        COMPLAINANT.headers(request).send()
    };
    let replies = futures::future::join_all((0..40).map(|i| file(if i % 2 == 0 { &first } else { &second }))).await;
    for reply in replies {
        let reply = ehelpdesk_tests::Reply::from(reply.unwrap()).await;
        handed.0.push(reply.assert_ok(201)["complaint_number"].as_str().unwrap().to_owned());
    }
    handed.assert_unique();
    assert_eq!(handed.0.len(), 43);
}
