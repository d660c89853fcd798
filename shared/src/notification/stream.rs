//! The NOTIFY stream: notifications to deliver, one subject per channel, and the receipts
//! workers send back, on subjects of their own so that each side can filter on one subject
//! (NATS 2.9 allows a consumer a single filter).

use std::time::Duration;

use async_nats::jetstream::stream::{self, StorageType};

use super::Channel;
use crate::config::{ConfigError, Env};

/// Where notifications go: `<prefix>.<channel>` to deliver, `<prefix>.receipt.<channel>` for
/// their outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// `NOTIFY_STREAM`, default `NOTIFY`.
    pub stream: String,
    /// `NOTIFY_SUBJECT_PREFIX`, default `notify`.
    pub subject_prefix: String,
    /// `STREAM_REPLICAS`, as for every stream the services create.
    pub replicas: usize,
}

/// The token between the prefix and the channel that marks a receipt.
const RECEIPT: &str = "receipt";

impl NotifyConfig {
    pub fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>, replicas: usize) -> Result<Self, ConfigError> {
        let config = Self {
            stream: env.string("NOTIFY_STREAM", "NOTIFY"),
            subject_prefix: env.string("NOTIFY_SUBJECT_PREFIX", "notify"),
            replicas,
        };
        let token_ok =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !token_ok(&config.stream) {
            return Err(ConfigError {
                var: "NOTIFY_STREAM",
                value: config.stream,
                reason: "use A-Z, a-z, 0-9, _ or -".into(),
            });
        }
        if !config.subject_prefix.split('.').all(token_ok) {
            return Err(ConfigError {
                var: "NOTIFY_SUBJECT_PREFIX",
                value: config.subject_prefix,
                reason: "dot-separated tokens of A-Z, a-z, 0-9, _ or -".into(),
            });
        }
        Ok(config)
    }

    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            storage: StorageType::File,
            num_replicas: self.replicas,
            // Longer than any outage of the relay between publish and stamp.
            duplicate_window: Duration::from_secs(600),
            max_age: Duration::from_secs(30 * 24 * 3600),
            ..Default::default()
        }
    }

    /// Where a notification for `channel` is published.
    pub fn deliver_subject(&self, channel: Channel) -> String {
        format!("{}.{}", self.subject_prefix, channel.as_str())
    }

    /// Every notification to deliver, on every channel: `<prefix>.*` holds exactly the
    /// channel subjects, since receipts have one token more.
    pub fn all_deliveries(&self) -> String {
        format!("{}.*", self.subject_prefix)
    }

    pub fn receipt_subject(&self, channel: Channel) -> String {
        format!("{}.{RECEIPT}.{}", self.subject_prefix, channel.as_str())
    }

    pub fn all_receipts(&self) -> String {
        format!("{}.{RECEIPT}.>", self.subject_prefix)
    }

    /// The key-value bucket in which workers record each delivery attempt and its outcome.
    pub fn deliveries_bucket(&self) -> String {
        format!("{}_deliveries", self.stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env(move |k: &str| pairs.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string()))
    }

    #[test]
    fn deliveries_and_receipts_never_share_a_subject() {
        let c = NotifyConfig::from_env(&env(&[]), 1).unwrap();
        assert_eq!(c.deliver_subject(Channel::Email), "notify.email");
        assert_eq!(c.receipt_subject(Channel::WhatsApp), "notify.receipt.whatsapp");
        assert_eq!(c.all_deliveries(), "notify.*");
        assert_eq!(c.all_receipts(), "notify.receipt.>");
        assert_eq!(c.deliveries_bucket(), "NOTIFY_deliveries");
        let matches = |filter: &str, subject: &str| {
            let (f, s): (Vec<_>, Vec<_>) = (filter.split('.').collect(), subject.split('.').collect());
            (f.last() == Some(&">")
                && s.len() >= f.len()
                && f[..f.len() - 1].iter().zip(&s).all(|(a, b)| *a == "*" || a == b))
                || (f.len() == s.len() && f.iter().zip(&s).all(|(a, b)| *a == "*" || a == b))
        };
        for channel in Channel::ALL {
            assert!(matches(&c.all_deliveries(), &c.deliver_subject(channel)));
            assert!(!matches(&c.all_deliveries(), &c.receipt_subject(channel)));
            assert!(matches(&c.all_receipts(), &c.receipt_subject(channel)));
            assert!(!matches(&c.all_receipts(), &c.deliver_subject(channel)));
        }
    }

    #[test]
    fn bad_names_name_the_variable() {
        assert_eq!(NotifyConfig::from_env(&env(&[("NOTIFY_STREAM", "A.B")]), 1).unwrap_err().var, "NOTIFY_STREAM");
        let err = NotifyConfig::from_env(&env(&[("NOTIFY_SUBJECT_PREFIX", "n.>")]), 1).unwrap_err();
        assert_eq!(err.var, "NOTIFY_SUBJECT_PREFIX");
    }
}
