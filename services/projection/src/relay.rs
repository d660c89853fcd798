//! The outbox relay: publishes unsent notification rows to the NOTIFY stream, one subject
//! per channel, with `Nats-Msg-Id` = the row's id so that a row published twice (a crash
//! between the publish and the stamp) still reaches workers once.

use std::time::Duration;

use async_nats::HeaderMap;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::batching::{PendingRow, gather};
use crate::metrics::ProjectionMetrics;
use ehelpdesk_shared::notification::{Channel, NotificationMessage, NotifyConfig, Template};

#[derive(Clone)]
pub struct Relay {
    pub pool: PgPool,
    pub jetstream: async_nats::jetstream::Context,
    pub notify: NotifyConfig,
    pub metrics: Option<Arc<ProjectionMetrics>>,
    /// `ASSIGNMENT_BATCH_SECS`: how long an assignment waits for others to the same person.
    pub assignment_batch: Duration,
    /// Now, injected (tests set it).
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
}

/// An unsent row as the relay reads it.
struct UnsentRow {
    id: Uuid,
    sequence: i64,
    complaint_id: Uuid,
    complaint_number: String,
    event_type: String,
    template: String,
    params: Vec<String>,
    recipient_id: String,
    recipient_role: String,
    channel: String,
    address: String,
    subject: String,
    body: String,
    created_at: DateTime<Utc>,
    traceparent: Option<String>,
}

/// A template name this build does not know (written by a newer one) goes out as a notice,
/// whose one parameter is the subject, rather than not at all.
impl TryFrom<UnsentRow> for PendingRow {
    type Error = sqlx::Error;

    fn try_from(row: UnsentRow) -> Result<Self, sqlx::Error> {
        let channel: Channel = row
            .channel
            .parse()
            .map_err(|_| sqlx::Error::Decode(format!("outbox row {}: channel `{}`", row.id, row.channel).into()))?;
        let (template, params) = match row.template.parse::<Template>() {
            Ok(template) => (template, row.params),
            Err(_) => (Template::Notice, vec![row.subject.clone()]),
        };
        Ok(PendingRow {
            sequence: row.sequence,
            traceparent: row.traceparent,
            message: NotificationMessage {
                id: row.id,
                complaint_id: row.complaint_id,
                complaint_number: row.complaint_number,
                event_type: row.event_type,
                template,
                params,
                recipient_id: row.recipient_id,
                recipient_role: row.recipient_role,
                channel,
                address: row.address,
                subject: row.subject,
                body: row.body,
                created_at: row.created_at,
                cycle: 0,
            },
        })
    }
}

const BATCH: i64 = 200;

impl Relay {
    pub async fn ensure_stream(&self) -> Result<(), String> {
        ehelpdesk_shared::streams::ensure(&self.jetstream, self.notify.stream_config()).await
    }

