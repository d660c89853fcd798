//! Complaint commands. Each handler turns its request into a validated command and hands
//! it to the executor; the domain decides, the event log records.

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::{Aggregate, Context, EmptyDirectory};
use ehelpdesk_shared::category::{self, Category, CategoryCode};
use ehelpdesk_shared::complaint::{
    Channel, ComplainantDetails, Complaint, ComplaintCommand, LogComplaint, Rating, ResponseStatus, Vendor,
};
use ehelpdesk_shared::error::DomainError;
use ehelpdesk_shared::validation::{Email, FieldError, IcNumber, PhoneNumber, StaffId, Text, limits};
use ehelpdesk_shared::visibility::{ComplaintView, Parties, Relation};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::executor::{Idempotency, LoadedDirectory, Outcome};
use crate::rate_limit::Writer;
use crate::receipts::ComplaintReceipt;
use crate::state::AppState;
use ehelpdesk_shared::auth::Profile;
use ehelpdesk_shared::http::extract::{CallerProfile, ComplaintPath, CurrentActor, IdempotencyKey, JsonBody};
use ehelpdesk_shared::http::problem::{ApiError, Problem};
use ehelpdesk_shared::staff::StaffMember;

/// The complaint id a keyed "log a complaint" lands on, so that its retry finds it: an HMAC
/// of (actor, key) under the service's secret. A plain hash would let anyone who guesses a
/// person's key compute the id of their complaint.
fn keyed_complaint_id(secret: &str, actor: &Actor, key: &str) -> Uuid {
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes a key of any length"));
    mac.update(actor.id.as_str().as_bytes());
    mac.update(b":");
    mac.update(key.as_bytes());
    let digest = mac.finalize().into_bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Who the complaint is for, when an admin logs it on their behalf. A complainant leaves it
/// out: their complaint is filed under their own details as the portal knows them.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComplainantInput {
    /// Required: the complainant's staff id (optional in the type only for the error message).
    #[schema(pattern = r"^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64, example = "pengadu-ali")]
    pub id: Option<String>,
    #[schema(
        pattern = r"^[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])-?[0-9]{2}-?[0-9]{4}$",
        example = "900101-03-5678"
    )]
    pub ic_number: String,
    #[schema(min_length = 2, max_length = 150, pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$", example = "Ali bin Abu")]
    pub name: String,
    #[schema(format = Email, max_length = 254, example = "ali@example.gov.my")]
    pub email: String,
    #[schema(pattern = r"^(\+?60|0)[ -]?(1([ -]?[0-9]){8,9}|[3-9]([ -]?[0-9]){7,8})$", example = "012-345 6789")]
    pub phone: String,
    #[schema(
        min_length = 2,
        max_length = 150,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Jabatan Kerja Raya Negeri"
    )]
    pub ptj: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"category": "AC", "title": "Amaun salah pada baris arahan bayaran", "description": "Baucar BV-2026-0101 menunjukkan amaun RM 1,200 tetapi arahan bayaran RM 12,000.", "reference": "BV-2026-0101"}))]
pub struct LogComplaintRequest {
    /// Admins only (on a complainant's behalf); a complainant leaves it out.
    pub complainant: Option<ComplainantInput>,
    /// A code from `GET /v1/categories`.
    #[schema(example = "AC")]
    pub category: String,
    #[schema(
        min_length = 5,
        max_length = 200,
        pattern = r"^[^\u0000-\u001f\u007f-\u009f]*$",
        example = "Amaun salah pada baris arahan bayaran"
    )]
    pub title: String,
    #[schema(
        min_length = 10,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Baucar BV-2026-0101 menunjukkan amaun RM 1,200 tetapi arahan bayaran RM 12,000."
    )]
    pub description: String,
    /// Defaults to `web`; only an admin logs by phone, e-mail or walk-in.
    pub channel: Option<Channel>,
    /// The iSPEKS document concerned (voucher, bill, pay-slip month...), if any.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "BV-2026-0101"
    )]
    pub reference: Option<String>,
}

