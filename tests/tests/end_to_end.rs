//! Both services as real processes (the built binaries, on free ports, with their own stream
//! and database), driven over HTTP through the whole flow of domain.md.
//!
//! Needs the binaries built first (`cargo build --bins`; `make test` does it).

use std::time::Duration;

use ehelpdesk_tests::demo::Demo;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::process::Service;
use ehelpdesk_tests::{Reply, TestDatabase, TestEventLog, service_env};

#[tokio::test]
async fn the_whole_flow_through_both_services_as_processes() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = service_env(&log, &db);
    let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    command.wait_ready().await;
    let mut projection = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
    projection.wait_ready().await;

    let outcome = Demo::new(&command.url, &projection.url).run().await.expect("the demo flow succeeds");
    assert!(outcome.transcript.contains("Inbox Helpdesk [1]"), "{}", outcome.transcript);

    let http = reqwest::Client::new();
    let get = |who: &Person, path: String| {
        let request = who.headers(http.get(format!("{}{path}", projection.url)));
        async move { Reply::from(request.send().await.expect("query")).await }
    };
    // The read models.
    let detail =
        get(&ADMIN, format!("/v1/complaints/{}?min_seq={}", outcome.closed_complaint, outcome.last_sequence)).await;
    let detail = detail.assert_ok(200).clone();
    assert_eq!(detail["status_label_ms"], "SELESAI");
    assert_eq!(detail["complaint"]["vendor"], "TTSB");
    let steps: Vec<&str> =
        detail["timeline"].as_array().unwrap().iter().map(|t| t["event_type"].as_str().unwrap()).collect();
    assert_eq!(steps, WHOLE_FLOW_EVENTS);
    let public = get(&COMPLAINANT, format!("/v1/complaints/{}", outcome.closed_complaint)).await;
    assert_eq!(
        public.assert_ok(200)["timeline"].as_array().unwrap().len(),
        8,
        "no referral or internal note for the complainant"
    );
    let inbox = get(&PIC, "/v1/inbox".into()).await;
    let inbox = inbox.assert_ok(200);
    assert_eq!(inbox["badge"], 1);
    assert_eq!(inbox["items"][0]["complaint_id"], outcome.open_complaint.as_str());

    // Every notification written is published once to NOTIFY.
    let mut pending = usize::MAX;
    for _ in 0..100 {
        let rows = get(&ADMIN, "/v1/outbox?pending=true".into()).await;
        pending = rows.assert_ok(200).as_array().unwrap().len();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(pending, 0);
    let all = get(&ADMIN, "/v1/outbox?limit=200".into()).await;
    let written = all.assert_ok(200).as_array().unwrap().len() as u64;
    // Two acknowledgements, two assignments, feedback requested, reply, referral,
    // escalation, please-close, closure: ten notifications, each by e-mail and WhatsApp.
    assert_eq!(written, 2 * 10);
    let js = log.jetstream().await;
    let mut notify = js.get_stream(log.notify().0).await.expect("NOTIFY stream");
    assert_eq!(notify.info().await.unwrap().state.messages, written);
    // And the log holds every event once: 3 staff, 10 for the closed complaint, 2 for the open one.
    assert_eq!(log.event_count().await, 3 + 10 + 2);

    assert!(projection.terminate().await.success(), "graceful shutdown");
    assert!(command.terminate().await.success(), "graceful shutdown");
}
