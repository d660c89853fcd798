//! The records in a JetStream key-value bucket. Writes are compare-and-set on the entry's
//! revision, so two workers that judged the same record cannot both claim it.

use std::time::Duration;

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use uuid::Uuid;

use super::DeliveryRecord;

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
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self, String> {
        ehelpdesk_shared::streams::ensure(jetstream, stream_config(bucket, replicas))
            .await
            .map_err(|e| format!("cannot set up bucket {bucket}: {e}"))?;
        let bucket = jetstream.get_key_value(bucket).await.map_err(|e| format!("cannot open bucket {bucket}: {e}"))?;
        Ok(Self { bucket })
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
