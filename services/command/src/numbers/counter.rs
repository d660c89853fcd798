//! The per-year counters in a JetStream key-value bucket: where the next block of numbers
//! starts. The counter is only a fast way for instances to agree; the claims in the event
//! log (`claims`) are what make a number unique. So whatever the bucket says that is not a
//! plain number it wrote itself is a fault, never a reason to start again at 1.

use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};

use super::CounterFault;

pub struct Counter {
    bucket: kv::Store,
}

/// A key's value as last written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// No entry at all: a year nobody has numbered yet, or a lost counter.
    Absent,
    /// The last number handed out, at this revision.
    Value { last: u64, revision: u64 },
}

/// The bucket's stream, created by hand: async-nats 0.51's `create_key_value` cannot parse
/// NATS 2.9's account info, while `get_key_value` on an existing stream works on 2.9 and on
/// current servers alike. Purging the stream, and purging a key (a roll-up), are refused:
/// either would erase the counter. Deleting a key cannot be refused (it is a plain publish);
/// its marker is read as a fault.
pub fn stream_config(bucket: &str, replicas: usize) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        allow_rollup: false,
        deny_delete: true,
        deny_purge: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        storage: StorageType::File,
        num_replicas: replicas,
        ..Default::default()
    }
}

impl Counter {
    /// Opens the bucket, creating its stream (or bringing it to `stream_config`).
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

    /// What `key` holds. A delete or purge marker, or a value that is not a number, is a
    /// fault: reading either as 0 is how numbers restarted at 1.
    pub async fn read(&self, key: &str) -> Result<Reading, CounterFault> {
        let entry = self.bucket.entry(key).await.map_err(|e| CounterFault::Unavailable(e.to_string()))?;
        let Some(entry) = entry else { return Ok(Reading::Absent) };
        if entry.operation != Operation::Put {
            return Err(CounterFault::Deleted { key: key.to_owned() });
        }
        let text = String::from_utf8_lossy(&entry.value);
        match text.parse() {
            Ok(last) => Ok(Reading::Value { last, revision: entry.revision }),
            Err(_) => Err(CounterFault::Unparsable { key: key.to_owned(), value: text.chars().take(40).collect() }),
        }
    }

    /// Moves `key` from `from` to `to` if nobody moved it meanwhile; false if somebody did.
    pub async fn advance(&self, key: &str, from: Reading, to: u64) -> Result<bool, CounterFault> {
        let value = to.to_string().into();
        let unavailable = |e: &dyn std::fmt::Display| CounterFault::Unavailable(e.to_string());
        match from {
            Reading::Absent => match self.bucket.create(key, value).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == CreateErrorKind::AlreadyExists => Ok(false),
                Err(e) => Err(unavailable(&e)),
            },
            Reading::Value { revision, .. } => match self.bucket.update(key, value, revision).await {
                Ok(_) => Ok(true),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
                Err(e) => Err(unavailable(&e)),
            },
        }
    }

    /// Sets `key` to `to` over whatever it holds (a marker, garbage, a lower value), unless
    /// it already holds a number at least as high. For the operator's repair only.
    pub async fn raise_to(&self, key: &str, to: u64) -> Result<u64, CounterFault> {
        loop {
            let entry = self.bucket.entry(key).await.map_err(|e| CounterFault::Unavailable(e.to_string()))?;
            let written = match &entry {
                Some(e) if e.operation == Operation::Put => String::from_utf8_lossy(&e.value).parse::<u64>().ok(),
                _ => None,
            };
            if let Some(current) = written.filter(|current| *current >= to) {
                return Ok(current);
            }
            let value = to.to_string().into();
            let moved = match entry {
                None => self
                    .bucket
                    .create(key, value)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() != CreateErrorKind::AlreadyExists),
                Some(e) => self
                    .bucket
                    .update(key, value, e.revision)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() != UpdateErrorKind::WrongLastRevision),
            };
            match moved {
                Ok(()) => return Ok(to),
                // Somebody wrote meanwhile: look again.
                Err(false) => continue,
                Err(true) => return Err(CounterFault::Unavailable(format!("cannot write the counter {key}"))),
            }
        }
    }
}
