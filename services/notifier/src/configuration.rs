//! The notifier's settings (environment variables; see README's table). Every value is
//! checked here, at start, and a bad one is refused with the variable's name.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ehelpdesk_shared::config::{ConfigError, Env, EventLogConfig};
use ehelpdesk_shared::http::serve::HttpSettings;
use ehelpdesk_shared::notification::NotifyConfig;
use lettre::message::Mailbox;

use crate::quiet_hours::QuietHours;
use url::Url;

/// How e-mail leaves: `MAIL_DELIVERY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailDelivery {
    /// `smtp`: to the server at `SMTP_URL` (`smtp://host:587?tls=required` for STARTTLS,
    /// `smtps://user:password@host:465` for implicit TLS with AUTH; lettre's URL form).
    Smtp { url: String },
    /// `files` (the development default): each message as `<notification id>.eml` in `MAIL_DIR`.
    Files { dir: PathBuf },
}

/// How WhatsApp messages leave: `WHATSAPP_DELIVERY`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WhatsAppDelivery {
    /// `cloud-api`: template messages through the WhatsApp Business Cloud API.
    CloudApi(CloudApi),
    /// `files` (the development default): each request body as `<notification id>.json` in
    /// `WHATSAPP_DIR`.
    Files { dir: PathBuf },
    /// `off`: WhatsApp notifications are recorded as dead letters with the reason.
    Off,
}

#[derive(Clone, PartialEq, Eq)]
pub struct CloudApi {
    /// `WHATSAPP_API_BASE`, default `https://graph.facebook.com`.
    pub base: Url,
    /// `WHATSAPP_API_VERSION`, default `v21.0`.
    pub version: String,
    /// `WHATSAPP_PHONE_NUMBER_ID`: the business number's id in WhatsApp Manager.
    pub phone_number_id: String,
    /// `WHATSAPP_TOKEN`: a system user's access token. Never logged.
    pub token: String,
    /// `WHATSAPP_LANGUAGE`, default `ms` (Malay): the templates' language code.
    pub language: String,
}

impl std::fmt::Debug for CloudApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudApi")
            .field("base", &self.base.as_str())
            .field("version", &self.version)
            .field("phone_number_id", &self.phone_number_id)
            .field("token", &"***")
            .field("language", &self.language)
            .finish()
    }
}

/// Retries of a transient failure: `base * 2^(attempt-1)` with jitter, at most `max`, and
/// `attempts` in all before the notification is dead-lettered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// `NOTIFIER_MAX_ATTEMPTS`, default 12: with the default waits, about half an hour of
    /// retries, so a mail server down for minutes dead-letters nothing.
    pub attempts: u32,
    /// `NOTIFIER_RETRY_BASE_MS`, default 2000.
    pub base: Duration,
    /// `NOTIFIER_RETRY_MAX_MS`, default 600000 (10 minutes).
    pub max: Duration,
}

#[derive(Debug, Clone)]
pub struct Settings {
    /// `NOTIFIER_ADDR`, default 127.0.0.1:8083: `/healthz` and `/readyz`.
    pub listen: SocketAddr,
    /// `NOTIFIER_ADMIN_ADDR`, default 127.0.0.1:9083: `/metrics`.
    pub admin_listen: SocketAddr,
    pub http: HttpSettings,
    pub event_log: EventLogConfig,
    pub notify: NotifyConfig,
    /// `NOTIFIER_CONSUMER`, default `notifier`: the durable consumer every instance shares.
    pub consumer: String,
    /// `NOTIFIER_CONCURRENCY`, default 32: notifications in hand at once per instance. More
    /// than the SMTP connections, so that while some wait on NATS (claim, outcome) others use
    /// the connections.
    pub concurrency: usize,
    /// `NOTIFIER_SMTP_CONNECTIONS`, default 16: SMTP connections pooled per instance.
    pub smtp_connections: u32,
    /// `NOTIFIER_ACK_WAIT_SECS`, default 30: how long JetStream waits for an instance's answer
    /// before offering the message to another; a worker sending longer reports progress.
    pub ack_wait: Duration,
    /// `NOTIFIER_LEASE_SECS`, default 120: a claim older than this whose worker never said
    /// how it ended is taken to be a worker that died mid-send. Longer than any send.
    pub lease: Duration,
    pub retry: RetryPolicy,
    /// `NOTIFIER_SEND_TIMEOUT_SECS`, default 30: one SMTP transaction or Cloud API request.
    pub send_timeout: Duration,
    pub mail: MailDelivery,
    /// `MAIL_FROM`, default `eHelpdesk iSPEKS <ehelpdesk@localhost>`.
    pub mail_from: Mailbox,
    /// `MAIL_REPLY_TO`, default the same as `MAIL_FROM`.
    pub mail_reply_to: Mailbox,
    /// `PUBLIC_BASE_URL`, default `http://127.0.0.1:8082`: where the web app shows a
    /// complaint (`<base>/complaints/<id>`), linked from every message.
    pub public_base_url: Url,
    pub whatsapp: WhatsAppDelivery,
    /// `NOTIFIER_EMAIL_PER_SECOND`, default 20, and `NOTIFIER_WHATSAPP_PER_SECOND`, default
    /// 20: sends per second per instance, so that a backlog after an outage does not trip
    /// the provider's limits (the Cloud API's default is 80 a second per number).
    pub email_per_second: u32,
    pub whatsapp_per_second: u32,
    /// `WHATSAPP_QUIET_HOURS`, default `22:00-07:00` (Malaysian time); `off` for none.
    pub quiet_hours: Option<QuietHours>,
    /// `NOTIFIER_HOLD_RECHECK_SECS`, default 86400: the longest a held message waits before it
    /// is looked at again (the end of the quiet hours comes first; tests that move the clock
    /// make it short).
    pub hold_recheck: Duration,
    /// `NOTIFIER_FAULT` (tests only, refused with `APP_ENV=production`): `hang-before-ack`
    /// or `hang-before-send`, to kill a worker at a chosen point.
    pub fault: Option<Fault>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// After the provider accepted and the outcome is recorded, never ack.
    HangBeforeAck,
    /// After the claim is recorded, never send.
    HangBeforeSend,
}

