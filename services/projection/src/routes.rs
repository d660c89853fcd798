//! The query API (`/v1`): inboxes, triage, complaint detail with timeline, search, reports
//! and the outbox. Who sees what is decided here, from the actor.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::error::DomainError;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::{ApiQuery, ComplaintPath, CurrentActor};
use ehelpdesk_shared::notification::DeliveryState;
use ehelpdesk_shared::visibility::{ComplaintView, Parties, Relation};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::queries::{
    self, AgingRow, ComplaintNotification, ComplaintRow, GroupBy, OutboxFilter, OutboxRow, ResolutionRow, Search,
    TimelineEntry,
};
use crate::state::{AppState, database_error};
use crate::{audit_routes, params};

/// Every public route with its OpenAPI entry, registered once: the router and the document
/// are both made from this list.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(crate::openapi::ApiDoc::openapi())
        .routes(routes!(ehelpdesk_shared::http::observe::healthz))
        .routes(routes!(readyz))
        .routes(routes!(inbox))
        .routes(routes!(badge))
        .routes(routes!(triage))
        .routes(routes!(assignees))
        .routes(routes!(search_complaints))
        .routes(routes!(complaint_detail))
        .routes(routes!(complaint_notifications))
        .routes(routes!(aging_report))
        .routes(routes!(resolution_report))
        .routes(routes!(outbox))
        .merge(audit_routes::routes())
}

/// The OpenAPI document served at `/openapi.json`.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    crate::openapi::finish(api().split_for_parts().1)
}

