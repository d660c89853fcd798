//! `ehelpdesk-projection rebuild`: every read model built afresh from stream sequence 1 in
//! a schema of its own while the live models keep serving, then swapped in atomically.

use std::time::{Duration, Instant};

use futures::StreamExt;
use sqlx::AssertSqlSafe;
use sqlx::PgPool;

use crate::apply::{ApplyError, Incoming, apply_batch_notifying_after};
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
    #[error(
        "the live outbox's columns ({live}) differ from the rebuilt one's ({rebuilt}): start this version's \
         service once to migrate the live models, then rebuild"
    )]
    OutboxColumns { live: String, rebuilt: String },
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
    /// How long the swap held the live checkpoint, pausing the live projector.
    pub live_paused: Duration,
    /// Where the live models stood when the swap locked them.
    pub live_checkpoint_at_swap: u64,
    /// How far the rebuild had replayed when it took the lock.
    pub caught_up_before_swap: u64,
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
    let set_aside = set_aside_for_bulk_load(&pool, &fresh).await?;
    // The outbox is not a view of the log but a record of what was owed and sent: the live
    // one is kept, and the rebuild writes notifications only for events it had not reached.
    let live_exists = schema_exists(&admin, live).await?;
    let live_checkpoint: i64 = if live_exists {
        sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT last_sequence FROM \"{live}\".projection_checkpoint WHERE name = 'main'"
        )))
        .fetch_one(&admin)
        .await?
    } else {
        0
    };
    let notified = live_checkpoint as u64;
    let replay = Replay { pool: &pool, jetstream: &jetstream, settings, notified, started };
    let applied = replay.run(1, head, &mut progress).await?;
    restore_after_bulk_load(&pool, set_aside).await?;
    // Catching up with what arrived meanwhile happens before the swap, while the live
    // projector keeps going: under steady load the head is never reached for good, and
    // chasing it with the live checkpoint locked froze the live models without bound.
    let caught_up_before_swap = replay.catch_up(applied, &mut progress).await?;
    let swapped =
        swap(&admin, &replay, Schemas { live, fresh: &fresh, live_exists }, caught_up_before_swap, &mut progress)
            .await?;
    pool.close().await;
    if let Some(old) = &swapped.old {
        sqlx::query(AssertSqlSafe(format!("DROP SCHEMA \"{old}\" CASCADE"))).execute(&admin).await?;
    }
    Ok(RebuildReport {
        events: swapped.applied,
        last_sequence: swapped.applied,
        elapsed: started.elapsed(),
        live_paused: swapped.live_paused,
        live_checkpoint_at_swap: swapped.live_checkpoint,
        caught_up_before_swap,
    })
}

/// The schemas a rebuild works with.
struct Schemas<'a> {
    live: &'a str,
    fresh: &'a str,
    live_exists: bool,
}

/// What the swap did.
struct Swapped {
    applied: u64,
    live_checkpoint: u64,
    live_paused: Duration,
    /// The old live schema, renamed away, to drop.
    old: Option<String>,
}

