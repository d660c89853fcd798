//! W3C trace context crosses NATS: one command's trace id is on the projection's span for
//! its event, on the relay's spans for its notifications, and on the notifier's deliveries of
//! them. In this process with an
//! in-memory span exporter, and as the built binaries exporting over OTLP/HTTP to a receiver
//! the test runs (those need `cargo build --bins` first).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::process::{Service, free_port};
use ehelpdesk_tests::{CommandApp, ProjectionApp, Reply, TestDatabase, TestEventLog, projection_settings, service_env};
use opentelemetry::trace::TraceId;
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SpanData};
use prost::Message;

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

    let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan yang dijejak")).await;
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

/// One span as the OTLP receiver got it.
#[derive(Debug, Clone)]
struct Received {
    service: String,
    trace_id: Vec<u8>,
    name: String,
    attributes: Vec<(String, String)>,
}

impl Received {
    fn attribute(&self, key: &str) -> Option<&str> {
        self.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

type Collected = Arc<Mutex<Vec<Received>>>;

/// An OTLP/HTTP trace receiver (protobuf, as a collector on port 4318 takes it) on a free
/// port of this machine; stops when dropped.
struct OtlpReceiver {
    endpoint: String,
    spans: Collected,
    server: tokio::task::JoinHandle<()>,
}

impl OtlpReceiver {
    async fn start() -> Self {
        let spans = Collected::default();
        let app = Router::new().route("/v1/traces", axum::routing::post(receive)).with_state(spans.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { endpoint, spans, server }
    }

    fn spans(&self) -> Vec<Received> {
        self.spans.lock().expect("not poisoned").clone()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn string_value(kv: &KeyValue) -> Option<(String, String)> {
    match kv.value.as_ref()?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some((kv.key.clone(), s.clone())),
        _ => None,
    }
}

async fn receive(State(spans): State<Collected>, headers: HeaderMap, body: Bytes) -> Response {
    if headers.get(header::CONTENT_TYPE).is_none_or(|v| v != "application/x-protobuf") {
        return StatusCode::UNSUPPORTED_MEDIA_TYPE.into_response();
    }
    let Ok(request) = ExportTraceServiceRequest::decode(body) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    let mut received = vec![];
    for resource_spans in request.resource_spans {
        let resource = resource_spans.resource.unwrap_or_default();
        let service = resource
            .attributes
            .iter()
            .filter_map(string_value)
            .find(|(k, _)| k == "service.name")
            .map(|(_, v)| v)
            .unwrap_or_default();
        for span in resource_spans.scope_spans.into_iter().flat_map(|scope| scope.spans) {
            received.push(Received {
                service: service.clone(),
                trace_id: span.trace_id,
                name: span.name,
                attributes: span.attributes.iter().filter_map(string_value).collect(),
            });
        }
    }
    spans.lock().expect("not poisoned").extend(received);
    let response = ExportTraceServiceResponse::default().encode_to_vec();
    (StatusCode::OK, [(header::CONTENT_TYPE, "application/x-protobuf")], response).into_response()
}

/// The trace id of the command service's request span for filing a complaint, and whether a
/// span of the projection service carries it too.
fn command_trace_in_projection(spans: &[Received]) -> (Option<Vec<u8>>, bool) {
    let request = spans.iter().find(|s| {
        s.service == "ehelpdesk-command"
            && s.name == "request"
            && s.attribute("method") == Some("POST")
            && s.attribute("path") == Some("/v1/complaints")
    });
    let Some(request) = request else { return (None, false) };
    let continued = spans
        .iter()
        .any(|s| s.service == "ehelpdesk-projection" && s.name == "apply_event" && s.trace_id == request.trace_id);
    (Some(request.trace_id.clone()), continued)
}

#[tokio::test]
async fn both_services_export_one_commands_trace_over_otlp_http() {
    let receiver = OtlpReceiver::start().await;
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let mut env = service_env(&log, &db);
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        // Export within a tenth of a second, not the default five.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        // The request and apply_event spans are at info; `warn` would drop them before export.
        ("RUST_LOG", "info".into()),
    ]);
    let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    command.wait_ready().await;
    let mut projection = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
    projection.wait_ready().await;
    // The notifier writes files: the trace, not the delivery, is what this test is about.
    let mail = std::env::temp_dir().join(format!("ehelpdesk-trace-{}", uuid::Uuid::new_v4().simple()));
    let mut notifier_env = env.clone();
    notifier_env.extend([
        ("NOTIFIER_ADMIN_ADDR", "127.0.0.1:0".into()),
        ("MAIL_DIR", mail.join("mail").display().to_string()),
        ("WHATSAPP_DIR", mail.join("whatsapp").display().to_string()),
        ("WHATSAPP_QUIET_HOURS", "off".into()),
    ]);
    let mut notifier = Service::start("ehelpdesk-notifier", &notifier_env, "NOTIFIER_ADDR");
    notifier.wait_ready().await;

    let http = reqwest::Client::new();
    let filing = COMPLAINANT.headers(http.post(format!("{}/v1/complaints", command.url)));
    let filing = filing.json(&complaint("AC", "Aduan yang dieksport"));
    let filed = Reply::from(filing.send().await.expect("command sent")).await;
    let seq = filed.assert_ok(201)["stream_sequence"].as_u64().unwrap();
    let query = ADMIN.headers(http.get(format!("{}/v1/complaints?min_seq={seq}", projection.url)));
    Reply::from(query.send().await.expect("query sent")).await.assert_ok(200);

    // The acknowledgement, delivered by the notifier (as a file here).
    for _ in 0..100 {
        if std::fs::read_dir(mail.join("mail")).is_ok_and(|d| d.count() > 0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // SIGTERM makes each service flush the spans it still holds before it exits.
    assert!(notifier.terminate().await.success(), "graceful shutdown");
    let _ = std::fs::remove_dir_all(&mail);
    assert!(projection.terminate().await.success(), "graceful shutdown");
    assert!(command.terminate().await.success(), "graceful shutdown");

    let mut found = (None, false);
    for _ in 0..100 {
        found = command_trace_in_projection(&receiver.spans());
        if found.1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let spans = receiver.spans();
    let summary: Vec<String> = spans.iter().map(|s| format!("{} {}", s.service, s.name)).collect();
    let trace = found.0.unwrap_or_else(|| panic!("no request span from ehelpdesk-command; received {summary:?}"));
    assert_eq!(trace.len(), 16, "a W3C trace id");
    assert!(found.1, "no ehelpdesk-projection apply_event span in trace {trace:02x?}; received {summary:?}");
    let apply = spans.iter().find(|s| s.service == "ehelpdesk-projection" && s.trace_id == trace).unwrap();
    assert_eq!(apply.attribute("event_type"), Some("ComplaintLogged"));
    // The relay's publish carries the trace on to NOTIFY, and the notifier continues it.
    let delivered = spans
        .iter()
        .filter(|s| s.service == "ehelpdesk-notifier" && s.name == "deliver_notification" && s.trace_id == trace)
        .count();
    assert_eq!(
        delivered, 2,
        "the acknowledgement by e-mail and WhatsApp, in the command's trace; received {summary:?}"
    );
}

#[tokio::test]
async fn a_trace_receiver_that_is_down_costs_the_command_service_nothing() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let mut env = service_env(&log, &db);
    // A port nothing listens on: every export is refused.
    env.extend([
        ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://127.0.0.1:{}", free_port())),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("RUST_LOG", "info".into()),
    ]);
    let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    command.wait_ready().await;

    let http = reqwest::Client::new();
    for n in 0..3 {
        let filing = COMPLAINANT.headers(http.post(format!("{}/v1/complaints", command.url)));
        let filing = filing.json(&complaint("AC", &format!("Aduan {n} tanpa penerima")));
        Reply::from(filing.send().await.expect("command sent")).await.assert_ok(201);
    }
    assert!(command.terminate().await.success(), "graceful shutdown although nothing took the spans");
}
