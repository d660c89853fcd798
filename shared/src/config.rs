//! Configuration from environment variables, with defaults that work on a developer's
//! machine. Every variable is listed in README.md's configuration table.

use std::net::SocketAddr;
use std::time::Duration;

use crate::http::serve::HttpSettings;

#[derive(Debug, thiserror::Error)]
#[error("configuration: {var} = `{value}`: {reason}")]
pub struct ConfigError {
    pub var: &'static str,
    pub value: String,
    pub reason: String,
}

/// Where the event log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogConfig {
    pub nats_url: String,
    /// JetStream stream holding every event (`HELPDESK`).
    pub stream: String,
    /// First subject token; events go to `<prefix>.complaint.<id>` and `<prefix>.staff.<id>`.
    pub subject_prefix: String,
    pub replicas: usize,
    /// How long JetStream remembers a `Nats-Msg-Id` to drop duplicate publishes.
    pub duplicate_window: Duration,
}

impl EventLogConfig {
    pub fn subject(&self, kind: &str, id: &impl std::fmt::Display) -> String {
        format!("{}.{kind}.{id}", self.subject_prefix)
    }

    pub fn all_subjects(&self) -> String {
        format!("{}.>", self.subject_prefix)
    }

    /// The key-value bucket holding the per-year complaint number counters.
    pub fn numbers_bucket(&self) -> String {
        format!("{}_numbers", self.stream)
    }

    /// The subject on which number `sequence` of `year` is claimed, in the event stream
    /// itself: `<prefix>.number.<year>.<sequence>`.
    pub fn number_claim_subject(&self, year: i32, sequence: u64) -> String {
        format!("{}.{NUMBER_CLAIMS}.{year}.{sequence}", self.subject_prefix)
    }

    /// Every claim of `year`: a wildcard for "the last one claimed".
    pub fn number_claims_of(&self, year: i32) -> String {
        format!("{}.{NUMBER_CLAIMS}.{year}.*", self.subject_prefix)
    }

    /// (year, sequence) of a claim's subject; None for any other subject.
    pub fn parse_number_claim(&self, subject: &str) -> Option<(i32, u64)> {
        let rest = subject.strip_prefix(&self.subject_prefix)?.strip_prefix('.')?;
        let (year, sequence) = rest.strip_prefix(NUMBER_CLAIMS)?.strip_prefix('.')?.split_once('.')?;
        Some((year.parse().ok()?, sequence.parse().ok()?))
    }
}

/// The subject kind of complaint number claims: not an aggregate's events, but a record in
/// the append-only log that a number was given out, so that it can never be given again.
pub const NUMBER_CLAIMS: &str = "number";

/// Reads variables through `lookup`, so tests can configure without touching the process
/// environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn string(&self, var: &'static str, default: &str) -> String {
        (self.0)(var).filter(|v| !v.is_empty()).unwrap_or_else(|| default.to_owned())
    }

    pub fn parse<T>(&self, var: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        match (self.0)(var).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(value) => value.parse().map_err(|e: T::Err| ConfigError { var, reason: e.to_string(), value }),
        }
    }

    pub fn event_log(&self) -> Result<EventLogConfig, ConfigError> {
        let config = EventLogConfig {
            nats_url: self.string("NATS_URL", "nats://127.0.0.1:4222"),
            stream: self.string("STREAM_NAME", "HELPDESK"),
            subject_prefix: self.string("SUBJECT_PREFIX", "helpdesk"),
            replicas: self.parse("STREAM_REPLICAS", 1)?,
            duplicate_window: Duration::from_secs(self.parse("DUPLICATE_WINDOW_SECS", 120)?),
        };
        let token_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !token_ok(&config.stream) {
            return Err(ConfigError {
                var: "STREAM_NAME",
                value: config.stream,
                reason: "use A-Z, a-z, 0-9, _ or -".into(),
            });
        }
        if !config.subject_prefix.split('.').all(token_ok) {
            return Err(ConfigError {
                var: "SUBJECT_PREFIX",
                value: config.subject_prefix,
                reason: "dot-separated tokens of A-Z, a-z, 0-9, _ or -".into(),
            });
        }
        if !(1..=5).contains(&config.replicas) {
            return Err(ConfigError {
                var: "STREAM_REPLICAS",
                value: config.replicas.to_string(),
                reason: "1 to 5".into(),
            });
        }
        Ok(config)
    }

    /// Limits on HTTP clients, shared by both services.
    pub fn http(&self) -> Result<HttpSettings, ConfigError> {
        let defaults = HttpSettings::default();
        let millis = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            let ms: u64 = self.parse(var, default.as_millis() as u64)?;
            if ms == 0 {
                return Err(ConfigError { var, value: "0".into(), reason: "at least 1 (milliseconds)".into() });
            }
            Ok(Duration::from_millis(ms))
        };
        let max_connections = self.parse("HTTP_MAX_CONNECTIONS", defaults.max_connections)?;
        if max_connections == 0 {
            return Err(ConfigError { var: "HTTP_MAX_CONNECTIONS", value: "0".into(), reason: "at least 1".into() });
        }
        Ok(HttpSettings {
            header_read_timeout: millis("HTTP_HEADER_READ_TIMEOUT_MS", defaults.header_read_timeout)?,
            request_timeout: millis("HTTP_REQUEST_TIMEOUT_MS", defaults.request_timeout)?,
            max_connections,
        })
    }

    pub fn socket_addr(&self, var: &'static str, default: &str) -> Result<SocketAddr, ConfigError> {
        let value = self.string(var, default);
        value.parse().map_err(|e: std::net::AddrParseError| ConfigError { var, reason: e.to_string(), value })
    }
}

