//! The OpenAPI document's frame; its paths come from the routes as they are registered
//! (`routes::api`), so a route cannot be served without being documented.

use utoipa::OpenApi;

use ehelpdesk_shared::http::contract;

#[derive(OpenApi)]
#[openapi(
    info(title = "eHelpdesk command service", description = "Commands on complaints and the staff directory. \
        Every accepted command appends one event to the NATS JetStream log (an admin's retry of a dead-lettered \
        notification publishes on the NOTIFY stream instead). Errors are application/problem+json \
        (RFC 9457) with a stable `code`. Calls take a bearer JWT; the `X-Actor-*` headers some development \
        set-ups accept (DEV_ACTOR_HEADERS) are not part of this contract."),
    components(schemas(ehelpdesk_shared::http::Problem)),
    tags((name = "complaints"), (name = "staff"), (name = "notifications"), (name = "probes"))
)]
pub struct ApiDoc;

/// Paths anyone may call without a token.
const PUBLIC: &[&str] = &["/healthz", "/readyz", "/v1/categories"];

/// The document with the rules both services share (bearer scheme, problem answers), and
/// the category codes as enums.
pub fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    contract::finish(&mut doc, PUBLIC);
    with_category_codes(doc)
}

/// Category codes are data (shared/data/categories.json), not a Rust enum: each field that
/// takes one gets the codes of this build as its `enum`, so clients and generated requests
/// name real categories.
fn with_category_codes(doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let codes: Vec<&str> = ehelpdesk_shared::category::all().iter().map(|c| c.code.as_str()).collect();
    let Ok(mut value) = serde_json::to_value(&doc) else { return doc };
    let schemas = &mut value["components"]["schemas"];
    for pointer in [
        "/LogComplaintRequest/properties/category",
        "/RegisterStaffRequest/properties/categories/items",
        "/UpdateStaffRequest/properties/categories/items",
    ] {
        if let Some(field) = schemas.pointer_mut(pointer).and_then(serde_json::Value::as_object_mut) {
            field.insert("enum".into(), serde_json::json!(codes));
        }
    }
    serde_json::from_value(value).unwrap_or(doc)
}
