//! One error type for every handler, answered as `application/problem+json` (RFC 9457)
//! with a stable `code`. Client mistakes are 4xx; only our own faults are 5xx.

use crate::error::{DomainError, ErrorKind};
use crate::validation::FieldError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error("{0}")]
    Field(#[from] FieldError),
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{0}")]
    UnprocessableBody(String),
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    InvalidToken(String),
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("too many requests; try again in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    /// A limited resource (e.g. exports running at once) is all in use: 429 with
    /// `Retry-After`, not 503, because the service is healthy and this is no fault to alert on.
    #[error("{detail}")]
    Busy { code: &'static str, detail: String, retry_after_secs: u64 },
    #[error("the request body is larger than the limit")]
    PayloadTooLarge,
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("no such resource")]
    NotFound(&'static str),
    /// 404 with a detail of its own (Malay first, English beside).
    #[error("{detail}")]
    Missing { code: &'static str, detail: String },
    /// 409 for a resource outside the complaint domain (a notification, ...): its state
    /// forbids the request. Complaint conflicts are [`DomainError`]s.
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("method not allowed here")]
    MethodNotAllowed,
    #[error("this Idempotency-Key was already used for a different request")]
    IdempotencyKeyReused,
    #[error("the complaint kept changing under this request; try again")]
    TooContended,
    #[error("the event log is unavailable: {0}")]
    Unavailable(String),
    #[error("the read-model database is unavailable: {0}")]
    DatabaseUnavailable(String),
    #[error(
        "Unjuran belum sampai ke jujukan {wanted} (sudah: {applied}); cuba lagi / \
         the projection has not yet applied stream sequence {wanted} (applied: {applied}); try again"
    )]
    ProjectionBehind { wanted: u64, applied: u64 },
    #[error(
        "Jujukan {wanted} belum ditulis ke log peristiwa (terakhir: {head}) / \
         stream sequence {wanted} has not been written to the event log (last: {head})"
    )]
    MinSeqNotWritten { wanted: u64, head: u64 },
    #[error(
        "Terlalu banyak permintaan sedang menunggu unjuran; cuba lagi / \
         too many requests are waiting for the projection; try again"
    )]
    TooManyWaiters,
    #[error("Permintaan mengambil masa terlalu lama / the request took too long")]
    RequestTimeout,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The problem document. `code` is stable; `title` and `detail` are for people.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Domain(e) => match e.kind() {
                ErrorKind::Forbidden => StatusCode::FORBIDDEN,
                ErrorKind::NotFound => StatusCode::NOT_FOUND,
                ErrorKind::Conflict => StatusCode::CONFLICT,
                ErrorKind::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            },
            ApiError::Field(_) | ApiError::UnprocessableBody(_) | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::BadRequest { .. } | ApiError::MinSeqNotWritten { .. } => StatusCode::BAD_REQUEST,
            ApiError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            ApiError::Unauthenticated(_) | ApiError::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::RateLimited { .. } | ApiError::Busy { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::NotFound(_) | ApiError::Missing { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooContended => StatusCode::CONFLICT,
            ApiError::Unavailable(_)
            | ApiError::DatabaseUnavailable(_)
            | ApiError::ProjectionBehind { .. }
            | ApiError::TooManyWaiters => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Domain(e) => e.code(),
            ApiError::Field(e) => e.code,
            ApiError::BadRequest { code, .. } => code,
            ApiError::UnprocessableBody(_) => "invalid_body",
            ApiError::Unauthenticated(_) => "unauthenticated",
            ApiError::InvalidToken(_) => "invalid_token",
            ApiError::Forbidden { code, .. } => code,
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Busy { code, .. } => code,
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::NotFound(code) => code,
            ApiError::Missing { code, .. } | ApiError::Conflict { code, .. } => code,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::IdempotencyKeyReused => "idempotency_key_reused",
            ApiError::TooContended => "too_contended",
            ApiError::Unavailable(_) => "event_log_unavailable",
            ApiError::DatabaseUnavailable(_) => "database_unavailable",
            ApiError::ProjectionBehind { .. } => "projection_behind",
            ApiError::MinSeqNotWritten { .. } => "min_seq_not_written",
            ApiError::TooManyWaiters => "too_many_waiters",
            ApiError::RequestTimeout => "request_timeout",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Answers that say "wait a moment", not "something is broken": no error log, a short
    /// Retry-After.
    fn is_waiting(&self) -> bool {
        matches!(self, ApiError::ProjectionBehind { .. } | ApiError::TooManyWaiters)
    }

    fn field(&self) -> Option<String> {
        match self {
            ApiError::Domain(e) => e.field().map(str::to_owned),
            ApiError::Field(e) => Some(e.field.clone()),
            _ => None,
        }
    }

    pub fn problem(&self) -> Problem {
        let status = self.status();
        let detail = match self {
            // Our own faults are logged in full, but the client only learns that they happened.
            ApiError::Internal(_) => "Ralat dalaman / internal error".to_owned(),
            ApiError::Unavailable(_) => {
                "Log peristiwa tidak dapat dicapai; cuba lagi / the event log is unreachable; try again".to_owned()
            }
            ApiError::DatabaseUnavailable(_) => {
                "Pangkalan data tidak dapat dicapai; cuba lagi / the database is unreachable; try again".to_owned()
            }
            other => crate::telemetry::mask_ic_numbers(&other.to_string()),
        };
        Problem {
            problem_type: format!("https://ehelpdesk.example/problems/{}", self.code()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: self.code().to_owned(),
            field: self.field(),
        }
    }
}

/// The `code` of a problem answer, left on the response for the HTTP metrics: alerts tell
/// "the database is unreachable" from "the projection is behind", both 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() && !self.is_waiting() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        } else {
            tracing::info!(code = self.code(), status = status.as_u16(), "request refused");
        }
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if status == StatusCode::UNAUTHORIZED {
            let challenge = match self {
                ApiError::InvalidToken(_) => "Bearer error=\"invalid_token\"",
                _ => "Bearer",
            };
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
        }
        if let ApiError::RateLimited { retry_after_secs } | ApiError::Busy { retry_after_secs, .. } = &self
            && let Ok(value) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            headers.insert(header::RETRY_AFTER, value);
        }
        if status == StatusCode::SERVICE_UNAVAILABLE {
            let seconds = if self.is_waiting() { "1" } else { "5" };
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static(seconds));
        }
        if let ApiError::RequestTimeout = self {
            // What is left of a slow request may still be arriving: the connection goes.
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        response.extensions_mut().insert(ProblemCode(self.code()));
        response
    }
}
