//! The OpenAPI document, served at `/openapi.json`.

use axum::Json;
use utoipa::OpenApi;

use crate::{audit_routes, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "eHelpdesk query service", description = "Read models built from the event log: PIC inboxes and \
        badges, the triage queue, complaint detail with its feedback history, search, aging and resolution \
        reports, and the notification outbox. `min_seq` waits for your own write. Errors are application/problem+json. \
        Actor headers (X-Actor-Id, X-Actor-Role, X-Actor-Name) are DEVELOPMENT ONLY."),
    paths(
        ehelpdesk_shared::http::observe::healthz, routes::readyz, routes::inbox, routes::badge, routes::triage, routes::search_complaints,
        routes::complaint_detail, routes::aging_report, routes::resolution_report, routes::outbox,
        audit_routes::complaint_history, audit_routes::complaint_state, audit_routes::staff_history,
        audit_routes::staff_state, audit_routes::verify_read_models, audit_routes::export_events,
        audit_routes::export_timeline,
    ),
    tags((name = "inbox"), (name = "complaints"), (name = "reports"), (name = "notifications"), (name = "audit"), (name = "probes"))
)]
pub struct ApiDoc;

pub async fn serve() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