/// The process environment.
pub fn from_env() -> Env<impl Fn(&str) -> Option<String>> {
    Env(|var: &str| std::env::var(var).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Env(move |k: &str| map.get(k).cloned())
    }

    #[test]
    fn defaults_work_locally() {
        let c = env(&[]).event_log().unwrap();
        assert_eq!(c.nats_url, "nats://127.0.0.1:4222");
        assert_eq!(c.stream, "HELPDESK");
        assert_eq!(c.subject("complaint", &"abc"), "helpdesk.complaint.abc");
        assert_eq!(c.all_subjects(), "helpdesk.>");
        assert_eq!(c.duplicate_window, Duration::from_secs(120));
        let http = env(&[]).http().unwrap();
        assert_eq!(http.header_read_timeout, Duration::from_secs(10));
        assert_eq!(http.request_timeout, Duration::from_secs(30));
        assert_eq!(http.max_connections, 512);
        let short = env(&[("HTTP_HEADER_READ_TIMEOUT_MS", "250")]).http().unwrap();
        assert_eq!(short.header_read_timeout, Duration::from_millis(250));
    }

    #[test]
    fn number_claim_subjects_round_trip() {
        let c = env(&[]).event_log().unwrap();
        assert_eq!(c.number_claim_subject(2026, 123), "helpdesk.number.2026.123");
        assert_eq!(c.parse_number_claim("helpdesk.number.2026.123"), Some((2026, 123)));
        assert_eq!(c.number_claims_of(2026), "helpdesk.number.2026.*");
        for other in ["helpdesk.complaint.2026.1", "helpdesk.number.x.1", "other.number.2026.1", "helpdesk.number"] {
            assert_eq!(c.parse_number_claim(other), None, "{other}");
        }
    }

    #[test]
    fn bad_values_name_the_variable() {
        let err = env(&[("STREAM_REPLICAS", "three")]).event_log().unwrap_err();
        assert_eq!(err.var, "STREAM_REPLICAS");
        assert_eq!(env(&[("STREAM_NAME", "A.B")]).event_log().unwrap_err().var, "STREAM_NAME");
        assert_eq!(env(&[("SUBJECT_PREFIX", "a.>")]).event_log().unwrap_err().var, "SUBJECT_PREFIX");
        assert_eq!(env(&[("X", "nope")]).socket_addr("X", "127.0.0.1:1").unwrap_err().var, "X");
        assert_eq!(env(&[("HTTP_REQUEST_TIMEOUT_MS", "0")]).http().unwrap_err().var, "HTTP_REQUEST_TIMEOUT_MS");
        assert_eq!(env(&[("HTTP_MAX_CONNECTIONS", "0")]).http().unwrap_err().var, "HTTP_MAX_CONNECTIONS");
    }
}
