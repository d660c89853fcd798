use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

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
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

/// Ready to take commands: NATS connected, stream and number bucket present.
#[utoipa::path(get, path = "/readyz", tag = "probes", responses(
    (status = 200, body = Readiness), (status = 503, body = Readiness)))]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let nats = format!("{:?}", state.client.connection_state()).to_lowercase();
    let stream = state.store.config().stream.clone();
    let checked = match state.ready() {
        Ok(_) => state.store.stream_present().await.map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    let (code, readiness) = match checked {
        Ok(info) if info.config.deny_delete && info.config.deny_purge => (
            StatusCode::OK,
            Readiness {
                ready: true,
                nats,
                stream,
                stream_messages: Some(info.state.messages),
                append_only: Some(true),
                problem: None,
            },
        ),
        Ok(info) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Readiness {
                ready: false,
                nats,
                stream,
                stream_messages: Some(info.state.messages),
                append_only: Some(false),
                problem: Some("the stream allows deleting or purging events".into()),
            },
        ),
        Err(problem) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Readiness { ready: false, nats, stream, stream_messages: None, append_only: None, problem: Some(problem) },
        ),
    };
    (code, Json(readiness))
}
