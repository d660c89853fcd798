//! What both OpenAPI documents say the same way: the bearer scheme, the problem+json error
//! answers every authenticated operation can give, and the optional `X-Acting-Role` header.
//! Each rule below mirrors code that answers that status, so a handler only declares its
//! success answer and the errors peculiar to it.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, ObjectBuilder, OpenApi, Ref, RefOr, Required, Response, ResponseBuilder, Type};

use crate::actor::Role;

pub const PROBLEM_JSON: &str = "application/problem+json";
pub const BEARER: &str = "bearer";

/// A problem+json answer with the problem schema, and the headers the server always sends
/// with that status (see `ApiError::into_response`).
pub fn problem_response(status: u16) -> Response {
    let description = match status {
        400 => "Malformed request: bad JSON, query parameter, Idempotency-Key or X-Acting-Role",
        401 => "No bearer token, or one that does not verify",
        403 => "The caller's role may not do this, or the token does not grant the acting role",
        404 => "No such resource, or one the caller may not see",
        408 => "The answer was not ready within the request deadline",
        409 => "The resource is in a state that forbids this, or kept changing under the request",
        413 => "The request body is larger than the limit",
        415 => "The body is not sent as application/json",
        422 => "The body does not satisfy a field's rule, a business rule, or reuses an Idempotency-Key",
        429 => "Too many requests (writes per person, or exports at once); see Retry-After",
        503 => "The event log or database is unreachable, or the projection is behind; see Retry-After",
        _ => "Error",
    };
    let mut response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build());
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(ObjectBuilder::new().schema_type(Type::String))
            .description(Some(description))
            .build()
    };
    match status {
        401 => response = response.header("WWW-Authenticate", header("Bearer challenge")),
        429 => response = response.header("Retry-After", header("Seconds to wait")),
        // A 503 says how long to wait too; the request deadline (408) and the others do not.
        503 => response = response.header("Retry-After", header("Seconds to wait")),
        _ => {}
    }
    response.build()
}

/// The statuses an authenticated operation can answer besides its own: every one reads the
/// token (401, 400 for a bad `X-Acting-Role`, 403 for a role not granted), the staff
/// directory (503 when it cannot be read) and runs under the request deadline (408).
fn statuses_of(path: &str, operation: &Operation, write: bool) -> Vec<u16> {
    let mut statuses = vec![400, 401, 403, 408, 503];
    // An id in the path names something that may not exist, or not for this caller.
    if path.contains('{') {
        statuses.push(404);
    }
    // A write is a command, with a body or without: it can conflict with the state, or
    // exceed the writer's rate limit.
    if write || operation.request_body.is_some() {
        statuses.extend([409, 429]);
    }
    // A body can be too large, have the wrong media type, or break a rule.
    if operation.request_body.is_some() {
        statuses.extend([413, 415, 422]);
    }
    statuses
}

/// Applies the common rules to every operation: `public` paths need no token and answer
/// no error of their own; all others take the bearer token and give the common errors.
pub fn finish(doc: &mut OpenApi, public: &[&str]) {
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
    );
    for (path, item) in doc.paths.paths.iter_mut() {
        let operations = [
            (&mut item.get, false),
            (&mut item.put, true),
            (&mut item.post, true),
            (&mut item.delete, true),
            (&mut item.options, false),
            (&mut item.head, false),
            (&mut item.patch, true),
            (&mut item.trace, false),
        ];
        for (operation, write) in operations.into_iter().filter_map(|(op, write)| op.as_mut().map(|op| (op, write))) {
            if public.contains(&path.as_str()) {
                operation.security = Some(Vec::new());
                continue;
            }
            operation.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
            operation.parameters.get_or_insert_with(Vec::new).push(acting_role_header());
            for status in statuses_of(path, operation, write) {
                operation
                    .responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| RefOr::T(problem_response(status)));
            }
        }
    }
}

/// `X-Acting-Role`: which of the token's roles the caller acts in, needed only when the
/// token grants more than one (else 400 `acting_role_required`).
fn acting_role_header() -> utoipa::openapi::path::Parameter {
    let roles = [Role::Complainant, Role::Admin, Role::Pic, Role::Implementor, Role::Auditor];
    ParameterBuilder::new()
        .name("X-Acting-Role")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some("The role to act in, when the token grants several"))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(roles.map(|r| r.as_str())))))
        .build()
}
