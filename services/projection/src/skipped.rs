//! Events the read models do without, recorded in `skipped_events` so the projection never
//! stops for good over one event: the log cannot be changed, so an event that cannot be
//! read, that the domain refuses, or that PostgreSQL refuses as data is skipped once and
//! for all, visibly (a row, a metric, an alert), instead of being retried for ever.

use sqlx::{PgPool, Postgres, Transaction};

use crate::apply::{ApplyError, Incoming};

/// Why an event was skipped (`skipped_events.kind`, see migrations/0004).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// It cannot be decoded: unknown type, newer version, a subject of no aggregate.
    Unreadable,
    /// The domain refuses it on the state before it.
    Refused,
    /// PostgreSQL refuses what it would write.
    DataError,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Unreadable => "unreadable",
            Kind::Refused => "refused",
            Kind::DataError => "data_error",
        }
    }
}

/// One skipped event.
pub struct Skip<'a> {
    pub sequence: u64,
    pub subject: &'a str,
    pub kind: Kind,
    pub reason: String,
    pub sqlstate: Option<String>,
}

/// Records `skip` in the batch's transaction; a replayed one is already there.
pub async fn record(tx: &mut Transaction<'_, Postgres>, skip: &Skip<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "INSERT INTO skipped_events (sequence, subject, reason, recorded_at, kind, sqlstate) \
         VALUES ($1, $2, $3, now(), $4, $5) ON CONFLICT (sequence) DO NOTHING",
        skip.sequence as i64,
        skip.subject,
        &skip.reason,
        skip.kind.as_str(),
        skip.sqlstate.as_deref(),
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// The SQLSTATE of an error PostgreSQL raised over the data itself (class 22, data
/// exception; class 23, integrity constraint violation). Those fail the same way on every
/// retry; anything else (a lost connection, a lock timeout, a full disk) may pass.
pub fn data_error_state(error: &ApplyError) -> Option<String> {
    let ApplyError::Database(sqlx::Error::Database(db)) = error else { return None };
    let code = db.code()?;
    (code.starts_with("22") || code.starts_with("23")).then(|| code.into_owned())
}

/// Skips `message` alone, in a transaction of its own that moves the checkpoint past it:
/// what the batch narrowed down to when PostgreSQL refused this one event's rows.
pub async fn skip_alone(pool: &PgPool, message: &Incoming, error: &ApplyError) -> Result<u64, ApplyError> {
    let mut tx = pool.begin().await?;
    let done = crate::apply::checkpoint(&mut tx).await?;
    if message.sequence <= done {
        tx.commit().await?;
        return Ok(done);
    }
    if message.sequence != done + 1 {
        return Err(ApplyError::Gap { expected: done + 1, got: message.sequence });
    }
    let sqlstate = data_error_state(error);
    tracing::error!(
        sequence = message.sequence, subject = %message.subject, ?sqlstate, %error,
        "the read models cannot take this event; recorded in skipped_events and skipped"
    );
    let skip = Skip {
        sequence: message.sequence,
        subject: &message.subject,
        kind: Kind::DataError,
        reason: error.to_string(),
        sqlstate,
    };
    record(&mut tx, &skip).await?;
    let moved = sqlx::query!(
        "UPDATE projection_checkpoint SET last_sequence = $1, updated_at = now() \
         WHERE name = 'main' AND last_sequence = $2",
        message.sequence as i64,
        done as i64,
    )
    .execute(&mut *tx)
    .await?;
    if moved.rows_affected() != 1 {
        return Err(ApplyError::CheckpointMoved);
    }
    tx.commit().await?;
    Ok(message.sequence)
}

/// Skipped events by kind, for the `ehelpdesk_projection_skipped_events` gauge.
pub async fn counts(pool: &PgPool) -> Result<Vec<(String, i64)>, sqlx::Error> {
    let rows =
        sqlx::query!(r#"SELECT kind, count(*) AS "count!" FROM skipped_events GROUP BY kind"#).fetch_all(pool).await?;
    Ok(rows.into_iter().map(|row| (row.kind, row.count)).collect())
}
