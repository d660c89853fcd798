//! The command service's settings (environment variables; see README's table).

use std::net::SocketAddr;

use ehelpdesk_shared::auth::AuthConfig;
use ehelpdesk_shared::config::{ConfigError, Env, EventLogConfig};
use ehelpdesk_shared::http::serve::HttpSettings;
use ehelpdesk_shared::notification::NotifyConfig;

use crate::rate_limit::RateLimit;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `COMMAND_ADDR`, default 127.0.0.1:8080. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// `COMMAND_ADMIN_ADDR`, default 127.0.0.1:9080: `/metrics`, kept off the public port.
    pub admin_listen: SocketAddr,
    pub http: HttpSettings,
    pub event_log: EventLogConfig,
    /// `AGGREGATE_CACHE_SIZE`: complaints (and staff) whose state is kept in memory.
    pub cache_capacity: usize,
    pub auth: AuthConfig,
    pub rate_limit: RateLimit,
    /// `COMPLAINT_ID_SECRET`: keys the complaint id derived from a client's Idempotency-Key,
    /// so that nobody can predict another person's complaint id. Every instance needs the
    /// same one (a retry may reach any of them); production refuses the development one.
    pub complaint_id_secret: String,
    /// `NOTIFY_STREAM`, `NOTIFY_SUBJECT_PREFIX`: where an admin's retry of a dead-lettered
    /// notification reads its delivery record and publishes it again. This service creates
    /// neither the stream nor the bucket (the relay and the notifier do).
    pub notify: NotifyConfig,
}

/// Known to everyone, so refused in production.
pub const DEVELOPMENT_COMPLAINT_ID_SECRET: &str = "ehelpdesk-development-complaint-ids-not-for-production";

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let event_log = env.event_log()?;
        Ok(Self {
            notify: NotifyConfig::from_env(env, event_log.replicas)?,
            listen: env.socket_addr("COMMAND_ADDR", "127.0.0.1:8080")?,
            admin_listen: env.socket_addr("COMMAND_ADMIN_ADDR", "127.0.0.1:9080")?,
            http: env.http()?,
            event_log,
            cache_capacity: env.parse("AGGREGATE_CACHE_SIZE", 10_000)?,
            auth: AuthConfig::from_env(env)?,
            rate_limit: RateLimit {
                per_second: env.parse("RATE_LIMIT_PER_SECOND", 10)?,
                burst: env.parse("RATE_LIMIT_BURST", 30)?,
            },
            complaint_id_secret: complaint_id_secret(env)?,
        })
    }
}

fn complaint_id_secret<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<String, ConfigError> {
    let secret = env.string("COMPLAINT_ID_SECRET", DEVELOPMENT_COMPLAINT_ID_SECRET);
    let production = env.string("APP_ENV", "development") == "production";
    if production && (secret == DEVELOPMENT_COMPLAINT_ID_SECRET || secret.len() < 32) {
        return Err(ConfigError {
            var: "COMPLAINT_ID_SECRET",
            value: "(hidden)".into(),
            reason: "production needs at least 32 random bytes, the same on every instance".into(),
        });
    }
    Ok(secret)
}
