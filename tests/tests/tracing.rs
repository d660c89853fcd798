//! W3C trace context crosses NATS: one command's trace id is on the projection's span for
//! its event and on the relay's spans for its notifications. In-memory span exporter.

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use opentelemetry::trace::TraceId;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.as_str().into_owned())
}

#[tokio::test]
async fn one_commands_trace_continues_in_the_projection_and_the_relay() {
    let exporter = InMemorySpanExporter::default();
    let telemetry = ehelpdesk_shared::telemetry::init_with("ehelpdesk-tests", Some(exporter.clone()), true);
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;

    let filed =
        command.post("/v1/complaints", &COMPLAINANT, &complaint(&COMPLAINANT, "AC", "Aduan yang dijejak")).await;
    let seq = filed.assert_ok(201)["stream_sequence"].as_u64().unwrap();
    projection.get(&format!("/v1/complaints?min_seq={seq}"), &ADMIN).await.assert_ok(200);
    for _ in 0..100 {
        let pending = projection.get("/v1/outbox?pending=true", &ADMIN).await;
        if pending.assert_ok(200).as_array().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let _ = telemetry.provider().force_flush();
    let spans = exporter.get_finished_spans().unwrap();

    let request = spans
        .iter()
        .find(|s| {
            s.name == "request"
                && attribute(s, "path").as_deref() == Some("/v1/complaints")
                && attribute(s, "method").as_deref() == Some("POST")
        })
        .expect("the command's request span");
    let trace: TraceId = request.span_context.trace_id();
    let in_trace = |name: &str| spans.iter().filter(|s| s.name == name && s.span_context.trace_id() == trace).count();
    assert_eq!(in_trace("apply_event"), 1, "the projection applied the event inside the command's trace");
    assert_eq!(in_trace("publish_notification"), 2, "the acknowledgement by e-mail and WhatsApp, in the same trace");
    let apply = spans.iter().find(|s| s.name == "apply_event" && s.span_context.trace_id() == trace).unwrap();
    assert_eq!(attribute(apply, "event_type").as_deref(), Some("ComplaintLogged"));

    // And the notification on the NOTIFY stream carries the trace on to the workers.
    let js = log.jetstream().await;
    let notify = js.get_stream(log.notify().0).await.unwrap();
    let message = notify.get_raw_message(1).await.unwrap();
    let traceparent = message.headers.get("traceparent").expect("traceparent header").to_string();
    assert!(traceparent.contains(&trace.to_string()), "{traceparent} carries {trace}");
}
