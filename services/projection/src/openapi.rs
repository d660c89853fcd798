//! The OpenAPI document's frame; its paths come from the routes as they are registered
//! (`routes::api`), so a route cannot be served without being documented.

use utoipa::OpenApi;

use ehelpdesk_shared::http::contract;

#[derive(OpenApi)]
#[openapi(
    info(title = "eHelpdesk query service", description = "Read models built from the event log: PIC inboxes and \
        badges, the triage queue, complaint detail with its feedback history, search, aging and resolution \
        reports, the notification outbox with each notification's delivery state, and who was told of a complaint. \
        `min_seq` waits for your own write. Errors are \
        application/problem+json (RFC 9457) with a stable `code`. Calls take a bearer JWT; the `X-Actor-*` \
        headers some development set-ups accept (DEV_ACTOR_HEADERS) are not part of this contract."),
    components(schemas(
        ehelpdesk_shared::http::Problem,
        crate::queries::GroupBy,
        ehelpdesk_shared::notification::DeliveryState
    )),
    tags((name = "inbox"), (name = "complaints"), (name = "reports"), (name = "notifications"), (name = "audit"), (name = "probes"))
)]
pub struct ApiDoc;

/// Paths anyone may call without a token.
const PUBLIC: &[&str] = &["/healthz", "/readyz"];

/// The document with the rules both services share (bearer scheme, problem answers).
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    contract::finish(&mut doc, PUBLIC);
    doc
}
