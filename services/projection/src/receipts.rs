//! Receipts: what the notifier reports of each notification (sent, failed, dead-lettered,
//! or queued again by an admin's retry), recorded on the outbox row it concerns.
//!
//! A durable pull consumer on NOTIFY, filtered on `<prefix>.receipt.>`, explicit acks, in
//! batches. Each batch is one transaction that locks the rows its receipts name and writes
//! each receipt that [`Receipt::supersedes`] what the row holds; the acks go out after the
//! commit. Receipts may arrive twice (a worker's retried publish, a redelivery after a crash
//! between commit and ack) or out of order (two workers, two instances of this consumer):
//! the order of `supersedes` makes any arrival order end in the same row, so nothing needs
//! to arrive in order and a redelivery changes nothing.
//!
//! Unlike the projector's, this consumer's position lives on the server, not in PostgreSQL:
//! receipts are not a log the models are folded from, and applying one twice is harmless,
//! so the ack is the record. A consumer that vanished is created again from the start of
//! what NOTIFY keeps (30 days), which replays receipts already recorded: harmless too.
//!
//! A receipt for an id the outbox does not hold is acked and counted
//! (`ehelpdesk_receipts_unknown_total`), not retried: no such row will appear later. The
//! relay publishes only committed rows, so a receipt never overtakes its row; a rebuild
//! moves the live outbox table itself into the rebuilt schema (`rebuild::swap`), so a
//! receipt recorded during a rebuild is on the table that stays, and none waits for a row
//! "not yet moved in". An unknown id therefore means a receipt from another deployment
//! sharing the stream, or a read-model database recreated from nothing (docs/operations.md:
//! delete the consumer to replay NOTIFY's receipts once the outbox is rebuilt).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use chrono::{DateTime, Utc};
use ehelpdesk_shared::notification::{DeliveryState, NotifyConfig, Receipt};
use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::watch;
use uuid::Uuid;

use crate::metrics::ProjectionMetrics;

#[derive(Debug, thiserror::Error)]
pub enum ReceiptError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the receipt consumer's message stream ended")]
    Ended,
}

#[derive(Clone)]
pub struct ReceiptRecorder {
    pub pool: PgPool,
    pub jetstream: async_nats::jetstream::Context,
    pub notify: NotifyConfig,
    /// `RECEIPTS_CONSUMER`, default `projection-receipts`.
    pub consumer: String,
    pub batch_size: usize,
    pub metrics: Arc<ProjectionMetrics>,
}

/// What became of one batch's receipts.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Receipts written to their row, by the state they wrote.
    pub applied: HashMap<DeliveryState, u64>,
    /// Older news than the row holds, or the same receipt again.
    pub superseded: u64,
    /// No outbox row with this id and channel.
    pub unknown: u64,
}

/// How often the outbox-by-state gauges are counted again.
const GAUGE_INTERVAL: Duration = Duration::from_secs(15);

/// A worker's reason is an error message, sometimes a provider's whole answer: an admin
/// needs its start, the row need not hold kilobytes of it.
const MAX_REASON_CHARS: usize = 1000;

