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

/// The NATS servers to connect to, from `NATS_URL`: one URL or a comma-separated list, as
/// NATS clients conventionally take them. With a list the client tries the next server when
/// one is down, so a service (re)started while one node is down still connects as long as
/// the cluster has the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsServers(Vec<async_nats::ServerAddr>);

/// One entry of `NATS_URL` that is not a NATS server address.
#[derive(Debug, thiserror::Error)]
#[error("server {position} `{entry}`: {reason}")]
pub struct BadNatsServer {
    /// 1-based, as an operator counts the entries.
    pub position: usize,
    pub entry: String,
    pub reason: String,
}

impl std::str::FromStr for NatsServers {
    type Err = BadNatsServer;

    /// Every entry is checked here, at start, so that a typo in the third URL is reported
    /// now and not on the day the first two nodes are down.
    fn from_str(list: &str) -> Result<Self, Self::Err> {
        let mut servers = vec![];
        for (i, entry) in list.split(',').enumerate() {
            let entry = entry.trim();
            let bad = |reason: String| BadNatsServer { position: i + 1, entry: entry.to_owned(), reason };
            if entry.is_empty() {
                return Err(bad("empty entry".into()));
            }
            let addr: async_nats::ServerAddr = entry.parse().map_err(|e: std::io::Error| bad(e.to_string()))?;
            if addr.host().is_empty() {
                return Err(bad("no host".into()));
            }
            servers.push(addr);
        }
        Ok(Self(servers))
    }
}

impl NatsServers {
    pub fn addrs(&self) -> &[async_nats::ServerAddr] {
        &self.0
    }
}

/// Back to the `NATS_URL` form: comma-separated URLs (what a child process is given).
impl std::fmt::Display for NatsServers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<&str> = self.0.iter().map(|a| a.as_url_str()).collect();
        f.write_str(&urls.join(","))
    }
}

/// Lets `async_nats::connect(&config.nats_url)` and `ConnectOptions::connect` take the list.
impl async_nats::ToServerAddrs for NatsServers {
    type Iter = std::vec::IntoIter<async_nats::ServerAddr>;
    fn to_server_addrs(&self) -> std::io::Result<Self::Iter> {
        Ok(self.0.clone().into_iter())
    }
}

/// Where the event log lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLogConfig {
    /// `NATS_URL`: one or more servers of the same cluster.
    pub nats_url: NatsServers,
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
        let nats_url = self.string("NATS_URL", "nats://127.0.0.1:4222");
        let config = EventLogConfig {
            nats_url: nats_url.parse().map_err(|e: BadNatsServer| ConfigError {
                var: "NATS_URL",
                value: nats_url.clone(),
                reason: e.to_string(),
            })?,
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
        assert_eq!(c.nats_url.to_string(), "nats://127.0.0.1:4222");
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
    fn nats_url_takes_a_comma_separated_list() {
        let c = env(&[("NATS_URL", "nats://a:4222, nats://b:4223 ,c")]).event_log().unwrap();
        let hosts: Vec<_> = c.nats_url.addrs().iter().map(|a| (a.host().to_owned(), a.port())).collect();
        assert_eq!(hosts, [("a".into(), 4222), ("b".into(), 4223), ("c".to_owned(), 4222)]);
        assert_eq!(c.nats_url.to_string(), "nats://a:4222,nats://b:4223,nats://c");
        // The display form parses back to the same list (children are given it as NATS_URL).
        assert_eq!(c.nats_url.to_string().parse::<NatsServers>().unwrap(), c.nats_url);
        let tls = env(&[("NATS_URL", "tls://n1.example:4222")]).event_log().unwrap();
        assert!(tls.nats_url.addrs()[0].tls_required());
    }

    #[test]
    fn a_bad_nats_url_entry_is_named() {
        for (value, position, entry) in [
            ("nats://a:4222,http://b:4222", 2, "http://b:4222"),
            ("nats://a:4222,,nats://c:4222", 2, ""),
            ("nats://a:4222,nats://b:99999", 2, "nats://b:99999"),
            ("nats://a:4222,nats://b:4222,", 3, ""),
            ("nats://:4222", 1, "nats://:4222"),
        ] {
            let err = env(&[("NATS_URL", value)]).event_log().unwrap_err();
            assert_eq!(err.var, "NATS_URL", "{value}");
            assert_eq!(err.value, value);
            let bad = value.parse::<NatsServers>().unwrap_err();
            assert_eq!((bad.position, bad.entry.as_str()), (position, entry), "{value}");
            assert!(err.reason.contains(&format!("server {position} `{entry}`")), "{err}");
        }
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