pub fn router(state: AppState) -> Router {
    let (router, doc) = api().split_for_parts();
    let doc = std::sync::Arc::new(crate::openapi::finish(doc));
    router
        .route("/openapi.json", get(move || async move { Json(doc.as_ref().clone()) }))
        // An event stream, which OpenAPI 3.0 cannot describe: README's "API contract deviations".
        .route("/v1/inbox/badge/stream", get(crate::badge_stream::badge_stream))
        .fallback(|| async { ApiError::NotFound("not_found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // One gate for all exports at once; only the export handlers take it.
        .layer(axum::Extension(crate::export::ExportGate::new(&state.settings)))
        .with_state(state)
}

fn forbidden(actor: &Actor, action: &'static str) -> ApiError {
    ApiError::Domain(DomainError::RoleNotAllowed { role: actor.role.as_str(), action })
}

fn limit(raw: Option<i64>) -> Result<i64, ApiError> {
    match raw {
        None => Ok(50),
        Some(n @ 1..=200) => Ok(n),
        Some(_) => Err(ApiError::BadRequest { code: "invalid_limit", detail: "limit must be 1 to 200".into() }),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct InboxParams {
    /// Whose inbox: a PIC's own by default; admins and auditors name one.
    #[param(example = "pic-aminah")]
    pub pic_id: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    /// Wait until this stream sequence is applied (read your own write).
    pub min_seq: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Inbox {
    pub pic_id: String,
    /// The "Inbox Helpdesk" badge: open complaints assigned to this PIC.
    pub badge: i64,
    /// Open complaints, oldest first.
    pub items: Vec<ComplaintRow>,
}

pub fn inbox_owner(actor: &Actor, requested: Option<String>) -> Result<String, ApiError> {
    match actor.role {
        Role::Pic => match requested {
            Some(other) if other != actor.id.as_str() => Err(forbidden(actor, "read another PIC's inbox")),
            _ => Ok(actor.id.to_string()),
        },
        Role::Admin | Role::Auditor => requested.ok_or_else(|| ApiError::BadRequest {
            code: "pic_id_required",
            detail: "name the PIC whose inbox to read (pic_id)".into(),
        }),
        _ => Err(forbidden(actor, "read PIC inboxes")),
    }
}

/// A PIC's inbox: open complaints assigned to them, oldest first, with aging and the badge.
#[utoipa::path(get, path = "/v1/inbox", tag = "inbox", params(InboxParams),
    responses((status = 200, body = Inbox)))]
pub async fn inbox(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(params): ApiQuery<InboxParams>,
) -> Result<Json<Inbox>, ApiError> {
    let pic_id = inbox_owner(&actor, params.pic_id)?;
    let limit = limit(params.limit)?;
    state.wait_for(params.min_seq).await?;
    let (badge, items) =
        queries::inbox_for_pic(&state.pool, &pic_id, state.aging(), limit).await.map_err(database_error)?;
    Ok(Json(Inbox { pic_id, badge, items }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Badge {
    pub pic_id: String,
    pub count: i64,
}

/// Just the badge count.
#[utoipa::path(get, path = "/v1/inbox/badge", tag = "inbox", params(InboxParams),
    responses((status = 200, body = Badge)))]
pub async fn badge(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(params): ApiQuery<InboxParams>,
) -> Result<Json<Badge>, ApiError> {
    let pic_id = inbox_owner(&actor, params.pic_id)?;
    state.wait_for(params.min_seq).await?;
    let count = queries::badge_for_pic(&state.pool, &pic_id).await.map_err(database_error)?;
    Ok(Json(Badge { pic_id, count }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    pub min_seq: Option<u64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AssigneeParams {
    /// PICs (the default), or implementors (whom a PIC refers complaints to).
    #[param(inline)]
    pub role: Option<AssigneeRole>,
    /// A category code, any case: who covers it comes first, and each says whether they do.
    #[param(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "AC")]
    pub category: Option<String>,
    pub min_seq: Option<u64>,
}

#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssigneeRole {
    Pic,
    Implementor,
}

/// Whom a complaint may be handed to: the active PICs (or implementors), those covering the
/// category first, then the least loaded, each with the open complaints they hold.
#[utoipa::path(get, path = "/v1/assignees", tag = "inbox", params(AssigneeParams),
    responses((status = 200, body = [queries::Assignee])))]
pub async fn assignees(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(params): ApiQuery<AssigneeParams>,
) -> Result<Json<Vec<queries::Assignee>>, ApiError> {
    let role = match params.role.unwrap_or(AssigneeRole::Pic) {
        AssigneeRole::Pic => Role::Pic,
        AssigneeRole::Implementor => Role::Implementor,
    };
    // Admins assign to PICs; a PIC (and an admin) refers to implementors.
    let may = match role {
        Role::Implementor => matches!(actor.role, Role::Admin | Role::Auditor | Role::Pic),
        _ => matches!(actor.role, Role::Admin | Role::Auditor),
    };
    if !may {
        return Err(forbidden(&actor, "list whom complaints may be handed to"));
    }
    let category = params.category.map(|c| c.trim().to_uppercase()).filter(|c| !c.is_empty());
    state.wait_for(params.min_seq).await?;
    let rows = queries::assignees(&state.pool, role.as_str(), category.as_deref()).await.map_err(database_error)?;
    Ok(Json(rows))
}

/// The admin's triage queue: new complaints nobody holds yet, oldest first.
#[utoipa::path(get, path = "/v1/triage", tag = "inbox", params(ListParams),
    responses((status = 200, body = [ComplaintRow])))]
pub async fn triage(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(params): ApiQuery<ListParams>,
) -> Result<Json<Vec<ComplaintRow>>, ApiError> {
    if !matches!(actor.role, Role::Admin | Role::Auditor) {
        return Err(forbidden(&actor, "read the triage queue"));
    }
    let limit = limit(params.limit)?;
    state.wait_for(params.min_seq).await?;
    let rows = queries::triage_queue(&state.pool, state.aging(), limit).await.map_err(database_error)?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// As the caller sees it (a complainant never sees `with_implementor`).
    #[param(value_type = Option<ehelpdesk_shared::complaint::Status>)]
    pub status: Option<String>,
    /// A category code, any case.
    #[param(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "AC")]
    pub category: Option<String>,
    #[param(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "Jabatan Akauntan Negara")]
    pub ptj: Option<String>,
    #[param(pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "pic-aminah")]
    pub pic_id: Option<String>,
    /// Logged at or after (RFC 3339).
    pub from: Option<DateTime<Utc>>,
    /// Logged before (RFC 3339).
    pub to: Option<DateTime<Utc>>,
    /// Words to find in the title or description (at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "baucar")]
    pub q: Option<String>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(pattern = r"^-?[0-9]+_[0-9a-fA-F-]{32,36}$")]
    pub cursor: Option<String>,
    pub min_seq: Option<u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SearchPage {
    pub items: Vec<ComplaintRow>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Only a cursor this service could have given: a forged one far outside the years of
/// complaints would otherwise reach PostgreSQL as a time it cannot hold.
fn parse_cursor(raw: &str) -> Option<(DateTime<Utc>, uuid::Uuid)> {
    let (micros, id) = raw.split_once('_')?;
    let at = DateTime::from_timestamp_micros(micros.parse().ok()?).filter(params::is_sane)?;
    Some((at, uuid::Uuid::parse_str(id).ok()?))
}

/// Every search row's relation to the caller: searches are scoped by role (below), so a
/// complainant only ever finds their own complaints, and staff see statuses as they are.
fn relation_of_searcher(actor: &Actor) -> Relation {
    match actor.role {
        Role::Complainant => Relation::Owner,
        Role::Pic => Relation::AssignedPic,
        Role::Implementor => Relation::ReferredImplementor,
        Role::Admin => Relation::Admin,
        Role::Auditor => Relation::Auditor,
    }
}

/// Search and filter complaints, newest first, with keyset pagination. Each role sees only
/// the complaints it may: its own (complainant), assigned (PIC), referred (implementor).
#[utoipa::path(get, path = "/v1/complaints", tag = "complaints", params(SearchParams),
    responses((status = 200, body = SearchPage)))]
pub async fn search_complaints(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<SearchParams>,
) -> Result<Json<SearchPage>, ApiError> {
    let status = match p.status.as_deref() {
        None => None,
        Some(raw) => Some(queries::parse_status(raw).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_status",
            detail: format!("unknown status `{raw}`"),
        })?),
    };
    let after = match p.cursor.as_deref() {
        None => None,
        Some(raw) => Some(parse_cursor(raw).ok_or_else(|| ApiError::BadRequest {
            code: "invalid_cursor",
            detail: "use next_cursor as given".into(),
        })?),
    };
    let text = params::plain_text("q", p.q)?.filter(|q| !q.trim().is_empty());
    if text.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(ApiError::BadRequest { code: "invalid_query", detail: "q is at most 200 characters".into() });
    }
    let mut search = Search {
        statuses: status.map(|shown| relation_of_searcher(&actor).statuses_shown_as(shown)),
        category: params::plain_text("category", p.category)?.map(|c| c.to_uppercase()),
        ptj: params::plain_text("ptj", p.ptj)?,
        pic_id: params::plain_text("pic_id", p.pic_id)?,
        from: params::time("from", p.from)?,
        to: params::time("to", p.to)?,
        text,
        after,
        limit: limit(p.limit)?,
        ..Default::default()
    };
    match actor.role {
        Role::Admin | Role::Auditor => {}
        Role::Complainant => search.complainant_scope = Some(actor.id.to_string()),
        Role::Pic => search.pic_scope = Some(actor.id.to_string()),
        Role::Implementor => search.implementor_scope = Some(actor.id.to_string()),
    }
    state.wait_for(p.min_seq).await?;
    let relation = relation_of_searcher(&actor);
    let items = queries::search(&state.pool, &search, state.aging()).await.map_err(database_error)?;
    let items: Vec<ComplaintRow> = items.into_iter().map(|row| row.as_seen_by(relation)).collect();
    let next_cursor = (items.len() as i64 == search.limit)
        .then(|| items.last().map(|r| format!("{}_{}", r.logged_at.timestamp_micros(), r.complaint_id)))
        .flatten();
    Ok(Json(SearchPage { items, next_cursor }))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintDetail {
    #[serde(flatten)]
    pub summary: ComplaintRow,
    /// Everything the complaint holds that the caller may see: contacts, description,
    /// vendor, satisfaction (docs/security.md).
    pub complaint: ComplaintView,
    /// Stream sequence of the complaint's last event applied.
    pub stream_sequence: i64,
    /// The feedback history; internal notes only for staff.
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DetailParams {
    pub min_seq: Option<u64>,
}

/// A complaint with its full feedback history. Someone else's complaint is "not found".
#[utoipa::path(get, path = "/v1/complaints/{id}", tag = "complaints", params(("id" = uuid::Uuid, Path), DetailParams),
    responses((status = 200, body = ComplaintDetail)))]
