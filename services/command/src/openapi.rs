//! The OpenAPI document, served at `/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "eHelpdesk command service", description = "Commands on complaints and the staff directory. \
        Every accepted command appends one event to the NATS JetStream log. Errors are application/problem+json."),
    paths(
        ehelpdesk_shared::http::observe::healthz, routes::readyz, routes::list_categories,
        routes::log_complaint, routes::get_complaint, routes::assign_complaint, routes::respond_to_complaint,
        routes::reply_to_complaint, routes::refer_to_implementor, routes::escalate_to_vendor,
        routes::record_vendor_update, routes::add_internal_note, routes::close_complaint, routes::reopen_complaint,
        routes::register_staff, routes::get_staff, routes::update_staff, routes::deactivate_staff,
    ),
    tags((name = "complaints"), (name = "staff"), (name = "probes"))
)]
pub struct ApiDoc;

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