impl Settings {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let event_log = env.event_log()?;
        let production = env.string("APP_ENV", "development") == "production";
        let notify = NotifyConfig::from_env(env, event_log.replicas)?;
        let mail_from = mailbox(env, "MAIL_FROM", "eHelpdesk iSPEKS <ehelpdesk@localhost>")?;
        let mail_reply_to = match env.string("MAIL_REPLY_TO", "").as_str() {
            "" => mail_from.clone(),
            _ => mailbox(env, "MAIL_REPLY_TO", "")?,
        };
        Ok(Self {
            listen: env.socket_addr("NOTIFIER_ADDR", "127.0.0.1:8083")?,
            admin_listen: env.socket_addr("NOTIFIER_ADMIN_ADDR", "127.0.0.1:9083")?,
            http: env.http()?,
            event_log,
            notify,
            consumer: env.string("NOTIFIER_CONSUMER", "notifier"),
            concurrency: at_least_one(env, "NOTIFIER_CONCURRENCY", 32)? as usize,
            smtp_connections: at_least_one(env, "NOTIFIER_SMTP_CONNECTIONS", 16)? as u32,
            ack_wait: Duration::from_secs(at_least_one(env, "NOTIFIER_ACK_WAIT_SECS", 30)?),
            lease: Duration::from_secs(at_least_one(env, "NOTIFIER_LEASE_SECS", 120)?),
            retry: RetryPolicy {
                attempts: at_least_one(env, "NOTIFIER_MAX_ATTEMPTS", 12)? as u32,
                base: Duration::from_millis(at_least_one(env, "NOTIFIER_RETRY_BASE_MS", 2000)?),
                max: Duration::from_millis(at_least_one(env, "NOTIFIER_RETRY_MAX_MS", 600_000)?),
            },
            send_timeout: Duration::from_secs(at_least_one(env, "NOTIFIER_SEND_TIMEOUT_SECS", 30)?),
            mail: mail_delivery(env, production)?,
            mail_from,
            mail_reply_to,
            public_base_url: http_url(env, "PUBLIC_BASE_URL", "http://127.0.0.1:8082")?,
            whatsapp: whatsapp_delivery(env, production)?,
            email_per_second: at_least_one(env, "NOTIFIER_EMAIL_PER_SECOND", 20)? as u32,
            whatsapp_per_second: at_least_one(env, "NOTIFIER_WHATSAPP_PER_SECOND", 20)? as u32,
            quiet_hours: quiet_hours(env)?,
            hold_recheck: Duration::from_secs(at_least_one(env, "NOTIFIER_HOLD_RECHECK_SECS", 86_400)?),
            fault: fault(env, production)?,
        })
    }
}

fn at_least_one<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    var: &'static str,
    default: u64,
) -> Result<u64, ConfigError> {
    let value = env.parse(var, default)?;
    if value == 0 {
        return Err(ConfigError { var, value: "0".into(), reason: "at least 1".into() });
    }
    Ok(value)
}

fn mailbox<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    var: &'static str,
    default: &str,
) -> Result<Mailbox, ConfigError> {
    let value = env.string(var, default);
    value.parse().map_err(|e: lettre::address::AddressError| ConfigError {
        var,
        reason: format!("not a mailbox such as `eHelpdesk <helpdesk@example.gov.my>`: {e}"),
        value,
    })
}

