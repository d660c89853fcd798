//! Staff directory commands: admins manage the directory; each member of staff chooses how
//! they are told (notification preferences).

use std::collections::BTreeSet;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::EmptyDirectory;
use ehelpdesk_shared::category::CategoryCode;
use ehelpdesk_shared::staff::{NotificationPreferences, StaffCommand, StaffRegistered, StaffUpdated};
use ehelpdesk_shared::validation::{Email, FieldError, IcNumber, PhoneNumber, StaffId, Text, limits};
use ehelpdesk_shared::visibility::StaffMemberView;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::complaints::IdempotencyHeader;
use crate::executor::{Idempotency, Outcome};
use crate::rate_limit::Writer;
use crate::receipts::StaffReceipt;
use crate::state::AppState;
use ehelpdesk_shared::http::extract::{CurrentActor, IdempotencyKey, JsonBody, StaffPath};
use ehelpdesk_shared::http::problem::ApiError;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"staff_id": "pic-aminah", "ic_number": "850315-03-5123", "name": "Aminah binti Yusof", "email": "aminah@example.gov.my", "phone": "012-345 6789", "ptj": "Jabatan Akauntan Negara", "roles": ["pic"], "categories": ["AC"]}))]
pub struct RegisterStaffRequest {
    #[schema(pattern = r"^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64, example = "pic-aminah")]
    pub staff_id: String,
    #[schema(
        pattern = r"^[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])-?[0-9]{2}-?[0-9]{4}$",
        example = "850315-03-5123"
    )]
    pub ic_number: String,
    #[schema(
        min_length = 2,
        max_length = 150,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Aminah binti Yusof"
    )]
    pub name: String,
    #[schema(format = Email, max_length = 254, example = "aminah@example.gov.my")]
    pub email: String,
    #[schema(pattern = r"^(\+?60|0)[ -]?(1([ -]?[0-9]){8,9}|[3-9]([ -]?[0-9]){7,8})$", example = "012-345 6789")]
    pub phone: String,
    #[schema(
        min_length = 2,
        max_length = 150,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Jabatan Akauntan Negara"
    )]
    pub ptj: String,
    #[schema(min_items = 1, example = json!(["pic"]))]
    pub roles: Vec<Role>,
    /// Category codes a PIC covers (from `GET /v1/categories`).
    #[serde(default)]
    #[schema(example = json!(["AC"]))]
    pub categories: Vec<String>,
}

fn categories(raw: Vec<String>) -> Result<BTreeSet<CategoryCode>, FieldError> {
    raw.iter().map(|c| CategoryCode::parse("categories", c)).collect()
}

fn roles(raw: Vec<Role>) -> Result<BTreeSet<Role>, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new("roles", "required", "Sekurang-kurangnya satu peranan / at least one role"));
    }
    Ok(raw.into_iter().collect())
}

/// Register a member of staff.
#[utoipa::path(post, path = "/v1/staff", tag = "staff", params(IdempotencyHeader),
    request_body = RegisterStaffRequest,
    responses((status = 201, body = StaffReceipt)))]
pub async fn register_staff(
    State(state): State<AppState>,
    Writer(actor): Writer,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<RegisterStaffRequest>,
) -> Result<Response, ApiError> {
    let r = body.value;
    let id = StaffId::parse("staff_id", &r.staff_id)?;
    let command = StaffCommand::Register(Box::new(StaffRegistered {
        ic_number: IcNumber::parse("ic_number", &r.ic_number)?,
        name: Text::single_line("name", &r.name, limits::NAME)?,
        email: Email::parse("email", &r.email)?,
        phone: PhoneNumber::parse("phone", &r.phone)?,
        ptj: Text::single_line("ptj", &r.ptj, limits::PTJ)?,
        roles: roles(r.roles)?,
        categories: categories(r.categories)?,
    }));
    run(&state, id, command, &actor, key, body.hash, StatusCode::CREATED).await
}

/// Fields to change; those left out stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"phone": "012-345 6789", "categories": ["AC", "GL"]}))]
pub struct UpdateStaffRequest {
    #[schema(
        min_length = 2,
        max_length = 150,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Aminah binti Yusof"
    )]
    pub name: Option<String>,
    #[schema(format = Email, max_length = 254, example = "aminah@example.gov.my")]
    pub email: Option<String>,
    #[schema(pattern = r"^(\+?60|0)[ -]?(1([ -]?[0-9]){8,9}|[3-9]([ -]?[0-9]){7,8})$", example = "012-345 6789")]
    pub phone: Option<String>,
    #[schema(
        min_length = 2,
        max_length = 150,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Jabatan Akauntan Negara"
    )]
    pub ptj: Option<String>,
    #[schema(min_items = 1, example = json!(["pic"]))]
    pub roles: Option<Vec<Role>>,
    #[schema(example = json!(["AC"]))]
    pub categories: Option<Vec<String>>,
}

/// Update a member of staff's contacts, roles or categories.
#[utoipa::path(patch, path = "/v1/staff/{id}", tag = "staff", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah"), IdempotencyHeader),
    request_body = UpdateStaffRequest,
    responses((status = 200, body = StaffReceipt)))]