impl ComplainantInput {
    fn parse(self) -> Result<ComplainantDetails, FieldError> {
        let Some(id) = self.id else {
            return Err(FieldError::new(
                "complainant.id",
                "required",
                "ID pengadu diperlukan / the complainant's id is required when logging on their behalf",
            ));
        };
        Ok(ComplainantDetails {
            id: StaffId::parse("complainant.id", &id)?,
            ic_number: IcNumber::parse("complainant.ic_number", &self.ic_number)?,
            name: Text::single_line("complainant.name", &self.name, limits::NAME)?,
            email: Email::parse("complainant.email", &self.email)?,
            phone: PhoneNumber::parse("complainant.phone", &self.phone)?,
            ptj: Text::single_line("complainant.ptj", &self.ptj, limits::PTJ)?,
        })
    }
}

impl LogComplaintRequest {
    pub fn into_command(self, complainant: ComplainantDetails, number: String) -> Result<LogComplaint, FieldError> {
        Ok(LogComplaint {
            number,
            complainant,
            category: CategoryCode::parse("category", &self.category)?,
            title: Text::single_line("title", &self.title, limits::TITLE)?,
            description: Text::within("description", &self.description, limits::DESCRIPTION)?,
            channel: self.channel.unwrap_or(Channel::Web),
            reference: Text::optional("reference", self.reference, limits::REFERENCE)?,
        })
    }
}

/// Whom a complaint is for. The treasury sends e-mail and WhatsApp in the complainant's
/// name, so a complainant cannot name anyone, not even themselves: their details are the
/// portal's (or the staff directory's). Only an admin logs for someone else, giving theirs.
async fn complainant_of(
    state: &AppState,
    actor: &Actor,
    profile: Profile,
    given: Option<ComplainantInput>,
) -> Result<ComplainantDetails, ApiError> {
    match (actor.role, given) {
        (Role::Complainant, Some(given)) if given.id.as_deref().is_some_and(|id| id != actor.id.as_str()) => {
            Err(DomainError::CannotLogForOthers.into())
        }
        (Role::Complainant, Some(_)) => Err(FieldError::new(
            "complainant",
            "complainant_from_profile",
            "Butiran anda diambil daripada profil MyPKN; jangan hantar `complainant` / \
             your details come from your MyPKN profile: leave `complainant` out",
        )
        .into()),
        (Role::Complainant, None) => Ok(own_details(state, actor, profile).await?),
        (Role::Admin, Some(given)) => Ok(given.parse()?),
        (Role::Admin, None) => Err(FieldError::new(
            "complainant",
            "required",
            "Butiran pengadu diperlukan / the complainant's details are required when logging on their behalf",
        )
        .into()),
        (role, _) => Err(DomainError::RoleNotAllowed { role: role.as_str(), action: "log complaints" }.into()),
    }
}

/// The caller's own details: the token's profile claims, else the staff directory's entry.
async fn own_details(state: &AppState, actor: &Actor, profile: Profile) -> Result<ComplainantDetails, ApiError> {
    let complete = profile.ic_number.is_some() && profile.email.is_some() && profile.phone_number.is_some();
    let member = if complete && profile.ptj.is_some() { None } else { state.staff.current(&actor.id).await?.state };
    let missing = |field: &str| {
        FieldError::new(
            field,
            "profile_incomplete",
            format!(
                "Profil MyPKN anda tiada {field}; sila kemas kini di portal / your MyPKN profile has no {field}; \
                 please update it at the portal"
            ),
        )
    };
    let from_directory = |pick: fn(&StaffMember) -> &str| member.as_ref().map(|m| pick(m).to_owned());
    let ic =
        profile.ic_number.or_else(|| from_directory(|m| m.ic_number.as_str())).ok_or_else(|| missing("ic_number"))?;
    let email = profile.email.or_else(|| from_directory(|m| m.email.as_str())).ok_or_else(|| missing("email"))?;
    let phone =
        profile.phone_number.or_else(|| from_directory(|m| m.phone.as_str())).ok_or_else(|| missing("phone_number"))?;
    let ptj = profile.ptj.or_else(|| from_directory(|m| m.ptj.as_str())).ok_or_else(|| missing("ptj"))?;
    Ok(ComplainantDetails {
        id: actor.id.clone(),
        ic_number: IcNumber::parse("ic_number", &ic)?,
        name: Text::single_line("name", &actor.name, limits::NAME)?,
        email: Email::parse("email", &email)?,
        phone: PhoneNumber::parse("phone_number", &phone)?,
        ptj: Text::single_line("ptj", &ptj, limits::PTJ)?,
    })
}

