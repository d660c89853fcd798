//! The projection service's settings (environment variables; see README's table).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ehelpdesk_shared::auth::AuthConfig;
use ehelpdesk_shared::config::{ConfigError, Env, EventLogConfig};
use ehelpdesk_shared::http::serve::HttpSettings;
use ehelpdesk_shared::notification::NotifyConfig;

use crate::calendar::{self, Holiday, WorkingWeek};

#[derive(Debug, Clone)]
pub struct Settings {
    /// `PROJECTION_ADDR`, default 127.0.0.1:8081.
    pub listen: SocketAddr,
    /// `PROJECTION_ADMIN_ADDR`, default 127.0.0.1:9081: `/metrics`, kept off the public port.
    pub admin_listen: SocketAddr,
    pub http: HttpSettings,
    /// `DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/ehelpdesk.
    pub database_url: String,
    /// `DATABASE_MAX_CONNECTIONS`, default 16: the pool queries, readiness and the projector
    /// share. Exports do not draw on it (see `export_max_concurrent`).
    pub database_max_connections: u32,
    /// `READ_MODEL_SCHEMA`, default `readmodel`: the PostgreSQL schema holding the models.
    pub schema: String,
    pub event_log: EventLogConfig,
    /// `CONSUMER_NAME`, default `projection`: the durable consumer's name.
    pub consumer: String,
    /// `BATCH_SIZE`, default 500: events per PostgreSQL transaction at most.
    pub batch_size: usize,
    /// `REBUILD_BATCH_SIZE`, default 2000: the same for a rebuild, where nobody waits for a
    /// single event and fewer, larger transactions replay faster.
    pub rebuild_batch_size: usize,
    pub notify: NotifyConfig,
    /// `WEEKEND_DAYS`, default `fri,sat` (Kelantan).
    pub working_week: WorkingWeek,
    /// From `HOLIDAYS_FILE`, default the Kelantan file shipped in services/projection/data.
    pub holidays: Vec<Holiday>,
    /// `RESOLUTION_TARGET_DAYS`, default 5: working days within which a complaint should close.
    pub resolution_target_days: i32,
    /// `MIN_SEQ_WAIT_MS`, default 5000: how long `min_seq` may wait for the projection.
    pub min_seq_wait: Duration,
    /// `MIN_SEQ_WAITERS`, default 256: requests that may wait for `min_seq` at once; more
    /// are refused with 503 `too_many_waiters`.
    pub min_seq_waiters: usize,
    /// `PROJECTOR`, default on: apply the event stream in this instance. Off, the instance
    /// serves queries from models another instance keeps up to date.
    pub projector: bool,
    /// `OUTBOX_RELAY`, default on: publish the outbox to the NOTIFY stream.
    pub relay_outbox: bool,
    /// `RECEIPTS`, default as `PROJECTOR`: record the notifier's delivery receipts on the
    /// outbox. Off where nothing is projected either, so that query-only instances read.
    pub receipts: bool,
    /// `RECEIPTS_CONSUMER`, default `projection-receipts`: the durable consumer of receipts
    /// on NOTIFY, shared by the instances that record them.
    pub receipts_consumer: String,
    /// `ASSIGNMENT_BATCH_SECS`, default 120: an assignment's notification waits this long
    /// and goes out with every other assignment to the same person meanwhile, as one
    /// message; 0 sends each at once.
    pub assignment_batch: Duration,
    /// `DAILY_DIGEST_AT`, default `08:00` (Malaysian time): when, on each working day, every
    /// PIC with open complaints is sent the list; `off` for none. Written by the instances
    /// that relay the outbox.
    pub daily_digest_at: Option<chrono::NaiveTime>,
    /// `EXPORT_MAX_CONCURRENT`, default 4: exports running at once; each CSV export holds a
    /// database connection of its own, outside the pool, and more are refused with 429.
    pub export_max_concurrent: usize,
    /// `EXPORT_WRITE_TIMEOUT_SECS`, default 30: an export whose client takes no data for this
    /// long is abandoned and its connection freed.
    pub export_write_timeout: Duration,
    /// `VERIFY_MAX_BEHIND`, default 1000: `verify` fails when the read models lack more
    /// events than this when it ends.
    pub verify_max_behind: u64,
    /// `VERIFY_STALL_SECS`, default 10: `verify` fails when the checkpoint, behind the
    /// stream's head, did not move for this long (longer than the projector's 5 s back-off).
    pub verify_stall_wait: Duration,
    pub auth: AuthConfig,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let schema = env.string("READ_MODEL_SCHEMA", "readmodel");
        if schema.is_empty()
            || !schema.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            || schema.as_bytes()[0].is_ascii_digit()
        {
            return Err(ConfigError { var: "READ_MODEL_SCHEMA", value: schema, reason: "use a-z, 0-9 and _".into() });
        }
        let week_raw = env.string("WEEKEND_DAYS", "fri,sat");
        let working_week = WorkingWeek::parse(&week_raw).map_err(|reason| ConfigError {
            var: "WEEKEND_DAYS",
            value: week_raw.clone(),
            reason,
        })?;
        let holidays = match (env.0)("HOLIDAYS_FILE").filter(|p| !p.is_empty()) {
            None => calendar::parse_holidays(calendar::KELANTAN_HOLIDAYS).map_err(|e| ConfigError {
                var: "HOLIDAYS_FILE",
                value: "(built in)".into(),
                reason: e.to_string(),
            })?,
            Some(path) => {
                let text = std::fs::read_to_string(PathBuf::from(&path)).map_err(|e| ConfigError {
                    var: "HOLIDAYS_FILE",
                    value: path.clone(),
                    reason: e.to_string(),
                })?;
                calendar::parse_holidays(&text).map_err(|e| ConfigError {
                    var: "HOLIDAYS_FILE",
                    value: path,
                    reason: e.to_string(),
                })?
            }
        };
        let event_log = env.event_log()?;
        let http = env.http()?;
        let min_seq_wait = Duration::from_millis(env.parse("MIN_SEQ_WAIT_MS", 5000)?);
        if min_seq_wait >= http.request_timeout {
            // The request's deadline would end the wait first, as a 408 instead of a 503.
            return Err(ConfigError {
                var: "MIN_SEQ_WAIT_MS",
                value: min_seq_wait.as_millis().to_string(),
                reason: format!("must be shorter than HTTP_REQUEST_TIMEOUT_MS ({})", http.request_timeout.as_millis()),
            });
        }
        let projector = env.parse("PROJECTOR", true)?;
        let receipts_consumer = env.string("RECEIPTS_CONSUMER", "projection-receipts");
        if receipts_consumer.is_empty()
            || !receipts_consumer.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(ConfigError {
                var: "RECEIPTS_CONSUMER",
                value: receipts_consumer,
                reason: "use A-Z, a-z, 0-9, _ or -".into(),
            });
        }
        Ok(Self {
            listen: env.socket_addr("PROJECTION_ADDR", "127.0.0.1:8081")?,
            admin_listen: env.socket_addr("PROJECTION_ADMIN_ADDR", "127.0.0.1:9081")?,
            http,
            database_url: env.string("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/ehelpdesk"),
            database_max_connections: positive(env, "DATABASE_MAX_CONNECTIONS", 16)?,
            schema,
            event_log: event_log.clone(),
            consumer: env.string("CONSUMER_NAME", "projection"),
            batch_size: env.parse("BATCH_SIZE", 500)?,
            rebuild_batch_size: env.parse("REBUILD_BATCH_SIZE", 2000)?,
            notify: NotifyConfig::from_env(env, event_log.replicas)?,
            working_week,
            holidays,
            resolution_target_days: env.parse("RESOLUTION_TARGET_DAYS", 5)?,
            min_seq_wait,
            min_seq_waiters: env.parse("MIN_SEQ_WAITERS", 256)?,
            projector,
            relay_outbox: env.parse("OUTBOX_RELAY", true)?,
            receipts: env.parse("RECEIPTS", projector)?,
            receipts_consumer,
            assignment_batch: Duration::from_secs(env.parse("ASSIGNMENT_BATCH_SECS", 120)?),
            daily_digest_at: daily_digest_at(env)?,
            export_max_concurrent: positive(env, "EXPORT_MAX_CONCURRENT", 4)?,
            export_write_timeout: Duration::from_secs(positive(env, "EXPORT_WRITE_TIMEOUT_SECS", 30)?),
            verify_max_behind: env.parse("VERIFY_MAX_BEHIND", 1000)?,
            verify_stall_wait: Duration::from_secs(env.parse("VERIFY_STALL_SECS", 10)?),
            auth: AuthConfig::from_env(env)?,
        })
    }
}

