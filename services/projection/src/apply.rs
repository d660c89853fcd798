//! Applying a batch of events to the read models: ONE transaction that updates every
//! model, writes the notification outbox and moves the checkpoint. Events at or below the
//! checkpoint were applied before (a redelivery after a crash between commit and ack) and
//! are skipped, so nothing is lost or doubled.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::Utc;
use ehelpdesk_shared::aggregate::{Aggregate, DomainEvent, Recorded};
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::{StaffEvent, StaffMember};
use serde_json::json;
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::project::{self, Notification, TimelineRow};

/// One message from the stream.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
    /// W3C trace context of the request that wrote the event, if it carried one.
    pub traceparent: Option<String>,
}

impl Incoming {
    /// The parts of a JetStream message the projection needs.
    pub fn from_message(message: &async_nats::jetstream::Message, sequence: u64) -> Self {
        Incoming {
            sequence,
            subject: message.subject.to_string(),
            payload: message.payload.clone(),
            traceparent: message
                .headers
                .as_ref()
                .and_then(|h| h.get(ehelpdesk_shared::envelope::headers::TRACEPARENT))
                .map(|v| v.to_string()),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("expected stream sequence {expected} next, got {got}: the consumer must restart from the checkpoint")]
    Gap { expected: u64, got: u64 },
}

enum Decoded {
    Complaint(Uuid, Recorded<ComplaintEvent>),
    Staff(String, Recorded<StaffEvent>),
    Skipped(String),
}

fn decode(prefix: &str, message: &Incoming) -> Decoded {
    let rest = message.subject.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')).unwrap_or("");
    match rest.split_once('.') {
        Some(("complaint", _)) => match envelope::decode::<Complaint>(&message.payload) {
            Ok(d) => Decoded::Complaint(d.id, d.recorded),
            Err(e) => Decoded::Skipped(e.to_string()),
        },
        Some(("staff", _)) => match envelope::decode::<StaffMember>(&message.payload) {
            Ok(d) => Decoded::Staff(d.id.to_string(), d.recorded),
            Err(e) => Decoded::Skipped(e.to_string()),
        },
        _ => Decoded::Skipped(format!("subject `{}` is not a complaint or staff subject", message.subject)),
    }
}

/// Reads the checkpoint, locking it against a concurrent writer (a rebuild's swap).
pub async fn checkpoint(tx: &mut Transaction<'_, Postgres>) -> Result<u64, sqlx::Error> {
    let row = sqlx::query("SELECT last_sequence FROM projection_checkpoint WHERE name = 'main' FOR UPDATE")
        .fetch_one(&mut **tx)
        .await?;
    Ok(row.get::<i64, _>(0) as u64)
}

/// Applies `batch` (in stream order) and returns the new checkpoint.
pub async fn apply_batch(pool: &PgPool, prefix: &str, batch: &[Incoming]) -> Result<u64, ApplyError> {
    apply_batch_notifying_after(pool, prefix, batch, 0).await
}

/// The same, writing notifications only for events after `notified` (a rebuild keeps the
/// live outbox for the events the live models already reached).
pub async fn apply_batch_notifying_after(
    pool: &PgPool,
    prefix: &str,
    batch: &[Incoming],
    notified: u64,
) -> Result<u64, ApplyError> {
    let mut tx = pool.begin().await?;
    let done = checkpoint(&mut tx).await?;
    let todo: Vec<&Incoming> = batch.iter().filter(|m| m.sequence > done).collect();
    let Some(first) = todo.first() else {
        tx.commit().await?;
        return Ok(done);
    };
    if first.sequence != done + 1 {
        return Err(ApplyError::Gap { expected: done + 1, got: first.sequence });
    }
    let decoded: Vec<(u64, &str, Option<&str>, Decoded)> =
        todo.iter().map(|m| (m.sequence, m.subject.as_str(), m.traceparent.as_deref(), decode(prefix, m))).collect();

    let complaint_ids: Vec<Uuid> = decoded
        .iter()
        .filter_map(|(_, _, _, d)| match d {
            Decoded::Complaint(id, _) => Some(*id),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut complaints: HashMap<Uuid, Complaint> =
        load_states(&mut tx, "complaints", "complaint_id", &complaint_ids).await?;
    let mut staff_ids: HashSet<String> =
        complaints.values().filter_map(|c| c.pic_id().map(|p| p.to_string())).collect();
    for (_, _, _, d) in &decoded {
        match d {
            Decoded::Staff(id, _) => {
                staff_ids.insert(id.clone());
            }
            Decoded::Complaint(_, r) => match &r.event {
                ComplaintEvent::ComplaintAssigned(e) => {
                    staff_ids.insert(e.pic_id.to_string());
                }
                ComplaintEvent::ReferredToImplementor(e) => {
                    staff_ids.insert(e.implementor_id.to_string());
                }
                _ => {}
            },
            Decoded::Skipped(_) => {}
        }
    }
    let staff_ids: Vec<String> = staff_ids.into_iter().collect();
    let mut staff: HashMap<String, StaffMember> = load_states(&mut tx, "staff", "staff_id", &staff_ids).await?;

    let mut touched_complaints: HashMap<Uuid, u64> = HashMap::new();
    let mut touched_staff: HashMap<String, u64> = HashMap::new();
    let mut timeline: Vec<TimelineRow> = vec![];
    let mut outbox: Vec<Notification> = vec![];
    let mut skipped: Vec<(u64, &str, String)> = vec![];
    for (sequence, subject, traceparent, d) in decoded {
        match d {
            Decoded::Complaint(id, recorded) => match Complaint::apply(complaints.remove(&id), &id, &recorded) {
                Ok(after) => {
                    // The event's work joins the trace of the request that wrote it.
                    let span = tracing::info_span!("apply_event", sequence, event_type = recorded.event.event_type());
                    ehelpdesk_shared::telemetry::continue_trace(&span, traceparent);
                    let _in_span = span.enter();
                    let seq = sequence as i64;
                    timeline.push(project::timeline_row(seq, &recorded, &after));
                    if sequence > notified {
                        outbox.extend(project::notifications(seq, &recorded, &after, &staff).into_iter().map(
                            |mut n| {
                                n.traceparent = traceparent.map(str::to_owned);
                                n
                            },
                        ));
                    }
                    complaints.insert(id, after);
                    touched_complaints.insert(id, sequence);
                }
                Err(e) => skipped.push((sequence, subject, e.to_string())),
            },
            Decoded::Staff(id, recorded) => {
                let Some(staff_id) = StaffMember::parse_id(&id) else {
                    skipped.push((sequence, subject, format!("bad staff id `{id}`")));
                    continue;
                };
                match StaffMember::apply(staff.remove(&id), &staff_id, &recorded) {
                    Ok(after) => {
                        staff.insert(id.clone(), after);
                        touched_staff.insert(id, sequence);
                    }
                    Err(e) => skipped.push((sequence, subject, e.to_string())),
                }
            }
            Decoded::Skipped(reason) => {
                tracing::warn!(sequence, subject, %reason, "skipping an event the projection cannot read");
                skipped.push((sequence, subject, reason));
            }
        }
    }

    let complaint_rows: Vec<serde_json::Value> = touched_complaints
        .iter()
        .filter_map(|(id, sequence)| complaints.get(id).map(|c| complaint_row(c, *sequence)))
        .collect();
    let staff_rows: Vec<serde_json::Value> =
        touched_staff.iter().filter_map(|(id, sequence)| staff.get(id).map(|s| staff_row(s, *sequence))).collect();
    upsert_rows(&mut tx, "complaints", COMPLAINT_COLUMNS, "complaint_id", complaint_rows).await?;
    upsert_rows(&mut tx, "staff", STAFF_COLUMNS, "staff_id", staff_rows).await?;
    insert_timeline(&mut tx, &timeline).await?;
    insert_outbox(&mut tx, &outbox).await?;
    for (sequence, subject, reason) in &skipped {
        sqlx::query(
            "INSERT INTO skipped_events (sequence, subject, reason, recorded_at) VALUES ($1, $2, $3, now()) \
             ON CONFLICT (sequence) DO NOTHING",
        )
        .bind(*sequence as i64)
        .bind(*subject)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    }
    let last = todo.last().map_or(done, |m| m.sequence);
    sqlx::query("UPDATE projection_checkpoint SET last_sequence = $1, updated_at = $2 WHERE name = 'main'")
        .bind(last as i64)
        .bind(Utc::now())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(last)
}

/// The folded states of `ids` as stored in `table`'s `state` column, by `key`.
async fn load_states<K, S>(
    tx: &mut Transaction<'_, Postgres>,
    table: &'static str,
    key: &'static str,
    ids: &[K],
) -> Result<HashMap<K, S>, sqlx::Error>
where
    K: for<'r> sqlx::Decode<'r, Postgres>
        + sqlx::Type<Postgres>
        + sqlx::postgres::PgHasArrayType
        + Send
        + Sync
        + Eq
        + std::hash::Hash,
    for<'q> &'q [K]: sqlx::Encode<'q, Postgres>,
    S: serde::de::DeserializeOwned,
{
    let sql = format!("SELECT {key}, state FROM {table} WHERE {key} = ANY($1)");
    let rows = sqlx::query(AssertSqlSafe(sql)).bind(ids).fetch_all(&mut **tx).await?;
    let mut out = HashMap::new();
    for row in rows {
        let state: serde_json::Value = row.get(1);
        let folded: S = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        out.insert(row.get(0), folded);
    }
    Ok(out)
}

const COMPLAINT_COLUMNS: &[&str] = &[
    "complaint_id",
    "number",
    "title",
    "description",
    "category",
    "channel",
    "complainant_id",
    "complainant_ic",
    "complainant_name",
    "complainant_email",
    "complainant_phone",
    "ptj",
    "status",
    "pic_id",
    "pic_name",
    "implementor_id",
    "implementor_name",
    "vendor",
    "vendor_log_number",
    "logged_at",
    "assigned_at",
    "first_response_at",
    "closed_at",
    "last_activity_at",
    "closed_by",
    "satisfaction_rating",
    "satisfaction_comment",
    "reopen_count",
    "state",
    "last_sequence",
];
const STAFF_COLUMNS: &[&str] =
    &["staff_id", "name", "email", "phone", "ptj", "roles", "categories", "active", "state", "last_sequence"];
/// Writes many rows in one statement: they travel as one JSON array that PostgreSQL turns
/// into records of the table's own type, so every column keeps its SQL type.
async fn upsert_rows(
    tx: &mut Transaction<'_, Postgres>,
    table: &'static str,
    columns: &[&str],
    key: &'static str,
    rows: Vec<serde_json::Value>,
) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let list = columns.join(", ");
    let updates: Vec<String> = columns.iter().filter(|c| **c != key).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    let conflict = format!("ON CONFLICT ({key}) DO UPDATE SET {}", updates.join(", "));
    let sql = format!(
        "INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_recordset(NULL::{table}, $1) {conflict}"
    );
    sqlx::query(AssertSqlSafe(sql)).bind(serde_json::Value::Array(rows)).execute(&mut **tx).await?;
    Ok(())
}

fn complaint_row(c: &Complaint, sequence: u64) -> serde_json::Value {
    let satisfaction = c.satisfaction.as_ref();
    json!({
        "complaint_id": c.id,
        "number": c.number,
        "title": c.title,
        "description": c.description,
        "category": c.category,
        "channel": c.channel,
        "complainant_id": c.complainant.id,
        "complainant_ic": c.complainant.ic_number,
        "complainant_name": c.complainant.name,
        "complainant_email": c.complainant.email,
        "complainant_phone": c.complainant.phone,
        "ptj": c.complainant.ptj,
        "status": c.status,
        "pic_id": c.pic.as_ref().map(|p| &p.id),
        "pic_name": c.pic.as_ref().map(|p| &p.name),
        "implementor_id": c.implementor.as_ref().map(|p| &p.id),
        "implementor_name": c.implementor.as_ref().map(|p| &p.name),
        "vendor": c.vendor,
        "vendor_log_number": c.vendor_log_number,
        "logged_at": c.logged_at,
        "assigned_at": c.assigned_at,
        "first_response_at": c.first_response_at,
        "closed_at": c.closed_at,
        "last_activity_at": c.last_activity_at,
        "closed_by": c.closed_by,
        "satisfaction_rating": satisfaction.and_then(|s| s.rating),
        "satisfaction_comment": satisfaction.and_then(|s| s.comment.as_ref()),
        "reopen_count": c.reopen_count,
        "state": c,
        "last_sequence": sequence,
    })
}

fn staff_row(s: &StaffMember, sequence: u64) -> serde_json::Value {
    json!({
        "staff_id": s.id,
        "name": s.name,
        "email": s.email,
        "phone": s.phone,
        "ptj": s.ptj,
        "roles": s.roles,
        "categories": s.categories,
        "active": s.active,
        "state": s,
        "last_sequence": sequence,
    })
}

/// The batch's timeline steps, as typed arrays: append-only rows need no JSON round trip.
/// A step already there is a replayed event's, and is kept.
async fn insert_timeline(tx: &mut Transaction<'_, Postgres>, rows: &[TimelineRow]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&TimelineRow) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO timeline (complaint_id, sequence, occurred_at, event_type, actor_id, actor_role, actor_name, \
           status, message, details, visibility) \
         SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::text[], $5::text[], $6::text[], \
           $7::text[], $8::text[], $9::text[], $10::jsonb[], $11::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.complaint_id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sequence).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
    .bind(column(|r| r.event_type))
    .bind(column(|r| &r.actor_id))
    .bind(column(|r| r.actor_role))
    .bind(column(|r| &r.actor_name))
    .bind(column(|r| r.status))
    .bind(rows.iter().map(|r| r.message.as_deref()).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| &r.details).collect::<Vec<_>>())
    .bind(column(|r| r.visibility))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The batch's notifications, likewise; ids derive from the event, so a replay's are kept.
async fn insert_outbox(tx: &mut Transaction<'_, Postgres>, rows: &[Notification]) -> Result<(), sqlx::Error> {
    if rows.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Notification) -> &str| rows.iter().map(f).collect::<Vec<_>>();
    sqlx::query(
        "INSERT INTO notification_outbox (id, sequence, complaint_id, event_type, recipient_id, recipient_role, \
           channel, address, subject, body, created_at, traceparent) \
         SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::uuid[], $4::text[], $5::text[], $6::text[], $7::text[], \
           $8::text[], $9::text[], $10::text[], $11::timestamptz[], $12::text[]) ON CONFLICT DO NOTHING",
    )
    .bind(rows.iter().map(|r| r.id).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.sequence).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.complaint_id).collect::<Vec<_>>())
    .bind(column(|r| r.event_type))
    .bind(column(|r| &r.recipient_id))
    .bind(column(|r| r.recipient_role))
    .bind(column(|r| r.channel.as_str()))
    .bind(column(|r| &r.address))
    .bind(column(|r| &r.subject))
    .bind(column(|r| &r.body))
    .bind(rows.iter().map(|r| r.created_at).collect::<Vec<_>>())
    .bind(rows.iter().map(|r| r.traceparent.as_deref()).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await?;
    Ok(())
}