/// Log a complaint (a complainant for themselves, or an admin on a complainant's behalf).
#[utoipa::path(post, path = "/v1/complaints", tag = "complaints",
    params(IdempotencyHeader),
    request_body = LogComplaintRequest,
    responses(
        (status = 201, description = "Logged", body = ComplaintReceipt)))]
pub async fn log_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    CallerProfile(profile): CallerProfile,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<LogComplaintRequest>,
) -> Result<Response, ApiError> {
    let numbers = state.ready()?;
    let (id, idempotency) = match &key {
        Some(key) => {
            let id = keyed_complaint_id(&state.complaint_id_secret, &actor, key);
            (id, Some(Idempotency::new("complaint", "log", &id, &actor, key, body.hash.clone())))
        }
        None => (Uuid::now_v7(), None),
    };
    if let Some(idempotency) = &idempotency
        && let Some(outcome) = state.complaints.replay(&id, idempotency).await?
    {
        return Ok(complaint_response(StatusCode::CREATED, outcome));
    }
    // Judge the request before spending a complaint number on it.
    let mut request = body.value;
    let complainant = complainant_of(&state, &actor, profile, request.complainant.take()).await?;
    let draft = request.into_command(complainant, String::new())?;
    let draft = ComplaintCommand::Log(Box::new(draft));
    Complaint::decide(None, &draft, &Context { actor: &actor, now: chrono::Utc::now(), directory: &EmptyDirectory })?;
    let ComplaintCommand::Log(mut log) = draft else {
        return Err(ApiError::Internal("draft is a log command".into()));
    };
    log.number = numbers.allocate(chrono::Utc::now(), id).await?;
    let command = ComplaintCommand::Log(log);
    let outcome =
        state.complaints.execute(&id, &command, command.name(), &actor, &EmptyDirectory, idempotency.as_ref()).await?;
    Ok(complaint_response(StatusCode::CREATED, outcome))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"pic_id": "pic-aminah", "note": "Modul AC, sila semak"}))]
pub struct AssignRequest {
    #[schema(pattern = r"^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64, example = "pic-aminah")]
    pub pic_id: String,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Modul AC, sila semak"
    )]
    pub note: Option<String>,
}

/// Assign (or reassign) a complaint to a PIC. Admins only.
#[utoipa::path(post, path = "/v1/complaints/{id}/assignment", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = AssignRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn assign_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<AssignRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::Assign {
        pic_id: StaffId::parse("pic_id", &body.value.pic_id)?,
        note: Text::optional("note", body.value.note, limits::MESSAGE)?,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "Kami sedang menyemak baucar ini.", "status": "in_progress"}))]
pub struct RespondRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Kami sedang menyemak baucar ini."
    )]
    pub message: String,
    /// `awaiting_complainant` = Mohon Maklumbalas Pengadu, `pending_closure` = Mohon Pengadu
    /// Tutup Aduan, `in_progress` = Dalam Tindakan.
    pub status: ResponseStatus,
}

/// The PIC's reply, with the status of the reply form.
#[utoipa::path(post, path = "/v1/complaints/{id}/responses", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = RespondRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn respond_to_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<RespondRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::Respond {
        message: Text::within("message", &body.value.message, limits::MESSAGE)?,
        status: body.value.status,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "Masalah masih berlaku pada baucar yang sama."}))]
pub struct MessageRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Masalah masih berlaku pada baucar yang sama."
    )]
    pub message: String,
}

/// The complainant answers (feedback the PIC asked for, or "not solved yet").
#[utoipa::path(post, path = "/v1/complaints/{id}/replies", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = MessageRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn reply_to_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<MessageRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::Reply { message: Text::within("message", &body.value.message, limits::MESSAGE)? };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"implementor_id": "impl-chong", "message": "Sila semak konfigurasi modul AC."}))]
pub struct ReferRequest {
    #[schema(pattern = r"^[a-z0-9_-]{1,64}$", min_length = 1, max_length = 64, example = "impl-chong")]
    pub implementor_id: String,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Sila semak konfigurasi modul AC."
    )]
    pub message: String,
}

