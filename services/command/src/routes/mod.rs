//! HTTP routes of the command service, all under `/v1` except the probes.

mod complaints;
mod health;
mod notifications;
mod staff;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::get;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi;
use crate::state::AppState;
use ehelpdesk_shared::http::problem::ApiError;

pub use complaints::*;
pub use health::*;
pub use notifications::*;
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

/// Every public route with its OpenAPI entry, registered once: the router and the document
/// are both made from this list.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(ehelpdesk_shared::http::observe::healthz))
        .routes(routes!(readyz))
        .routes(routes!(list_categories))
        .routes(routes!(log_complaint))
        .routes(routes!(get_complaint))
        .routes(routes!(assign_complaint))
        .routes(routes!(respond_to_complaint))
        .routes(routes!(reply_to_complaint))
        .routes(routes!(refer_to_implementor))
        .routes(routes!(escalate_to_vendor))
        .routes(routes!(record_vendor_update))
        .routes(routes!(add_internal_note))
        .routes(routes!(close_complaint))
        .routes(routes!(reopen_complaint))
        .routes(routes!(register_staff))
        .routes(routes!(get_staff, update_staff))
        .routes(routes!(deactivate_staff))
        .routes(routes!(retry_notification))
        .routes(routes!(set_notification_preferences))
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(api().split_for_parts().1)
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = api().split_for_parts();
    let doc = std::sync::Arc::new(openapi::finish(doc));
    router
        .route("/openapi.json", get(move || async move { axum::Json(doc.as_ref().clone()) }))
        .fallback(|| async { ApiError::NotFound("not_found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .with_state(state)
}
