//! Applying a batch of events to the read models: ONE transaction that updates every
//! model, writes the notification outbox and moves the checkpoint. Events at or below the
//! checkpoint were applied before (a redelivery after a crash between commit and ack) and
//! are skipped, so nothing is lost or doubled.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use ehelpdesk_shared::aggregate::{Aggregate, DomainEvent, Recorded};
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::{NotificationPreferences, StaffEvent, StaffMember};
use ehelpdesk_shared::stored::state::{StoredComplaint, StoredStaffMember};
use sqlx::{AssertSqlSafe, PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::project::{self, Notification, TimelineRow};
use crate::rows::{ComplaintRecord, StaffRecord};
use crate::skipped::{self, Kind, Skip};

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
    #[error("the checkpoint kept moving under the batch: the consumer must restart from the checkpoint")]
    CheckpointMoved,
}

/// Attempts at a batch whose checkpoint moved meanwhile. One retry is what a rebuild's swap
/// costs; more mean something else writes the checkpoint, and the consumer had better
/// restart from it.
const CHECKPOINT_ATTEMPTS: usize = 3;

/// How one attempt at a batch ended.
enum Attempt {
    Committed(u64),
    /// The checkpoint was not where the batch started from when it was written: rolled back.
    CheckpointMoved,
}

enum Decoded {
    Complaint(Uuid, Recorded<ComplaintEvent>),
    Staff(String, Recorded<StaffEvent>),
    /// A complaint number's claim (see the command service's `numbers`): in the log so a
    /// number is never given twice, nothing for the read models.
    NumberClaim,
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
        Some((ehelpdesk_shared::config::NUMBER_CLAIMS, _)) => Decoded::NumberClaim,
        _ => Decoded::Skipped(format!("subject `{}` is not a complaint or staff subject", message.subject)),
    }
}

/// Reads the checkpoint, locking it against a concurrent writer (a rebuild's swap).
pub async fn checkpoint(tx: &mut Transaction<'_, Postgres>) -> Result<u64, sqlx::Error> {
    let sequence =
        sqlx::query_scalar!("SELECT last_sequence FROM projection_checkpoint WHERE name = 'main' FOR UPDATE")
            .fetch_one(&mut **tx)
            .await?;
    Ok(sequence as u64)
}

/// Applies `batch` (in stream order) and returns the new checkpoint.
pub async fn apply_batch(pool: &PgPool, prefix: &str, batch: &[Incoming]) -> Result<u64, ApplyError> {
    apply_batch_notifying_after(pool, prefix, batch, 0).await
}

/// The same, writing notifications only for events after `notified` (a rebuild keeps the
/// live outbox for the events the live models already reached).
///
/// When PostgreSQL refuses the batch as data (see `skipped::data_error_state`), retrying
/// would fail the same way for ever: the batch is halved until the refused event is alone,
/// which is recorded in `skipped_events` and passed; the rest applies. Other errors go back
/// to the caller, whose retry may pass.
pub async fn apply_batch_notifying_after(
    pool: &PgPool,
    prefix: &str,
    batch: &[Incoming],
    notified: u64,
) -> Result<u64, ApplyError> {
    match apply_whole(pool, prefix, batch, notified).await {
        Err(e) if skipped::data_error_state(&e).is_some() => narrow(pool, prefix, batch, notified, e).await,
        outcome => outcome,
    }
}

/// Halves `batch` (which PostgreSQL refused with `error`) down to the refused event.
fn narrow<'a>(
    pool: &'a PgPool,
    prefix: &'a str,
    batch: &'a [Incoming],
    notified: u64,
    error: ApplyError,
) -> futures::future::BoxFuture<'a, Result<u64, ApplyError>> {
    Box::pin(async move {
        if let [alone] = batch {
            return skipped::skip_alone(pool, alone, &error).await;
        }
        let (first, second) = batch.split_at(batch.len() / 2);
        apply_batch_notifying_after(pool, prefix, first, notified).await?;
        apply_batch_notifying_after(pool, prefix, second, notified).await
    })
}

/// The batch in one transaction, again while a rebuild's swap moves the checkpoint.
async fn apply_whole(pool: &PgPool, prefix: &str, batch: &[Incoming], notified: u64) -> Result<u64, ApplyError> {
    for _ in 0..CHECKPOINT_ATTEMPTS {
        match attempt(pool, prefix, batch, notified).await? {
            Attempt::Committed(last) => return Ok(last),
            Attempt::CheckpointMoved => {
                tracing::info!("the checkpoint moved under the batch (a rebuild swapped the models in); reloading");
            }
        }
    }
    Err(ApplyError::CheckpointMoved)
}

