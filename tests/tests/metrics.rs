//! Prometheus metrics and request ids on both services, scraped after real traffic.

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::json;

async fn scrape(http: &reqwest::Client, url: String) -> String {
    let response = http.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    response.text().await.unwrap()
}

/// The value of the sample whose line starts with `prefix`.
fn sample(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no sample {prefix} in:\n{text}"))
}

#[tokio::test]
async fn metrics_and_request_ids_after_a_flow() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    projection.caught_up(&log).await;
    let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan untuk metrik")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let request_id = filed.headers["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(request_id.len(), 36, "a UUID per request: {request_id}");
    let assigned = command.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await;
    let seq = assigned.assert_ok(200)["stream_sequence"].as_u64().unwrap();
    command
        .post(&format!("/v1/complaints/{id}/replies"), &OTHER_COMPLAINANT, &json!({"message": "x"}))
        .await
        .assert_problem(404, "complaint_not_found");
    // A client's own request id is kept.
    let mine = PIC
        .headers(projection.http.get(projection.url(&format!("/v1/inbox?min_seq={seq}"))))
        .header("x-request-id", "req-from-client-1");
    let reply = mine.send().await.unwrap();
    assert_eq!(reply.headers()["x-request-id"], "req-from-client-1");

    let text = scrape(&command.http, command.admin_url("/metrics")).await;
    assert_eq!(sample(&text, r#"http_requests_total{method="POST",route="/v1/complaints",status="201"}"#), 1.0);
    assert_eq!(
        sample(&text, r#"http_requests_total{method="POST",route="/v1/complaints/{id}/replies",status="404"}"#),
        1.0
    );
    assert_eq!(sample(&text, r#"ehelpdesk_commands_total{command="log",outcome="ok"}"#), 1.0);
    assert_eq!(sample(&text, r#"ehelpdesk_commands_total{command="reply",outcome="refused"}"#), 1.0);
    assert_eq!(sample(&text, "ehelpdesk_append_duration_seconds_count"), 3.0, "staff, log, assign");
    assert!(sample(&text, r#"http_request_duration_seconds_count{method="POST",route="/v1/complaints"}"#) >= 1.0);

    let mut published = 0.0;
    for _ in 0..100 {
        let text = scrape(&projection.http, projection.admin_url("/metrics")).await;
        published = sample(&text, "ehelpdesk_outbox_published_total");
        if published >= 4.0 {
            assert_eq!(sample(&text, "ehelpdesk_projection_events_applied_total"), 3.0);
            assert!(sample(&text, "ehelpdesk_projection_batch_size_count") >= 1.0);
            assert_eq!(sample(&text, "ehelpdesk_projection_lag_events"), 0.0);
            assert!(sample(&text, "ehelpdesk_projection_lag_seconds") >= 0.0);
            assert_eq!(sample(&text, "ehelpdesk_rebuild_applied_events"), 0.0, "no rebuild running");
            assert_eq!(sample(&text, r#"http_requests_total{method="GET",route="/v1/inbox",status="200"}"#), 1.0);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(published, 4.0, "acknowledgement and assignment, by e-mail and WhatsApp");
}

/// Distinct values of `label` on the lines of `metric`.
fn label_values(text: &str, metric: &str, label: &str) -> std::collections::BTreeSet<String> {
    let key = format!("{label}=\"");
    text.lines()
        .filter(|l| l.starts_with(&format!("{metric}{{")))
        .filter_map(|l| l.split(&key).nth(1).and_then(|rest| rest.split('"').next()).map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn invented_methods_leave_the_labels_bounded_and_metrics_are_only_on_the_admin_address() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    for app in [&*command, &*projection] {
        for n in 0..200 {
            let method = reqwest::Method::from_bytes(format!("INVENTED{n}{}", "X".repeat(4096)).as_bytes()).unwrap();
            let path = if n % 2 == 0 { "/healthz" } else { "/no/such/page" };
            app.http.request(method, app.url(path)).send().await.unwrap();
        }
        let public = ehelpdesk_tests::Reply::from(app.http.get(app.url("/metrics")).send().await.unwrap()).await;
        public.assert_problem(404, "not_found");
        let text = scrape(&app.http, app.admin_url("/metrics")).await;
        let methods = label_values(&text, "http_requests_total", "method");
        let known = ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "other"];
        assert!(methods.iter().all(|m| known.contains(&m.as_str())), "{methods:?}");
        assert!(methods.contains("other"), "{methods:?}");
        let routes = label_values(&text, "http_requests_total", "route");
        assert!(routes.iter().all(|r| r == "unmatched" || r.starts_with('/')), "{routes:?}");
        assert!(!routes.iter().any(|r| r.contains("no/such")), "raw paths are not routes: {routes:?}");
        assert!(text.len() < 64 * 1024, "{} bytes of metrics after 200 invented methods", text.len());
    }
}
