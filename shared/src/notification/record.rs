//! The delivery record: what the notifier's workers did with each notification, kept in the
//! JetStream key-value bucket `<NOTIFY_STREAM>_deliveries` keyed by the notification id. A
//! worker claims a notification (state `sending`) before it hands it to a provider and
//! records the outcome before it acks, so that a redelivered message, or a second worker
//! racing for it, is judged from the record and never re-sent blindly (the notifier's pure
//! `record::judge`). The command service reads it too: an admin retries only a notification
//! whose record says it is dead-lettered, by resending the message at its `stream_sequence`.
//!
//! Writes are compare-and-set on the entry's revision, so two workers that judged the same
//! record cannot both claim it.

use std::time::Duration;

use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DeliveryState;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordState {
    /// Claimed by `worker`, being handed to the provider.
    Sending,
    Sent,
    /// The last attempt failed and another is due at `retry_at`.
    Failed,
    DeadLettered,
}

impl RecordState {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordState::Sending => "sending",
            RecordState::Sent => "sent",
            RecordState::Failed => "failed",
            RecordState::DeadLettered => "dead_lettered",
        }
    }

    /// The state a receipt reports; `Sending` has none (its outcome is not known yet).
    pub fn delivery_state(self) -> Option<DeliveryState> {
        match self {
            RecordState::Sending => None,
            RecordState::Sent => Some(DeliveryState::Sent),
            RecordState::Failed => Some(DeliveryState::Failed),
            RecordState::DeadLettered => Some(DeliveryState::DeadLettered),
        }
    }
}

impl std::fmt::Display for RecordState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub state: RecordState,
    /// The admin's retry cycle this record belongs to (0 before any).
    pub cycle: u32,
    /// Attempts made in this cycle, the one in hand included.
    pub attempts: u32,
    /// Which worker process wrote it.
    pub worker: String,
    /// When this state began.
    pub since: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// The NOTIFY stream sequence of the message of this cycle: what an admin's retry resends.
    #[serde(default)]
    pub stream_sequence: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("delivery records unavailable: {0}")]
    Unavailable(String),
    #[error("delivery record {key} is unreadable: {reason}")]
    Unreadable { key: String, reason: String },
}

/// A record as read, with the revision a write must name.
#[derive(Debug, Clone)]
pub struct Revisioned {
    pub record: DeliveryRecord,
    pub revision: u64,
}

#[derive(Clone)]
pub struct RecordStore {
    bucket: kv::Store,
}

/// The bucket's stream, created by hand as for the number counter: async-nats 0.51's
/// `create_key_value` cannot parse NATS 2.9's account info. Records outlive the NOTIFY
/// stream's 30 days, so a message still there always finds its record.
pub fn stream_config(bucket: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(35 * 24 * 3600),
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        storage: StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

impl RecordStore {
    /// Creates the bucket's stream if it is missing (the notifier, which writes records).
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self, String> {
        crate::streams::ensure(jetstream, stream_config(bucket, replicas))
            .await
            .map_err(|e| format!("cannot set up bucket {bucket}: {e}"))?;
        let bucket = jetstream.get_key_value(bucket).await.map_err(|e| format!("cannot open bucket {bucket}: {e}"))?;
        Ok(Self { bucket })
    }

    /// Opens the bucket only if a notifier has created it: `None` when it does not exist
    /// (then no notification was ever recorded). For readers that must not create it.
    pub async fn open_existing(
        jetstream: &async_nats::jetstream::Context,
        bucket: &str,
    ) -> Result<Option<Self>, RecordError> {
        let stream = format!("KV_{bucket}");
        if let Err(e) = jetstream.get_stream(&stream).await {
            return match e.kind() {
                GetStreamErrorKind::JetStream(js)
                    if js.error_code() == async_nats::jetstream::ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(None)
                }
                _ => Err(RecordError::Unavailable(format!("stream {stream}: {e}"))),
            };
        }
        let bucket = jetstream
            .get_key_value(bucket)
            .await
            .map_err(|e| RecordError::Unavailable(format!("bucket {bucket}: {e}")))?;
        Ok(Some(Self { bucket }))
    }

    pub async fn read(&self, id: Uuid) -> Result<Option<Revisioned>, RecordError> {
        let key = id.to_string();
        let entry = self.bucket.entry(&key).await.map_err(|e| RecordError::Unavailable(e.to_string()))?;
        let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else { return Ok(None) };
        let record = serde_json::from_slice(&entry.value)
            .map_err(|e| RecordError::Unreadable { key: key.clone(), reason: e.to_string() })?;
        Ok(Some(Revisioned { record, revision: entry.revision }))
    }

    /// Writes `record` if the entry is still at `revision` (None: if there is none yet).
    /// Ok(None) when somebody wrote first; then judge again.
    pub async fn write(
        &self,
        id: Uuid,
        record: &DeliveryRecord,
        revision: Option<u64>,
    ) -> Result<Option<u64>, RecordError> {
        let key = id.to_string();
        let value = serde_json::to_vec(record).map_err(|e| RecordError::Unavailable(e.to_string()))?.into();
        let unavailable = |e: &dyn std::fmt::Display| RecordError::Unavailable(e.to_string());
        match revision {
            None => match self.bucket.create(&key, value).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(unavailable(&e)),
            },
            Some(revision) => match self.bucket.update(&key, value, revision).await {
                Ok(revision) => Ok(Some(revision)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(unavailable(&e)),
            },
        }
    }

    /// Whether the bucket answers (readiness).
    pub async fn check(&self) -> Result<(), String> {
        self.bucket.status().await.map(|_| ()).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_written_by_the_first_notifier_still_reads() {
        // Before `stream_sequence` was written (and with every optional field left out).
        let old = r#"{"state":"dead_lettered","cycle":0,"attempts":1,"worker":"w","since":"2026-11-01T01:02:03Z"}"#;
        let record: DeliveryRecord = serde_json::from_str(old).unwrap();
        assert_eq!((record.state, record.stream_sequence, record.reason), (RecordState::DeadLettered, 0, None));
        assert_eq!(serde_json::to_value(RecordState::DeadLettered).unwrap(), RecordState::DeadLettered.as_str());
        assert_eq!(RecordState::Sending.delivery_state(), None);
        assert_eq!(RecordState::DeadLettered.delivery_state(), Some(DeliveryState::DeadLettered));
    }
}
