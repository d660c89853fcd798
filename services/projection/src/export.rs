//! Streamed exports for auditors: admitted up to a cap, produced by a task of their own into
//! a bounded channel, and provably complete or visibly broken.
//!
//! - A CSV export reads from a PostgreSQL connection of its own, never from the pool, so
//!   slow or absent readers cannot take the connections queries and readiness need.
//! - At most `EXPORT_MAX_CONCURRENT` exports run at once (JSON Lines ones too: each holds a
//!   NATS consumer and a task); more are refused with 429 and `Retry-After`.
//! - A client that takes nothing for `EXPORT_WRITE_TIMEOUT_SECS` is given up on: the task
//!   ends and frees its connection, consumer and place.
//! - A complete export ends with a trailer line giving the count of rows and the SHA-256 of
//!   every byte before the trailer. A failed one ends the body with an error, so the
//!   chunked response has no terminating chunk and the client sees a broken transfer.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::consumer::Consumer;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ehelpdesk_shared::http::ApiError;
use futures::{Stream, StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection};
use tokio::sync::mpsc::error::SendTimeoutError;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use uuid::Uuid;

use crate::configuration::Settings;

/// `application_name` of an export's own database connection, to find it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "ehelpdesk-projection-export";

/// Lines between the producing task and the response body; with the socket's buffers, what
/// a client may leave unread before the write timeout starts to count.
const LINES_IN_FLIGHT: usize = 64;

/// How long the event log may keep the next event of an export back before the export is
/// given up as broken (the log said more were to come).
const NEXT_EVENT_TIMEOUT: Duration = Duration::from_secs(5);

/// How soon a refused auditor should try again.
const RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the client took no data for {0:?}")]
    ClientStalled(Duration),
    #[error("the client went away")]
    ClientGone,
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("event log: {0}")]
    EventLog(String),
    #[error("event {0} could not be written as JSON: {1}")]
    Encode(u64, serde_json::Error),
    #[error("the export's task ended without a word (it panicked)")]
    Vanished,
}

/// Admission of exports: one place per running export. Cloned into the export routes.
#[derive(Clone)]
pub struct ExportGate {
    places: Arc<Semaphore>,
    capacity: usize,
    write_timeout: Duration,
}

/// A place taken; freed when the export's task ends.
pub struct Admitted {
    place: OwnedSemaphorePermit,
    write_timeout: Duration,
}

impl ExportGate {
    pub fn new(settings: &Settings) -> Self {
        Self {
            places: Arc::new(Semaphore::new(settings.export_max_concurrent)),
            capacity: settings.export_max_concurrent,
            write_timeout: settings.export_write_timeout,
        }
    }

    /// A place, or 429 `too_many_exports` with `Retry-After` when all are taken.
    pub fn admit(&self) -> Result<Admitted, ApiError> {
        let place = self.places.clone().try_acquire_owned().map_err(|_| ApiError::Busy {
            code: "too_many_exports",
            detail: format!(
                "Terlalu banyak eksport sedang berjalan (had {n}); cuba lagi sebentar / \
                 too many exports are running (at most {n}); try again shortly",
                n = self.capacity
            ),
            retry_after_secs: RETRY_AFTER_SECS,
        })?;
        Ok(Admitted { place, write_timeout: self.write_timeout })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    fn content_type(self) -> &'static str {
        match self {
            Format::JsonLines => "application/x-ndjson",
            Format::Csv => "text/csv; charset=utf-8",
        }
    }

    /// What a browser saves it as: `ehelpdesk-<what>[-<complaint id>].<extension>` (a UUID
    /// needs no quoting or escaping).
    fn attachment(self, complaint_id: Option<Uuid>) -> String {
        let (what, extension) = match self {
            Format::JsonLines => ("events", "jsonl"),
            Format::Csv => ("timeline", "csv"),
        };
        let name = match complaint_id {
            Some(id) => format!("ehelpdesk-{what}-{id}.{extension}"),
            None => format!("ehelpdesk-{what}.{extension}"),
        };
        format!("attachment; filename=\"{name}\"")
    }