/// Refer the complaint to the implementor (second line).
#[utoipa::path(post, path = "/v1/complaints/{id}/referral", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = ReferRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn refer_to_implementor(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<ReferRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::ReferToImplementor {
        implementor_id: StaffId::parse("implementor_id", &body.value.implementor_id)?,
        message: Text::within("message", &body.value.message, limits::MESSAGE)?,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"vendor": "BKP", "vendor_log_number": "BKP-00123", "message": "Dirujuk kepada vendor untuk pembetulan."}))]
pub struct EscalateRequest {
    pub vendor: Vendor,
    /// The vendor helpdesk's own log number, if it gave one.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "BKP-00123"
    )]
    pub vendor_log_number: Option<String>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Dirujuk kepada vendor untuk pembetulan."
    )]
    pub message: String,
}

/// Escalate to the vendor's helpdesk (BKP or TTSB): Dalam Tindakan Vendor.
#[utoipa::path(post, path = "/v1/complaints/{id}/escalation", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = EscalateRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn escalate_to_vendor(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<EscalateRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::EscalateToVendor {
        vendor: body.value.vendor,
        vendor_log_number: Text::optional(
            "vendor_log_number",
            body.value.vendor_log_number,
            limits::VENDOR_LOG_NUMBER,
        )?,
        message: Text::within("message", &body.value.message, limits::MESSAGE)?,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "Vendor telah membetulkan konfigurasi.", "vendor_log_number": "BKP-00123"}))]
pub struct VendorUpdateRequest {
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Vendor telah membetulkan konfigurasi."
    )]
    pub message: String,
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "BKP-00123"
    )]
    pub vendor_log_number: Option<String>,
}

/// Record what the vendor reported.
#[utoipa::path(post, path = "/v1/complaints/{id}/vendor-updates", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = VendorUpdateRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn record_vendor_update(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<VendorUpdateRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::RecordVendorUpdate {
        message: Text::within("message", &body.value.message, limits::MESSAGE)?,
        vendor_log_number: Text::optional(
            "vendor_log_number",
            body.value.vendor_log_number,
            limits::VENDOR_LOG_NUMBER,
        )?,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

/// An internal note: never shown to the complainant.
#[utoipa::path(post, path = "/v1/complaints/{id}/notes", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = MessageRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn add_internal_note(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<MessageRequest>,
) -> Result<Response, ApiError> {
    let command =
        ComplaintCommand::AddInternalNote { message: Text::within("message", &body.value.message, limits::MESSAGE)? };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"rating": 5, "comment": "Terima kasih"}))]
pub struct CloseRequest {
    /// Required when an admin closes; a complainant may leave it out.
    #[schema(
        min_length = 3,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Selesai, disahkan pengadu"
    )]
    pub reason: Option<String>,
    /// 1-5, complainant only.
    #[schema(minimum = 1, maximum = 5, example = 5)]
    pub rating: Option<i64>,
    #[schema(
        min_length = 1,
        max_length = 5000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Terima kasih"
    )]
    pub comment: Option<String>,
}

/// Close the complaint: its complainant, or an admin with a reason.
#[utoipa::path(post, path = "/v1/complaints/{id}/closure", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = CloseRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn close_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<CloseRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::Close {
        reason: Text::optional("reason", body.value.reason, limits::REASON)?,
        rating: body.value.rating.map(|r| Rating::parse("rating", r)).transpose()?,
        comment: Text::optional("comment", body.value.comment, limits::MESSAGE)?,
    };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"reason": "Masalah berulang selepas ditutup"}))]
pub struct ReopenRequest {
    #[schema(
        min_length = 3,
        max_length = 1000,
        pattern = r"^[^\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f]*$",
        example = "Masalah berulang selepas ditutup"
    )]
    pub reason: String,
}

