//! The auditor's pages: a complaint's history straight from the log, its state as of a chosen
//! time, the exports, and `verify` (the log replayed against the read models).

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::Chrome;
use crate::format;
use crate::pages::complaint::event_label;

#[derive(Template)]
#[template(path = "audit_complaint.html")]
pub struct AuditComplaintPage {
    pub chrome: Chrome,
    pub id: Uuid,
    pub events: Vec<LoggedEventView>,
    /// The `as_of` the person chose, as typed (`2026-12-03T09:30`, Malaysian time).
    pub as_of: String,
    /// The state as of that time, if one was asked for.
    pub state: Option<StateView>,
}

/// One event as the log holds it (`GET /v1/audit/complaints/{id}/history`).
#[derive(Debug, Deserialize)]
pub struct LoggedEvent {
    pub sequence: u64,
    pub written_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: String,
    pub version: u32,
    pub written_version: u32,
    pub actor: LoggedActor,
    pub data: serde_json::Value,
}

#[derive(Debug, Deserialize)]
pub struct LoggedActor {
    pub id: String,
    pub role: String,
    pub name: String,
}

#[derive(Debug, Deserialize)]
pub struct History {
    pub events: Vec<LoggedEvent>,
}

pub struct LoggedEventView {
    pub sequence: u64,
    pub written_at: String,
    pub what: &'static str,
    pub event_type: String,
    pub who: String,
    pub version: String,
    pub data: String,
}

impl From<LoggedEvent> for LoggedEventView {
    fn from(e: LoggedEvent) -> Self {
        let version = match e.written_version == e.version {
            true => format!("v{}", e.version),
            false => format!("v{} (ditulis / written v{})", e.version, e.written_version),
        };
        Self {
            sequence: e.sequence,
            written_at: format::date_time(e.written_at),
            what: event_label(&e.event_type),
            event_type: e.event_type,
            who: format!("{} ({}, {})", e.actor.name, e.actor.role, e.actor.id),
            version,
            data: serde_json::to_string_pretty(&e.data).unwrap_or_default(),
        }
    }
}

/// `GET /v1/audit/complaints/{id}/state?as_of=`.
#[derive(Debug, Deserialize)]
pub struct StateAsOf {
    pub last_sequence: Option<u64>,
    pub state: Option<serde_json::Value>,
}

pub struct StateView {
    pub last_sequence: String,
    pub status: String,
    pub json: String,
}

impl From<StateAsOf> for StateView {
    fn from(s: StateAsOf) -> Self {
        let status = s.state.as_ref().and_then(|v| v["status"].as_str()).map(str::to_owned);
        Self {
            last_sequence: s.last_sequence.map_or("-".into(), |n| n.to_string()),
            status: status.unwrap_or_else(|| "belum wujud / did not exist yet".into()),
            json: s.state.map(|v| serde_json::to_string_pretty(&v).unwrap_or_default()).unwrap_or_default(),
        }
    }
}

#[derive(Template)]
#[template(path = "audit_verify.html")]
pub struct VerifyPage {
    pub chrome: Chrome,
    pub report: VerifyReport,
}

/// `GET /v1/audit/verify`.
#[derive(Debug, Deserialize)]
pub struct VerifyReport {
    pub events: u64,
    pub checkpoint: u64,
    pub stream_head: u64,
    pub complaints: u64,
    #[serde(default)]
    pub differences: Vec<Difference>,
    #[serde(default)]
    pub projection_problems: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Difference {
    #[serde(default)]
    pub complaint_id: Option<Uuid>,
    pub what: String,
}
