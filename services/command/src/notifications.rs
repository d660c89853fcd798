//! An admin's retry of a dead-lettered notification (issue 15).
//!
//! The notifier gives up on a notification (a mailbox refused it, the attempts ran out) by
//! writing `dead_lettered` into its delivery record. A retry starts the next retry cycle:
//! it reads the record, fetches the message of the record's cycle from NOTIFY by its stream
//! sequence, and publishes it again with `cycle + 1`. The notifier judges a message of a
//! later cycle than its record as a fresh start (attempt 1), and drops the old cycle's
//! messages. `Nats-Msg-Id` is `<id>:retry:<cycle>`, so two admins retrying at once (or one
//! clicking twice) within NOTIFY's duplicate window store one message. A `queued` receipt of
//! the new cycle is published beside it, so `/v1/outbox` shows the row queued again.
//!
//! This is an operational act on the delivery machinery, not a fact about a complaint: it
//! appends nothing to HELPDESK (docs/architecture.md, "An admin's retry").

use async_nats::HeaderMap;
use async_nats::jetstream::stream::RawMessageErrorKind;
use chrono::{DateTime, Utc};
use ehelpdesk_shared::http::problem::ApiError;
use ehelpdesk_shared::notification::record::RecordError;
use ehelpdesk_shared::notification::{
    Channel, DeliveryState, NotificationMessage, NotifyConfig, Receipt, RecordState, RecordStore,
};
use tokio::sync::OnceCell;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum RetryError {
    #[error(
        "Tiada pemberitahuan {0} dalam rekod penghantaran / \
         no notification {0} in the delivery records"
    )]
    NotFound(Uuid),
    #[error(
        "Pemberitahuan {id} tidak gagal muktamad (keadaan kini: {state}, kitaran {cycle}); hanya \
         pemberitahuan yang gagal muktamad boleh dicuba semula / notification {id} is not \
         dead-lettered (current state: {state}, cycle {cycle}); only a dead-lettered notification \
         can be retried"
    )]
    NotDeadLettered { id: Uuid, state: RecordState, cycle: u32 },
    #[error(
        "Mesej asal pemberitahuan {id} tiada lagi dalam strim NOTIFY (disimpan 30 hari); ia tidak \
         dapat dihantar semula / the original message of notification {id} is no longer in the \
         NOTIFY stream (kept 30 days); it cannot be sent again"
    )]
    Expired { id: Uuid },
    #[error("NATS: {0}")]
    Unavailable(String),
}

impl From<RecordError> for RetryError {
    fn from(e: RecordError) -> Self {
        RetryError::Unavailable(e.to_string())
    }
}

impl From<RetryError> for ApiError {
    fn from(e: RetryError) -> Self {
        let detail = e.to_string();
        match e {
            RetryError::NotFound(_) => ApiError::Missing { code: "notification_not_found", detail },
            RetryError::NotDeadLettered { .. } => ApiError::Conflict { code: "notification_not_dead_lettered", detail },
            RetryError::Expired { .. } => ApiError::Conflict { code: "notification_expired", detail },
            RetryError::Unavailable(why) => ApiError::Unavailable(why),
        }
    }
}

/// What a retry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retried {
    pub id: Uuid,
    pub channel: Channel,
    /// The new retry cycle.
    pub cycle: u32,
    /// The NOTIFY stream sequence of the message published (or of the one it duplicated).
    pub stream_sequence: u64,
    /// Another retry of the same cycle published it first (within the duplicate window).
    pub duplicate: bool,
}

/// Retries of dead-lettered notifications, on the NOTIFY stream and the notifier's bucket.
pub struct Notifications {
    jetstream: async_nats::jetstream::Context,
    notify: NotifyConfig,
    /// Opened on first use; never created here (a notifier creates it). Not set while it
    /// does not exist, so that it is looked for again on the next retry.
    records: OnceCell<RecordStore>,
}

impl Notifications {
    pub fn new(jetstream: async_nats::jetstream::Context, notify: NotifyConfig) -> Self {
        Self { jetstream, notify, records: OnceCell::new() }
    }