    /// The last line of a complete export.
    pub fn trailer(self, count: u64, sha256: &str) -> String {
        match self {
            Format::JsonLines => format!("{{\"export_complete\":{{\"count\":{count},\"sha256\":\"{sha256}\"}}}}\n"),
            Format::Csv => format!("# export complete: rows={count} sha256={sha256}\n"),
        }
    }
}

/// Where a producer writes: every byte hashed for the trailer, rows counted, and a client
/// that takes nothing for the write timeout ends the export.
pub struct Sink {
    lines: mpsc::Sender<Bytes>,
    write_timeout: Duration,
    hasher: Sha256,
    rows: u64,
}

impl Sink {
    /// Bytes that are not a row (the CSV header).
    pub async fn preamble(&mut self, bytes: Bytes) -> Result<(), ExportError> {
        self.hasher.update(&bytes);
        self.send(bytes).await
    }

    pub async fn row(&mut self, bytes: Bytes) -> Result<(), ExportError> {
        self.hasher.update(&bytes);
        self.rows += 1;
        self.send(bytes).await
    }

    async fn send(&self, bytes: Bytes) -> Result<(), ExportError> {
        self.lines.send_timeout(bytes, self.write_timeout).await.map_err(|e| match e {
            SendTimeoutError::Timeout(_) => ExportError::ClientStalled(self.write_timeout),
            SendTimeoutError::Closed(_) => ExportError::ClientGone,
        })
    }

    async fn finish(mut self, format: Format) -> Result<(), ExportError> {
        let digest: String = std::mem::take(&mut self.hasher).finalize().iter().map(|b| format!("{b:02x}")).collect();
        self.send(Bytes::from(format.trailer(self.rows, &digest))).await
    }
}

/// The response for an admitted export: `produce` runs in a task of its own, and the body
/// ends cleanly only when it finished and the trailer went out.
pub fn respond<F, Fut>(admitted: Admitted, format: Format, complaint_id: Option<Uuid>, produce: F) -> Response
where
    F: FnOnce(Sink) -> Fut,
    Fut: Future<Output = Result<Sink, ExportError>> + Send + 'static,
{
    let (lines, received) = mpsc::channel(LINES_IN_FLIGHT);
    let (outcome_tx, outcome_rx) = oneshot::channel();
    let Admitted { place, write_timeout } = admitted;
    let work = produce(Sink { lines, write_timeout, hasher: Sha256::new(), rows: 0 });
    tokio::spawn(async move {
        let outcome = match work.await {
            Ok(sink) => sink.finish(format).await,
            Err(e) => Err(e),
        };
        drop(place);
        report(format, &outcome);
        let _ = outcome_tx.send(outcome);
    });
    let headers = [
        (header::CONTENT_TYPE, format.content_type().to_owned()),
        (header::CONTENT_DISPOSITION, format.attachment(complaint_id)),
    ];
    (headers, Body::from_stream(body(received, outcome_rx))).into_response()
}

fn report(format: Format, outcome: &Result<(), ExportError>) {
    match outcome {
        Ok(()) => tracing::debug!(?format, "export complete"),
        Err(ExportError::ClientGone) => tracing::debug!(?format, "export abandoned by its client"),
        Err(e @ ExportError::ClientStalled(_)) => tracing::info!(?format, error = %e, "export cut off"),
        Err(e) => tracing::warn!(?format, error = %e, "export failed; its body ends in an error"),
    }
}

/// Everything produced, then nothing more if the producer finished, or an error that makes
/// the server abort the transfer.
fn body(
    received: mpsc::Receiver<Bytes>,
    outcome: oneshot::Receiver<Result<(), ExportError>>,
) -> impl Stream<Item = Result<Bytes, ExportError>> + Send + 'static {
    futures::stream::unfold(Some((received, outcome)), |state| async move {
        let (mut received, outcome) = state?;
        if let Some(line) = received.recv().await {
            return Some((Ok(line), Some((received, outcome))));
        }
        match outcome.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some((Err(e), None)),
            Err(_) => Some((Err(ExportError::Vanished), None)),
        }
    })
}

/// A PostgreSQL connection of the export's own, outside the pool.
pub async fn connect(settings: &Settings) -> Result<PgConnection, sqlx::Error> {
    crate::db::connect_alone(&settings.database_url, &settings.schema, APPLICATION_NAME).await
}

