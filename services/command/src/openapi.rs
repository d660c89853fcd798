//! The OpenAPI document's frame; its paths come from the routes as they are registered
//! (`routes::api`), so a route cannot be served without being documented.

use utoipa::OpenApi;

use ehelpdesk_shared::http::contract;

#[derive(OpenApi)]
#[openapi(
    info(title = "eHelpdesk command service", description = "Commands on complaints and the staff directory. \
        Every accepted command appends one event to the NATS JetStream log. Errors are application/problem+json \
        (RFC 9457) with a stable `code`. Calls take a bearer JWT; the `X-Actor-*` headers some development \
        set-ups accept (DEV_ACTOR_HEADERS) are not part of this contract."),
    components(schemas(ehelpdesk_shared::http::Problem)),
    tags((name = "complaints"), (name = "staff"), (name = "probes"))
)]
pub struct ApiDoc;

/// Paths anyone may call without a token.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/v1/categories"];

/// The document with the rules both services share (bearer scheme, problem answers).
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    contract::finish(&mut doc, PUBLIC);
    doc
}