pub async fn update_staff(
    State(state): State<AppState>,
    Writer(actor): Writer,
    StaffPath(id): StaffPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<UpdateStaffRequest>,
) -> Result<Response, ApiError> {
    let u = body.value;
    let command = StaffCommand::Update(Box::new(StaffUpdated {
        name: u.name.map(|v| Text::single_line("name", &v, limits::NAME)).transpose()?,
        email: u.email.map(|v| Email::parse("email", &v)).transpose()?,
        phone: u.phone.map(|v| PhoneNumber::parse("phone", &v)).transpose()?,
        ptj: u.ptj.map(|v| Text::single_line("ptj", &v, limits::PTJ)).transpose()?,
        roles: u.roles.map(roles).transpose()?,
        categories: u.categories.map(categories).transpose()?,
    }));
    run(&state, id, command, &actor, key, body.hash, StatusCode::OK).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Bertukar jabatan"}))]
pub struct DeactivateStaffRequest {
    #[schema(
        min_length = 3,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Bertukar jabatan"
    )]
    pub reason: String,
}

/// Deactivate a member of staff: no new assignments or referrals to them.
#[utoipa::path(post, path = "/v1/staff/{id}/deactivation", tag = "staff", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah"), IdempotencyHeader),
    request_body = DeactivateStaffRequest,
    responses((status = 200, body = StaffReceipt)))]
pub async fn deactivate_staff(
    State(state): State<AppState>,
    Writer(actor): Writer,
    StaffPath(id): StaffPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<DeactivateStaffRequest>,
) -> Result<Response, ApiError> {
    let command = StaffCommand::Deactivate { reason: Text::within("reason", &body.value.reason, limits::REASON)? };
    run(&state, id, command, &actor, key, body.hash, StatusCode::OK).await
}

/// How a member of staff wants to be told: both channels, always both (the whole choice).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": true, "whatsapp": false}))]
pub struct NotificationPreferencesRequest {
    /// E-mail notifications on or off.
    pub email: bool,
    /// WhatsApp notifications on or off.
    pub whatsapp: bool,
}

/// Turn a member of staff's e-mail and WhatsApp notifications on or off: the member of staff
/// themselves (in any staff role), or an admin for anyone. With both off they still get
/// complaints assigned to them by e-mail, the answer carries the warning
/// `all_notifications_off`, and the admins are told by e-mail. Choosing what is already
/// chosen is 422 `nothing_to_update`.
#[utoipa::path(put, path = "/v1/staff/{id}/notification-preferences", tag = "staff", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah"), IdempotencyHeader),
    request_body = NotificationPreferencesRequest,
    responses((status = 200, body = StaffReceipt)))]
pub async fn set_notification_preferences(
    State(state): State<AppState>,
    Writer(actor): Writer,
    StaffPath(id): StaffPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<NotificationPreferencesRequest>,
) -> Result<Response, ApiError> {
    let NotificationPreferencesRequest { email, whatsapp } = body.value;
    let command = StaffCommand::SetNotificationPreferences(NotificationPreferences { email, whatsapp });
    run(&state, id, command, &actor, key, body.hash, StatusCode::OK).await
}

#[derive(Serialize, ToSchema)]
pub struct StaffView {
    pub staff: StaffMemberView,
    pub stream_sequence: u64,
}

/// A member of staff as the directory holds them (admins and auditors).
#[utoipa::path(get, path = "/v1/staff/{id}", tag = "staff", params(("id" = String, Path, pattern = r"^[a-z0-9_-]{1,64}$", example = "pic-aminah")),
    responses((status = 200, body = StaffView)))]
pub async fn get_staff(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    StaffPath(id): StaffPath,
) -> Result<Json<StaffView>, ApiError> {
    state.ready()?;
    if !matches!(actor.role, Role::Admin | Role::Auditor) {
        return Err(ApiError::Domain(ehelpdesk_shared::error::DomainError::RoleNotAllowed {
            role: actor.role.as_str(),
            action: "read the staff directory",
        }));
    }
    let loaded = state.staff.current(&id).await?;
    let staff = loaded.state.ok_or(ApiError::NotFound("staff_not_found"))?;
    Ok(Json(StaffView { staff: (&staff).into(), stream_sequence: loaded.last_sequence }))
}

async fn run(
    state: &AppState,
    id: StaffId,
    command: StaffCommand,
    actor: &Actor,
    key: Option<String>,
    request_hash: String,
    success: StatusCode,
) -> Result<Response, ApiError> {
    state.ready()?;
    let idempotency = key.map(|key| Idempotency::new("staff", command.name(), &id, actor, &key, request_hash));
    if !matches!(command, StaffCommand::Register(_)) && actor.is(Role::Admin) {
        let exists = state.staff.current(&id).await?.state.is_some();
        if !exists {
            return Err(ApiError::NotFound("staff_not_found"));
        }
    }
    let outcome =
        state.staff.execute(&id, &command, command.name(), actor, &EmptyDirectory, idempotency.as_ref()).await;
    // Whatever the outcome, this member's standing is asked of the log afresh: a
    // deactivation counts at once on this instance (others within STAFF_CACHE_SECONDS).
    state.auth.standings.forget(&id);
    Ok(staff_response(success, outcome?))
}

fn staff_response(status: StatusCode, outcome: Outcome<StaffReceipt>) -> Response {
    let location = format!("/v1/staff/{}", outcome.receipt.staff_id);
    super::receipt_response(status, outcome, &location)
}
