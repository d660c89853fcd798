//! The inbox table: the complaints the person may see (the API scopes them: a PIC's own, a
//! complainant's own, everyone's for admins and auditors), filtered and a page at a time.

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::category;
use ehelpdesk_shared::complaint::Status;

use crate::api::Service;
use crate::csrf::CsrfToken;
use crate::error::PageError;
use crate::pages::inbox::{Filters, InboxPage, InboxRow, ListedComplaint, SearchPage};
use crate::pages::{Choice, Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

/// Rows a page shows.
const PAGE_SIZE: &str = "25";

pub async fn show(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Query(filters): Query<Filters>,
) -> Result<Response, PageError> {
    let page: SearchPage = state.api.get(&session, Service::Query, &search_path(&session, &filters)).await?;
    let next_page = page.next_cursor.map(|cursor| {
        let query = [("status", filters.status.as_str()), ("category", filters.category.as_str()), ("cursor", &cursor)];
        format!("/inbox?{}", serde_urlencoded::to_string(query).unwrap_or_default())
    });
    let statuses = Status::ALL.map(|s| (s.as_str(), s.label_ms()));
    let categories: Vec<(&'static str, String)> =
        category::all().iter().map(|c| (c.code.as_str(), format!("{} ({})", c.name_ms, c.code))).collect();
    let page = InboxPage {
        chrome: Chrome::signed_in(&session, csrf.0, "/inbox"),
        heading: heading(session.person.role),
        rows: page.items.into_iter().map(InboxRow::from).collect(),
        statuses: Choice::list(statuses, &filters.status),
        categories: Choice::list(categories.iter().map(|(code, label)| (*code, label.as_str())), &filters.category),
        filters,
        next_page,
        with_filters: true,
    };
    Ok(page.render_page(StatusCode::OK))
}

/// "Aduan Baru": the admin's triage queue, new complaints nobody holds yet, oldest first.
pub async fn triage(State(state): State<AppState>, session: Session, csrf: CsrfToken) -> Result<Response, PageError> {
    let rows: Vec<ListedComplaint> = state.api.get(&session, Service::Query, "/v1/triage?limit=200").await?;
    let page = InboxPage {
        chrome: Chrome::signed_in(&session, csrf.0, "/triage"),
        heading: "Aduan Baru / Triage",
        rows: rows.into_iter().map(InboxRow::from).collect(),
        filters: Filters::default(),
        statuses: vec![],
        categories: vec![],
        next_page: None,
        with_filters: false,
    };
    Ok(page.render_page(StatusCode::OK))
}

fn heading(role: Role) -> &'static str {
    match role {
        Role::Pic | Role::Implementor => "Inbox Helpdesk",
        Role::Admin | Role::Auditor => "Semua Aduan / All complaints",
        Role::Complainant => "Aduan Saya / My complaints",
    }
}

/// `GET /v1/complaints` with the chosen filters; empty ones are left out.
fn search_path(session: &Session, filters: &Filters) -> String {
    let mut query = vec![("limit", PAGE_SIZE.to_owned())];
    if session.person.role == Role::Pic {
        query.push(("pic_id", session.person.id.clone()));
    }
    for (key, value) in [("status", &filters.status), ("category", &filters.category), ("cursor", &filters.cursor)] {
        if !value.is_empty() {
            query.push((key, value.clone()));
        }
    }
    format!("/v1/complaints?{}", serde_urlencoded::to_string(query).unwrap_or_default())
}