pub async fn complaint_detail(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
    ApiQuery(params): ApiQuery<DetailParams>,
) -> Result<Json<ComplaintDetail>, ApiError> {
    let found = seen_complaint(&state, &actor, id, params.min_seq).await?;
    detail_of(&state, found).await.map(Json)
}

/// The complaint `id` as `actor` may see it once `min_seq` (if any) is applied, or 404.
///
/// Authorise before waiting: a caller waits only on a complaint they may see now, or one
/// whose row is behind the sequence they ask for (their own write, or a referral to them,
/// not applied yet). Anyone else gets 404 at once.
async fn seen_complaint(
    state: &AppState,
    actor: &Actor,
    id: uuid::Uuid,
    min_seq: Option<u64>,
) -> Result<Box<(queries::StoredComplaint, Relation)>, ApiError> {
    let found = visible_complaint(state, actor, id).await?;
    let wanted = match (found, min_seq) {
        (Found::Visible(found), None) => return Ok(found),
        (Found::Hidden { last_sequence }, Some(wanted)) if last_sequence >= wanted as i64 => None,
        (Found::Hidden { .. }, None) | (Found::Absent, None) => None,
        (_, Some(wanted)) => Some(wanted),
    };
    let Some(wanted) = wanted else { return Err(ApiError::Domain(DomainError::ComplaintNotFound)) };
    state.wait_for(Some(wanted)).await?;
    match visible_complaint(state, actor, id).await? {
        Found::Visible(found) => Ok(found),
        Found::Hidden { .. } | Found::Absent => Err(ApiError::Domain(DomainError::ComplaintNotFound)),
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ComplaintNotifications {
    pub complaint_id: uuid::Uuid,
    /// `ADU-2026-000123`.
    pub number: String,
    /// Every notification the complaint's events sent, oldest first: who was told, how, and
    /// what became of it.
    pub items: Vec<ComplaintNotification>,
}

/// Who was told of a complaint, how and when (staff who may see the complaint). Who is told
/// what is staff business: to complainants, as to staff it does not concern, the complaint
/// is "not found".
#[utoipa::path(get, path = "/v1/complaints/{id}/notifications", tag = "notifications",
    params(("id" = uuid::Uuid, Path), DetailParams),
    responses((status = 200, body = ComplaintNotifications)))]