/// Which timeline rows or events: one complaint, a time range, or both.
#[derive(Debug, Clone, Copy)]
pub struct Range {
    pub complaint_id: Option<Uuid>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

const CSV_HEADER: &str = "complaint_number,complaint_id,sequence,occurred_at,event_type,actor_id,actor_role,\
                          actor_name,status,visibility,message\n";

/// One row of the timeline export, in the CSV's column order.
struct TimelineLine {
    number: String,
    complaint_id: Uuid,
    sequence: i64,
    occurred_at: DateTime<Utc>,
    event_type: String,
    actor_id: String,
    actor_role: String,
    actor_name: String,
    status: String,
    visibility: String,
    message: Option<String>,
}

/// The timeline as CSV, from the export's own connection.
pub async fn timeline_csv(mut conn: PgConnection, range: Range, mut sink: Sink) -> Result<Sink, ExportError> {
    sink.preamble(Bytes::from_static(CSV_HEADER.as_bytes())).await?;
    let mut rows = sqlx::query_as!(
        TimelineLine,
        "SELECT c.number, t.complaint_id, t.sequence, t.occurred_at, t.event_type, t.actor_id, t.actor_role, \
           t.actor_name, t.status, t.visibility, t.message FROM timeline t JOIN complaints c USING (complaint_id) \
         WHERE ($1::uuid IS NULL OR t.complaint_id = $1) AND ($2::timestamptz IS NULL OR t.occurred_at >= $2) \
           AND ($3::timestamptz IS NULL OR t.occurred_at < $3) ORDER BY t.sequence",
        range.complaint_id,
        range.from,
        range.to,
    )
    .fetch(&mut conn);
    while let Some(row) = rows.try_next().await? {
        sink.row(Bytes::from(csv_line(row))).await?;
    }
    drop(rows);
    // Politely, so the server does not log a lost client; not worth waiting long for.
    let _ = tokio::time::timeout(Duration::from_secs(1), conn.close()).await;
    Ok(sink)
}

fn csv_line(row: TimelineLine) -> String {
    let fields = [
        row.number,
        row.complaint_id.to_string(),
        row.sequence.to_string(),
        row.occurred_at.to_rfc3339(),
        row.event_type,
        row.actor_id,
        row.actor_role,
        row.actor_name,
        row.status,
        row.visibility,
        row.message.unwrap_or_default(),
    ];
    fields.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n"
}

/// One CSV field: quoted, and defused when a spreadsheet would read it as a formula (what
/// OWASP lists as starting one, tab and carriage return included).
fn csv_field(value: &str) -> String {
    let defused =
        if value.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{value}") } else { value.to_owned() };
    format!("\"{}\"", defused.replace('"', "\"\""))
}

/// The events an ordered consumer delivers, up to stream sequence `head` (the stream's last
/// when the export began) and before `to`. Done when the log has none left for it.
pub async fn events_jsonl(
    consumer: Consumer<OrderedConfig>,
    head: u64,
    to: Option<DateTime<Utc>>,
    mut sink: Sink,
) -> Result<Sink, ExportError> {
    if consumer.cached_info().num_pending == 0 {
        return Ok(sink);
    }
    let mut messages = consumer.messages().await.map_err(|e| ExportError::EventLog(e.to_string()))?;
    loop {
        let message = match tokio::time::timeout(NEXT_EVENT_TIMEOUT, messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(e))) => return Err(ExportError::EventLog(e.to_string())),
            Ok(None) => return Err(ExportError::EventLog("the consumer stopped delivering".into())),
            Err(_) => {
                return Err(ExportError::EventLog(format!("no event for {NEXT_EVENT_TIMEOUT:?} though more were due")));
            }
        };
        let (sequence, written_at, left) = {
            let info = message.info().map_err(|e| ExportError::EventLog(e.to_string()))?;
            (info.stream_sequence, info.published, info.pending)
        };
        if sequence > head || to.is_some_and(|to| written_at >= to) {
            return Ok(sink);
        }
        sink.row(event_line(&message, sequence, written_at)?).await?;
        if sequence == head || left == 0 {
            return Ok(sink);
        }
    }
}

