//! "Utama": where each role starts. A PIC's "Inbox Helpdesk" carries the badge.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use ehelpdesk_shared::actor::Role;
use serde::Deserialize;

use crate::api::Service;
use crate::csrf::CsrfToken;
use crate::error::PageError;
use crate::pages::dashboard::{DashboardPage, Tile};
use crate::pages::{Chrome, Render};
use crate::session::Session;
use crate::state::AppState;

#[derive(Deserialize)]
struct Badge {
    count: i64,
}

pub async fn show(State(state): State<AppState>, session: Session, csrf: CsrfToken) -> Result<Response, PageError> {
    let tiles = match session.person.role {
        Role::Implementor => vec![Tile {
            href: "/inbox",
            title: "Inbox Helpdesk",
            blurb: "Aduan yang dirujuk kepada anda. / Complaints referred to you.",
            badge: None,
            badge_label: "",
        }],
        Role::Pic => {
            let badge: Badge = state.api.get(&session, Service::Query, "/v1/inbox/badge").await?;
            vec![Tile {
                href: "/inbox",
                title: "Inbox Helpdesk",
                blurb: "Aduan yang ditugaskan kepada anda. / Complaints assigned to you.",
                badge: Some(badge.count),
                badge_label: "aduan terbuka / open complaints",
            }]
        }
        Role::Admin | Role::Auditor => {
            let new: Vec<serde_json::Value> = state.api.get(&session, Service::Query, "/v1/triage?limit=200").await?;
            vec![
                Tile {
                    href: "/triage",
                    title: "Aduan Baru / Triage",
                    blurb: "Aduan baru yang belum ditugaskan kepada PIC. / New complaints no PIC holds yet.",
                    badge: Some(new.len() as i64),
                    badge_label: "aduan baru / new complaints",
                },
                Tile {
                    href: "/inbox",
                    title: "Semua Aduan / All complaints",
                    blurb: "Cari dan tapis semua aduan. / Search and filter every complaint.",
                    badge: None,
                    badge_label: "",
                },
            ]
        }
        Role::Complainant => vec![
            Tile {
                href: "/inbox",
                title: "Aduan Saya / My complaints",
                blurb: "Aduan yang anda failkan dan statusnya. / The complaints you filed and their state.",
                badge: None,
                badge_label: "",
            },
            Tile {
                href: "/complaints/new",
                title: "Failkan Aduan / File a complaint",
                blurb: "iSPEKS tidak berfungsi seperti sepatutnya? Beritahu kami. / iSPEKS misbehaving? Tell us.",
                badge: None,
                badge_label: "",
            },
        ],
    };
    Ok(DashboardPage { chrome: Chrome::signed_in(&session, csrf.0, "/"), tiles }.render_page(StatusCode::OK))
}
