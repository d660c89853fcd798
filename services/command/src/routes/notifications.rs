//! Notifications (admins only): retrying one the notifier dead-lettered.

use axum::Json;
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::error::DomainError;
use ehelpdesk_shared::http::problem::{ApiError, Problem};
use ehelpdesk_shared::notification::DeliveryState;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::rate_limit::Writer;
use crate::state::AppState;

/// `{id}` of `/v1/notifications/{id}/...`, as sent: it is judged only after the caller's
/// role, so that nobody but an admin learns anything from the answer.
pub struct NotificationPath(String);

impl<S: Send + Sync> FromRequestParts<S> for NotificationPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(raw) = axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::NotFound("not_found"))?;
        Ok(NotificationPath(raw))
    }
}

#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"notification_id": "0190a0b0-0000-7000-8000-000000000001", "cycle": 1, "state": "queued"}))]
pub struct RetryAccepted {
    /// The notification (the outbox row's `id`).
    pub notification_id: Uuid,
    /// Its new retry cycle: 1 after the first retry, 2 after the second, ... (`retry_cycle`
    /// on the outbox row).
    pub cycle: u32,
    /// Always `queued`: published again for the notifier; its receipts follow on the outbox.
    pub state: DeliveryState,
}

/// Retry a dead-lettered notification (admins): the notifier delivers it again from attempt 1,
/// in its next retry cycle. Two retries at once publish it once, and both answer 202 with the
/// same cycle. `GET /v1/outbox` on the query service shows it `queued`, then its outcome.
#[utoipa::path(post, path = "/v1/notifications/{id}/retry", tag = "notifications",
    params(("id" = Uuid, Path, description = "The notification's id (`id` in `GET /v1/outbox`)")),
    responses(
        (status = 202, description = "Published again; the notifier will deliver it", body = RetryAccepted),
        (status = 404, description = "`notification_not_found`: no notifier has a delivery record of this id",
            body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`notification_not_dead_lettered`: it is being sent, was sent, or waits for its \
            next attempt (the detail names its state); `notification_expired`: its message is no longer in NOTIFY \
            (kept 30 days)", body = Problem, content_type = "application/problem+json")))]
pub async fn retry_notification(
    State(state): State<AppState>,
    Writer(actor): Writer,
    NotificationPath(raw): NotificationPath,
) -> Result<Response, ApiError> {
    if !actor.is(Role::Admin) {
        return Err(DomainError::RoleNotAllowed { role: actor.role.as_str(), action: "retry notifications" }.into());
    }
    let Ok(id) = Uuid::parse_str(&raw) else {
        return Err(ApiError::Missing {
            code: "notification_not_found",
            detail: "Tiada pemberitahuan dengan id itu / no notification has that id".into(),
        });
    };
    state.ready()?;
    let retried = state.notifications.retry(id, chrono::Utc::now()).await?;
    // Who did it stays in the log: an operational act, not an event (docs/architecture.md).
    tracing::info!(notification = %id, admin = %actor.id, channel = %retried.channel, cycle = retried.cycle,
        stream_sequence = retried.stream_sequence, duplicate = retried.duplicate,
        "an admin retried a dead-lettered notification");
    let body = RetryAccepted { notification_id: id, cycle: retried.cycle, state: DeliveryState::Queued };
    Ok((StatusCode::ACCEPTED, Json(body)).into_response())
}
