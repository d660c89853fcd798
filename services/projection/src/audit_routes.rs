//! The auditors' API (`/v1/audit`, admins and auditors): histories and time travel straight
//! from the log, verification of the read models, and streamed exports (see [`crate::export`]).

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use axum::extract::State;
use axum::response::Response;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::Aggregate;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::error::DomainError;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::{ApiQuery, ComplaintPath, CurrentActor, StaffPath};
use ehelpdesk_shared::staff::StaffMember;
use ehelpdesk_shared::visibility::{ComplaintView, Relation, StaffMemberView};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::audit::{AsOf, AuditError, HistoryEntry, read_history};
use crate::export::{self, ExportGate, Format, Range};
use crate::params;
use crate::state::{AppState, database_error};
use crate::verify::{VerifyReport, verify};

fn auditors_only(actor: &Actor) -> Result<(), ApiError> {
    match actor.role {
        Role::Admin | Role::Auditor => Ok(()),
        _ => Err(ApiError::Domain(DomainError::RoleNotAllowed { role: actor.role.as_str(), action: "audit" })),
    }
}

fn audit_error(e: AuditError) -> ApiError {
    match e {
        AuditError::Nats(reason) => ApiError::Unavailable(reason),
        AuditError::Unreadable { .. } => ApiError::Internal(e.to_string()),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct HistoryResponse {
    pub id: String,
    pub events: Vec<HistoryEntry>,
}

/// A complaint's events straight from the log, in order, upcast to today's shape.
#[utoipa::path(get, path = "/v1/audit/complaints/{id}/history", tag = "audit", params(("id" = Uuid, Path)),
    responses((status = 200, body = HistoryResponse)))]
pub async fn complaint_history(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
) -> Result<Json<HistoryResponse>, ApiError> {
    auditors_only(&actor)?;
    let history =
        read_history::<Complaint>(&state.jetstream, &state.settings.event_log, &id).await.map_err(audit_error)?;
    if history.entries.is_empty() {
        return Err(ApiError::Domain(DomainError::ComplaintNotFound));
    }
    Ok(Json(HistoryResponse { id: id.to_string(), events: history.entries }))
}

/// A member of staff's events straight from the log.
#[utoipa::path(get, path = "/v1/audit/staff/{id}/history", tag = "audit", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah")),
    responses((status = 200, body = HistoryResponse)))]
