//! The live projection: a durable pull consumer feeding `apply_batch`. The checkpoint in
//! PostgreSQL, not the consumer's position on the server, says where to resume: every
//! (re)start recreates the consumer at checkpoint + 1. A consumer that vanishes, misses
//! heartbeats or falls out of step is recreated the same way; the process never exits over it.

use std::time::Duration;

use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy};
use ehelpdesk_shared::config::EventLogConfig;
use futures::StreamExt;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::apply::{ApplyError, Incoming, apply_batch};
use std::sync::Arc;

use crate::db;
use crate::metrics::ProjectionMetrics;
use crate::monitor::Monitor;
use crate::read_your_writes::advance;

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("the consumer's message stream ended")]
    Ended,
}

#[derive(Clone)]
pub struct Projector {
    pub pool: PgPool,
    pub jetstream: async_nats::jetstream::Context,
    pub event_log: EventLogConfig,
    pub consumer: String,
    pub batch_size: usize,
    /// The last applied sequence, for `min_seq` waits in this process.
    pub applied: watch::Sender<u64>,
    pub metrics: Arc<ProjectionMetrics>,
}

impl Projector {
    /// Runs until `shutdown` turns true, recovering from every NATS or database fault, with
    /// the monitor beside it.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let monitor = Monitor {
            pool: self.pool.clone(),
            jetstream: self.jetstream.clone(),
            event_log: self.event_log.clone(),
            metrics: self.metrics.clone(),
        };
        tokio::join!(monitor.run(shutdown.clone()), self.project(shutdown));
    }

    async fn project(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                outcome = self.consume() => {
                    match outcome {
                        Err(ConsumeError::Apply(ApplyError::Gap { expected, got })) => {
                            tracing::info!(expected, got, "consumer out of step with the checkpoint; recreating it");
                        }
                        Err(ConsumeError::Apply(ApplyError::CheckpointMoved)) => {
                            tracing::info!("the checkpoint moved under the projector; resuming from it");
                        }
                        Err(e) => {
                            self.metrics.consecutive_failures.inc();
                            let backoff = backoff_after(self.metrics.consecutive_failures.get());
                            tracing::warn!(error = %e, ?backoff, "projection interrupted; resuming from the checkpoint");
                        }
                        Ok(()) => {}
                    }
                }
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
            // The failures in a row, not the failures ever, set the wait: a batch that applies
            // sets them to 0, so one interruption after a bad hour waits 0.2 s, not 5 s.
            let backoff = backoff_after(self.metrics.consecutive_failures.get());
            self.metrics.retry_backoff_seconds.set(backoff.as_secs_f64());
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    /// Creates the consumer at the checkpoint and applies batches until something breaks.
    async fn consume(&self) -> Result<(), ConsumeError> {
        let checkpoint = db::checkpoint(&self.pool).await?;
        advance(&self.applied, checkpoint);
        let consumer = self.recreate_consumer(checkpoint + 1).await?;
        // Nothing waiting means nothing failing: after a fault with no events behind it (NATS
        // restarted while idle) the count would otherwise wait for the next event to clear.
        if db::stream_head(&self.jetstream, &self.event_log.stream).await.is_ok_and(|head| head <= checkpoint) {
            self.metrics.consecutive_failures.set(0);
        }
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.batch_size)
            // A pull that died with its server (a node killed, quorum lost) is noticed after two
            // missed heartbeats: at 5 s the projection trailed the commands by ~10 s after a
            // quorum loss (the fault tests); 1 s heartbeats cost an idle system a message a second.
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| ConsumeError::Nats(e.to_string()))?;
        let mut chunks = messages.ready_chunks(self.batch_size);
        tracing::info!(from = checkpoint + 1, consumer = %self.consumer, "projecting");
        while let Some(chunk) = chunks.next().await {
            let mut incoming = Vec::with_capacity(chunk.len());
            let mut received = Vec::with_capacity(chunk.len());
            let mut pending = 0;
            for message in chunk {
                let message = message.map_err(|e| ConsumeError::Nats(e.to_string()))?;
                let info = message.info().map_err(|e| ConsumeError::Nats(e.to_string()))?;
                incoming.push(Incoming::from_message(&message, info.stream_sequence));
                pending = info.pending;
                received.push(message);
            }
            let before = *self.applied.borrow();
            let timer = self.metrics.batch_seconds.start_timer();
            let applied = apply_batch(&self.pool, &self.event_log.subject_prefix, &incoming).await?;
            timer.observe_duration();
            advance(&self.applied, applied);
            // Number claims travel in the log too, but are no event of the models.
            let events = incoming
                .iter()
                .filter(|m| m.sequence > before && m.sequence <= applied)
                .filter(|m| self.event_log.parse_number_claim(&m.subject).is_none())
                .count();
            self.metrics.events_applied.inc_by(events as u64);
            self.metrics.batch_size.observe(incoming.len() as f64);
            self.metrics.consecutive_failures.set(0);
            // Fresher than the monitor's next look while batches flow; the monitor keeps the
            // figures true when they stop.
            self.metrics.lag_events.set(pending as i64);
            if pending == 0 {
                self.metrics.lag_seconds.set(0.0);
            }
            // Acks only after the commit: a crash before them means a redelivery, which the
            // checkpoint turns into a no-op.
            for message in received {
                if let Err(e) = message.ack().await {
                    tracing::debug!(error = %e, "ack failed; the redelivery will be skipped");
                }
            }
        }
        Err(ConsumeError::Ended)
    }

    async fn recreate_consumer(
        &self,
        start_sequence: u64,
    ) -> Result<async_nats::jetstream::consumer::PullConsumer, ConsumeError> {
        let stream = self
            .jetstream
            .get_stream(&self.event_log.stream)
            .await
            .map_err(|e| ConsumeError::Nats(format!("stream {}: {e}", self.event_log.stream)))?;
        // A missing consumer is fine: deleting is how a stale position is forgotten.
        let _ = stream.delete_consumer(&self.consumer).await;
        stream
            .create_consumer(pull::Config {
                durable_name: Some(self.consumer.clone()),
                deliver_policy: DeliverPolicy::ByStartSequence { start_sequence },
                ack_policy: AckPolicy::Explicit,
                ack_wait: Duration::from_secs(30),
                max_ack_pending: (self.batch_size * 4) as i64,
                filter_subject: self.event_log.all_subjects(),
                ..Default::default()
            })
            .await
            .map_err(|e| ConsumeError::Nats(format!("consumer {}: {e}", self.consumer)))
    }
}

/// The wait after `failures` attempts in a row failed: 0.2 s doubling to at most 5 s. A
/// restart that is no failure (a gap, a moved checkpoint) waits the shortest.
fn backoff_after(failures: i64) -> Duration {
    let doublings = failures.clamp(1, 6) as u32 - 1;
    (Duration::from_millis(200) * 2u32.pow(doublings)).min(Duration::from_secs(5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_back_off_doubles_with_failures_in_a_row_up_to_5_s() {
        let waits: Vec<u128> = [0, 1, 2, 3, 4, 5, 6, 7, 1000].iter().map(|n| backoff_after(*n).as_millis()).collect();
        assert_eq!(waits, [200, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    }
}
