//! One notification to one person on one channel, as the outbox relay publishes it on
//! NOTIFY and the notifier reads it. Fields added later are optional, so that a message
//! published by an older relay still decodes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Template;

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    strum::EnumString,
    strum::IntoStaticStr,
    utoipa::ToSchema,
)]
#[schema(as = NotificationChannel)]
#[serde(rename_all = "lowercase")]
#[strum(serialize_all = "lowercase")]
pub enum Channel {
    Email,
    WhatsApp,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::WhatsApp];

    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

impl std::fmt::Display for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotificationMessage {
    /// The outbox row's id: one per (event, recipient, channel), the same on every replay.
    pub id: Uuid,
    pub complaint_id: Uuid,
    /// `ADU-2026-000123`; empty in messages from before it was carried.
    #[serde(default)]
    pub complaint_number: String,
    pub event_type: String,
    /// Which message this is; [`Template::Notice`] for messages from before it was carried.
    #[serde(default)]
    pub template: Template,
    /// The template's body parameters, in order (WhatsApp fills its placeholders with them).
    #[serde(default)]
    pub params: Vec<String>,
    pub recipient_id: String,
    pub recipient_role: String,
    pub channel: Channel,
    /// An e-mail address, or a phone number in E.164 (`+60123456789`).
    pub address: String,
    /// One line, Malay first with English beside it.
    pub subject: String,
    /// Plain text, Malay first with English beside it.
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// 0 as the relay publishes it; n for an admin's n-th retry after a dead letter.
    #[serde(default)]
    pub cycle: u32,
}

impl NotificationMessage {
    /// The `Nats-Msg-Id` it is published with: a retry is a new message, a replay is not.
    pub fn message_id(&self) -> String {
        match self.cycle {
            0 => self.id.to_string(),
            n => format!("{}:retry:{n}", self.id),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_from_the_first_relay_still_decodes() {
        let old = r#"{"id":"0190a0b0-0000-7000-8000-000000000001","complaint_id":"0190a0b0-0000-7000-8000-000000000002",
            "event_type":"ComplaintAssigned","recipient_id":"pic-aminah","recipient_role":"pic","channel":"whatsapp",
            "address":"+60123456789","subject":"s","body":"b","created_at":"2026-11-01T01:02:03Z"}"#;
        let message: NotificationMessage = serde_json::from_str(old).unwrap();
        assert_eq!(message.channel, Channel::WhatsApp);
        assert_eq!(message.template, Template::Notice);
        assert_eq!((message.cycle, message.params.len(), message.complaint_number.as_str()), (0, 0, ""));
        assert_eq!(message.message_id(), "0190a0b0-0000-7000-8000-000000000001");
        let retried = NotificationMessage { cycle: 2, ..message };
        assert_eq!(retried.message_id(), "0190a0b0-0000-7000-8000-000000000001:retry:2");
    }

    #[test]
    fn channels_have_one_name_each_way() {
        for channel in Channel::ALL {
            assert_eq!(channel.as_str().parse::<Channel>().unwrap(), channel);
            assert_eq!(serde_json::to_value(channel).unwrap(), channel.as_str());
        }
    }
}
