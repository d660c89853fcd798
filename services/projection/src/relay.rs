//! The outbox relay: publishes unsent notification rows to the NOTIFY stream, one subject
//! per channel, with `Nats-Msg-Id` = the row's id so that a row published twice (a crash
//! between the publish and the stamp) still reaches workers once.

use std::time::Duration;

use async_nats::HeaderMap;
use sqlx::PgPool;
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument;

use crate::metrics::ProjectionMetrics;
use ehelpdesk_shared::notification::{Channel, NotificationMessage, NotifyConfig, Template};

#[derive(Clone)]
pub struct Relay {
    pub pool: PgPool,
    pub jetstream: async_nats::jetstream::Context,
    pub notify: NotifyConfig,
    pub metrics: Option<Arc<ProjectionMetrics>>,
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

    /// One round: lock a batch of unsent rows, publish them, await every ack, stamp them.
    pub async fn publish_pending(&self) -> Result<usize, String> {
        let mut tx = self.pool.begin().await.map_err(|e| e.to_string())?;
        let rows = sqlx::query!(
            "SELECT id, complaint_id, complaint_number, event_type, template, params, recipient_id, recipient_role, \
               channel, address, subject, body, created_at, traceparent FROM notification_outbox \
             WHERE published_at IS NULL ORDER BY sequence, id LIMIT $1 FOR UPDATE SKIP LOCKED",
            BATCH,
        )
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| e.to_string())?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut acks = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in rows {
            let channel: Channel =
                row.channel.parse().map_err(|_| format!("outbox row {}: channel `{}`", row.id, row.channel))?;
            // A name this build does not know was written by a newer one: it goes out as a
            // notice, whose one parameter is the subject, rather than not at all.
            let (template, params) = match row.template.parse::<Template>() {
                Ok(template) => (template, row.params),
                Err(_) => (Template::Notice, vec![row.subject.clone()]),
            };
            let message = NotificationMessage {
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
            };
            let traceparent = row.traceparent;
            let span = tracing::info_span!("publish_notification", id = %message.id, channel = %message.channel);
            ehelpdesk_shared::telemetry::continue_trace(&span, traceparent.as_deref());
            let mut headers = HeaderMap::new();
            headers.insert("Nats-Msg-Id", message.message_id().as_str());
            // Workers behind NOTIFY continue the same trace.
            if let Some(traceparent) = span.in_scope(ehelpdesk_shared::telemetry::current_traceparent) {
                headers.insert("traceparent", traceparent.as_str());
            }
            let subject = self.notify.deliver_subject(message.channel);
            let payload = serde_json::to_vec(&message).map_err(|e| e.to_string())?;
            let ack = self
                .jetstream
                .publish_with_headers(subject, headers, payload.into())
                .instrument(span)
                .await
                .map_err(|e| e.to_string())?;
            acks.push(ack);
            ids.push(message.id);
        }
        for ack in acks {
            ack.await.map_err(|e| e.to_string())?;
        }
        sqlx::query!("UPDATE notification_outbox SET published_at = now() WHERE id = ANY($1)", &ids)
            .execute(&mut *tx)
            .await
            .map_err(|e| e.to_string())?;
        tx.commit().await.map_err(|e| e.to_string())?;
        if let Some(metrics) = &self.metrics {
            metrics.outbox_published.inc_by(ids.len() as u64);
        }
        Ok(ids.len())
    }
}