/// One transaction applying what of `batch` lies beyond the checkpoint.
///
/// The row lock on the checkpoint serialises writers, but it is the lock of a table a
/// rebuild may rename away while this transaction waits for it: afterwards the statements
/// here resolve to the swapped-in models, whose checkpoint is further on. So the checkpoint
/// is written only if it still is where the batch started from; otherwise nothing of the
/// batch is kept and the caller reloads.
async fn attempt(pool: &PgPool, prefix: &str, batch: &[Incoming], notified: u64) -> Result<Attempt, ApplyError> {
    let mut tx = pool.begin().await?;
    let done = checkpoint(&mut tx).await?;
    let todo: Vec<&Incoming> = batch.iter().filter(|m| m.sequence > done).collect();
    let Some(first) = todo.first() else {
        tx.commit().await?;
        return Ok(Attempt::Committed(done));
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
    let mut staff_ids: HashSet<String> = HashSet::new();
    // The admins are told when someone turns every channel off (`project::staff_notifications`),
    // so such a batch loads them all: with the batch's own staff events applied in order, the
    // map then holds every admin as the log stood at that event.
    let mut with_admins = false;
    for (_, _, _, d) in &decoded {
        match d {
            Decoded::Staff(id, r) => {
                staff_ids.insert(id.clone());
                with_admins |= matches!(&r.event, StaffEvent::NotificationPreferencesChanged(p)
                    if NotificationPreferences::from(*p).all_off());
            }
            Decoded::Complaint(_, r) => {
                if let Some(named) = r.event.staff_named() {
                    staff_ids.insert(named.to_string());
                }
            }
            Decoded::NumberClaim | Decoded::Skipped(_) => {}
        }
    }
    let staff_ids: Vec<String> = staff_ids.into_iter().collect();
    let (mut complaints, mut staff) = load_states(&mut tx, &complaint_ids, &staff_ids, with_admins).await?;

    let mut touched_complaints: HashMap<Uuid, u64> = HashMap::new();
    let mut touched_staff: HashMap<String, u64> = HashMap::new();
    let mut timeline: Vec<TimelineRow> = vec![];
    let mut outbox: Vec<Notification> = vec![];
    let mut skipped: Vec<Skip> = vec![];
    let mut skip = |sequence, subject, kind, reason: String| {
        skipped.push(Skip { sequence, subject, kind, reason, sqlstate: None });
    };
    for (sequence, subject, traceparent, d) in decoded {
        match d {
            // Applied to a copy: a refused event must leave the state as it was for the batch's
            // later events and for the row.
            Decoded::Complaint(id, recorded) => match Complaint::apply(complaints.get(&id).cloned(), &id, &recorded) {
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
                Err(e) => skip(sequence, subject, Kind::Refused, e.to_string()),
            },
            Decoded::Staff(id, recorded) => {
                let Some(staff_id) = StaffMember::parse_id(&id) else {
                    skip(sequence, subject, Kind::Unreadable, format!("bad staff id `{id}`"));
                    continue;
                };
                match StaffMember::apply(staff.get(&id).cloned(), &staff_id, &recorded) {
                    Ok(after) => {
                        if sequence > notified {
                            let told = project::staff_notifications(sequence as i64, &recorded, &after, &staff);
                            outbox.extend(told.into_iter().map(|mut n| {
                                n.traceparent = traceparent.map(str::to_owned);
                                n
                            }));
                        }
                        staff.insert(id.clone(), after);
                        touched_staff.insert(id, sequence);
                    }
                    Err(e) => skip(sequence, subject, Kind::Refused, e.to_string()),
                }
            }
            Decoded::NumberClaim => {}
            Decoded::Skipped(reason) => {
                tracing::warn!(sequence, subject, %reason, "skipping an event the projection cannot read");
                skip(sequence, subject, Kind::Unreadable, reason);
            }
        }
    }

    let complaint_rows: Vec<ComplaintRecord> = touched_complaints
        .iter()
        .filter_map(|(id, sequence)| complaints.get(id).map(|c| ComplaintRecord::of(c, *sequence)))
        .collect();
    let staff_rows: Vec<StaffRecord> = touched_staff
        .iter()
        .filter_map(|(id, sequence)| staff.get(id).map(|s| StaffRecord::of(s, *sequence)))
        .collect();
    for one in &skipped {
        skipped::record(&mut tx, one).await?;
    }
    let last = todo.last().map_or(done, |m| m.sequence);
    let rows = Rows { complaints: complaint_rows, staff: staff_rows, timeline: &timeline, outbox: &outbox };
    if !write_batch(&mut tx, rows, Move { from: done, to: last }).await? {
        tx.rollback().await?;
        return Ok(Attempt::CheckpointMoved);
    }
    tx.commit().await?;
    Ok(Attempt::Committed(last))
}

/// The folded states of the batch's complaints, and of the staff its events name or its
/// complaints' PICs are (notifications go to them), and every admin when `with_admins`, in
/// one round trip.
async fn load_states(
    tx: &mut Transaction<'_, Postgres>,
    complaint_ids: &[Uuid],
    staff_ids: &[String],
    with_admins: bool,
) -> Result<(HashMap<Uuid, Complaint>, HashMap<String, StaffMember>), sqlx::Error> {
    let rows = sqlx::query(
        "SELECT complaint_id, NULL AS staff_id, state FROM complaints WHERE complaint_id = ANY($1) \
         UNION ALL SELECT NULL, staff_id, state FROM staff WHERE staff_id = ANY($2) \
           OR staff_id IN (SELECT pic_id FROM complaints WHERE complaint_id = ANY($1)) \
           OR ($3 AND 'admin' = ANY(roles))",
    )
    .bind(complaint_ids)
    .bind(staff_ids)
    .bind(with_admins)
    .fetch_all(&mut **tx)
    .await?;
    let decode_error = |e: serde_json::Error| sqlx::Error::Decode(Box::new(e));
    let (mut complaints, mut staff) = (HashMap::new(), HashMap::new());
    for row in rows {
        let state: serde_json::Value = row.get(2);
        match (row.get::<Option<Uuid>, _>(0), row.get::<Option<String>, _>(1)) {
            (Some(id), _) => {
                complaints.insert(id, serde_json::from_value::<StoredComplaint>(state).map_err(decode_error)?.into());
            }
            (None, Some(id)) => {
                staff.insert(id, serde_json::from_value::<StoredStaffMember>(state).map_err(decode_error)?.into());
            }
            (None, None) => {}
        }
    }
    Ok((complaints, staff))
}

/// What one batch writes.
struct Rows<'a> {
    complaints: Vec<ComplaintRecord>,
    staff: Vec<StaffRecord>,
    timeline: &'a [TimelineRow],
    outbox: &'a [Notification],
}