pub async fn complaint_notifications(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
    ApiQuery(params): ApiQuery<DetailParams>,
) -> Result<Json<ComplaintNotifications>, ApiError> {
    if actor.role == Role::Complainant {
        return Err(ApiError::Domain(DomainError::ComplaintNotFound));
    }
    let found = seen_complaint(&state, &actor, id, params.min_seq).await?;
    let (stored, _) = *found;
    let items = queries::complaint_notifications(&state.pool, id).await.map_err(database_error)?;
    Ok(Json(ComplaintNotifications { complaint_id: id, number: stored.row.number, items }))
}

/// A complaint as it stands for one caller.
enum Found {
    Visible(Box<(queries::StoredComplaint, Relation)>),
    /// It exists, but not for this caller (as of the row's last applied event).
    Hidden {
        last_sequence: i64,
    },
    Absent,
}

async fn visible_complaint(state: &AppState, actor: &Actor, id: uuid::Uuid) -> Result<Found, ApiError> {
    let Some(stored) = queries::complaint(&state.pool, id, state.aging()).await.map_err(database_error)? else {
        return Ok(Found::Absent);
    };
    let parties = Parties {
        complainant_id: &stored.row.complainant.id,
        pic_id: stored.row.pic_id.as_deref(),
        implementor_id: stored.implementor_id.as_deref(),
    };
    Ok(match Relation::of(actor, parties) {
        Some(relation) => Found::Visible(Box::new((stored, relation))),
        None => Found::Hidden { last_sequence: stored.last_sequence },
    })
}