impl ReceiptRecorder {
    /// Records receipts until `shutdown` turns true, recovering from every NATS or database
    /// fault, with the outbox gauges refreshed beside it.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        tokio::join!(self.count_states(shutdown.clone()), self.record(shutdown));
    }

    async fn record(&self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            tokio::select! {
                outcome = self.consume(&mut failures) => {
                    if let Err(e) = outcome {
                        failures = failures.saturating_add(1);
                        tracing::warn!(error = %e, consumer = %self.consumer, "receipt consumer interrupted; resuming");
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            // 0.2 s doubling to 5 s with the failures in a row, as the projector waits.
            let backoff = (Duration::from_millis(200) * 2u32.pow(failures.clamp(1, 6) - 1)).min(Duration::from_secs(5));
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Binds to the durable consumer (creating it, and NOTIFY, if missing) and records
    /// batches until something breaks.
    async fn consume(&self, failures: &mut u32) -> Result<(), ReceiptError> {
        ehelpdesk_shared::streams::ensure(&self.jetstream, self.notify.stream_config())
            .await
            .map_err(ReceiptError::Nats)?;
        let stream = self
            .jetstream
            .get_stream(&self.notify.stream)
            .await
            .map_err(|e| ReceiptError::Nats(format!("stream {}: {e}", self.notify.stream)))?;
        // The consumer's position is the record of what was recorded: it is kept, never
        // deleted; when it is gone, receipts are replayed from the start (see the module).
        let consumer: async_nats::jetstream::consumer::PullConsumer = stream
            .get_or_create_consumer(
                &self.consumer,
                pull::Config {
                    durable_name: Some(self.consumer.clone()),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: Duration::from_secs(30),
                    max_ack_pending: (self.batch_size * 4) as i64,
                    filter_subject: self.notify.all_receipts(),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| ReceiptError::Nats(format!("consumer {}: {e}", self.consumer)))?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.batch_size)
            .heartbeat(Duration::from_secs(5))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| ReceiptError::Nats(e.to_string()))?;
        tracing::info!(consumer = %self.consumer, subjects = %self.notify.all_receipts(), "recording receipts");
        let mut chunks = messages.ready_chunks(self.batch_size);
        while let Some(chunk) = chunks.next().await {
            let mut receipts = Vec::with_capacity(chunk.len());
            let mut received = Vec::with_capacity(chunk.len());
            for message in chunk {
                let message = message.map_err(|e| ReceiptError::Nats(e.to_string()))?;
                match decode(&message.payload) {
                    Ok(receipt) => {
                        receipts.push(receipt);
                        received.push(message);
                    }
                    Err(reason) => {
                        // It would fail the same way on every delivery.
                        tracing::warn!(subject = %message.subject, %reason, "dropping an unreadable receipt");
                        self.metrics.receipts_unreadable.inc();
                        if let Err(e) = message.ack_with(AckKind::Term).await {
                            tracing::debug!(error = %e, "term failed; the redelivery is dropped again");
                        }
                    }
                }
            }
            let recorded = record_batch(&self.pool, &receipts).await?;
            for (state, n) in &recorded.applied {
                self.metrics.receipts_applied.with_label_values(&[state.as_str()]).inc_by(*n);
            }
            self.metrics.receipts_superseded.inc_by(recorded.superseded);
            if recorded.unknown > 0 {
                tracing::info!(unknown = recorded.unknown, "receipts for notifications the outbox does not hold");
                self.metrics.receipts_unknown.inc_by(recorded.unknown);
            }
            *failures = 0;
            // Only after the commit: a crash before the acks means a redelivery, which
            // `supersedes` turns into a no-op.
            for message in received {
                if let Err(e) = message.ack().await {
                    tracing::debug!(error = %e, "ack failed; the redelivery will change nothing");
                }
            }
        }
        Err(ReceiptError::Ended)
    }

    /// Keeps `ehelpdesk_outbox_notifications{state}` for the states that are not final news:
    /// queued, failed and dead-lettered rows are few once a notifier runs and are read
    /// through `notification_outbox_state`; `sent` only grows, and its rate is
    /// `ehelpdesk_receipts_applied_total{state="sent"}`.
    async fn count_states(&self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match count_open_states(&self.pool).await {
                Ok(counts) => {
                    for state in [DeliveryState::Queued, DeliveryState::Failed, DeliveryState::DeadLettered] {
                        let n = counts.get(&state).copied().unwrap_or(0);
                        self.metrics.outbox_by_state.with_label_values(&[state.as_str()]).set(n);
                    }
                }
                Err(e) => tracing::debug!(error = %e, "counting the outbox by state failed; keeping the last figures"),
            }
            tokio::select! {
                _ = tokio::time::sleep(GAUGE_INTERVAL) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }
}

/// A receipt as the notifier publishes it, made fit for the row: PostgreSQL cannot hold NUL
/// in text nor every time chrono can, and a receipt it refused would be redelivered for ever.
pub fn decode(payload: &[u8]) -> Result<Receipt, String> {
    let mut receipt: Receipt = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
    if !crate::params::is_sane(&receipt.at) {
        return Err(format!("receipt time {} is outside the years the outbox holds", receipt.at));
    }
    let clean = |text: String| -> String { text.chars().filter(|c| *c != '\0').collect() };
    receipt.reason = receipt.reason.map(|r| clean(r).chars().take(MAX_REASON_CHARS).collect());
    receipt.provider_message_id = receipt.provider_message_id.map(clean);
    Ok(receipt)
}

/// Of several receipts for one notification, the one that supersedes the others (the
/// first of equal ones): a batch writes each row once.
fn newest_per_notification(receipts: &[Receipt]) -> (Vec<&Receipt>, u64) {
    let mut newest: HashMap<Uuid, &Receipt> = HashMap::new();
    for receipt in receipts {
        let keep = newest.get(&receipt.id).is_none_or(|held| receipt.supersedes(held.cycle, held.attempts, held.state));
        if keep {
            newest.insert(receipt.id, receipt);
        }
    }
    let dropped = (receipts.len() - newest.len()) as u64;
    let mut newest: Vec<&Receipt> = newest.into_values().collect();
    newest.sort_by_key(|r| r.id);
    (newest, dropped)
}

fn to_i32(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

/// Records `receipts` in one transaction, each on its row if it supersedes what the row
/// holds. Durable before it returns (the caller acks next).
pub async fn record_batch(pool: &PgPool, receipts: &[Receipt]) -> Result<Recorded, sqlx::Error> {
    let mut recorded = Recorded::default();
    if receipts.is_empty() {
        return Ok(recorded);
    }
    let (newest, duplicates) = newest_per_notification(receipts);
    recorded.superseded = duplicates;
    let ids: Vec<Uuid> = newest.iter().map(|r| r.id).collect();
    let mut tx = pool.begin().await?;
    // The projection's connections commit without waiting for the disk, since the event
    // log replays what a crash loses; a receipt is acked once this commits and would not
    // come back, so this commit waits.
    sqlx::query("SET LOCAL synchronous_commit = on").execute(&mut *tx).await?;
    // Locked in id order: two instances recording overlapping batches wait, never deadlock,
    // and each compares with what the other wrote.
    let rows = sqlx::query!(
        "SELECT id, channel, retry_cycle, attempts, delivery_state FROM notification_outbox \
         WHERE id = ANY($1) ORDER BY id FOR UPDATE",
        &ids,
    )
    .fetch_all(&mut *tx)
    .await?;
    let held: HashMap<Uuid, _> = rows.into_iter().map(|r| (r.id, r)).collect();
    let mut writes: Vec<&Receipt> = vec![];
    for receipt in newest {
        let Some(row) = held.get(&receipt.id).filter(|row| row.channel == receipt.channel.as_str()) else {
            recorded.unknown += 1;
            continue;
        };
        let state: DeliveryState = row.delivery_state.parse().map_err(|_| {
            sqlx::Error::Decode(format!("outbox row {}: delivery state `{}`", row.id, row.delivery_state).into())
        })?;
        let (cycle, attempts) = (u32::try_from(row.retry_cycle).unwrap_or(0), u32::try_from(row.attempts).unwrap_or(0));
        if receipt.supersedes(cycle, attempts, state) {
            *recorded.applied.entry(receipt.state).or_default() += 1;
            writes.push(receipt);
        } else {
            recorded.superseded += 1;
        }
    }
    if !writes.is_empty() {
        let ids: Vec<Uuid> = writes.iter().map(|r| r.id).collect();
        let states: Vec<String> = writes.iter().map(|r| r.state.as_str().to_owned()).collect();
        let attempts: Vec<i32> = writes.iter().map(|r| to_i32(r.attempts)).collect();
        let cycles: Vec<i32> = writes.iter().map(|r| to_i32(r.cycle)).collect();
        let reasons: Vec<Option<String>> = writes.iter().map(|r| r.reason.clone()).collect();
        let provider_ids: Vec<Option<String>> = writes.iter().map(|r| r.provider_message_id.clone()).collect();
        let at: Vec<DateTime<Utc>> = writes.iter().map(|r| r.at).collect();
        sqlx::query!(
            "UPDATE notification_outbox o SET delivery_state = u.state, attempts = u.attempts, \
               retry_cycle = u.cycle, delivery_reason = u.reason, provider_message_id = u.provider_message_id, \
               delivered_at = CASE WHEN u.state = 'sent' THEN u.at END, receipt_at = u.at \
             FROM UNNEST($1::uuid[], $2::text[], $3::int4[], $4::int4[], $5::text[], $6::text[], $7::timestamptz[]) \
               AS u (id, state, attempts, cycle, reason, provider_message_id, at) \
             WHERE u.id IN (o.id, o.merged_into)",
            &ids,
            &states,
            &attempts,
            &cycles,
            &reasons as &[Option<String>],
            &provider_ids as &[Option<String>],
            &at,
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok(recorded)
}

/// Rows by delivery state, for the states that are not `sent`.
async fn count_open_states(pool: &PgPool) -> Result<HashMap<DeliveryState, i64>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"SELECT delivery_state, count(*) AS "rows!" FROM notification_outbox
           WHERE delivery_state IN ('queued', 'failed', 'dead_lettered') GROUP BY delivery_state"#
    )
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().filter_map(|r| Some((r.delivery_state.parse().ok()?, r.rows))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehelpdesk_shared::notification::Channel;

    fn receipt(id: u128, cycle: u32, attempts: u32, state: DeliveryState) -> Receipt {
        Receipt {
            id: Uuid::from_u128(id),
            channel: Channel::Email,
            state,
            attempts,
            cycle,
            reason: None,
            provider_message_id: None,
            at: DateTime::from_timestamp(1_780_000_000, 0).unwrap(),
        }
    }

    #[test]
    fn a_batch_keeps_the_newest_news_of_each_notification() {
        use DeliveryState::*;
        let batch = [
            receipt(1, 0, 1, Failed),
            receipt(1, 0, 2, Sent),
            receipt(1, 0, 2, Failed),
            receipt(2, 0, 1, Failed),
            receipt(2, 0, 1, Failed),
            receipt(3, 1, 0, Queued),
            receipt(3, 0, 5, DeadLettered),
        ];
        let (newest, dropped) = newest_per_notification(&batch);
        let kept: Vec<(u128, u32, u32, DeliveryState)> =
            newest.iter().map(|r| (r.id.as_u128(), r.cycle, r.attempts, r.state)).collect();
        assert_eq!(kept, [(1, 0, 2, Sent), (2, 0, 1, Failed), (3, 1, 0, Queued)]);
        assert_eq!(dropped, 4);
    }

    #[test]
    fn receipts_are_made_fit_for_the_row() {
        let mut r = receipt(1, 0, 1, DeliveryState::Failed);
        r.reason = Some(format!("550 mailbox\0 unknown {}", "x".repeat(5000)));
        r.provider_message_id = Some("q\0id".into());
        let decoded = decode(&serde_json::to_vec(&r).unwrap()).unwrap();
        let reason = decoded.reason.unwrap();
        assert!(reason.starts_with("550 mailbox unknown") && reason.chars().count() == MAX_REASON_CHARS);
        assert_eq!(decoded.provider_message_id.as_deref(), Some("qid"));
        r.at = "+20000-01-01T00:00:00Z".parse().unwrap_or(DateTime::<Utc>::MAX_UTC);
        assert!(decode(&serde_json::to_vec(&r).unwrap()).is_err(), "a time PostgreSQL cannot hold");
        assert!(decode(b"{\"id\": 1}").is_err());
    }
}