    /// Publishes pending rows whenever `wake` changes (a batch was applied) or every second.
    pub async fn run(self, mut wake: watch::Receiver<u64>, mut shutdown: watch::Receiver<bool>) {
        let mut stream_ready = false;
        loop {
            if !stream_ready {
                match self.ensure_stream().await {
                    Ok(()) => stream_ready = true,
                    Err(e) => tracing::warn!(error = %e, "NOTIFY stream not ready"),
                }
            }
            if let (Some(metrics), Ok(pending)) = (&self.metrics, self.pending().await) {
                metrics.outbox_pending.set(pending);
            }
            if stream_ready {
                loop {
                    match self.publish_pending().await {
                        Ok(n) if n as i64 == BATCH => continue,
                        Ok(_) => break,
                        Err(e) => {
                            tracing::warn!(error = %e, "outbox relay failed; retrying");
                            break;
                        }
                    }
                }
            }
            tokio::select! {
                _ = wake.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn pending(&self) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar!(r#"SELECT count(*) AS "pending!" FROM notification_outbox WHERE published_at IS NULL"#)
            .fetch_one(&self.pool)
            .await
    }

    /// One round: lock a batch of unsent rows due now (an assignment waits out the batch
    /// window, then brings every other waiting assignment to its person along), publish them,
    /// await every ack, stamp them.
    pub async fn publish_pending(&self) -> Result<usize, String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let rows = self.due_rows(&mut tx).await.map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(0);
        }
        let outgoing = gather(rows, !self.assignment_batch.is_zero());
        let mut acks = Vec::with_capacity(outgoing.len());
        let (mut ids, mut merged, mut leads) = (vec![], vec![], vec![]);
        for out in outgoing {
            let message = &out.message;
            let span = tracing::info_span!("publish_notification", id = %message.id, channel = %message.channel);
            ehelpdesk_shared::telemetry::continue_trace(&span, out.traceparent.as_deref());
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", message.message_id().as_str());
            // Workers behind NOTIFY continue the same trace.
            if let Some(traceparent) = span.in_scope(ehelpdesk_shared::telemetry::current_traceparent) {
                headers.insert("traceparent", traceparent.as_str());
            }
            let subject = self.notify.deliver_subject(message.channel);
            let payload = serde_json::to_vec(message).map_err(|e| e.to_string())?;
            let ack = self
                .jetstream
                .publish_with_headers(subject, headers, payload.into())
                .instrument(span)
                .await
                .map_err(|e| e.to_string())?;
            acks.push(ack);
            for row in out.rows.iter().skip(1) {
                merged.push(*row);
                leads.push(message.id);
            }
            ids.extend(out.rows);
        }
        for ack in acks {
            ack.await.map_err(|e| e.to_string())?;
        }
        sqlx::query!(
            "UPDATE notification_outbox o SET published_at = now(), merged_into = m.lead \
             FROM UNNEST($1::uuid[]) AS p (id) LEFT JOIN UNNEST($2::uuid[], $3::uuid[]) AS m (id, lead) ON m.id = p.id \
             WHERE o.id = p.id",
            &ids,
            &merged,
            &leads,
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        if let Some(metrics) = &self.metrics {
            metrics.outbox_published.inc_by(ids.len() as u64);
        }
        Ok(ids.len())
    }

    /// The unsent rows due now, locked, in outbox order: every row but an assignment younger
    /// than the batch window, and with each due assignment every other one waiting for the
    /// same person and channel, however young.
    async fn due_rows(&self, tx: &mut sqlx::PgConnection) -> Result<Vec<PendingRow>, sqlx::Error> {
        let assignment = Template::AduanDitugaskan.name();
        let window = chrono::Duration::from_std(self.assignment_batch).unwrap_or(chrono::Duration::MAX);
        let due_before = (self.clock)() - window;
        let mut rows = sqlx::query_as!(
            UnsentRow,
            "SELECT id, sequence, complaint_id, complaint_number, event_type, template, params, recipient_id, \
               recipient_role, channel, address, subject, body, created_at, traceparent FROM notification_outbox \
             WHERE published_at IS NULL AND (template <> $2 OR created_at <= $3) \
             ORDER BY sequence, id LIMIT $1 FOR UPDATE SKIP LOCKED",
            BATCH,
            assignment,
            due_before,
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(PendingRow::try_from)
        .collect::<Result<Vec<_>, _>>()?;
        let (people, channels): (Vec<String>, Vec<String>) = rows
            .iter()
            .filter(|r| r.message.template == Template::AduanDitugaskan)
            .map(|r| (r.message.recipient_id.clone(), r.message.channel.as_str().to_owned()))
            .unzip();
        if self.assignment_batch.is_zero() || people.is_empty() {
            return Ok(rows);
        }
        let taken: Vec<Uuid> = rows.iter().map(|r| r.message.id).collect();
        let companions = sqlx::query_as!(
            UnsentRow,
            "SELECT id, sequence, complaint_id, complaint_number, event_type, template, params, recipient_id, \
               recipient_role, channel, address, subject, body, created_at, traceparent FROM notification_outbox \
             WHERE published_at IS NULL AND template = $1 AND NOT (id = ANY($2)) \
               AND (recipient_id, channel) IN (SELECT * FROM UNNEST($3::text[], $4::text[])) \
             ORDER BY sequence, id FOR UPDATE SKIP LOCKED",
            assignment,
            &taken,
            &people,
            &channels,
        )
        .fetch_all(&mut *tx)
        .await?;
        for row in companions {
            rows.push(PendingRow::try_from(row)?);
        }
        rows.sort_by_key(|r| (r.sequence, r.message.id));
        Ok(rows)
    }
}