async fn detail_of(
    state: &AppState,
    found: Box<(queries::StoredComplaint, Relation)>,
) -> Result<ComplaintDetail, ApiError> {
    let (stored, relation) = *found;
    let complaint: Complaint = serde_json::from_value::<ehelpdesk_shared::stored::state::StoredComplaint>(stored.state)
        .map_err(|e| ApiError::Internal(format!("stored complaint state unreadable: {e}")))?
        .into();
    let timeline =
        queries::timeline(&state.pool, complaint.id, relation.sees_internal_steps()).await.map_err(database_error)?;
    let timeline = timeline.into_iter().map(|entry| entry.as_seen_by(relation)).collect();
    Ok(ComplaintDetail {
        summary: stored.row.as_seen_by(relation),
        complaint: ComplaintView::of(&complaint, relation),
        stream_sequence: stored.last_sequence,
        timeline,
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ReportParams {
    /// pic, category or ptj.
    pub group_by: Option<GroupBy>,
    /// Age as of this Malaysian date (default today).
    pub today: Option<NaiveDate>,
    pub min_seq: Option<u64>,
}

impl ReportParams {
    fn today(&self) -> Result<Option<NaiveDate>, ApiError> {
        params::date("today", self.today)
    }
}

fn require_reader_of_reports(actor: &Actor) -> Result<(), ApiError> {
    match actor.role {
        Role::Admin | Role::Auditor => Ok(()),
        _ => Err(forbidden(actor, "read reports")),
    }
}

/// Open complaints by age in working days (0-3, 4-7, 8-14, 15-30, over 30).
#[utoipa::path(get, path = "/v1/reports/aging", tag = "reports", params(ReportParams),
    responses((status = 200, body = [AgingRow])))]
pub async fn aging_report(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ReportParams>,
) -> Result<Json<Vec<AgingRow>>, ApiError> {
    require_reader_of_reports(&actor)?;
    let today = p.today()?.unwrap_or_else(queries::today_in_malaysia);
    state.wait_for(p.min_seq).await?;
    let rows =
        state.reports.aging(&state.pool, p.group_by.unwrap_or(GroupBy::Pic), today).await.map_err(database_error)?;
    Ok(Json(rows))
}

/// Closed complaints: how many, median and 90th percentile working days, share in target.
#[utoipa::path(get, path = "/v1/reports/resolution", tag = "reports", params(ReportParams),
    responses((status = 200, body = [ResolutionRow])))]