/// One event as stored, with where and when the log wrote it.
fn event_line(
    message: &async_nats::jetstream::Message,
    sequence: u64,
    written_at: DateTime<Utc>,
) -> Result<Bytes, ExportError> {
    let stored: serde_json::Value = serde_json::from_slice(&message.payload).unwrap_or(serde_json::Value::Null);
    let line = serde_json::json!({
        "sequence": sequence, "written_at": written_at, "subject": message.subject.as_str(), "event": stored,
    });
    let mut bytes = serde_json::to_vec(&line).map_err(|e| ExportError::Encode(sequence, e))?;
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_field("plain"), "\"plain\"");
        assert_eq!(csv_field("say \"hi\", ok"), "\"say \"\"hi\"\", ok\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        // OWASP's list of characters that start a formula: =, +, -, @, tab and carriage return.
        assert_eq!(csv_field("+1+cmd|' /C calc'!A0"), "\"'+1+cmd|' /C calc'!A0\"");
        assert_eq!(csv_field("-2+3"), "\"'-2+3\"");
        assert_eq!(csv_field("@SUM(A1:A2)"), "\"'@SUM(A1:A2)\"");
        assert_eq!(csv_field("\t=1+1"), "\"'\t=1+1\"");
        assert_eq!(csv_field("\r=1+1"), "\"'\r=1+1\"");
        assert_eq!(csv_field("a=1"), "\"a=1\"", "only a leading one is a formula");
        assert_eq!(csv_field(""), "\"\"");
    }

    #[test]
    fn trailers_say_count_and_checksum() {
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            Format::JsonLines.trailer(0, sha),
            format!("{{\"export_complete\":{{\"count\":0,\"sha256\":\"{sha}\"}}}}\n")
        );
        let parsed: serde_json::Value = serde_json::from_str(&Format::JsonLines.trailer(7, sha)).unwrap();
        assert_eq!(parsed["export_complete"]["count"], 7);
        assert_eq!(Format::Csv.trailer(3, sha), format!("# export complete: rows=3 sha256={sha}\n"));
    }

    #[test]
    fn attachments_are_named_after_the_export() {
        let id = Uuid::nil();
        assert_eq!(Format::Csv.attachment(Some(id)), format!("attachment; filename=\"ehelpdesk-timeline-{id}.csv\""));
        assert_eq!(Format::JsonLines.attachment(None), "attachment; filename=\"ehelpdesk-events.jsonl\"");
    }

    fn sink(capacity: usize, write_timeout: Duration) -> (Sink, mpsc::Receiver<Bytes>) {
        let (lines, received) = mpsc::channel(capacity);
        (Sink { lines, write_timeout, hasher: Sha256::new(), rows: 0 }, received)
    }

    #[tokio::test]
    async fn a_client_that_takes_nothing_stalls_the_sink() {
        let (mut sink, _unread) = sink(1, Duration::from_millis(10));
        sink.row(Bytes::from_static(b"a\n")).await.unwrap();
        let stalled = sink.row(Bytes::from_static(b"b\n")).await;
        assert!(matches!(stalled, Err(ExportError::ClientStalled(_))), "{stalled:?}");
    }

    #[tokio::test]
    async fn the_body_ends_cleanly_only_after_the_producer_finished() {
        let (lines, received) = mpsc::channel(4);
        let (outcome_tx, outcome_rx) = oneshot::channel();
        lines.send(Bytes::from_static(b"a\n")).await.unwrap();
        drop(lines);
        outcome_tx.send(Err(ExportError::ClientStalled(Duration::from_secs(1)))).unwrap();
        let items: Vec<_> = body(received, outcome_rx).collect().await;
        assert_eq!(items.len(), 2);
        assert!(items[0].is_ok() && items[1].is_err());

        let (lines, received) = mpsc::channel::<Bytes>(4);
        let (outcome_tx, outcome_rx) = oneshot::channel::<Result<(), ExportError>>();
        drop((lines, outcome_tx));
        let items: Vec<_> = body(received, outcome_rx).collect().await;
        assert!(matches!(items.as_slice(), [Err(ExportError::Vanished)]), "a vanished producer is no clean end");
    }
}