/// A number that must not be zero: a pool of no connections, no export ever allowed or a
/// write timeout of nothing is a mistake, not a setting.
fn positive<F, T>(env: &Env<F>, var: &'static str, default: T) -> Result<T, ConfigError>
where
    F: Fn(&str) -> Option<String>,
    T: std::str::FromStr + PartialEq + From<u8> + ToString,
    T::Err: std::fmt::Display,
{
    let value = env.parse(var, default)?;
    if value == T::from(0) {
        return Err(ConfigError { var, value: value.to_string(), reason: "at least 1".into() });
    }
    Ok(value)
}

fn daily_digest_at<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<chrono::NaiveTime>, ConfigError> {
    match env.string("DAILY_DIGEST_AT", "08:00").as_str() {
        "off" => Ok(None),
        value => chrono::NaiveTime::parse_from_str(value, "%H:%M").map(Some).map_err(|e| ConfigError {
            var: "DAILY_DIGEST_AT",
            value: value.to_owned(),
            reason: format!("HH:MM (Malaysian time) or off: {e}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_env(&Env(|name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())))
    }

    #[test]
    fn pool_and_export_limits_have_defaults_and_refuse_zero() {
        let defaults = settings(&[]).unwrap();
        assert_eq!(defaults.database_max_connections, 16);
        assert_eq!(defaults.export_max_concurrent, 4);
        assert_eq!(defaults.export_write_timeout, Duration::from_secs(30));
        let set = settings(&[
            ("DATABASE_MAX_CONNECTIONS", "8"),
            ("EXPORT_MAX_CONCURRENT", "2"),
            ("EXPORT_WRITE_TIMEOUT_SECS", "5"),
        ])
        .unwrap();
        assert_eq!(
            (set.database_max_connections, set.export_max_concurrent, set.export_write_timeout),
            (8, 2, Duration::from_secs(5))
        );
        for var in ["DATABASE_MAX_CONNECTIONS", "EXPORT_MAX_CONCURRENT", "EXPORT_WRITE_TIMEOUT_SECS"] {
            assert_eq!(settings(&[(var, "0")]).unwrap_err().var, var);
        }
        assert_eq!(settings(&[("EXPORT_MAX_CONCURRENT", "-1")]).unwrap_err().var, "EXPORT_MAX_CONCURRENT");
        assert_eq!(settings(&[("DAILY_DIGEST_AT", "8am")]).unwrap_err().var, "DAILY_DIGEST_AT");
        assert_eq!(settings(&[("DAILY_DIGEST_AT", "off")]).unwrap().daily_digest_at, None);
        assert_eq!(settings(&[]).unwrap().daily_digest_at, chrono::NaiveTime::from_hms_opt(8, 0, 0));
    }

    #[test]
    fn defaults_work_locally() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.admin_listen.to_string(), "127.0.0.1:9081");
        assert_eq!(s.min_seq_waiters, 256);
        assert!(s.projector);
        assert!(s.receipts);
        assert_eq!(s.receipts_consumer, "projection-receipts");
    }

    #[test]
    fn receipts_follow_the_projector_unless_told() {
        assert!(!settings(&[("PROJECTOR", "false")]).unwrap().receipts);
        assert!(settings(&[("PROJECTOR", "false"), ("RECEIPTS", "true")]).unwrap().receipts);
        assert!(!settings(&[("RECEIPTS", "false")]).unwrap().receipts);
        assert_eq!(settings(&[("RECEIPTS_CONSUMER", "a.b")]).unwrap_err().var, "RECEIPTS_CONSUMER");
    }

    #[test]
    fn a_min_seq_wait_must_end_before_the_request_deadline() {
        let err = settings(&[("MIN_SEQ_WAIT_MS", "30000")]).unwrap_err();
        assert_eq!(err.var, "MIN_SEQ_WAIT_MS");
        settings(&[("MIN_SEQ_WAIT_MS", "30000"), ("HTTP_REQUEST_TIMEOUT_MS", "60000")]).unwrap();
    }
}