/// Reopen a closed complaint (its complainant, within 14 days of closing).
#[utoipa::path(post, path = "/v1/complaints/{id}/reopening", tag = "complaints",
    params(("id" = Uuid, Path), IdempotencyHeader), request_body = ReopenRequest,
    responses((status = 200, body = ComplaintReceipt)))]
pub async fn reopen_complaint(
    State(state): State<AppState>,
    Writer(actor): Writer,
    ComplaintPath(id): ComplaintPath,
    IdempotencyKey(key): IdempotencyKey,
    body: JsonBody<ReopenRequest>,
) -> Result<Response, ApiError> {
    let command = ComplaintCommand::Reopen { reason: Text::within("reason", &body.value.reason, limits::REASON)? };
    run(&state, id, command, &actor, key, body.hash).await
}

#[derive(Serialize, ToSchema)]
pub struct ComplaintResponse {
    /// The complaint as the caller may see it (docs/security.md).
    pub complaint: ComplaintView,
    pub status_label_ms: &'static str,
    pub status_label_en: &'static str,
    /// Stream sequence of the complaint's last event.
    pub stream_sequence: u64,
}

/// The complaint's current state, folded from its events (the write side's view; lists and
/// inboxes are served by the projection service).
#[utoipa::path(get, path = "/v1/complaints/{id}", tag = "complaints", params(("id" = Uuid, Path)),
    responses((status = 200, body = ComplaintResponse), (status = 404, body = Problem, content_type = "application/problem+json")))]
pub async fn get_complaint(
    State(state): State<AppState>,
    CurrentActor(actor): CurrentActor,
    ComplaintPath(id): ComplaintPath,
) -> Result<Json<ComplaintResponse>, ApiError> {
    state.ready()?;
    let loaded = state.complaints.current(&id).await?;
    let complaint = loaded.state.ok_or(ApiError::Domain(DomainError::ComplaintNotFound))?;
    // Someone else's complaint is "not found": its existence is private too.
    let relation =
        Relation::of(&actor, Parties::of(&complaint)).ok_or(ApiError::Domain(DomainError::ComplaintNotFound))?;
    let view = ComplaintView::of(&complaint, relation);
    Ok(Json(ComplaintResponse {
        status_label_ms: view.status.label_ms(),
        status_label_en: view.status.label_en(),
        complaint: view,
        stream_sequence: loaded.last_sequence,
    }))
}

/// The complaint categories (iSPEKS module areas).
#[utoipa::path(get, path = "/v1/categories", tag = "complaints", responses((status = 200, body = [Category])))]
pub async fn list_categories() -> Json<&'static [Category]> {
    Json(category::all())
}

async fn run(
    state: &AppState,
    id: Uuid,
    command: ComplaintCommand,
    actor: &Actor,
    key: Option<String>,
    request_hash: String,
) -> Result<Response, ApiError> {
    state.ready()?;
    let idempotency = key.map(|key| Idempotency::new("complaint", command.name(), &id, actor, &key, request_hash));
    let directory = directory_for(state, &command).await?;
    let outcome =
        state.complaints.execute(&id, &command, command.name(), actor, &directory, idempotency.as_ref()).await?;
    Ok(complaint_response(StatusCode::OK, outcome))
}

/// The staff a command refers to, read fresh from the log.
async fn directory_for(state: &AppState, command: &ComplaintCommand) -> Result<LoadedDirectory, ApiError> {
    let mut members = HashMap::new();
    if let Some(staff_id) = command.staff_named()
        && let Some(member) = state.staff.current(staff_id).await?.state
    {
        members.insert(staff_id.clone(), member);
    }
    Ok(LoadedDirectory(members))
}

fn complaint_response(status: StatusCode, outcome: Outcome<ComplaintReceipt>) -> Response {
    let location = format!("/v1/complaints/{}", outcome.receipt.complaint_id);
    super::receipt_response(status, outcome, &location)
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// Repeat a request with the same key to get the same answer and no second event.
    #[param(
        rename = "Idempotency-Key",
        pattern = r"^[!-~]{1,128}$",
        min_length = 1,
        max_length = 128,
        example = "retry-7f3a"
    )]
    pub idempotency_key: Option<String>,
}