/// The checkpoint's move: from where the batch started to its last event.
struct Move {
    from: u64,
    to: u64,
}

/// Every model's rows and the checkpoint in ONE statement: each round trip to PostgreSQL
/// is a wait, and under load the waits, not the work, are what delay a batch. The new
/// checkpoint is also notified on `<schema>_checkpoint` (delivered at commit), so instances
/// that do not apply learn of it without polling (`read_your_writes`). False when the
/// checkpoint was no longer at `checkpoint.from` (nothing was kept of the batch then, once
/// the caller rolls back).
///
/// Models keyed by aggregate travel as a JSON array that PostgreSQL turns into records of
/// the table's own type (every column keeps its SQL type) and replace what is there. The
/// append-only timeline and outbox travel as typed arrays (an outbox row's template
/// parameters as one JSON array each); a row already there is a replayed
/// event's (their keys derive from the event) and is kept.
async fn write_batch(
    tx: &mut Transaction<'_, Postgres>,
    rows: Rows<'_>,
    checkpoint: Move,
) -> Result<bool, sqlx::Error> {
    static SQL: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let sql = SQL.get_or_init(|| {
        format!(
            "WITH complaint_rows AS ({}), staff_rows AS ({}), \
             timeline_rows AS (INSERT INTO timeline (complaint_id, sequence, occurred_at, event_type, actor_id, \
               actor_role, actor_name, status, message, details, visibility) \
               SELECT * FROM UNNEST($3::uuid[], $4::int8[], $5::timestamptz[], $6::text[], $7::text[], $8::text[], \
                 $9::text[], $10::text[], $11::text[], $12::jsonb[], $13::text[]) ON CONFLICT DO NOTHING), \
             outbox_rows AS (INSERT INTO notification_outbox (id, sequence, complaint_id, event_type, recipient_id, \
               recipient_role, channel, address, subject, body, created_at, traceparent, complaint_number, template, \
               params) \
               SELECT u.id, u.sequence, u.complaint_id, u.event_type, u.recipient_id, u.recipient_role, u.channel, \
                 u.address, u.subject, u.body, u.created_at, u.traceparent, u.complaint_number, u.template, \
                 ARRAY(SELECT jsonb_array_elements_text(u.params)) \
               FROM UNNEST($14::uuid[], $15::int8[], $16::uuid[], $17::text[], $18::text[], $19::text[], \
                 $20::text[], $21::text[], $22::text[], $23::text[], $24::timestamptz[], $25::text[], $26::text[], \
                 $27::text[], $28::jsonb[]) AS u (id, sequence, complaint_id, event_type, recipient_id, \
                 recipient_role, channel, address, subject, body, created_at, traceparent, complaint_number, template, \
                 params) \
               ON CONFLICT DO NOTHING), \
             checkpoint_row AS (UPDATE projection_checkpoint SET last_sequence = $29, updated_at = now() \
               WHERE name = 'main' AND last_sequence = $30 RETURNING last_sequence) \
             SELECT pg_notify(current_schema() || '_checkpoint', last_sequence::text) FROM checkpoint_row",
            upsert_sql("complaints", ComplaintRecord::COLUMNS, "complaint_id", 1),
            upsert_sql("staff", StaffRecord::COLUMNS, "staff_id", 2),
        )
    });
    let (timeline, outbox) = (rows.timeline, rows.outbox);
    let steps = |f: fn(&TimelineRow) -> &str| timeline.iter().map(f).collect::<Vec<_>>();
    let notes = |f: fn(&Notification) -> &str| outbox.iter().map(f).collect::<Vec<_>>();
    let written = sqlx::query(AssertSqlSafe(sql.as_str()))
        .bind(sqlx::types::Json(&rows.complaints))
        .bind(sqlx::types::Json(&rows.staff))
        .bind(timeline.iter().map(|r| r.complaint_id).collect::<Vec<_>>())
        .bind(timeline.iter().map(|r| r.sequence).collect::<Vec<_>>())
        .bind(timeline.iter().map(|r| r.occurred_at).collect::<Vec<_>>())
        .bind(steps(|r| r.event_type))
        .bind(steps(|r| &r.actor_id))
        .bind(steps(|r| r.actor_role))
        .bind(steps(|r| &r.actor_name))
        .bind(steps(|r| r.status))
        .bind(timeline.iter().map(|r| r.message.as_deref()).collect::<Vec<_>>())
        .bind(timeline.iter().map(|r| &r.details).collect::<Vec<_>>())
        .bind(steps(|r| r.visibility))
        .bind(outbox.iter().map(|r| r.id).collect::<Vec<_>>())
        .bind(outbox.iter().map(|r| r.sequence).collect::<Vec<_>>())
        .bind(outbox.iter().map(|r| r.complaint_id).collect::<Vec<_>>())
        .bind(notes(|r| r.event_type))
        .bind(notes(|r| &r.recipient_id))
        .bind(notes(|r| r.recipient_role))
        .bind(notes(|r| r.channel.as_str()))
        .bind(notes(|r| &r.address))
        .bind(notes(|r| &r.subject))
        .bind(notes(|r| &r.body))
        .bind(outbox.iter().map(|r| r.created_at).collect::<Vec<_>>())
        .bind(outbox.iter().map(|r| r.traceparent.as_deref()).collect::<Vec<_>>())
        .bind(notes(|r| &r.complaint_number))
        .bind(notes(|r| r.template.name()))
        // Rows' parameter lists differ in length, and PostgreSQL's arrays of arrays must be
        // rectangular: each list travels as one JSON array.
        .bind(outbox.iter().map(|r| serde_json::Value::from(r.params.clone())).collect::<Vec<_>>())
        .bind(checkpoint.to as i64)
        .bind(checkpoint.from as i64)
        .execute(&mut **tx)
        .await?;
    // The statement's count is its last part's: one notify per checkpoint row updated.
    Ok(written.rows_affected() == 1)
}

/// An upsert of parameter `$param` (a JSON array of `table`'s rows) on `key`.
fn upsert_sql(table: &str, columns: &[&str], key: &str, param: usize) -> String {
    let list = columns.join(", ");
    let updates: Vec<String> = columns.iter().filter(|c| **c != key).map(|c| format!("{c} = EXCLUDED.{c}")).collect();
    format!(
        "INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_recordset(NULL::{table}, ${param}) \
         ON CONFLICT ({key}) DO UPDATE SET {}",
        updates.join(", ")
    )
}
