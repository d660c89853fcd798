//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::http::extract::Authenticator;
use ehelpdesk_shared::staff::StaffMember;
use tokio::sync::OnceCell;

use crate::event_store::EventStore;
use crate::executor::Executor;
use crate::numbers::ComplaintNumbers;
use crate::rate_limit::WriteLimiter;
use ehelpdesk_shared::http::problem::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub store: EventStore,
    pub client: async_nats::Client,
    pub complaints: Arc<Executor<Complaint>>,
    pub staff: Arc<Executor<StaffMember>>,
    /// Set once the stream and the number bucket exist; until then commands answer 503.
    pub numbers: Arc<OnceCell<ComplaintNumbers>>,
    pub auth: Authenticator,
    pub limiter: Arc<WriteLimiter>,
    /// Keys complaint ids derived from Idempotency-Keys (see `COMPLAINT_ID_SECRET`).
    pub complaint_id_secret: Arc<str>,
    /// Everything `/metrics` shows.
    pub registry: prometheus::Registry,
    pub metrics: Arc<crate::metrics::CommandMetrics>,
    /// Admins' retries of dead-lettered notifications (NOTIFY and the notifier's records).
    pub notifications: Arc<crate::notifications::Notifications>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl FromRef<AppState> for Arc<WriteLimiter> {
    fn from_ref(state: &AppState) -> Self {
        state.limiter.clone()
    }
}

impl AppState {
    /// Fails fast with 503 while NATS is unreachable or the stream is not set up, instead
    /// of letting requests queue behind a dead connection.
    pub fn ready(&self) -> Result<&ComplaintNumbers, ApiError> {
        if self.client.connection_state() != async_nats::connection::State::Connected {
            return Err(ApiError::Unavailable("not connected to NATS".into()));
        }
        self.numbers.get().ok_or_else(|| ApiError::Unavailable("the event stream is not set up yet".into()))
    }
}
