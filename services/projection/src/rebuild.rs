//! `ehelpdesk-projection rebuild`: every read model built afresh from stream sequence 1 in
//! a schema of its own while the live models keep serving, then swapped in atomically.

use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use sqlx::AssertSqlSafe;
use sqlx::PgPool;

use crate::apply::{ApplyError, Incoming, apply_batch};
use crate::configuration::Settings;
use crate::db;

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Apply(#[from] ApplyError),
    #[error("NATS: {0}")]
    Nats(String),
}

/// Where a rebuild stands, reported about once a second.
#[derive(Debug, Clone)]
pub struct Progress {
    pub applied: u64,
    pub target: u64,
    pub events_per_second: f64,
    pub seconds_left: f64,
}

impl std::fmt::Display for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pct = if self.target == 0 { 100.0 } else { self.applied as f64 * 100.0 / self.target as f64 };
        write!(
            f,
            "{}/{} events ({pct:.1}%), {:.0} events/s, about {:.0} s left",
            self.applied, self.target, self.events_per_second, self.seconds_left
        )
    }
}

#[derive(Debug, Clone)]
pub struct RebuildReport {
    pub events: u64,
    pub last_sequence: u64,
    pub elapsed: Duration,
}

impl RebuildReport {
    pub fn events_per_second(&self) -> f64 {
        self.events as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

pub async fn rebuild(settings: &Settings, mut progress: impl FnMut(&Progress)) -> Result<RebuildReport, RebuildError> {
    let live = settings.schema.as_str();
    let fresh = format!("{live}_rebuild");
    let admin = db::connect(&settings.database_url, "public", 2).await?;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA IF EXISTS \"{fresh}\" CASCADE"))).execute(&admin).await?;
    let pool = db::connect(&settings.database_url, &fresh, 4).await?;
    db::prepare(&pool, &fresh, &settings.working_week, &settings.holidays).await?;

    let client =
        async_nats::connect(&settings.event_log.nats_url).await.map_err(|e| RebuildError::Nats(e.to_string()))?;
    let jetstream = async_nats::jetstream::new(client);
    let head = db::stream_head(&jetstream, &settings.event_log.stream).await.map_err(RebuildError::Nats)?;
    let started = Instant::now();
    let mut applied = replay(&pool, &jetstream, settings, 1, head, started, &mut progress).await?;

    // The swap: hold the live checkpoint so the live projector pauses, apply what arrived
    // meanwhile, carry over which notifications were already sent, rename, commit.
    let mut tx = admin.begin().await?;
    let live_exists: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(live)
        .fetch_one(&mut *tx)
        .await?;
    if live_exists {
        sqlx::query(AssertSqlSafe(format!(
            "SELECT last_sequence FROM \"{live}\".projection_checkpoint WHERE name = 'main' FOR UPDATE"
        )))
        .execute(&mut *tx)
        .await?;
    }
    loop {
        let head_now = db::stream_head(&jetstream, &settings.event_log.stream).await.map_err(RebuildError::Nats)?;
        if applied >= head_now {
            break;
        }
        applied = replay(&pool, &jetstream, settings, applied + 1, head_now, started, &mut progress).await?;
    }
    let old = format!("{live}_old_{}", chrono::Utc::now().timestamp());
    if live_exists {
        sqlx::query(AssertSqlSafe(format!(
            "UPDATE \"{fresh}\".notification_outbox n SET published_at = o.published_at \
             FROM \"{live}\".notification_outbox o WHERE n.id = o.id AND o.published_at IS NOT NULL"
        )))
        .execute(&mut *tx)
        .await?;
        sqlx::query(AssertSqlSafe(format!("ALTER SCHEMA \"{live}\" RENAME TO \"{old}\""))).execute(&mut *tx).await?;
    }
    sqlx::query(AssertSqlSafe(format!("ALTER SCHEMA \"{fresh}\" RENAME TO \"{live}\""))).execute(&mut *tx).await?;
    tx.commit().await?;
    pool.close().await;
    if live_exists {
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{old}\" CASCADE"))).execute(&admin).await?;
    }
    Ok(RebuildReport { events: applied, last_sequence: applied, elapsed: started.elapsed() })
}

/// Applies events `from..=to` (and whatever else arrives in the same batches).
async fn replay(
    pool: &PgPool,
    jetstream: &async_nats::jetstream::Context,
    settings: &Settings,
    from: u64,
    to: u64,
    started: Instant,
    progress: &mut impl FnMut(&Progress),
) -> Result<u64, RebuildError> {
    let mut applied = from.saturating_sub(1);
    if applied >= to {
        return Ok(applied);
    }
    let stream =
        jetstream.get_stream(&settings.event_log.stream).await.map_err(|e| RebuildError::Nats(e.to_string()))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from },
            filter_subject: settings.event_log.all_subjects(),
            ..Default::default()
        })
        .await
        .map_err(|e| RebuildError::Nats(e.to_string()))?;
    let messages = consumer.messages().await.map_err(|e| RebuildError::Nats(e.to_string()))?;
    let mut chunks = messages.ready_chunks(settings.batch_size);
    let mut last_report = Instant::now();
    while applied < to {
        let Some(chunk) = chunks.next().await else { break };
        let mut batch = Vec::with_capacity(chunk.len());
        for message in chunk {
            let message = message.map_err(|e| RebuildError::Nats(e.to_string()))?;
            let info = message.info().map_err(|e| RebuildError::Nats(e.to_string()))?;
            batch.push(Incoming::from_message(&message, info.stream_sequence));
        }
        applied = apply_batch(pool, &settings.event_log.subject_prefix, &batch).await?;
        if last_report.elapsed() >= Duration::from_secs(1) || applied >= to {
            last_report = Instant::now();
            let rate = applied as f64 / started.elapsed().as_secs_f64().max(1e-9);
            let left = to.saturating_sub(applied) as f64 / rate.max(1e-9);
            progress(&Progress { applied, target: to, events_per_second: rate, seconds_left: left });
        }
    }
    Ok(applied)
}
