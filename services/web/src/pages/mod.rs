//! The pages: each an askama template (services/web/templates/, checked when the crate
//! compiles) and the view it shows, built from API answers by [`crate::routes`].

pub mod actions;
pub mod audit;
pub mod complaint;
pub mod dashboard;
pub mod inbox;
pub mod new_complaint;
pub mod sign_in;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use ehelpdesk_shared::actor::Role;

use crate::people::role_label;
use crate::session::Session;

/// Renders a template as an HTML answer; a template that fails is logged and becomes a short
/// plain page rather than a blank one.
pub trait Render {
    fn render_page(self, status: StatusCode) -> Response;
}

impl<T: Template> Render for T {
    fn render_page(self, status: StatusCode) -> Response {
        match self.render() {
            Ok(html) => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"))], html)
                .into_response(),
            Err(e) => {
                tracing::error!(error = %e, "template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "Ralat dalaman / Internal error").into_response()
            }
        }
    }
}

/// What every page around its content shows: who is signed in, where they can go, and the
/// CSRF token its forms carry.
pub struct Chrome {
    pub person: Option<PersonView>,
    pub nav: Vec<NavLink>,
    pub csrf: String,
}

pub struct PersonView {
    pub name: String,
    pub role_label: &'static str,
}

pub struct NavLink {
    pub href: &'static str,
    pub label: &'static str,
    pub current: bool,
}

/// Where each role goes, in the order the header lists it.
fn destinations(role: Role) -> Vec<(&'static str, &'static str)> {
    let mut links = vec![("/", "Utama / Dashboard")];
    match role {
        Role::Pic | Role::Implementor => links.push(("/inbox", "Inbox Helpdesk")),
        Role::Admin | Role::Auditor => {
            links.push(("/triage", "Aduan Baru / Triage"));
            links.push(("/inbox", "Semua Aduan / All complaints"));
            links.push(("/audit", "Semak log / Verify"));
        }
        Role::Complainant => {
            links.push(("/inbox", "Aduan Saya / My complaints"));
            links.push(("/complaints/new", "Failkan Aduan / File a complaint"));
        }
    }
    links
}

impl Chrome {
    pub fn signed_in(session: &Session, csrf: String, current: &str) -> Self {
        let nav = destinations(session.person.role)
            .into_iter()
            .map(|(href, label)| NavLink { href, label, current: href == current })
            .collect();
        let person = PersonView { name: session.person.name.clone(), role_label: role_label(session.person.role) };
        Self { person: Some(person), nav, csrf }
    }

    pub fn signed_out(csrf: String) -> Self {
        Self { person: None, nav: vec![], csrf }
    }
}

/// One option of a `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

impl Choice {
    /// The options `(value, label)`, with `chosen` selected.
    pub fn list<V: Into<String>, L: Into<String>>(
        options: impl IntoIterator<Item = (V, L)>,
        chosen: &str,
    ) -> Vec<Choice> {
        options
            .into_iter()
            .map(|(value, label)| {
                let value = value.into();
                let selected = value == chosen;
                Choice { value, label: label.into(), selected }
            })
            .collect()
    }
}

/// A page that could not be shown, and why.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    /// Signed out: an error page does not know who asked.
    pub chrome: Chrome,
    pub title: &'static str,
    pub message: String,
    pub status: u16,
}

/// Loads `url` again from this site: a link from an e-mail or WhatsApp arrives without the
/// SameSite=Strict session cookie, which the reload then carries (no script: a meta refresh).
#[derive(Template)]
#[template(path = "reload.html")]
pub struct Reload {
    pub url: String,
}
