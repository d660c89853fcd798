//! Logging set-up, and masking of identity numbers in anything that may reach a log.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{KeyValue, global};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanExporter};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Keeps the tracer provider alive; `shutdown` flushes spans not yet exported.
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Telemetry {
    pub fn shutdown(self) {
        let _ = self.provider.shutdown();
    }

    pub fn provider(&self) -> &SdkTracerProvider {
        &self.provider
    }
}

/// Logs and traces for a service. Logs are pretty for people, JSON lines with
/// `LOG_FORMAT=json` or `APP_ENV=production`; `RUST_LOG` filters (default `info`).
/// Spans always carry W3C trace context (so it crosses NATS); they are exported over OTLP/HTTP
/// only when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.
pub fn init(service: &'static str) -> Telemetry {
    // The batch processor exports from a thread of its own with no Tokio runtime, so the
    // exporter must not need one: opentelemetry-otlp is built with its blocking reqwest
    // client (the async one panicked there on the first export and every span was lost).
    // That thread also keeps a slow or absent collector away from requests, and
    // `shutdown` waits for it at most five seconds.
    let exporter = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").ok().filter(|e| !e.is_empty()).and_then(|_| {
        match opentelemetry_otlp::SpanExporter::builder().with_http().build() {
            Ok(exporter) => Some(exporter),
            Err(e) => {
                eprintln!("{service}: OTLP exporter not started: {e}");
                None
            }
        }
    });
    init_with(service, exporter, false)
}

/// `init` with a given exporter (tests pass an in-memory one; `simple` exports each span at
/// once instead of in batches).
pub fn init_with<E: SpanExporter + 'static>(service: &'static str, exporter: Option<E>, simple: bool) -> Telemetry {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder()
        .with_service_name(service)
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    let exporting = exporter.is_some();
    if let Some(exporter) = exporter {
        builder = if simple { builder.with_simple_exporter(exporter) } else { builder.with_batch_exporter(exporter) };
    }
    let provider = builder.build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json")
        || std::env::var("APP_ENV").is_ok_and(|e| e == "production");
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    // `try_init` fails only when a subscriber is already set (tests): keep that one.
    let _ = if json {
        registry.with(tracing_subscriber::fmt::layer().json().with_target(false)).try_init()
    } else {
        registry.with(tracing_subscriber::fmt::layer().with_target(false)).try_init()
    };
    tracing::info!(service, version = env!("CARGO_PKG_VERSION"), exporting, "starting");
    Telemetry { provider }
}

/// The W3C `traceparent` of the current span, to carry in a message's headers.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier: HashMap<String, String> = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove("traceparent")
}

/// Makes `span` continue the trace a message's `traceparent` names.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>) {
    if let Some(traceparent) = traceparent {
        let carrier = HashMap::from([("traceparent".to_owned(), traceparent.to_owned())]);
        let cx = TraceContextPropagator::new().extract(&carrier);
        let _ = span.set_parent(cx);
    }
}

/// Replaces every identity number in `text` (12 digits, with or without the dashes of
/// `900101-03-5678`) by `******-**-5678`.
pub fn mask_ic_numbers(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        let boundary_before = i == 0 || !chars[i - 1].is_ascii_digit();
        if boundary_before && let Some((len, last4)) = ic_at(&chars[i..]) {
            out.push_str("******-**-");
            out.extend(last4);
            i += len;
            continue;
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// If an IC number starts at `s[0]`, its length in chars and its last four digits.
fn ic_at(s: &[char]) -> Option<(usize, [char; 4])> {
    let digits_then_boundary = |n: usize| {
        s.len() >= n && s[..n].iter().all(char::is_ascii_digit) && s.get(n).is_none_or(|c| !c.is_ascii_digit())
    };
    if digits_then_boundary(12) {
        return Some((12, [s[8], s[9], s[10], s[11]]));
    }
    let dashed = s.len() >= 14
        && s[..6].iter().all(char::is_ascii_digit)
        && s[6] == '-'
        && s[7..9].iter().all(char::is_ascii_digit)
        && s[9] == '-'
        && s[10..14].iter().all(char::is_ascii_digit)
        && s.get(14).is_none_or(|c| !c.is_ascii_digit());
    dashed.then(|| (14, [s[10], s[11], s[12], s[13]]))
}

#[cfg(test)]
mod tests {
    use super::mask_ic_numbers;

    #[test]
    fn identity_numbers_are_masked_and_nothing_else() {
        assert_eq!(mask_ic_numbers("KP 900101035678 ok"), "KP ******-**-5678 ok");
        assert_eq!(mask_ic_numbers("KP 900101-03-5678."), "KP ******-**-5678.");
        assert_eq!(mask_ic_numbers("a900101035678"), "a******-**-5678");
        assert_eq!(mask_ic_numbers("phone +60123456789"), "phone +60123456789", "11 digits stay");
        assert_eq!(mask_ic_numbers("1234567890123"), "1234567890123", "13 digits are not an IC number");
        assert_eq!(mask_ic_numbers("tiada"), "tiada");
    }
}