pub async fn resolution_report(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<ReportParams>,
) -> Result<Json<Vec<ResolutionRow>>, ApiError> {
    require_reader_of_reports(&actor)?;
    p.today()?;
    state.wait_for(p.min_seq).await?;
    let by = p.group_by.unwrap_or(GroupBy::Pic);
    if by == GroupBy::Ptj {
        return Err(ApiError::BadRequest {
            code: "invalid_group_by",
            detail: "resolution groups by pic or category".into(),
        });
    }
    let rows = state
        .reports
        .resolution(&state.pool, by, state.settings.resolution_target_days)
        .await
        .map_err(database_error)?;
    Ok(Json(rows))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct OutboxParams {
    /// Only notifications the relay has not yet published to the notifier.
    pub pending: Option<bool>,
    /// Only notifications in this delivery state.
    pub state: Option<DeliveryState>,
    /// Page size (default 50).
    #[param(minimum = 1, maximum = 200, example = 50)]
    pub limit: Option<i64>,
    pub min_seq: Option<u64>,
}

/// The notification outbox, newest first, with what became of each notification (admins
/// and auditors).
#[utoipa::path(get, path = "/v1/outbox", tag = "notifications", params(OutboxParams),
    responses((status = 200, body = [OutboxRow])))]
pub async fn outbox(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ApiQuery(p): ApiQuery<OutboxParams>,
) -> Result<Json<Vec<OutboxRow>>, ApiError> {
    require_reader_of_reports(&actor)?;
    let limit = limit(p.limit)?;
    state.wait_for(p.min_seq).await?;
    let filter = OutboxFilter { unpublished: p.pending.unwrap_or(false), state: p.state };
    let rows = queries::outbox(&state.pool, filter, limit).await.map_err(database_error)?;
    Ok(Json(rows))
}

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub database: String,
    pub nats: String,
    /// Last stream sequence applied to the read models.
    pub applied_sequence: Option<u64>,
    /// Last sequence in the stream.
    pub stream_sequence: Option<u64>,
    /// Events not yet applied.
    pub consumer_lag: Option<u64>,
    /// The stream denies deleting and purging messages, as auditors rely on.
    pub append_only: Option<bool>,
    /// `ok`, or why this instance's projection counts as stuck (then not ready).
    pub projection: String,
    /// Projection attempts that failed in a row.
    pub consecutive_failures: i64,
    /// Age of the oldest event not yet applied, in seconds (refreshed every 2 s).
    pub oldest_unapplied_seconds: f64,
}

/// Ready when PostgreSQL and NATS answer and the projection is not stuck; the body tells how
/// far behind it is.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses((status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    // Each check within 1.5 s, side by side: a hung NATS or PostgreSQL must fail the probe,
    // not hold it for the clients' 3-5 s timeouts.
    let within = std::time::Duration::from_millis(1500);
    let nats = format!("{:?}", state.client.connection_state()).to_lowercase();
    let stream_info = async {
        let mut stream = state.jetstream.get_stream(&state.settings.event_log.stream).await.ok()?;
        stream.info().await.ok().cloned()
    };
    let (applied, info) = tokio::join!(
        tokio::time::timeout(within, crate::db::checkpoint(&state.pool)),
        tokio::time::timeout(within, stream_info)
    );
    let applied = applied.map_err(|_| ()).and_then(|a| a.map_err(|_| ()));
    let info = info.ok().flatten();
    let stream = info.as_ref().map(|i| i.state.last_sequence);
    let append_only = info.as_ref().map(|i| i.config.deny_delete && i.config.deny_purge);
    // An event log that can be edited is not one auditors can trust: not ready. Nor is a
    // projection that keeps failing or stands still with events waiting.
    let stuck = crate::monitor::stuck(&state.metrics);
    let ready = applied.is_ok() && stream.is_some() && append_only == Some(true) && stuck.is_none();
    let applied = applied.ok();
    let lag = match (stream, applied) {
        (Some(s), Some(a)) => Some(s.saturating_sub(a)),
        _ => None,
    };
    let body = Readiness {
        ready,
        database: if applied.is_some() { "ok".into() } else { "unreachable".into() },
        nats,
        applied_sequence: applied,
        stream_sequence: stream,
        consumer_lag: lag,
        append_only,
        projection: stuck.unwrap_or_else(|| "ok".into()),
        consecutive_failures: state.metrics.consecutive_failures.get(),
        oldest_unapplied_seconds: state.metrics.lag_seconds.get(),
    };
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}
