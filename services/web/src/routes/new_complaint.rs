//! "Failkan Aduan": the complainant's filing form and what it sends.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use ehelpdesk_shared::category;
use serde::Serialize;
use uuid::Uuid;

use crate::api::{ApiError, Receipt};
use crate::csrf::{CsrfForm, CsrfToken};
use crate::error::{PageError, refusal};
use crate::pages::new_complaint::{NewComplaint, NewComplaintPage};
use crate::pages::{Choice, Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

fn page(session: &Session, csrf: CsrfToken, form: NewComplaint, error: Option<String>) -> NewComplaintPage {
    let categories = category::all().iter().map(|c| (c.code.as_str(), format!("{} ({})", c.name_ms, c.code)));
    NewComplaintPage {
        chrome: Chrome::signed_in(session, csrf.0, "/complaints/new"),
        categories: Choice::list(categories, &form.category),
        form,
        error,
    }
}

pub async fn show(session: Session, csrf: CsrfToken) -> Response {
    let form = NewComplaint { idempotency_key: Uuid::new_v4().to_string(), ..NewComplaint::default() };
    page(&session, csrf, form, None).render_page(StatusCode::OK)
}

#[derive(Serialize)]
struct LogComplaint<'a> {
    category: &'a str,
    title: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

pub async fn file(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    CsrfForm(form): CsrfForm<NewComplaint>,
) -> Result<Response, PageError> {
    let body = LogComplaint {
        category: form.category.trim(),
        title: form.title.trim(),
        description: form.description.trim(),
        reference: Some(form.reference.trim()).filter(|r| !r.is_empty()),
    };
    let key = Some(form.idempotency_key.as_str());
    match state.api.post::<_, Receipt>(&session, "/v1/complaints", &body, key).await {
        Ok(Receipt { complaint_id: Some(id), stream_sequence, .. }) => {
            let seq = stream_sequence.map(|s| format!("?seq={s}")).unwrap_or_default();
            Ok(Redirect::to(&format!("/complaints/{id}{seq}")).into_response())
        }
        Ok(_) => Err(PageError::Internal("a filing answered without its complaint".into())),
        Err(ApiError::Problem { status, code, detail, field }) => {
            let message = match field {
                Some(field) => format!("{} ({field})", refusal(&code, &detail)),
                None => refusal(&code, &detail),
            };
            // A fresh key: the refused one may be remembered with its answer.
            let form = NewComplaint { idempotency_key: Uuid::new_v4().to_string(), ..form };
            Ok(page(&session, csrf, form, Some(message)).render_page(status))
        }
        Err(e) => Err(e.into()),
    }
}
