//! The auditors' API (`/v1/audit`, admins and auditors): histories and time travel straight
//! from the log, verification of the read models, and streamed exports.

use std::convert::Infallible;

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::Aggregate;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::error::DomainError;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::{ApiQuery, ComplaintPath, CurrentActor, StaffPath};
use ehelpdesk_shared::staff::StaffMember;
use futures::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::audit::{AsOf, AuditError, HistoryEntry, read_history};
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
    responses((status = 200, body = HistoryResponse), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
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
#[utoipa::path(get, path = "/v1/audit/staff/{id}/history", tag = "audit", params(("id" = String, Path)),
    responses((status = 200, body = HistoryResponse), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
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
    #[schema(value_type = Object)]
    pub state: serde_json::Value,
}

async fn state_as_of<A: Aggregate + Serialize>(
    state: &AppState,
    id: &A::Id,
    params: &AsOfParams,
) -> Result<Option<StateAsOf>, ApiError> {
    let as_of = params.as_of()?;
    let history = read_history::<A>(&state.jetstream, &state.settings.event_log, id).await.map_err(audit_error)?;
    if history.entries.is_empty() {
        return Ok(None);
    }
    let (folded, last_sequence) = history.state_as_of(as_of).map_err(audit_error)?;
    let value = serde_json::to_value(&folded).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(Some(StateAsOf { id: id.to_string(), last_sequence, state: value }))
}

/// The complaint as it stood at a time or stream sequence, folded from the log by the
/// domain code that serves commands.
#[utoipa::path(get, path = "/v1/audit/complaints/{id}/state", tag = "audit", params(("id" = Uuid, Path), AsOfParams),
    responses((status = 200, body = StateAsOf), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
pub async fn complaint_state(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<StateAsOf>, ApiError> {
    auditors_only(&actor)?;
    state_as_of::<Complaint>(&state, &id, &params)
        .await?
        .map(Json)
        .ok_or(ApiError::Domain(DomainError::ComplaintNotFound))
}

/// A member of staff as the directory held them at a time or stream sequence.
#[utoipa::path(get, path = "/v1/audit/staff/{id}/state", tag = "audit", params(("id" = String, Path), AsOfParams),
    responses((status = 200, body = StateAsOf), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
pub async fn staff_state(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    StaffPath(id): StaffPath,
    ApiQuery(params): ApiQuery<AsOfParams>,
) -> Result<Json<StateAsOf>, ApiError> {
    auditors_only(&actor)?;
    state_as_of::<StaffMember>(&state, &id, &params).await?.map(Json).ok_or(ApiError::NotFound("staff_not_found"))
}

/// Replays the log and compares every complaint with its read-model row and timeline.
#[utoipa::path(get, path = "/v1/audit/verify", tag = "audit",
    responses((status = 200, body = VerifyReport), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
pub async fn verify_read_models(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
) -> Result<Json<VerifyReport>, ApiError> {
    auditors_only(&actor)?;
    verify(&state.pool, &state.jetstream, &state.settings.event_log).await.map(Json).map_err(|e| match e {
        crate::verify::VerifyError::Nats(reason) => ApiError::Unavailable(reason),
        crate::verify::VerifyError::Database(e) => database_error(e),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
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
    fn checked(self) -> Result<Self, ApiError> {
        Ok(Self { from: params::time("from", self.from)?, to: params::time("to", self.to)?, ..self })
    }
}

/// What a browser saves an export as: `ehelpdesk-<what>[-<complaint id>].<extension>`
/// (a UUID needs no quoting or escaping).
fn attachment(what: &str, complaint_id: Option<Uuid>, extension: &str) -> String {
    let name = match complaint_id {
        Some(id) => format!("ehelpdesk-{what}-{id}.{extension}"),
        None => format!("ehelpdesk-{what}.{extension}"),
    };
    format!("attachment; filename=\"{name}\"")
}

/// Lines of a streamed response, produced by a task so nothing is held in memory.
fn streamed(
    content_type: &'static str,
    disposition: String,
    produce: impl FnOnce(futures::channel::mpsc::Sender<Bytes>) -> futures::future::BoxFuture<'static, ()>,
) -> Response {
    let (tx, rx) = futures::channel::mpsc::channel::<Bytes>(64);
    tokio::spawn(produce(tx));
    let body = Body::from_stream(rx.map(Ok::<Bytes, Infallible>));
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition)], body)
        .into_response()
}

/// The events of one complaint or of a time range as JSON Lines, exactly as stored (with
/// their stream sequence and write time), streamed.
#[utoipa::path(get, path = "/v1/audit/export/events.jsonl", tag = "audit", params(ExportParams),
    responses((status = 200, content_type = "application/x-ndjson"), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
pub async fn export_events(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    auditors_only(&actor)?;
    let p = p.checked()?;
    let log = state.settings.event_log.clone();
    let mut stream = state.jetstream.get_stream(&log.stream).await.map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let head = stream.info().await.map_err(|e| ApiError::Unavailable(e.to_string()))?.state.last_sequence;
    let filter = match p.complaint_id {
        Some(id) => log.subject("complaint", &id),
        None => log.all_subjects(),
    };
    let deliver_policy = match p.from {
        Some(from) => DeliverPolicy::ByStartTime { start_time: from },
        None => DeliverPolicy::All,
    };
    let consumer = stream
        .create_consumer(OrderedConfig { deliver_policy, filter_subject: filter, ..Default::default() })
        .await
        .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let to = p.to;
    Ok(streamed("application/x-ndjson", attachment("events", p.complaint_id, "jsonl"), move |mut tx| {
        Box::pin(async move {
            let Ok(mut messages) = consumer.messages().await else { return };
            loop {
                let next = tokio::time::timeout(std::time::Duration::from_secs(2), messages.next()).await;
                let Ok(Some(Ok(message))) = next else { return };
                let Ok(info) = message.info() else { return };
                let (sequence, written_at) = (info.stream_sequence, info.published);
                if to.is_some_and(|to| written_at >= to) {
                    return;
                }
                let stored: serde_json::Value =
                    serde_json::from_slice(&message.payload).unwrap_or(serde_json::Value::Null);
                let line = serde_json::json!({
                    "sequence": sequence, "written_at": written_at, "subject": message.subject.as_str(), "event": stored,
                });
                let mut bytes = serde_json::to_vec(&line).unwrap_or_default();
                bytes.push(b'\n');
                if tx.send(Bytes::from(bytes)).await.is_err() || sequence >= head {
                    return;
                }
            }
        })
    }))
}

/// One CSV field: quoted, and defused when a spreadsheet would read it as a formula (what
/// OWASP lists as starting one, tab and carriage return included).
fn csv_field(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// The timeline of one complaint or of a time range as CSV, streamed from the read model.
#[utoipa::path(get, path = "/v1/audit/export/timeline.csv", tag = "audit", params(ExportParams),
    responses((status = 200, content_type = "text/csv"), (status = "4XX", body = ehelpdesk_shared::http::Problem)))]
pub async fn export_timeline(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ExportParams>,
) -> Result<Response, ApiError> {
    auditors_only(&actor)?;
    let p = p.checked()?;
    let pool = state.pool.clone();
    Ok(streamed("text/csv; charset=utf-8", attachment("timeline", p.complaint_id, "csv"), move |mut tx| {
        Box::pin(async move {
            let header = "complaint_number,complaint_id,sequence,occurred_at,event_type,actor_id,actor_role,actor_name,status,visibility,message\n";
            if tx.send(Bytes::from_static(header.as_bytes())).await.is_err() {
                return;
            }
            let mut rows = sqlx::query(
                "SELECT c.number, t.complaint_id, t.sequence, t.occurred_at, t.event_type, t.actor_id, t.actor_role, \
                   t.actor_name, t.status, t.visibility, t.message FROM timeline t JOIN complaints c USING (complaint_id) \
                 WHERE ($1::uuid IS NULL OR t.complaint_id = $1) AND ($2::timestamptz IS NULL OR t.occurred_at >= $2) \
                   AND ($3::timestamptz IS NULL OR t.occurred_at < $3) ORDER BY t.sequence",
            )
            .bind(p.complaint_id)
            .bind(p.from)
            .bind(p.to)
            .fetch(&pool);
            while let Some(Ok(row)) = rows.next().await {
                use sqlx::Row;
                let occurred: DateTime<Utc> = row.get(3);
                let fields = [
                    row.get::<String, _>(0),
                    row.get::<Uuid, _>(1).to_string(),
                    row.get::<i64, _>(2).to_string(),
                    occurred.to_rfc3339(),
                    row.get(4),
                    row.get(5),
                    row.get(6),
                    row.get(7),
                    row.get(8),
                    row.get(9),
                    row.get::<Option<String>, _>(10).unwrap_or_default(),
                ];
                let line = fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n";
                if tx.send(Bytes::from(line)).await.is_err() {
                    return;
                }
            }
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::csv_field;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        // OWASP's list of characters that start a formula: =, +, -, @, tab and carriage return.
        assert_eq!(csv_field("+1+cmd|' /C calc'!A0"), "\"'+1+cmd|' /C calc'!A0\"");
        assert_eq!(csv_field("-2+3"), "\"'-2+3\"");
        assert_eq!(csv_field("@SUM(A1:A2)"), "\"'@SUM(A1:A2)\"");
        assert_eq!(csv_field("\t=1+1"), "\"'\t=1+1\"");
        assert_eq!(csv_field("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(csv_field("a=1"), "\"a=1\"", "only a leading one is a formula");
        assert_eq!(csv_field(""), "\"\"");
    }
}
