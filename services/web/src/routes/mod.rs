//! Every page and form, one module per screen; [`router`] is the only list of them.

pub mod assets;
pub mod audit;
pub mod badge;
pub mod complaint;
pub mod dashboard;
pub mod inbox;
pub mod new_complaint;
pub mod probes;
pub mod sign_in;

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let mut router = Router::new()
        .route("/", get(dashboard::show))
        .route("/masuk", get(sign_in::show))
        .route("/masuk/mypkn", get(sign_in::to_portal).post(sign_in::from_portal))
        .route("/keluar", post(sign_in::sign_out))
        .route("/inbox", get(inbox::show))
        .route("/inbox/badge/events", get(badge::events))
        .route("/complaints/new", get(new_complaint::show).post(new_complaint::file))
        .route("/complaints/{id}", get(complaint::show))
        .route("/complaints/{id}/reply", post(complaint::reply))
        .route("/complaints/{id}/assign", post(complaint::assign))
        .route("/complaints/{id}/act/{action}", post(complaint::act))
        .route("/triage", get(inbox::triage))
        .route("/audit", get(audit::verify))
        .route("/audit/complaints/{id}", get(audit::complaint))
        .route("/audit/export/{file}", get(audit::export))
        .route("/static/{*path}", get(assets::serve))
        .route("/healthz", get(probes::healthz))
        .route("/readyz", get(probes::readyz));
    // The picker exists only outside production: there is no route to find.
    if !state.settings.production {
        router = router.route("/masuk/dev", post(sign_in::sign_in_as));
    }
    router.fallback(not_found).with_state(state)
}

async fn not_found() -> crate::error::PageError {
    crate::error::PageError::NotFound
}