    /// The bucket, or None while no notifier has created it (then no notification has a record).
    async fn records(&self) -> Result<Option<&RecordStore>, RetryError> {
        if let Some(records) = self.records.get() {
            return Ok(Some(records));
        }
        let Some(store) = RecordStore::open_existing(&self.jetstream, &self.notify.deliveries_bucket()).await? else {
            return Ok(None);
        };
        // Another request may have opened it meanwhile; either handle is the same bucket.
        let _ = self.records.set(store);
        Ok(self.records.get())
    }

    /// Publishes the dead-lettered notification `id` again in its next retry cycle.
    pub async fn retry(&self, id: Uuid, now: DateTime<Utc>) -> Result<Retried, RetryError> {
        let records = self.records().await?.ok_or(RetryError::NotFound(id))?;
        let record = records.read(id).await?.ok_or(RetryError::NotFound(id))?.record;
        if record.state != RecordState::DeadLettered {
            return Err(RetryError::NotDeadLettered { id, state: record.state, cycle: record.cycle });
        }
        let original = self.original(id, record.stream_sequence).await?;
        let cycle = record.cycle.saturating_add(1);
        let message = NotificationMessage { cycle, ..original };
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.message_id().as_str());
        // The notifier's delivery continues this request's trace.
        if let Some(traceparent) = ehelpdesk_shared::telemetry::current_traceparent() {
            headers.insert("traceparent", traceparent.as_str());
        }
        let payload = serde_json::to_vec(&message).map_err(|e| RetryError::Unavailable(e.to_string()))?;
        let ack = self
            .publish(self.notify.deliver_subject(message.channel), headers, payload)
            .await
            .map_err(|e| RetryError::Unavailable(format!("publishing the retry: {e}")))?;
        // After the message, never before: a queued row with nothing on its way would lie.
        let receipt = Receipt {
            id,
            channel: message.channel,
            state: DeliveryState::Queued,
            attempts: 0,
            cycle,
            reason: None,
            provider_message_id: None,
            at: now,
        };
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", receipt.message_id().as_str());
        let payload = serde_json::to_vec(&receipt).map_err(|e| RetryError::Unavailable(e.to_string()))?;
        self.publish(self.notify.receipt_subject(message.channel), headers, payload)
            .await
            .map_err(|e| RetryError::Unavailable(format!("publishing the queued receipt: {e}")))?;
        Ok(Retried { id, channel: message.channel, cycle, stream_sequence: ack.sequence, duplicate: ack.duplicate })
    }

    async fn publish(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<async_nats::jetstream::publish::PublishAck, String> {
        let ack =
            self.jetstream.publish_with_headers(subject, headers, payload.into()).await.map_err(|e| e.to_string())?;
        ack.await.map_err(|e| e.to_string())
    }

    /// The message of the record's cycle, read from the stream leader by its sequence. Gone
    /// (past NOTIFY's `max_age`, or the stream was recreated and the sequence now holds
    /// another notification): [`RetryError::Expired`].
    async fn original(&self, id: Uuid, sequence: u64) -> Result<NotificationMessage, RetryError> {
        if sequence == 0 {
            return Err(RetryError::Expired { id });
        }
        let stream = self
            .jetstream
            .get_stream_no_info(&self.notify.stream)
            .await
            .map_err(|e| RetryError::Unavailable(format!("stream {}: {e}", self.notify.stream)))?;
        let raw = match stream.get_raw_message(sequence).await {
            Ok(raw) => raw,
            Err(e) => {
                return match e.kind() {
                    RawMessageErrorKind::NoMessageFound => Err(RetryError::Expired { id }),
                    RawMessageErrorKind::JetStream(js)
                        if js.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND =>
                    {
                        Err(RetryError::Expired { id })
                    }
                    _ => {
                        Err(RetryError::Unavailable(format!("stream {} sequence {sequence}: {e}", self.notify.stream)))
                    }
                };
            }
        };
        let message: Option<NotificationMessage> = serde_json::from_slice(&raw.payload).ok();
        let is_delivery = Channel::ALL.iter().any(|c| self.notify.deliver_subject(*c) == raw.subject.as_str());
        match message {
            Some(message) if is_delivery && message.id == id => Ok(message),
            _ => {
                tracing::warn!(%id, sequence, subject = %raw.subject,
                    "the delivery record names a NOTIFY message that is not this notification's");
                Err(RetryError::Expired { id })
            }
        }
    }
}
