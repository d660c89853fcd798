//! `/healthz` and `/readyz` on the public port; `/metrics` on the admin port.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::email::Mailer;
use crate::record::RecordStore;

/// How long readiness waits for each check: a hung server must fail the probe, not hang it.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1500);

#[derive(Clone)]
pub struct Probes {
    pub client: async_nats::Client,
    pub jetstream: async_nats::jetstream::Context,
    pub stream: String,
    pub records: RecordStore,
    pub mailer: Mailer,
    pub whatsapp: String,
    pub registry: Arc<prometheus::Registry>,
}

#[derive(Debug, Serialize)]
pub struct Readiness {
    pub ready: bool,
    pub nats: String,
    /// `ok`, or why the NOTIFY stream cannot be read.
    pub notify_stream: String,
    /// `ok`, or why the delivery records cannot be read.
    pub delivery_records: String,
    /// `ok`, or why e-mail cannot go out (an SMTP server that does not answer).
    pub email: String,
    /// How WhatsApp messages leave.
    pub whatsapp: String,
}

pub fn router(probes: Probes) -> Router {
    Router::new()
        .route("/healthz", get(ehelpdesk_shared::http::observe::healthz))
        .route("/readyz", get(readyz))
        .with_state(probes)
}

pub fn admin_router(probes: Probes) -> Router {
    Router::new().route("/metrics", get(metrics)).with_state(probes)
}

async fn metrics(State(probes): State<Probes>) -> axum::response::Response {
    ehelpdesk_shared::http::observe::render(&probes.registry)
}

/// Ready when NATS, the NOTIFY stream, the delivery records and the mail server answer.
async fn readyz(State(probes): State<Probes>) -> (StatusCode, Json<Readiness>) {
    let stream = async {
        let mut stream = probes.jetstream.get_stream(&probes.stream).await.map_err(|e| e.to_string())?;
        stream.info().await.map(|_| ()).map_err(|e| e.to_string())
    };
    let (stream, records, email) =
        tokio::join!(within(stream), within(probes.records.check()), within(probes.mailer.check()));
    let word = |r: &Result<(), String>| r.as_ref().map(|_| "ok".to_owned()).unwrap_or_else(|e| e.clone());
    let ready = stream.is_ok() && records.is_ok() && email.is_ok();
    let body = Readiness {
        ready,
        nats: format!("{:?}", probes.client.connection_state()).to_lowercase(),
        notify_stream: word(&stream),
        delivery_records: word(&records),
        email: word(&email),
        whatsapp: probes.whatsapp.clone(),
    };
    (if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE }, Json(body))
}

async fn within(check: impl std::future::Future<Output = Result<(), String>>) -> Result<(), String> {
    tokio::time::timeout(PROBE_TIMEOUT, check)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} ms", PROBE_TIMEOUT.as_millis())))
}
