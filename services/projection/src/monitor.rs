//! The projection watched from outside its batches, on a timer: figures a batch reports
//! stop when batches stop, and a stuck projection must show in the metrics and readiness
//! (issue 13: the lag stayed below every threshold and `/readyz` 200 while nothing moved).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ehelpdesk_shared::config::EventLogConfig;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::metrics::ProjectionMetrics;
use crate::{db, skipped};

/// How often the figures are refreshed.
const INTERVAL: Duration = Duration::from_secs(2);
/// Failed attempts in a row after which the projection counts as stuck: with the back-off
/// (0.2, 0.4, 0.8 s) that is about 1.5 s of failing, past a single hiccup.
pub const STUCK_AFTER_FAILURES: i64 = 3;
/// A checkpoint that has not moved this long while events wait counts as stuck, failures or
/// not (a hung consumer, a lock nobody releases).
pub const STALLED_AFTER: Duration = Duration::from_secs(30);

pub struct Monitor {
    pub pool: PgPool,
    pub jetstream: async_nats::jetstream::Context,
    pub event_log: EventLogConfig,
    pub metrics: Arc<ProjectionMetrics>,
}

/// The checkpoint last seen and since when.
struct LastMove {
    checkpoint: u64,
    at: Instant,
}

impl Monitor {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut last_move = LastMove { checkpoint: 0, at: Instant::now() };
        loop {
            self.sample(&mut last_move).await;
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn sample(&self, last_move: &mut LastMove) {
        // A failed read leaves the last figures; the projector's own errors say why.
        if let Ok(counts) = skipped::counts(&self.pool).await {
            for (kind, count) in counts {
                self.metrics.skipped_events.with_label_values(&[kind.as_str()]).set(count);
            }
        }
        let (Ok(checkpoint), Ok(head)) =
            (db::checkpoint(&self.pool).await, db::stream_head(&self.jetstream, &self.event_log.stream).await)
        else {
            return;
        };
        let behind = head.saturating_sub(checkpoint);
        self.metrics.lag_events.set(behind as i64);
        if behind == 0 {
            self.metrics.lag_seconds.set(0.0);
        } else if let Ok(age) = self.age_of(checkpoint + 1).await {
            self.metrics.lag_seconds.set(age.as_secs_f64());
        }
        if checkpoint != last_move.checkpoint || behind == 0 {
            *last_move = LastMove { checkpoint, at: Instant::now() };
        }
        let stalled = if behind == 0 { 0.0 } else { last_move.at.elapsed().as_secs_f64() };
        self.metrics.stalled_seconds.set(stalled);
    }

    /// How long ago the log stored event `sequence`.
    async fn age_of(&self, sequence: u64) -> Result<Duration, String> {
        let stream = self.jetstream.get_stream_no_info(&self.event_log.stream).await.map_err(|e| e.to_string())?;
        let message = stream.get_raw_message(sequence).await.map_err(|e| e.to_string())?;
        Ok((chrono::Utc::now() - message.time).to_std().unwrap_or_default())
    }
}

/// Why this instance's projection counts as stuck, from the monitor's figures; None when
/// it is not.
pub fn stuck(metrics: &ProjectionMetrics) -> Option<String> {
    let failures = metrics.consecutive_failures.get();
    let stalled = metrics.stalled_seconds.get();
    if failures >= STUCK_AFTER_FAILURES {
        Some(format!("{failures} attempts in a row failed"))
    } else if stalled >= STALLED_AFTER.as_secs_f64() {
        Some(format!("the checkpoint has not moved for {stalled:.0} s while events wait"))
    } else {
        None
    }
}
