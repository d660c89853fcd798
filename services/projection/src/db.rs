//! The read-model database: a pool whose connections see the models' schema first, the
//! embedded migrations, and the working-day calendar.

use std::str::FromStr;
use std::time::Duration;

use chrono::NaiveDate;
use sqlx::AssertSqlSafe;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgConnection, PgPool};

use crate::calendar::{self, Holiday, WorkingWeek};

/// `migrations/` at the top of the repository, compiled into the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("../../migrations");

/// Connections whose `search_path` is `schema`, so the models' SQL names no schema and the
/// same statements serve the live models and a rebuild.
///
/// Commits need not wait for the disk: a commit lost in a crash takes its checkpoint with
/// it, and the consumer restarts from the checkpoint, so the stream replays those events
/// (a lost relay stamp means a republish under the same `Nats-Msg-Id`, which NOTIFY's
/// 10-minute duplicate window drops).
/// Nothing acknowledged to a user lives only in these models.
pub async fn connect(url: &str, schema: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    let options = PgConnectOptions::from_str(url)?
        .application_name("ehelpdesk-projection")
        .options([("search_path", schema), ("synchronous_commit", "off")]);
    PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(3))
        .connect_with(options)
        .await
}

/// One connection outside the pool, for work that holds it as long as a slow client takes
/// (exports): such work must never leave queries and readiness without connections.
pub async fn connect_alone(url: &str, schema: &str, application_name: &str) -> Result<PgConnection, sqlx::Error> {
    let options =
        PgConnectOptions::from_str(url)?.application_name(application_name).options([("search_path", schema)]);
    // As long as the pool waits for a connection.
    match tokio::time::timeout(Duration::from_secs(3), options.connect()).await {
        Ok(connected) => connected,
        Err(_) => {
            Err(sqlx::Error::Io(std::io::Error::new(std::io::ErrorKind::TimedOut, "no database connection within 3 s")))
        }
    }
}

/// Creates the schema, applies the migrations in it, and (re)writes the calendar.
pub async fn prepare(pool: &PgPool, schema: &str, week: &WorkingWeek, holidays: &[Holiday]) -> Result<(), sqlx::Error> {
    sqlx::query(AssertSqlSafe(format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\""))).execute(pool).await?;
    MIGRATOR.run(pool).await?;
    write_calendar(pool, week, holidays).await
}

/// Years the calendar covers: complaints older or newer than this age as if at its edge.
const CALENDAR_FROM: (i32, u32, u32) = (2020, 1, 1);
const CALENDAR_TO: (i32, u32, u32) = (2045, 12, 31);

fn calendar_range() -> (NaiveDate, NaiveDate) {
    let date = |(y, m, d): (i32, u32, u32)| NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default();
    (date(CALENDAR_FROM), date(CALENDAR_TO))
}

/// The same calendar as the table, in memory.
pub fn working_days(week: &WorkingWeek, holidays: &[Holiday]) -> calendar::WorkingDays {
    let (from, to) = calendar_range();
    calendar::WorkingDays::new(from, to, week, holidays)
}

pub async fn write_calendar(pool: &PgPool, week: &WorkingWeek, holidays: &[Holiday]) -> Result<(), sqlx::Error> {
    let (from, to) = calendar_range();
    let days = calendar::calendar(from, to, week, holidays);
    let mut tx = pool.begin().await?;
    let before = calendar_fingerprint(&mut tx).await?;
    sqlx::query!("DELETE FROM calendar").execute(&mut *tx).await?;
    sqlx::query(
        "INSERT INTO calendar (day, is_working, holiday, working_index) \
         SELECT * FROM UNNEST($1::date[], $2::boolean[], $3::text[], $4::integer[])",
    )
    .bind(days.iter().map(|d| d.day).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.is_working).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.holiday.clone()).collect::<Vec<_>>())
    .bind(days.iter().map(|d| d.working_index).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    if calendar_fingerprint(&mut tx).await? != before {
        // Working days to close were counted with the old calendar. Writers of complaints
        // wait meanwhile, so no trigger's change slips between the recount's statements.
        sqlx::query("LOCK TABLE complaints IN SHARE MODE").execute(&mut *tx).await?;
        sqlx::query("SELECT recount_report_totals()").execute(&mut *tx).await?;
    }
    tx.commit().await
}

async fn calendar_fingerprint(tx: &mut sqlx::PgConnection) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "SELECT md5(string_agg(day || ':' || working_index, ',' ORDER BY day)) FROM calendar WHERE is_working",
    )
    .fetch_one(tx)
    .await
}

pub async fn checkpoint(pool: &PgPool) -> Result<u64, sqlx::Error> {
    let seq = sqlx::query_scalar!("SELECT last_sequence FROM projection_checkpoint WHERE name = 'main'")
        .fetch_one(pool)
        .await?;
    Ok(seq as u64)
}

/// The last sequence in the event stream, in one round trip (`get_stream` fetches the
/// stream's info afresh; a `min_seq` past the cached head asks this).
pub async fn stream_head(jetstream: &async_nats::jetstream::Context, stream: &str) -> Result<u64, String> {
    let stream = jetstream.get_stream(stream).await.map_err(|e| e.to_string())?;
    Ok(stream.cached_info().state.last_sequence)
}