/// In one transaction: hold the live checkpoint, so the live projector pauses; apply what
/// the live models have and the rebuilt ones lack (bounded: the live checkpoint cannot move
/// while held); move the live outbox in; rename. Events past the live checkpoint that the
/// rebuild already applied are kept: the live projector's next batch finds the checkpoint
/// moved, reloads and skips them (see `apply`), and their notifications are in the rebuilt
/// outbox, which joins the live one.
async fn swap(
    admin: &PgPool,
    replay: &Replay<'_>,
    schemas: Schemas<'_>,
    mut applied: u64,
    progress: &mut impl FnMut(&Progress),
) -> Result<Swapped, RebuildError> {
    let Schemas { live, fresh, live_exists } = schemas;
    let mut tx = admin.begin().await?;
    let paused = Instant::now();
    let mut live_checkpoint = 0;
    if live_exists {
        let locked: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
            "SELECT last_sequence FROM \"{live}\".projection_checkpoint WHERE name = 'main' FOR UPDATE"
        )))
        .fetch_one(&mut *tx)
        .await?;
        live_checkpoint = locked as u64;
    }
    if applied < live_checkpoint {
        applied = replay.run(applied + 1, live_checkpoint, progress).await?;
    }
    let old = live_exists.then(|| format!("{live}_old_{}", chrono::Utc::now().timestamp()));
    if let Some(old) = &old {
        let columns = outbox_columns(&mut tx, live, fresh).await?;
        // Notifications only the rebuild wrote join the live outbox, which then moves in:
        // the live table itself, so what the notifier reported on its rows (delivery state,
        // attempts, reasons), and receipts recorded while the rebuild ran, stay with them.
        for statement in [
            format!(
                "INSERT INTO \"{live}\".notification_outbox ({columns}) SELECT {columns} \
                 FROM \"{fresh}\".notification_outbox ON CONFLICT (id) DO NOTHING"
            ),
            format!("DROP TABLE \"{fresh}\".notification_outbox"),
            format!("ALTER TABLE \"{live}\".notification_outbox SET SCHEMA \"{fresh}\""),
            format!("ALTER SCHEMA \"{live}\" RENAME TO \"{old}\""),
        ] {
            sqlx::query(AssertSqlSafe(statement)).execute(&mut *tx).await?;
        }
    }
    sqlx::query(AssertSqlSafe(format!("ALTER SCHEMA \"{fresh}\" RENAME TO \"{live}\""))).execute(&mut *tx).await?;
    // The swap's last events were notified under the scratch schema's name: tell the live
    // models' waiters where they stand now.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(crate::read_your_writes::checkpoint_channel(live))
        .bind(applied.to_string())
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Swapped { applied, live_checkpoint, live_paused: paused.elapsed(), old })
}

/// The outbox's columns, quoted, when the live and the rebuilt tables have the same ones.
/// They do when both schemas were migrated by this build; a live schema an older build
/// migrated would lose the newer columns when its table moves in, so the swap refuses.
async fn outbox_columns(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    live: &str,
    fresh: &str,
) -> Result<String, RebuildError> {
    let mut columns = vec![];
    for schema in [live, fresh] {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'notification_outbox' ORDER BY column_name",
        )
        .bind(schema)
        .fetch_all(&mut **tx)
        .await?;
        columns.push(names);
    }
    if columns[0] != columns[1] {
        return Err(RebuildError::OutboxColumns { live: columns[0].join(", "), rebuilt: columns[1].join(", ") });
    }
    Ok(columns[1].iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(", "))
}

async fn schema_exists(pool: &PgPool, schema: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)")
        .bind(schema)
        .fetch_one(pool)
        .await
}

/// The secondary indexes of a fresh schema, dropped for the bulk load: building each once
/// at the end costs far less than keeping it up to date through a million upserts. Indexes
/// behind constraints (primary keys, unique numbers) stay, as the upserts rely on them.
/// The report-total triggers are switched off too; the totals are recounted at the end.
async fn set_aside_for_bulk_load(pool: &PgPool, schema: &str) -> Result<Vec<String>, sqlx::Error> {
    let indexes: Vec<(String, String)> = sqlx::query_as(
        "SELECT i.indexname::text, i.indexdef FROM pg_indexes i WHERE i.schemaname = $1 AND NOT EXISTS ( \
           SELECT 1 FROM pg_constraint c JOIN pg_class x ON x.oid = c.conindid JOIN pg_namespace n \
             ON n.oid = x.relnamespace WHERE n.nspname = i.schemaname AND x.relname = i.indexname)",
    )
    .bind(schema)
    .fetch_all(pool)
    .await?;
    for (name, _) in &indexes {
        sqlx::query(AssertSqlSafe(format!("DROP INDEX \"{schema}\".\"{name}\""))).execute(pool).await?;
    }
    sqlx::query("ALTER TABLE complaints DISABLE TRIGGER USER").execute(pool).await?;
    Ok(indexes.into_iter().map(|(_, definition)| definition).collect())
}