/// An absolute http(s) URL; the trailing slash is dropped so that paths join cleanly.
fn http_url<F: Fn(&str) -> Option<String>>(env: &Env<F>, var: &'static str, default: &str) -> Result<Url, ConfigError> {
    let value = env.string(var, default);
    let bad = |reason: String| ConfigError { var, value: value.clone(), reason };
    let url = Url::parse(value.trim_end_matches('/')).map_err(|e| bad(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(bad("an absolute http:// or https:// URL".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("no query or fragment".into()));
    }
    Ok(url)
}

fn mail_delivery<F: Fn(&str) -> Option<String>>(env: &Env<F>, production: bool) -> Result<MailDelivery, ConfigError> {
    let mode = env.string("MAIL_DELIVERY", if production { "smtp" } else { "files" });
    match mode.as_str() {
        "smtp" => {
            let url = env.string("SMTP_URL", "");
            let bad =
                |reason: &str| ConfigError { var: "SMTP_URL", value: redact_password(&url), reason: reason.into() };
            if url.is_empty() {
                return Err(bad("required with MAIL_DELIVERY=smtp, e.g. smtp://mail.example.gov.my:587?tls=required"));
            }
            // lettre reads the URL itself; parse it here too, to name the variable.
            lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(&url)
                .map_err(|e| bad(&format!("not an SMTP URL (smtp:// or smtps://): {e}")))?;
            Ok(MailDelivery::Smtp { url })
        }
        "files" => Ok(MailDelivery::Files { dir: env.string("MAIL_DIR", ".data/mail").into() }),
        _ => Err(ConfigError { var: "MAIL_DELIVERY", value: mode, reason: "smtp or files".into() }),
    }
}

fn whatsapp_delivery<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    production: bool,
) -> Result<WhatsAppDelivery, ConfigError> {
    let mode = env.string("WHATSAPP_DELIVERY", if production { "cloud-api" } else { "files" });
    match mode.as_str() {
        "cloud-api" => {
            let required = |var: &'static str| {
                let value = env.string(var, "");
                match value.is_empty() {
                    true => Err(ConfigError { var, value, reason: "required with WHATSAPP_DELIVERY=cloud-api".into() }),
                    false => Ok(value),
                }
            };
            let phone_number_id = required("WHATSAPP_PHONE_NUMBER_ID")?;
            if !phone_number_id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ConfigError {
                    var: "WHATSAPP_PHONE_NUMBER_ID",
                    value: phone_number_id,
                    reason: "digits only".into(),
                });
            }
            let token = required("WHATSAPP_TOKEN").map_err(|e| ConfigError { value: String::new(), ..e })?;
            let version = env.string("WHATSAPP_API_VERSION", "v21.0");
            if !(version.starts_with('v')
                && version[1..].split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())))
            {
                return Err(ConfigError { var: "WHATSAPP_API_VERSION", value: version, reason: "like v21.0".into() });
            }
            Ok(WhatsAppDelivery::CloudApi(CloudApi {
                base: http_url(env, "WHATSAPP_API_BASE", "https://graph.facebook.com")?,
                version,
                phone_number_id,
                token,
                language: env.string("WHATSAPP_LANGUAGE", "ms"),
            }))
        }
        "files" => Ok(WhatsAppDelivery::Files { dir: env.string("WHATSAPP_DIR", ".data/whatsapp").into() }),
        "off" => Ok(WhatsAppDelivery::Off),
        _ => Err(ConfigError { var: "WHATSAPP_DELIVERY", value: mode, reason: "cloud-api, files or off".into() }),
    }
}

fn quiet_hours<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Option<QuietHours>, ConfigError> {
    match env.string("WHATSAPP_QUIET_HOURS", "22:00-07:00").as_str() {
        "off" => Ok(None),
        value => value.parse().map(Some).map_err(|reason| ConfigError {
            var: "WHATSAPP_QUIET_HOURS",
            value: value.to_owned(),
            reason: format!("{reason} (Malaysian time), or off"),
        }),
    }
}

fn fault<F: Fn(&str) -> Option<String>>(env: &Env<F>, production: bool) -> Result<Option<Fault>, ConfigError> {
    let value = env.string("NOTIFIER_FAULT", "");
    let fault = match value.as_str() {
        "" => return Ok(None),
        "hang-before-ack" => Fault::HangBeforeAck,
        "hang-before-send" => Fault::HangBeforeSend,
        _ => {
            return Err(ConfigError {
                var: "NOTIFIER_FAULT",
                value,
                reason: "hang-before-ack or hang-before-send".into(),
            });
        }
    };
    if production {
        return Err(ConfigError {
            var: "NOTIFIER_FAULT",
            value,
            reason: "a test hook; refused with APP_ENV=production".into(),
        });
    }
    Ok(Some(fault))
}

