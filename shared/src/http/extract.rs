//! Request extractors that answer with problem+json instead of axum's plain-text rejections.

use crate::actor::{Actor, Role};
use crate::validation::StaffId;
use axum::extract::FromRef;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::access::{Lookup, StaffStandings};
use crate::auth::{AuthError, Profile, Verifier};
use crate::http::problem::ApiError;

/// Verifies who is calling, and what the staff directory lets them do; shared by both
/// services through their state.
#[derive(Clone)]
pub struct Authenticator {
    pub verifier: Verifier,
    /// DEVELOPMENT ONLY: also trust `X-Actor-Id`, `X-Actor-Role`, `X-Actor-Name`.
    pub dev_actor_headers: bool,
    /// Staff roles come from the directory (see [`crate::access`]).
    pub standings: StaffStandings,
}

impl Authenticator {
    /// The token verifier from configuration (fetching the JWKS URL, refreshing it in the
    /// background), with a loud warning when development shortcuts are on. `lookup` reads a
    /// member of staff from the service's own side of the directory.
    pub async fn from_config(config: &crate::auth::AuthConfig, lookup: Lookup) -> Result<Self, String> {
        let verifier = Verifier::from_config(config).await?;
        if let Some(url) = &config.jwks_url {
            verifier.refresh_periodically(url.clone());
        }
        if config.dev_actor_headers {
            tracing::warn!(
                "DEV_ACTOR_HEADERS is on: anyone can act as anyone with X-Actor-* headers. Development only!"
            );
        }
        if config.hs256_secret.is_none() && config.effective_secret().is_some() {
            tracing::warn!("JWT_HS256_SECRET is unset: accepting tokens signed with the public development secret");
        }
        let standings = StaffStandings::new(lookup, config.staff_cache, config.bootstrap_admins.clone());
        Ok(Self { verifier, dev_actor_headers: config.dev_actor_headers, standings })
    }
}

/// The acting person: from a bearer token (`Authorization: Bearer ...`, with
/// `X-Acting-Role` when the token grants several roles), or, only when the development flag
/// is on, from the `X-Actor-*` headers; in a staff role only as the staff directory allows.
/// The portal's profile of the person is left in the request for [`CallerProfile`].
pub struct CurrentActor(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for CurrentActor
where
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let auth = Authenticator::from_ref(state);
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let token = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| ApiError::InvalidToken("use `Authorization: Bearer <token>`".into()))?;
            let acting = parts.headers.get("X-Acting-Role").and_then(|v| v.to_str().ok()).map(str::trim);
            let (claimed, profile) = auth.verifier.caller(token, acting).map_err(|e| match e {
                AuthError::ActingRoleRequired => {
                    ApiError::BadRequest { code: "acting_role_required", detail: e.to_string() }
                }
                AuthError::RoleNotGranted(_) => ApiError::Forbidden { code: "role_not_granted", detail: e.to_string() },
                other => ApiError::InvalidToken(other.to_string()),
            })?;
            parts.extensions.insert(CallerProfile(profile));
            return auth.standings.admit(claimed).await.map(CurrentActor);
        }
        if auth.dev_actor_headers && parts.headers.contains_key("X-Actor-Id") {
            let claimed = actor_from_dev_headers(parts)?;
            return auth.standings.admit(claimed).await.map(CurrentActor);
        }
        Err(ApiError::Unauthenticated("send `Authorization: Bearer <token>`".into()))
    }
}

/// What the portal's token says of the caller (IC number, e-mail, phone, PTJ), for filing a
/// complaint under the caller's own details. Empty for development actor headers.
#[derive(Debug, Clone, Default)]
pub struct CallerProfile(pub Profile);

impl<S: Send + Sync> FromRequestParts<S> for CallerProfile
where
    Authenticator: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if let Some(profile) = parts.extensions.get::<CallerProfile>() {
            return Ok(profile.clone());
        }
        CurrentActor::from_request_parts(parts, state).await?;
        Ok(parts.extensions.get::<CallerProfile>().cloned().unwrap_or_default())
    }
}

fn actor_from_dev_headers(parts: &Parts) -> Result<Actor, ApiError> {
    let header = |name: &'static str| -> Result<String, ApiError> {
        let value =
            parts.headers.get(name).ok_or_else(|| ApiError::Unauthenticated(format!("header {name} is required")))?;
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| ApiError::BadRequest { code: "invalid_actor", detail: format!("{name} is not UTF-8") })?;
        Ok(value.trim().to_owned())
    };
    let id = StaffId::parse("X-Actor-Id", &header("X-Actor-Id")?)?;
    let role: Role = header("X-Actor-Role")?.parse().map_err(|e: crate::actor::UnknownRole| ApiError::BadRequest {
        code: "invalid_actor",
        detail: e.to_string(),
    })?;
    let name = header("X-Actor-Name").unwrap_or_else(|_| id.to_string());
    let name = crate::validation::Text::parse("X-Actor-Name", &name, 1, 150)?;
    Ok(Actor::new(id, role, name.as_str()))
}

/// The optional `Idempotency-Key` header: 1-128 visible ASCII characters.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let Some(value) = parts.headers.get("Idempotency-Key") else {
            return Ok(IdempotencyKey(None));
        };
        let key = value
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|k| (1..=128).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
        match key {
            Some(key) => Ok(IdempotencyKey(Some(key.to_owned()))),
            None => Err(ApiError::BadRequest {
                code: "invalid_idempotency_key",
                detail: "Idempotency-Key must be 1-128 visible ASCII characters".into(),
            }),
        }
    }
}

/// A JSON body, plus the SHA-256 of its bytes (to recognise a retried request).
pub struct JsonBody<T> {
    pub value: T,
    pub hash: String,
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let (parts, body) = req.into_parts();
        let bytes = axum::body::Bytes::from_request(Request::from_parts(parts.clone(), body), state)
            .await
            .map_err(|_| ApiError::PayloadTooLarge)?;
        let hash = format!("{:x}", Sha256::digest(&bytes));
        let request = Request::from_parts(parts, axum::body::Body::from(bytes));
        let axum::Json(value) = axum::Json::<T>::from_request(request, state).await.map_err(json_rejection)?;
        Ok(JsonBody { value, hash })
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType,
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest { code: "malformed_json", detail: e.body_text() },
        JsonRejection::JsonDataError(e) => ApiError::UnprocessableBody(e.body_text()),
        JsonRejection::BytesRejection(_) => ApiError::PayloadTooLarge,
        other => ApiError::BadRequest { code: "invalid_body", detail: other.body_text() },
    }
}

/// `{id}` of `/v1/complaints/{id}`: a UUID, or the complaint cannot exist.
pub struct ComplaintPath(pub uuid::Uuid);

impl<S: Send + Sync> FromRequestParts<S> for ComplaintPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("not_found"))?;
        uuid::Uuid::parse_str(&raw)
            .map(ComplaintPath)
            .map_err(|_| ApiError::Domain(crate::error::DomainError::ComplaintNotFound))
    }
}

/// `{id}` of `/v1/staff/{id}`.
pub struct StaffPath(pub StaffId);

impl<S: Send + Sync> FromRequestParts<S> for StaffPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("not_found"))?;
        // Not a staff id, so nobody by that id: 404, without echoing the raw text back.
        StaffId::parse("staff_id", &raw).map(StaffPath).map_err(|_| ApiError::NotFound("staff_not_found"))
    }
}

/// Query parameters that must parse as `T`; a bad one is a 400 problem naming it.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::BadRequest { code: "invalid_query", detail: e.body_text() })
    }
}
