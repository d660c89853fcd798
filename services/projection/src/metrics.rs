//! The projection's Prometheus metrics (besides HTTP, see shared::http::observe), served on
//! the admin address only.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use ehelpdesk_shared::http::ApiError;
use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::state::AppState;

/// What only operators reach, on the admin address: the metrics.
pub fn admin_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NotFound("not_found") })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .with_state(state)
}

/// Prometheus metrics (text exposition format). A rebuild runs as a process of its own; its
/// progress is read from its scratch schema's checkpoint at scrape time.
async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    let sql = format!(
        "SELECT last_sequence FROM \"{}_rebuild\".projection_checkpoint WHERE name = 'main'",
        state.settings.schema
    );
    let progress: Option<i64> =
        sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_optional(&state.pool).await.ok().flatten();
    state.metrics.rebuild_applied.set(progress.unwrap_or(0));
    ehelpdesk_shared::http::observe::render(&state.registry)
}

pub struct ProjectionMetrics {
    pub events_applied: IntCounter,
    pub batch_size: Histogram,
    /// Wall time of one batch's transaction, from begin to commit.
    pub batch_seconds: Histogram,
    /// Events in the stream the projection has not applied yet.
    pub lag_events: IntGauge,
    /// Age of the oldest event not yet applied, in seconds (0 when caught up).
    pub lag_seconds: Gauge,
    /// Projection attempts that failed in a row (0 after a batch applies).
    pub consecutive_failures: IntGauge,
    /// How long the checkpoint has not moved while events wait, in seconds.
    pub stalled_seconds: Gauge,
    /// The wait before the projector's next attempt after the last interruption, in seconds.
    pub retry_backoff_seconds: Gauge,
    pub outbox_pending: IntGauge,
    pub outbox_published: IntCounter,
    /// Events a running `rebuild` has applied to its scratch schema (0 when none runs).
    pub rebuild_applied: IntGauge,
    /// Requests waiting for their `min_seq` now.
    pub min_seq_waiters: IntGauge,
    /// Rows of `skipped_events` by kind (unreadable, refused, data_error), read on a timer.
    pub skipped_events: IntGaugeVec,
    /// Receipts written to their outbox row, by the state written.
    pub receipts_applied: IntCounterVec,
    /// Receipts older than what their row holds, or the same receipt again.
    pub receipts_superseded: IntCounter,
    /// Receipts for an id (and channel) the outbox does not hold: acked, not retried.
    pub receipts_unknown: IntCounter,
    /// Receipts that could not be read (not JSON of a receipt, a time out of range): dropped.
    pub receipts_unreadable: IntCounter,
    /// Outbox rows queued, failed or dead-lettered, counted on a timer by the receipt recorder.
    pub outbox_by_state: IntGaugeVec,
}

impl ProjectionMetrics {
    pub fn register(registry: &Registry) -> Arc<Self> {
        let metrics = Self {
            events_applied: IntCounter::new(
                "ehelpdesk_projection_events_applied_total",
                "Events applied to the read models",
            )
            .expect("valid metric"),
            batch_size: Histogram::with_opts(
                HistogramOpts::new("ehelpdesk_projection_batch_size", "Events per read-model transaction")
                    .buckets(vec![1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0]),
            )
            .expect("valid metric"),
            batch_seconds: Histogram::with_opts(
                HistogramOpts::new("ehelpdesk_projection_batch_seconds", "Time to apply one batch, begin to commit")
                    .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5]),
            )
            .expect("valid metric"),
            lag_events: IntGauge::new("ehelpdesk_projection_lag_events", "Events behind the head of the stream")
                .expect("valid metric"),
            lag_seconds: Gauge::new(
                "ehelpdesk_projection_lag_seconds",
                "Age of the oldest event the read models have not applied (0 when caught up)",
            )
            .expect("valid metric"),
            consecutive_failures: IntGauge::new(
                "ehelpdesk_projection_consecutive_failures",
                "Projection attempts that failed in a row (0 after a batch applies)",
            )
            .expect("valid metric"),
            retry_backoff_seconds: Gauge::new(
                "ehelpdesk_projection_retry_backoff_seconds",
                "The wait before the projector's next attempt after its last interruption",
            )
            .expect("valid metric"),
            stalled_seconds: Gauge::new(
                "ehelpdesk_projection_stalled_seconds",
                "How long the checkpoint has not moved while events wait (0 when moving or caught up)",
            )
            .expect("valid metric"),
            outbox_pending: IntGauge::new("ehelpdesk_outbox_pending", "Notifications not yet published")
                .expect("valid metric"),
            outbox_published: IntCounter::new("ehelpdesk_outbox_published_total", "Notifications published to NOTIFY")
                .expect("valid metric"),
            rebuild_applied: IntGauge::new(
                "ehelpdesk_rebuild_applied_events",
                "Events a running rebuild has applied so far (0 when none runs)",
            )
            .expect("valid metric"),
            min_seq_waiters: IntGauge::new("ehelpdesk_min_seq_waiters", "Requests waiting for their min_seq now")
                .expect("valid metric"),
            skipped_events: IntGaugeVec::new(
                Opts::new("ehelpdesk_projection_skipped_events", "Events the read models skipped, by kind"),
                &["kind"],
            )
            .expect("valid metric"),
            receipts_applied: IntCounterVec::new(
                Opts::new(
                    "ehelpdesk_receipts_applied_total",
                    "Delivery receipts recorded on their notification, by state",
                ),
                &["state"],
            )
            .expect("valid metric"),
            receipts_superseded: IntCounter::new(
                "ehelpdesk_receipts_superseded_total",
                "Delivery receipts older than what their notification holds, or received again",
            )
            .expect("valid metric"),
            receipts_unknown: IntCounter::new(
                "ehelpdesk_receipts_unknown_total",
                "Delivery receipts for notifications the outbox does not hold",
            )
            .expect("valid metric"),
            receipts_unreadable: IntCounter::new(
                "ehelpdesk_receipts_unreadable_total",
                "Delivery receipts that could not be read, dropped",
            )
            .expect("valid metric"),
            outbox_by_state: IntGaugeVec::new(
                Opts::new(
                    "ehelpdesk_outbox_notifications",
                    "Notifications in the outbox by delivery state (queued, failed, dead_lettered)",
                ),
                &["state"],
            )
            .expect("valid metric"),
        };
        for collector in [
            Box::new(metrics.events_applied.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.batch_size.clone()),
            Box::new(metrics.batch_seconds.clone()),
            Box::new(metrics.lag_events.clone()),
            Box::new(metrics.lag_seconds.clone()),
            Box::new(metrics.consecutive_failures.clone()),
            Box::new(metrics.stalled_seconds.clone()),
            Box::new(metrics.retry_backoff_seconds.clone()),
            Box::new(metrics.outbox_pending.clone()),
            Box::new(metrics.outbox_published.clone()),
            Box::new(metrics.rebuild_applied.clone()),
            Box::new(metrics.min_seq_waiters.clone()),
            Box::new(metrics.skipped_events.clone()),
            Box::new(metrics.receipts_applied.clone()),
            Box::new(metrics.receipts_superseded.clone()),
            Box::new(metrics.receipts_unknown.clone()),
            Box::new(metrics.receipts_unreadable.clone()),
            Box::new(metrics.outbox_by_state.clone()),
        ] {
            registry.register(collector).expect("registered once");
        }
        // Every state from the start, so a rate or an alert on one has a series before its
        // first receipt.
        for state in ["queued", "failed", "dead_lettered", "sent"] {
            metrics.receipts_applied.with_label_values(&[state]);
        }
        Arc::new(metrics)
    }
}
