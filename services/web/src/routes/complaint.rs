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
use crate::pages::Choice;
use crate::pages::actions::{Action, ActionForm, Actions};
use crate::pages::complaint::{AssignForm, Assignee, ComplaintPage, Detail, ReplyForm, warning_text};
use crate::pages::{Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct Seen {
    /// The stream sequence of the person's last command: the page waits until it is shown.
    #[serde(default)]
    seq: Option<u64>,
    /// A warning the command answered with (a code; only known ones are shown).
    #[serde(default)]
    warning: Option<String>,
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
    let mut page = with_forms(&state, &session, page(&session, csrf, detail, reply), None, seen.seq).await?;
    page.warning = seen.warning.as_deref().and_then(warning_text);
    Ok(page.render_page(StatusCode::OK))
}

/// The forms besides the reply that this person is offered here.
async fn actions(state: &AppState, session: &Session, page: &ComplaintPage) -> Result<Actions, PageError> {
    let role = session.person.role;
    let status = page.complaint.status_code.as_str();
    let implementors = match Action::Refer.offered(role, status) {
        true => {
            let listed: Vec<Assignee> =
                state.api.get(session, Service::Query, "/v1/assignees?role=implementor").await?;
            let options =
                listed.into_iter().map(|i| (i.staff_id, format!("{} — {} aduan / open", i.name, i.open_complaints)));
            Some(Choice::list(options, ""))
        }
        false => None,
    };
    Ok(Actions::for_page(role, status, implementors))
}

/// One of the page's other forms: answer, close, reopen, refer, vendor update, note.
pub async fn act(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Path((id, name)): Path<(Uuid, String)>,
    CsrfForm(form): CsrfForm<ActionForm>,
) -> Result<Response, PageError> {
    let action = Action::parse(&name).ok_or(PageError::NotFound)?;
    let sent = match action.body(&form) {
        Err(message) => Err(invalid(message)),
        Ok(body) => {
            let path = format!("/v1/complaints/{id}/{}", action.api_path());
            let key = Some(form.idempotency_key.as_str());
            state.api.post::<_, Receipt>(&session, &path, &body, key).await.map_err(Refused::from)
        }
    };
    match sent {
        Ok(receipt) => Ok(Redirect::to(&after_command(id, &receipt)).into_response()),
        Err(Refused { status, message }) => {
            let detail = detail(&state, &session, id, None).await?;
            let page = page(&session, csrf, detail, may_reply(&session).then(ReplyForm::fresh));
            let mut page = with_forms(&state, &session, page, None, None).await?;
            page.actions.refused = Some((action.name(), message));
            page.actions.typed = form;
            Ok(page.render_page(status))
        }
    }
}

/// The page's forms beyond the reply: the admin's assignment (with `assign_error` if it was
/// refused) and the other actions, their lists asked for at once.
async fn with_forms(
    state: &AppState,
    session: &Session,
    mut page: ComplaintPage,
    assign_error: Option<String>,
    min_seq: Option<u64>,
) -> Result<ComplaintPage, PageError> {
    let (assignees, actions) =
        tokio::try_join!(assignees_for(state, session, &page, min_seq), actions(state, session, &page))?;
    page.assign = assignees.map(|a| AssignForm::new(a, page.complaint.pic_id.as_deref(), assign_error));
    page.actions = actions;
    page.audit_link = matches!(session.person.role, Role::Admin | Role::Auditor);
    Ok(page)
}

/// For an admin on an open complaint: the PICs for its category.
async fn assignees_for(
    state: &AppState,
    session: &Session,
    page: &ComplaintPage,
    min_seq: Option<u64>,
) -> Result<Option<Vec<Assignee>>, PageError> {
    if session.person.role != Role::Admin || page.complaint.closed {
        return Ok(None);
    }
    let query = serde_urlencoded::to_string([("category", page.complaint.category_code.as_str())]).unwrap_or_default();
    let seq = min_seq.map(|s| format!("&min_seq={s}")).unwrap_or_default();
    Ok(Some(state.api.get(session, Service::Query, &format!("/v1/assignees?{query}{seq}")).await?))
}

#[derive(Debug, Deserialize)]
pub struct Assignment {
    #[serde(default)]
    pic_id: String,
    #[serde(default)]
    note: String,
    #[serde(default)]
    idempotency_key: String,
}

#[derive(Serialize)]
struct Assign<'a> {
    pic_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

pub async fn assign(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    CsrfForm(form): CsrfForm<Assignment>,
) -> Result<Response, PageError> {
    let sent = match form.pic_id.trim() {
        "" => Err(invalid("Sila pilih PIC. / Please choose a PIC.")),
        pic_id => {
            let body = Assign { pic_id, note: Some(form.note.trim()).filter(|n| !n.is_empty()) };
            let key = Some(form.idempotency_key.as_str());
            state
                .api
                .post::<_, Receipt>(&session, &format!("/v1/complaints/{id}/assignment"), &body, key)
                .await
                .map_err(Refused::from)
        }
    };
    match sent {
        Ok(receipt) => Ok(Redirect::to(&after_command(id, &receipt)).into_response()),
        Err(Refused { status, message }) => {
            let detail = detail(&state, &session, id, None).await?;
            let page = page(&session, csrf, detail, may_reply(&session).then(ReplyForm::fresh));
            Ok(with_forms(&state, &session, page, Some(message), None).await?.render_page(status))
        }
    }
}

/// The complaint's page once a command landed: read at its sequence, with its first warning.
fn after_command(id: Uuid, receipt: &Receipt) -> String {
    let mut query = vec![];
    if let Some(seq) = receipt.stream_sequence {
        query.push(("seq", seq.to_string()));
    }
    if let Some(code) = receipt.warnings.iter().find_map(|w| w["code"].as_str()) {
        query.push(("warning", code.to_owned()));
    }
    match query.is_empty() {
        true => format!("/complaints/{id}"),
        false => format!("/complaints/{id}?{}", serde_urlencoded::to_string(query).unwrap_or_default()),
    }
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
        Ok(receipt) => Ok(Redirect::to(&after_command(id, &receipt)).into_response()),
        Err(Refused { status, message }) => {
            // The form again, with what was typed and why it was refused; nothing changed.
            let detail = detail(&state, &session, id, None).await?;
            // A fresh key: the refused one may be remembered with its answer.
            let form = ReplyForm {
                error: Some(message),
                ..ReplyForm { idempotency_key: ReplyForm::fresh().idempotency_key, ..form }
            };
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
