//! Settings from the environment, checked at start: a wrong value stops the app with the
//! variable's name.

use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

use ehelpdesk_shared::auth::AuthConfig;
use ehelpdesk_shared::config::{ConfigError, Env};
use ehelpdesk_shared::http::serve::HttpSettings;
use url::Url;

#[derive(Debug, Clone)]
pub struct Settings {
    /// `WEB_ADDR`, default 127.0.0.1:8082.
    pub listen: SocketAddr,
    /// `COMMAND_URL`, default http://127.0.0.1:8080: the command service.
    pub command_url: Url,
    /// `QUERY_URL`, default http://127.0.0.1:8081: the query (projection) service.
    pub query_url: Url,
    /// `PUBLIC_BASE_URL`, default http://127.0.0.1:8082: where people reach this app. Cookies
    /// are `Secure` when it is https.
    pub public_base_url: Url,
    /// `APP_ENV=production`: the portal's sign-in only, no development picker.
    pub production: bool,
    /// `WEB_SESSION_SECRET`: the key CSRF tokens are made with. Required in production (at
    /// least 32 characters); in development a random one per start.
    pub session_secret: SessionSecret,
    /// `MYPKN_SIGN_IN_URL`: the portal's page that signs a person in and posts their token back
    /// to `/masuk/mypkn` (docs/security.md, "Signing in to the web app").
    pub portal_sign_in_url: Option<Url>,
    /// `WEB_API_TIMEOUT_MS`, default 10000: the longest a call to either service may take.
    pub api_timeout: Duration,
    /// The token rules the services use (JWT_*): the app checks a portal token before it
    /// keeps it, and in development mints the picker's tokens with the development secret.
    pub auth: AuthConfig,
    pub http: HttpSettings,
}

/// A key that never reaches a log line.
#[derive(Clone)]
pub struct SessionSecret(pub Vec<u8>);

impl fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SessionSecret(<redacted>)")
    }
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let auth = AuthConfig::from_env(env)?;
        let production = auth.production;
        Ok(Self {
            listen: env.socket_addr("WEB_ADDR", "127.0.0.1:8082")?,
            command_url: url(env, "COMMAND_URL", "http://127.0.0.1:8080")?,
            query_url: url(env, "QUERY_URL", "http://127.0.0.1:8081")?,
            public_base_url: url(env, "PUBLIC_BASE_URL", "http://127.0.0.1:8082")?,
            production,
            session_secret: session_secret(env, production)?,
            portal_sign_in_url: match env.string("MYPKN_SIGN_IN_URL", "") {
                value if value.is_empty() => None,
                _ => Some(url(env, "MYPKN_SIGN_IN_URL", "")?),
            },
            api_timeout: Duration::from_millis(env.parse("WEB_API_TIMEOUT_MS", 10_000)?),
            http: env.http()?,
            auth,
        })
    }

    /// Whether cookies must travel over TLS only.
    pub fn secure_cookies(&self) -> bool {
        self.public_base_url.scheme() == "https"
    }
}

fn url<F: Fn(&str) -> Option<String>>(env: &Env<F>, var: &'static str, default: &str) -> Result<Url, ConfigError> {
    let value = env.string(var, default);
    let parsed = Url::parse(&value).map_err(|e| ConfigError { var, value: value.clone(), reason: e.to_string() })?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        _ => Err(ConfigError { var, value, reason: "an http:// or https:// URL".into() }),
    }
}

fn session_secret<F: Fn(&str) -> Option<String>>(env: &Env<F>, production: bool) -> Result<SessionSecret, ConfigError> {
    let configured = env.string("WEB_SESSION_SECRET", "");
    match (configured.len(), production) {
        (0, false) => Ok(SessionSecret(rand::random::<[u8; 32]>().to_vec())),
        (0, true) => Err(ConfigError {
            var: "WEB_SESSION_SECRET",
            value: String::new(),
            reason: "required with APP_ENV=production (at least 32 random characters)".into(),
        }),
        (n, true) if n < 32 => Err(ConfigError {
            var: "WEB_SESSION_SECRET",
            value: "(hidden)".into(),
            reason: "use at least 32 random characters in production".into(),
        }),
        _ => Ok(SessionSecret(configured.into_bytes())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_env(&Env(move |k: &str| map.get(k).cloned()))
    }

    #[test]
    fn development_needs_nothing() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.listen.to_string(), "127.0.0.1:8082");
        assert!(!s.production && !s.secure_cookies());
        assert_eq!(s.session_secret.0.len(), 32);
    }

    #[test]
    fn production_needs_a_session_secret_and_names_it() {
        let base = [("APP_ENV", "production"), ("JWT_HS256_SECRET", "0123456789abcdef0123456789abcdef-portal")];
        let err = settings(&base).unwrap_err();
        assert_eq!(err.var, "WEB_SESSION_SECRET");
        let short = [base[0], base[1], ("WEB_SESSION_SECRET", "short")];
        assert_eq!(settings(&short).unwrap_err().var, "WEB_SESSION_SECRET");
        let good = [base[0], base[1], ("WEB_SESSION_SECRET", "a-session-secret-of-at-least-32-chars")];
        assert!(settings(&good).unwrap().production);
    }

    #[test]
    fn urls_are_checked_by_name() {
        assert_eq!(settings(&[("QUERY_URL", "not a url")]).unwrap_err().var, "QUERY_URL");
        assert_eq!(settings(&[("COMMAND_URL", "ftp://x")]).unwrap_err().var, "COMMAND_URL");
        assert!(settings(&[("PUBLIC_BASE_URL", "https://helpdesk.example.gov.my")]).unwrap().secure_cookies());
    }
}
