//! The projection watched from outside its batches, on a timer: what a batch reports stops
//! when batches stop, and a stuck projection must still show in the metrics.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use crate::metrics::ProjectionMetrics;
use crate::skipped;

/// How often the figures are refreshed.
const INTERVAL: Duration = Duration::from_secs(2);

pub struct Monitor {
    pub pool: PgPool,
    pub metrics: Arc<ProjectionMetrics>,
}

impl Monitor {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            self.sample().await;
            tokio::select! {
                _ = tokio::time::sleep(INTERVAL) => {}
                _ = shutdown.wait_for(|stop| *stop) => return,
            }
        }
    }

    async fn sample(&self) {
        // A failed read leaves the last figures; the projector's own errors say why.
        if let Ok(counts) = skipped::counts(&self.pool).await {
            for (kind, count) in counts {
                self.metrics.skipped_events.with_label_values(&[kind.as_str()]).set(count);
            }
        }
    }
}
