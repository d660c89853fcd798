//! The auditor's pages (admins see them too; the API decides who may): a complaint's log, its
//! state as of a time, the exports relayed as they stream, and `verify`.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{NaiveDateTime, TimeZone};
use serde::Deserialize;
use uuid::Uuid;

use crate::api::Service;
use crate::csrf::CsrfToken;
use crate::error::PageError;
use crate::pages::audit::{
    AuditComplaintPage, History, LoggedEventView, StateAsOf, StateView, VerifyPage, VerifyReport,
};
use crate::pages::{Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

#[derive(Debug, Default, Deserialize)]
pub struct AsOf {
    #[serde(default)]
    as_of: String,
}

pub async fn complaint(
    State(state): State<AppState>,
    session: Session,
    csrf: CsrfToken,
    Path(id): Path<Uuid>,
    Query(AsOf { as_of }): Query<AsOf>,
) -> Result<Response, PageError> {
    let history: History =
        state.api.get(&session, Service::Query, &format!("/v1/audit/complaints/{id}/history")).await?;
    let as_of = as_of.trim().to_owned();
    let chosen = match as_of.as_str() {
        "" => None,
        typed => {
            let at = malaysian_time(typed).ok_or_else(|| {
                PageError::BadForm(format!("Tarikh dan masa tidak sah: {typed}. / Not a date and time: {typed}."))
            })?;
            let query = serde_urlencoded::to_string([("as_of", at.to_rfc3339())]).unwrap_or_default();
            let path = format!("/v1/audit/complaints/{id}/state?{query}");
            Some(StateView::from(state.api.get::<StateAsOf>(&session, Service::Query, &path).await?))
        }
    };
    let page = AuditComplaintPage {
        chrome: Chrome::signed_in(&session, csrf.0, "/audit"),
        id,
        events: history.events.into_iter().map(LoggedEventView::from).collect(),
        as_of,
        state: chosen,
    };
    Ok(page.render_page(StatusCode::OK))
}

/// `2026-12-03T09:30` as a browser's `datetime-local` sends it, read as Malaysian time (UTC+8).
fn malaysian_time(typed: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let local = NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M")
        .or_else(|_| NaiveDateTime::parse_from_str(typed, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    let malaysia = chrono::FixedOffset::east_opt(8 * 3600)?;
    malaysia.from_local_datetime(&local).single().map(|at| at.with_timezone(&chrono::Utc))
}

pub async fn verify(State(state): State<AppState>, session: Session, csrf: CsrfToken) -> Result<Response, PageError> {
    let report: VerifyReport = state.api.get(&session, Service::Query, "/v1/audit/verify").await?;
    Ok(VerifyPage { chrome: Chrome::signed_in(&session, csrf.0, "/audit"), report }.render_page(StatusCode::OK))
}

#[derive(Debug, Deserialize)]
pub struct ExportOf {
    complaint_id: Uuid,
}

/// An export, relayed as it streams, with the service's type and file name; its trailer line
/// proves it whole (README, "Auditors").
pub async fn export(
    State(state): State<AppState>,
    session: Session,
    Path(file): Path<String>,
    Query(ExportOf { complaint_id }): Query<ExportOf>,
) -> Result<Response, PageError> {
    if !matches!(file.as_str(), "events.jsonl" | "timeline.csv") {
        return Err(PageError::NotFound);
    }
    let path = format!("/v1/audit/export/{file}?complaint_id={complaint_id}");
    let upstream = state.api.open_stream(&session, &path).await?;
    let pass = |name: header::HeaderName| upstream.headers().get(&name).cloned().map(|v| (name, v));
    let headers: Vec<(header::HeaderName, HeaderValue)> =
        [pass(header::CONTENT_TYPE), pass(header::CONTENT_DISPOSITION)].into_iter().flatten().collect();
    let mut response = Body::from_stream(upstream.bytes_stream()).into_response();
    response.headers_mut().extend(headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chosen_time_is_malaysian() {
        assert_eq!(malaysian_time("2026-12-03T09:30").unwrap().to_rfc3339(), "2026-12-03T01:30:00+00:00");
        assert!(malaysian_time("3/12/2026").is_none());
        assert!(malaysian_time("").is_none());
    }
}