pub async fn staff_history(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    StaffPath(id): StaffPath,
) -> Result<Json<HistoryResponse>, ApiError> {
    auditors_only(&actor)?;
    let history =
        read_history::<StaffMember>(&state.jetstream, &state.settings.event_log, &id).await.map_err(audit_error)?;
    if history.entries.is_empty() {
        return Err(ApiError::NotFound("staff_not_found"));
    }
    Ok(Json(HistoryResponse { id: id.to_string(), events: history.entries }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AsOfParams {
    /// The state after every event that happened at or before this time (RFC 3339).
    pub as_of: Option<DateTime<Utc>>,
    /// The state after every event at or below this stream sequence.
    pub as_of_seq: Option<u64>,
}

impl AsOfParams {
    fn as_of(&self) -> Result<Option<AsOf>, ApiError> {
        match (self.as_of, self.as_of_seq) {
            (Some(_), Some(_)) => {
                Err(ApiError::BadRequest { code: "invalid_query", detail: "give as_of or as_of_seq, not both".into() })
            }
            (Some(t), None) => Ok(Some(AsOf::Time(t))),
            (None, Some(n)) => Ok(Some(AsOf::Sequence(n))),
            (None, None) => Ok(None),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct StateAsOf {
    pub id: String,
    /// Stream sequence of the last event folded (0: none yet).
    pub last_sequence: u64,
    /// Null when it did not exist yet at that point.
    #[schema(value_type = Option<Object>, required = true)]
    pub state: serde_json::Value,
}

/// `view` is the API's shape of the folded state: the domain state itself is never the answer.
async fn state_as_of<A: Aggregate, V: Serialize>(
    state: &AppState,
    id: &A::Id,
    params: &AsOfParams,
    view: fn(&A) -> V,
) -> Result<Option<StateAsOf>, ApiError> {
    let as_of = params.as_of()?;
    let history = read_history::<A>(&state.jetstream, &state.settings.event_log, id).await.map_err(audit_error)?;
    if history.entries.is_empty() {
        return Ok(None);
    }
    let (folded, last_sequence) = history.state_as_of(as_of).map_err(audit_error)?;
    let value = serde_json::to_value(folded.as_ref().map(view)).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Some(StateAsOf { id: id.to_string(), last_sequence, state: value }))
}

/// The complaint as it stood at a time or stream sequence, folded from the log by the
/// domain code that serves commands.
#[utoipa::path(get, path = "/v1/audit/complaints/{id}/state", tag = "audit", params(("id" = Uuid, Path), AsOfParams),
    responses((status = 200, body = StateAsOf)))]
pub async fn complaint_state(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<StateAsOf>, ApiError> {
    auditors_only(&actor)?;
    state_as_of(&state, &id, &params, |c: &Complaint| ComplaintView::of(c, Relation::Auditor))
        .await?
        .map(Json)
        .ok_or(ApiError::Domain(DomainError::ComplaintNotFound))
}

/// A member of staff as the directory held them at a time or stream sequence.
#[utoipa::path(get, path = "/v1/audit/staff/{id}/state", tag = "audit", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah"), AsOfParams),
    responses((status = 200, body = StateAsOf)))]
pub async fn staff_state(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    StaffPath(id): StaffPath,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<StateAsOf>, ApiError> {
    auditors_only(&actor)?;
    state_as_of(&state, &id, &params, |s: &StaffMember| StaffMemberView::from(s))
        .await?
        .map(Json)
        .ok_or(ApiError::NotFound("staff_not_found"))
}

/// Replays the log and compares every complaint with its read-model row and timeline.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport)))]
pub async fn verify_read_models(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<VerifyReport>, ApiError> {
    auditors_only(&actor)?;
    let limits = crate::verify::Limits::of(&state.settings);
    verify(&state.pool, &state.jetstream, &state.settings.event_log, limits).await.map(Json).map_err(|e| match e {
        crate::verify::VerifyError::Nats(reason) => ApiError::Unavailable(reason),
        crate::verify::VerifyError::Database(e) => database_error(e),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportParams {
    /// One complaint; or leave out and give a range.
    pub complaint_id: Option<Uuid>,
    /// From this time (RFC 3339), inclusive.
    pub from: Option<DateTime<Utc>>,
    /// Up to this time, exclusive.
    pub to: Option<DateTime<Utc>>,
}

impl ExportParams {
    fn range(self) -> Result<Range, ApiError> {
        Ok(Range {
            complaint_id: self.complaint_id,
            from: params::time("from", self.from)?,
            to: params::time("to", self.to)?,
        })
    }
}

/// The export routes, with the admission they share.
/// The audit routes with their OpenAPI entries (the exports' gate is layered by the router).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(complaint_history))
        .routes(routes!(complaint_state))
        .routes(routes!(staff_history))
        .routes(routes!(staff_state))
        .routes(routes!(verify_read_models))
        .routes(routes!(export_events))
        .routes(routes!(export_timeline))
}

/// The events of one complaint or of a time range as JSON Lines, exactly as stored (with
/// their stream sequence and write time), streamed.
///
/// A complete export ends with the line `{"export_complete":{"count":N,"sha256":"<hex>"}}`:
/// N events, and the SHA-256 of every byte before that line. If the export fails part way
/// (the event log stops answering, the client takes nothing for `EXPORT_WRITE_TIMEOUT_SECS`),
/// the connection is aborted without the end of the chunked body: a body without the trailer
/// is incomplete. At most `EXPORT_MAX_CONCURRENT` exports run at once; more are 429
/// `too_many_exports` with `Retry-After`.
#[utoipa::path(get, path = "/v1/audit/export/events.jsonl", tag = "audit", params(ExportParams),
    responses((status = 200, content_type = "application/x-ndjson"),
        (status = 429, description = "Too many exports at once (`too_many_exports`); see Retry-After",
            body = ehelpdesk_shared::http::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait")))))]
pub async fn export_events(
    State(state): State<AppState>,
    Extension(gate): Extension<ExportGate>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    auditors_only(&actor)?;
    let range = p.range()?;
    let admitted = gate.admit()?;
    let log = &state.settings.event_log;
    let mut stream = state.jetstream.get_stream(&log.stream).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let head = stream.info().await.map_err(|e| ApiError::Unavailable(e.to_string()))?.state.last_sequence;
    let filter = match range.complaint_id {
        Some(id) => log.subject("complaint", &id),
        None => log.all_subjects(),
    };
    let deliver_policy = match range.from {
        Some(from) => DeliverPolicy::ByStartTime { start_time: from },
        None => DeliverPolicy::All,
    };
    let consumer = stream
        .create_consumer(OrderedConfig { deliver_policy, filter_subject: filter, ..Default::default() })
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    Ok(export::respond(admitted, Format::JsonLines, range.complaint_id, move |sink| {
        export::events_jsonl(consumer, head, range.to, sink)
    }))
}

/// The timeline of one complaint or of a time range as CSV, streamed from the read model
/// over a database connection of the export's own (never the query pool's).
///
/// A complete export ends with the line `# export complete: rows=N sha256=<hex>`: N rows
/// after the header, and the SHA-256 of every byte before that line, header included. If the
/// export fails part way (a database error, the client takes nothing for
/// `EXPORT_WRITE_TIMEOUT_SECS`), the connection is aborted without the end of the chunked
/// body: a body without the trailer is incomplete. At most `EXPORT_MAX_CONCURRENT` exports
/// run at once; more are 429 `too_many_exports` with `Retry-After`.
#[utoipa::path(get, path = "/v1/audit/export/timeline.csv", tag = "audit", params(ExportParams),
    responses((status = 200, content_type = "text/csv"),
        (status = 429, description = "Too many exports at once (`too_many_exports`); see Retry-After",
            body = ehelpdesk_shared::http::Problem, content_type = "application/problem+json",
            headers(("Retry-After" = String, description = "Seconds to wait")))))]
pub async fn export_timeline(
    State(state): State<AppState>,
    Extension(gate): Extension<ExportGate>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    auditors_only(&actor)?;
    let range = p.range()?;
    let admitted = gate.admit()?;
    let conn = export::connect(&state.settings).await.map_err(database_error)?;
    Ok(export::respond(admitted, Format::Csv, range.complaint_id, move |sink| export::timeline_csv(conn, range, sink)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_tells_how_a_complete_export_ends() {
        let doc = serde_json::to_value(crate::routes::openapi_document()).unwrap();
        for (path, trailer) in [
            ("/v1/audit/export/events.jsonl", "{\"export_complete\":{\"count\":N,\"sha256\":\"<hex>\"}}"),
            ("/v1/audit/export/timeline.csv", "# export complete: rows=N sha256=<hex>"),
        ] {
            let description = doc["paths"][path]["get"]["description"].as_str().unwrap_or_default();
            assert!(description.contains(trailer), "{path}: {description}");
            assert!(description.contains("too_many_exports"), "{path}: {description}");
        }
    }
}