/// The URL with its password replaced, for messages and logs.
pub fn redact_password(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_env(&Env(move |k: &str| map.get(k).cloned()))
    }

    #[test]
    fn a_fresh_machine_writes_files() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.mail, MailDelivery::Files { dir: ".data/mail".into() });
        assert_eq!(s.whatsapp, WhatsAppDelivery::Files { dir: ".data/whatsapp".into() });
        assert_eq!(s.public_base_url.as_str(), "http://127.0.0.1:8082/");
        assert_eq!(s.retry, RetryPolicy { attempts: 12, base: Duration::from_secs(2), max: Duration::from_secs(600) });
        assert_eq!(s.mail_reply_to, s.mail_from);
        assert_eq!(s.quiet_hours, Some("22:00-07:00".parse().unwrap()));
        assert_eq!(settings(&[("WHATSAPP_QUIET_HOURS", "off")]).unwrap().quiet_hours, None);
    }

    #[test]
    fn production_wants_real_providers_and_names_what_is_missing() {
        let err = settings(&[("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.var, "SMTP_URL");
        let err =
            settings(&[("APP_ENV", "production"), ("SMTP_URL", "smtp://mail.example:587?tls=required")]).unwrap_err();
        assert_eq!(err.var, "WHATSAPP_PHONE_NUMBER_ID");
        let err = settings(&[("WHATSAPP_DELIVERY", "cloud-api"), ("WHATSAPP_PHONE_NUMBER_ID", "1234")]).unwrap_err();
        assert_eq!(err.var, "WHATSAPP_TOKEN");
        let err = settings(&[("NOTIFIER_FAULT", "hang-before-ack"), ("APP_ENV", "production")]).unwrap_err();
        assert_eq!(err.var, "SMTP_URL", "the providers are checked first");
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (var, value) in [
            ("PUBLIC_BASE_URL", "not a url"),
            ("PUBLIC_BASE_URL", "ftp://x.example"),
            ("PUBLIC_BASE_URL", "http://x.example/?a=1"),
            ("MAIL_FROM", "nobody"),
            ("MAIL_REPLY_TO", "a@b@c"),
            ("MAIL_DELIVERY", "pigeon"),
            ("WHATSAPP_DELIVERY", "sms"),
            ("NOTIFIER_MAX_ATTEMPTS", "0"),
            ("NOTIFIER_CONCURRENCY", "many"),
            ("NOTIFIER_FAULT", "explode"),
            ("WHATSAPP_QUIET_HOURS", "10pm-7am"),
            ("NOTIFIER_EMAIL_PER_SECOND", "0"),
        ] {
            assert_eq!(settings(&[(var, value)]).unwrap_err().var, var, "{var}={value}");
        }
        let err = settings(&[("MAIL_DELIVERY", "smtp"), ("SMTP_URL", "http://user:secret@mail.example")]).unwrap_err();
        assert_eq!(err.var, "SMTP_URL");
        assert!(!err.to_string().contains("secret"), "{err}");
        let cloud = [("WHATSAPP_DELIVERY", "cloud-api"), ("WHATSAPP_PHONE_NUMBER_ID", "1234"), ("WHATSAPP_TOKEN", "t")];
        let err = settings(&[cloud.as_slice(), &[("WHATSAPP_API_BASE", "graph")]].concat()).unwrap_err();
        assert_eq!(err.var, "WHATSAPP_API_BASE");
        let err = settings(&[cloud.as_slice(), &[("WHATSAPP_API_VERSION", "21")]].concat()).unwrap_err();
        assert_eq!(err.var, "WHATSAPP_API_VERSION");
    }

    #[test]
    fn smtp_urls_take_tls_and_auth() {
        for url in ["smtp://127.0.0.1:2525", "smtp://mail.example:587?tls=required", "smtps://user:pw@mail.example:465"]
        {
            let s = settings(&[("MAIL_DELIVERY", "smtp"), ("SMTP_URL", url)]).unwrap();
            assert_eq!(s.mail, MailDelivery::Smtp { url: url.into() });
        }
        let cloud = settings(&[
            ("WHATSAPP_DELIVERY", "cloud-api"),
            ("WHATSAPP_PHONE_NUMBER_ID", "1234"),
            ("WHATSAPP_TOKEN", "secret"),
        ])
        .unwrap();
        assert!(!format!("{:?}", cloud.whatsapp).contains("secret"));
    }
}
