//! A complaint's page, and the PIC's reply from it. After a reply the page is read with
//! `min_seq`, so it shows the reply just sent.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ehelpdesk_shared::actor::Role;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{ApiError, Receipt, Service};
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{PageError, refusal};
use crate::pages::complaint::{ComplaintPage, Detail, ReplyForm};
use crate::pages::{Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Seen {
    /// The stream sequence of the person's last command: the page waits until it is shown.
    #[serde(default)]
    seq: Option<u64>,
}

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    Query(seen): Query<Seen>,
) -> Result<Response, PageError> {
    let detail = detail(&state, &session, id, seen.seq).await?;
    let reply = may_reply(&session).then(ReplyForm::fresh);
    Ok(page(&session, csrf, detail, reply).render_page(StatusCode::OK))
}

async fn detail(state: &AppState, session: &Session, id: Uuid, min_seq: Option<u64>) -> Result<Detail, PageError> {
    let path = match min_seq {
        Some(seq) => format!("/v1/complaints/{id}?min_seq={seq}"),
        None => format!("/v1/complaints/{id}"),
    };
    Ok(state.api.get(session, Service::Query, &path).await?)
}

fn page(session: &Session, csrf: CsrfToken, detail: Detail, reply: Option<ReplyForm>) -> ComplaintPage {
    ComplaintPage::new(Chrome::signed_in(session, csrf.0, ""), detail, reply)
}

/// Who is shown the reply form; the API decides whether this complaint is theirs to answer.
fn may_reply(session: &Session) -> bool {
    matches!(session.person.role, Role::Pic | Role::Admin)
}

#[derive(Serialize)]
struct Respond<'a> {
    message: &'a str,
    status: &'a str,
}

#[derive(Serialize)]
struct Escalate<'a> {
    vendor: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor_log_number: Option<&'a str>,
    message: &'a str,
}

pub async fn reply(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<ReplyForm>,
) -> Result<Response, PageError> {
    match send_reply(&state, &session, id, &form).await {
        Ok(receipt) => {
            let seq = receipt.stream_sequence.map(|s| format!("?seq={s}")).unwrap_or_default();
            Ok(Redirect::to(&format!("/complaints/{id}{seq}")).into_response())
        }
        Err(Refused { status, message }) => {
            // The form again, with what was typed and why it was refused; nothing changed.
            let detail = detail(&state, &session, id, None).await?;
            let form = ReplyForm { error: Some(message), ..form };
            Ok(page(&session, csrf, detail, Some(form)).render_page(status))
        }
    }
}

/// Why a reply was not sent, as the form shows it.
struct Refused {
    status: StatusCode,
    message: String,
}

impl From<ApiError> for Refused {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Problem { status, code, detail, .. } => Refused { status, message: refusal(&code, &detail) },
            ApiError::Unavailable(cause) => {
                tracing::warn!(%cause, "command service did not answer a reply");
                Refused { status: StatusCode::SERVICE_UNAVAILABLE, message: refusal("unavailable", "") }
            }
        }
    }
}

fn invalid(message: &str) -> Refused {
    Refused { status: StatusCode::UNPROCESSABLE_ENTITY, message: message.to_owned() }
}

async fn send_reply(state: &AppState, session: &Session, id: Uuid, form: &ReplyForm) -> Result<Receipt, Refused> {
    let message = form.message.trim();
    if message.is_empty() {
        return Err(invalid("Sila tulis maklumbalas. / Please write a message."));
    }
    let key = Some(form.idempotency_key.as_str());
    match form.status.as_str() {
        "with_vendor" => {
            if form.vendor.is_empty() {
                return Err(invalid("Sila pilih vendor (BKP atau TTSB). / Please choose the vendor (BKP or TTSB)."));
            }
            let log = Some(form.vendor_log_number.trim()).filter(|l| !l.is_empty());
            let body = Escalate { vendor: &form.vendor, vendor_log_number: log, message };
            Ok(state.api.post(session, &format!("/v1/complaints/{id}/escalation"), &body, key).await?)
        }
        status @ ("awaiting_complainant" | "pending_closure") => {
            let body = Respond { message, status };
            Ok(state.api.post(session, &format!("/v1/complaints/{id}/responses"), &body, key).await?)
        }
        _ => Err(invalid("Sila pilih status. / Please choose a status.")),
    }
}
