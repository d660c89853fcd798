//! Applying a batch of events to the read models: ONE transaction that updates every
//! model, writes the notification outbox and moves the checkpoint. Events at or below the
//! checkpoint were applied before (a redelivery after a crash between commit and ack) and
//! are skipped, so nothing is lost or doubled.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use chrono::Utc;
use ehelpdesk_shared::aggregate::{Aggregate, Recorded};
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::{StaffEvent, StaffMember};
use sqlx::{PgPool, Postgres, Row, Transaction};
use uuid::Uuid;

use crate::project::{self, Notification, TimelineRow};

/// One message from the stream.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub sequence: u64,
    pub subject: String,
    pub payload: Bytes,
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
    let decoded: Vec<(u64, &str, Decoded)> =
        todo.iter().map(|m| (m.sequence, m.subject.as_str(), decode(prefix, m))).collect();

    let complaint_ids: Vec<Uuid> = decoded
        .iter()
        .filter_map(|(_, _, d)| match d {
            Decoded::Complaint(id, _) => Some(*id),
            _ => None,
        })
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let mut complaints = load_complaints(&mut tx, &complaint_ids).await?;
    let mut staff_ids: HashSet<String> =
        complaints.values().filter_map(|c| c.pic_id().map(|p| p.to_string())).collect();
    for (_, _, d) in &decoded {
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
    let mut staff = load_staff(&mut tx, &staff_ids.into_iter().collect::<Vec<_>>()).await?;

    let mut touched_complaints: HashMap<Uuid, u64> = HashMap::new();
    let mut touched_staff: HashMap<String, u64> = HashMap::new();
    let mut timeline: Vec<TimelineRow> = vec![];
    let mut outbox: Vec<Notification> = vec![];
    let mut skipped: Vec<(u64, &str, String)> = vec![];
    for (sequence, subject, d) in decoded {
        match d {
            Decoded::Complaint(id, recorded) => match Complaint::apply(complaints.remove(&id), &id, &recorded) {
                Ok(after) => {
                    let seq = sequence as i64;
                    timeline.push(project::timeline_row(seq, &recorded, &after));
                    outbox.extend(project::notifications(seq, &recorded, &after, &staff));
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

    for (id, sequence) in &touched_complaints {
        if let Some(c) = complaints.get(id) {
            upsert_complaint(&mut tx, c, *sequence).await?;
        }
    }
    for (id, sequence) in &touched_staff {
        if let Some(s) = staff.get(id) {
            upsert_staff(&mut tx, s, *sequence).await?;
        }
    }
    for row in &timeline {
        insert_timeline(&mut tx, row).await?;
    }
    for n in &outbox {
        insert_notification(&mut tx, n).await?;
    }
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

async fn load_complaints(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Complaint>, sqlx::Error> {
    let rows = sqlx::query("SELECT complaint_id, state FROM complaints WHERE complaint_id = ANY($1)")
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = HashMap::new();
    for row in rows {
        let state: serde_json::Value = row.get(1);
        let complaint: Complaint = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        out.insert(row.get(0), complaint);
    }
    Ok(out)
}

async fn load_staff(
    tx: &mut Transaction<'_, Postgres>,
    ids: &[String],
) -> Result<HashMap<String, StaffMember>, sqlx::Error> {
    let rows = sqlx::query("SELECT staff_id, state FROM staff WHERE staff_id = ANY($1)")
        .bind(ids)
        .fetch_all(&mut **tx)
        .await?;
    let mut out = HashMap::new();
    for row in rows {
        let state: serde_json::Value = row.get(1);
        let member: StaffMember = serde_json::from_value(state).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
        out.insert(row.get(0), member);
    }
    Ok(out)
}

async fn upsert_complaint(tx: &mut Transaction<'_, Postgres>, c: &Complaint, sequence: u64) -> Result<(), sqlx::Error> {
    let state = serde_json::to_value(c).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let satisfaction = c.satisfaction.as_ref();
    sqlx::query(
        "INSERT INTO complaints (complaint_id, number, title, description, category, channel, complainant_id, \
           complainant_ic, complainant_name, complainant_email, complainant_phone, ptj, status, pic_id, pic_name, \
           implementor_id, implementor_name, vendor, vendor_log_number, logged_at, assigned_at, first_response_at, \
           closed_at, last_activity_at, closed_by, satisfaction_rating, satisfaction_comment, reopen_count, state, \
           last_sequence) \
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24,$25,$26,$27,$28,$29,$30) \
         ON CONFLICT (complaint_id) DO UPDATE SET number = EXCLUDED.number, title = EXCLUDED.title, \
           description = EXCLUDED.description, category = EXCLUDED.category, channel = EXCLUDED.channel, \
           complainant_id = EXCLUDED.complainant_id, complainant_ic = EXCLUDED.complainant_ic, \
           complainant_name = EXCLUDED.complainant_name, complainant_email = EXCLUDED.complainant_email, \
           complainant_phone = EXCLUDED.complainant_phone, ptj = EXCLUDED.ptj, status = EXCLUDED.status, \
           pic_id = EXCLUDED.pic_id, pic_name = EXCLUDED.pic_name, implementor_id = EXCLUDED.implementor_id, \
           implementor_name = EXCLUDED.implementor_name, vendor = EXCLUDED.vendor, \
           vendor_log_number = EXCLUDED.vendor_log_number, logged_at = EXCLUDED.logged_at, \
           assigned_at = EXCLUDED.assigned_at, first_response_at = EXCLUDED.first_response_at, \
           closed_at = EXCLUDED.closed_at, last_activity_at = EXCLUDED.last_activity_at, \
           closed_by = EXCLUDED.closed_by, satisfaction_rating = EXCLUDED.satisfaction_rating, \
           satisfaction_comment = EXCLUDED.satisfaction_comment, reopen_count = EXCLUDED.reopen_count, \
           state = EXCLUDED.state, last_sequence = EXCLUDED.last_sequence",
    )
    .bind(c.id)
    .bind(&c.number)
    .bind(c.title.as_str())
    .bind(c.description.as_str())
    .bind(c.category.as_str())
    .bind(serde_plain(&c.channel))
    .bind(c.complainant.id.as_str())
    .bind(c.complainant.ic_number.as_str())
    .bind(c.complainant.name.as_str())
    .bind(c.complainant.email.as_str())
    .bind(c.complainant.phone.as_str())
    .bind(c.complainant.ptj.as_str())
    .bind(c.status.as_str())
    .bind(c.pic.as_ref().map(|p| p.id.as_str()))
    .bind(c.pic.as_ref().map(|p| p.name.as_str()))
    .bind(c.implementor.as_ref().map(|p| p.id.as_str()))
    .bind(c.implementor.as_ref().map(|p| p.name.as_str()))
    .bind(c.vendor.map(|v| v.as_str()))
    .bind(c.vendor_log_number.as_ref().map(|v| v.as_str()))
    .bind(c.logged_at)
    .bind(c.assigned_at)
    .bind(c.first_response_at)
    .bind(c.closed_at)
    .bind(c.last_activity_at)
    .bind(c.closed_by.map(|b| serde_plain(&b)))
    .bind(satisfaction.and_then(|s| s.rating).map(i16::from))
    .bind(satisfaction.and_then(|s| s.comment.as_ref()).map(|t| t.as_str()))
    .bind(c.reopen_count as i32)
    .bind(state)
    .bind(sequence as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The bare string a unit enum serialises to (`"walk_in"` -> `walk_in`).
fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

async fn upsert_staff(tx: &mut Transaction<'_, Postgres>, s: &StaffMember, sequence: u64) -> Result<(), sqlx::Error> {
    let state = serde_json::to_value(s).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let roles: Vec<&str> = s.roles.iter().map(|r| r.as_str()).collect();
    let categories: Vec<&str> = s.categories.iter().map(|c| c.as_str()).collect();
    sqlx::query(
        "INSERT INTO staff (staff_id, name, email, phone, ptj, roles, categories, active, state, last_sequence) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (staff_id) DO UPDATE SET name = EXCLUDED.name, email = EXCLUDED.email, phone = EXCLUDED.phone, \
           ptj = EXCLUDED.ptj, roles = EXCLUDED.roles, categories = EXCLUDED.categories, active = EXCLUDED.active, \
           state = EXCLUDED.state, last_sequence = EXCLUDED.last_sequence",
    )
    .bind(s.id.as_str())
    .bind(s.name.as_str())
    .bind(s.email.as_str())
    .bind(s.phone.as_str())
    .bind(s.ptj.as_str())
    .bind(roles)
    .bind(categories)
    .bind(s.active)
    .bind(state)
    .bind(sequence as i64)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_timeline(tx: &mut Transaction<'_, Postgres>, row: &TimelineRow) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO timeline (complaint_id, sequence, occurred_at, event_type, actor_id, actor_role, actor_name, \
           status, message, details, visibility) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (complaint_id, sequence) DO NOTHING",
    )
    .bind(row.complaint_id)
    .bind(row.sequence)
    .bind(row.occurred_at)
    .bind(row.event_type)
    .bind(&row.actor_id)
    .bind(row.actor_role)
    .bind(&row.actor_name)
    .bind(row.status)
    .bind(&row.message)
    .bind(&row.details)
    .bind(row.visibility)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

async fn insert_notification(tx: &mut Transaction<'_, Postgres>, n: &Notification) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO notification_outbox (id, sequence, complaint_id, event_type, recipient_id, recipient_role, \
           channel, address, subject, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(n.id)
    .bind(n.sequence)
    .bind(n.complaint_id)
    .bind(n.event_type)
    .bind(&n.recipient_id)
    .bind(n.recipient_role)
    .bind(n.channel.as_str())
    .bind(&n.address)
    .bind(&n.subject)
    .bind(&n.body)
    .bind(n.created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}
