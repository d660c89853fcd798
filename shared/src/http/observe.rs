//! What every HTTP request leaves behind: a request id (in the `x-request-id` response
//! header and on every log line of the request), a span, and Prometheus counts and latency
//! by route, method and status, and problem answers by code. Every label value comes from a
//! bounded set.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use prometheus::{Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::http::problem::ProblemCode;

const REQUEST_ID: &str = "x-request-id";

pub struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    problems: IntCounterVec,
}

impl HttpMetrics {
    pub fn register(registry: &Registry) -> Arc<Self> {
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let duration = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route and method")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            &["route", "method"],
        )
        .expect("valid metric");
        let problems = IntCounterVec::new(
            Opts::new("http_problems_total", "Problem answers by status and code"),
            &["status", "code"],
        )
        .expect("valid metric");
        // Registering the same names twice is the only failure: a start-up bug, not a runtime one.
        for collector in [requests.clone(), problems.clone()] {
            registry.register(Box::new(collector)).expect("http metrics registered once");
        }
        registry.register(Box::new(duration.clone())).expect("http metrics registered once");
        Arc::new(Self { requests, duration, problems })
    }
}

/// The method as a label: a client may send any token as a method, and every distinct label
/// value is a series kept for ever.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

async fn track(State(metrics): State<Arc<HttpMetrics>>, request: Request, next: Next) -> Response {
    // The route template, not the path: ids must not explode the label space.
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", |p| p.as_str()).to_owned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status();
    metrics.duration.with_label_values(&[route.as_str(), method]).observe(started.elapsed().as_secs_f64());
    metrics.requests.with_label_values(&[route.as_str(), method, status.as_str()]).inc();
    if let Some(ProblemCode(code)) = response.extensions().get::<ProblemCode>() {
        metrics.problems.with_label_values(&[status.as_str(), code]).inc();
    }
    response
}

/// A client's `x-request-id` is kept only if it is one value of 1-128 visible ASCII
/// characters; anything else is dropped here and replaced by a generated id, so no client
/// can make every log line of its request as long as it likes.
async fn drop_unfit_request_id(mut request: Request) -> Request {
    let headers = request.headers_mut();
    let mut values = headers.get_all(REQUEST_ID).iter();
    let fit = match (values.next(), values.next()) {
        (Some(value), None) => is_fit_request_id(value.as_bytes()),
        _ => false,
    };
    if !fit {
        headers.remove(REQUEST_ID);
    }
    request
}

fn is_fit_request_id(id: &[u8]) -> bool {
    (1..=128).contains(&id.len()) && id.iter().all(u8::is_ascii_graphic)
}

/// Wraps a router with request ids, a span per request and HTTP metrics.
pub(crate) fn observe(router: Router, metrics: Arc<HttpMetrics>) -> Router {
    router
        .layer(middleware::from_fn_with_state(metrics, track))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let request_id = request.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
            let method = method_label(request.method());
            tracing::info_span!("request", method, path = %request.uri().path(), request_id)
        }))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(middleware::map_request(drop_unfit_request_id))
}

/// The Prometheus text exposition of `registry`.
pub fn render(registry: &Registry) -> Response {
    let mut buffer = vec![];
    if let Err(e) = TextEncoder::new().encode(&registry.gather(), &mut buffer) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    let mut response = buffer.into_response();
    response.headers_mut().insert("content-type", HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Health {
    pub status: &'static str,
}

/// The process is alive (readiness is each service's own `/readyz`).
#[utoipa::path(get, path = "/healthz", tag = "probes", responses((status = 200, body = Health)))]
pub async fn healthz() -> axum::Json<Health> {
    axum::Json(Health { status: "ok" })
}