async fn restore_after_bulk_load(pool: &PgPool, indexes: Vec<String>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SET LOCAL maintenance_work_mem = '256MB'").execute(&mut *tx).await?;
    for definition in indexes {
        sqlx::query(AssertSqlSafe(definition)).execute(&mut *tx).await?;
    }
    sqlx::query("ALTER TABLE complaints ENABLE TRIGGER USER").execute(&mut *tx).await?;
    sqlx::query("SELECT recount_report_totals()").execute(&mut *tx).await?;
    tx.commit().await?;
    sqlx::query("ANALYZE complaints, timeline, notification_outbox, staff").execute(pool).await?;
    Ok(())
}

/// What replaying needs besides the range.
struct Replay<'a> {
    pool: &'a PgPool,
    jetstream: &'a async_nats::jetstream::Context,
    settings: &'a Settings,
    /// Events up to here have their notifications in the live outbox already.
    notified: u64,
    started: Instant,
}

/// Passes at catching up before the swap: each replays what arrived during the one before,
/// a rebuild replays far faster than commands arrive, so a few suffice; the swap applies
/// whatever is still missing up to the live checkpoint.
const CATCH_UP_PASSES: usize = 5;

impl Replay<'_> {
    /// Replays from after `applied` to the stream's head, again until nothing new arrived
    /// meanwhile (or `CATCH_UP_PASSES` passes); returns the last sequence applied.
    async fn catch_up(&self, mut applied: u64, progress: &mut impl FnMut(&Progress)) -> Result<u64, RebuildError> {
        for _ in 0..CATCH_UP_PASSES {
            let head =
                db::stream_head(self.jetstream, &self.settings.event_log.stream).await.map_err(RebuildError::Nats)?;
            if applied >= head {
                break;
            }
            applied = self.run(applied + 1, head, progress).await?;
        }
        Ok(applied)
    }

    /// Applies events `from..=to`, no further.
    async fn run(&self, from: u64, to: u64, progress: &mut impl FnMut(&Progress)) -> Result<u64, RebuildError> {
        let mut applied = from.saturating_sub(1);
        if applied >= to {
            return Ok(applied);
        }
        let settings = self.settings;
        let messages = ehelpdesk_shared::streams::replay_log(self.jetstream, &settings.event_log, from)
            .await
            .map_err(RebuildError::Nats)?;
        // Messages come in bursts smaller than a batch; waiting a moment fills the batch.
        let mut chunks = std::pin::pin!(tokio_stream::StreamExt::chunks_timeout(
            messages,
            settings.rebuild_batch_size,
            Duration::from_millis(20)
        ));
        let mut last_report = Instant::now();
        while applied < to {
            let Some(chunk) = chunks.next().await else { break };
            let mut batch = Vec::with_capacity(chunk.len());
            for message in chunk {
                let message = message.map_err(|e| RebuildError::Nats(e.to_string()))?;
                let info = message.info().map_err(|e| RebuildError::Nats(e.to_string()))?;
                // The swap applies up to the live checkpoint it holds, not a batch beyond.
                if info.stream_sequence > to {
                    break;
                }
                batch.push(Incoming::from_message(&message, info.stream_sequence));
            }
            if batch.is_empty() {
                break;
            }
            applied = apply_batch_notifying_after(self.pool, &settings.event_log.subject_prefix, &batch, self.notified)
                .await?;
            if last_report.elapsed() >= Duration::from_secs(1) || applied >= to {
                last_report = Instant::now();
                let rate = applied as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                let left = to.saturating_sub(applied) as f64 / rate.max(1e-9);
                progress(&Progress { applied, target: to, events_per_second: rate, seconds_left: left });
            }
        }
        Ok(applied)
    }
}
