//! What every query handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::Authenticator;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::configuration::Settings;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub settings: Arc<Settings>,
    pub client: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    /// Last sequence this process applied (another instance may be the one applying).
    pub applied: watch::Receiver<u64>,
    pub auth: Authenticator,
    /// Everything `/metrics` shows.
    pub registry: prometheus::Registry,
    pub metrics: std::sync::Arc<crate::metrics::ProjectionMetrics>,
    /// Reports computed once per checkpoint and shared.
    pub reports: Arc<crate::reports::Reports>,
    /// The working-day calendar list rows are aged against.
    pub working_days: Arc<crate::calendar::WorkingDays>,
    pub read_your_writes: Arc<crate::read_your_writes::ReadYourWrites>,
}

impl FromRef<AppState> for Authenticator {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

impl AppState {
    /// Aging as of today in Malaysia.
    pub fn aging(&self) -> crate::queries::Aging<'_> {
        crate::queries::Aging { today: crate::queries::today_in_malaysia(), calendar: &self.working_days }
    }

    /// Read-your-writes: waits until stream sequence `wanted` is in the read models
    /// (see [`crate::read_your_writes`]).
    pub async fn wait_for(&self, wanted: Option<u64>) -> Result<(), ApiError> {
        match wanted {
            None => Ok(()),
            Some(wanted) => self.read_your_writes.wait_for(wanted).await,
        }
    }
}

/// Database faults: unreachable is 503 (try again); a value PostgreSQL refuses as data
/// (SQLSTATE class 22: NUL in text, a time out of range...) came from the request, so 400 -
/// the routes check what they can first, this catches what slips past them; anything else
/// is our bug (500).
pub fn database_error(e: sqlx::Error) -> ApiError {
    match e {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
            ApiError::DatabaseUnavailable(e.to_string())
        }
        sqlx::Error::Database(db) if db.code().is_some_and(|code| code.starts_with("22")) => {
            tracing::info!(sqlstate = ?db.code(), error = %db, "the database refused a value from the request");
            ApiError::BadRequest {
                code: "invalid_parameter",
                detail: "Nilai dalam permintaan tidak sah / a value in the request is invalid or out of range".into(),
            }
        }
        other => ApiError::Internal(other.to_string()),
    }
}
