//! HTTP routes of the command service, all under `/v1` except the probes.

mod complaints;
mod health;
mod staff;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};

use crate::openapi;
use crate::state::AppState;
use ehelpdesk_shared::http::problem::ApiError;

pub use complaints::*;
pub use health::*;
pub use staff::*;

/// Commands are small; 64 KiB holds the longest description with room to spare.
pub const BODY_LIMIT_BYTES: usize = 64 * 1024;

/// A command's answer: the receipt, `Location` of what a 201 created, and
/// `Idempotent-Replayed` when this answers a retry.
fn receipt_response<R: serde::Serialize>(
    status: axum::http::StatusCode,
    outcome: crate::executor::Outcome<R>,
    location: &str,
) -> axum::response::Response {
    use axum::http::{HeaderValue, StatusCode, header};
    use axum::response::IntoResponse;
    let mut response = (status, axum::Json(outcome.receipt)).into_response();
    if status == StatusCode::CREATED
        && let Ok(location) = HeaderValue::from_str(location)
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if outcome.replayed {
        response.headers_mut().insert("Idempotent-Replayed", HeaderValue::from_static("true"));
    }
    response
}

/// Prometheus metrics (text exposition format).
async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> axum::response::Response {
    ehelpdesk_shared::http::observe::render(&state.registry)
}

/// What only operators reach, on the admin address: the metrics.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("not_found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(ehelpdesk_shared::http::observe::healthz))
        .route("/readyz", get(readyz))
        .route("/openapi.json", get(openapi::serve))
        .route("/v1/categories", get(list_categories))
        .route("/v1/complaints", post(log_complaint))
        .route("/v1/complaints/{id}", get(get_complaint))
        .route("/v1/complaints/{id}/assignment", post(assign_complaint))
        .route("/v1/complaints/{id}/responses", post(respond_to_complaint))
        .route("/v1/complaints/{id}/replies", post(reply_to_complaint))
        .route("/v1/complaints/{id}/referral", post(refer_to_implementor))
        .route("/v1/complaints/{id}/escalation", post(escalate_to_vendor))
        .route("/v1/complaints/{id}/vendor-updates", post(record_vendor_update))
        .route("/v1/complaints/{id}/notes", post(add_internal_note))
        .route("/v1/complaints/{id}/closure", post(close_complaint))
        .route("/v1/complaints/{id}/reopening", post(reopen_complaint))
        .route("/v1/staff", post(register_staff))
        .route("/v1/staff/{id}", get(get_staff).merge(patch(update_staff)))
        .route("/v1/staff/{id}/deactivation", post(deactivate_staff))
        .fallback(|| async { ApiError::NotFound("not_found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}
