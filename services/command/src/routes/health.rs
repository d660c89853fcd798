use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

/// How long readiness waits for JetStream: a hung server must make the probe fail, not hang.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Serialize, ToSchema)]
pub struct Readiness {
    pub ready: bool,
    pub nats: String,
    pub stream: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream_messages: Option<u64>,
    /// The stream denies deleting and purging messages, as auditors rely on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub append_only: Option<bool>,
    /// `ok`, or why no complaint number can be handed out (the counter needs repair).
    pub complaint_numbers: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Ready to take commands: NATS connected, the stream answering and append-only, and the
/// complaint number counter trustworthy; each JetStream check within `PROBE_TIMEOUT`.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let nats = format!("{:?}", state.client.connection_state()).to_lowercase();
    let stream = state.store.config().stream.clone();
    let (checked, numbers) = match state.ready() {
        Ok(numbers) => {
            let (info, counter) =
                tokio::join!(within(state.store.stream_present()), within(numbers.check(chrono::Utc::now())));
            (info, counter.map(|_| "ok".to_owned()).unwrap_or_else(|e| e))
        }
        Err(e) => (Err(e.to_string()), "not set up".to_owned()),
    };
    let numbers_ok = numbers == "ok";
    let mut readiness = Readiness {
        ready: false,
        nats,
        stream,
        stream_messages: None,
        append_only: None,
        complaint_numbers: numbers,
        problem: None,
    };
    match checked {
        Ok(info) => {
            let append_only = info.config.deny_delete && info.config.deny_purge;
            readiness.stream_messages = Some(info.state.messages);
            readiness.append_only = Some(append_only);
            readiness.ready = append_only && numbers_ok;
            if !append_only {
                readiness.problem = Some("the stream allows deleting or purging events".into());
            } else if !numbers_ok {
                readiness.problem = Some("complaint numbers cannot be handed out".into());
            }
        }
        Err(problem) => readiness.problem = Some(problem),
    }
    let code = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(readiness))
}

/// `check` within `PROBE_TIMEOUT`, its error as text.
async fn within<T, E: std::fmt::Display>(check: impl std::future::Future<Output = Result<T, E>>) -> Result<T, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, check).await {
        Ok(outcome) => outcome.map_err(|e| e.to_string()),
        Err(_) => Err(format!("JetStream did not answer within {} ms", PROBE_TIMEOUT.as_millis())),
    }
}
