//! Complaint numbers (`ADU-2026-000123`): sequential per year, allocated with
//! compare-and-set on a JetStream key-value bucket so several instances never hand out the
//! same number.

use async_nats::jetstream::kv::{self, CreateErrorKind, UpdateErrorKind};
use async_nats::jetstream::stream::{self, DiscardPolicy, StorageType};
use chrono::{DateTime, Datelike, FixedOffset, Utc};
use ehelpdesk_shared::complaint::complaint_number;
use tokio::sync::{Mutex, oneshot};

use crate::event_store::StoreError;

/// A request waiting for a number: the counter's key, and where to send the number.
type Waiter = (String, oneshot::Sender<Result<u64, String>>);

pub struct ComplaintNumbers {
    bucket: kv::Store,
    /// Requests waiting for a number: whoever holds `allocator` next serves them all with
    /// one compare-and-set (flat combining), so a burst of new complaints costs one round
    /// trip to the bucket instead of one each.
    waiting: std::sync::Mutex<Vec<Waiter>>,
    // One allocating request at a time in this process; CAS handles the other instances.
    allocator: Mutex<()>,
}

/// Malaysia's offset; complaint years follow the treasury's calendar, not UTC.
fn malaysia() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

impl ComplaintNumbers {
    /// Opens the bucket, creating its stream by hand: async-nats 0.51's `create_key_value`
    /// cannot parse NATS 2.9's account info, while `get_key_value` on an existing stream works
    /// on 2.9 and on current servers alike.
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        bucket: &str,
        replicas: usize,
    ) -> Result<Self, StoreError> {
        let config = stream::Config {
            name: format!("KV_{bucket}"),
            subjects: vec![format!("$KV.{bucket}.>")],
            max_messages_per_subject: 1,
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: DiscardPolicy::New,
            storage: StorageType::File,
            num_replicas: replicas,
            ..Default::default()
        };
        jetstream
            .create_or_update_stream(config)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot set up bucket {bucket}: {e}")))?;
        let bucket = jetstream
            .get_key_value(bucket)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot open bucket {bucket}: {e}")))?;
        Ok(Self { bucket, waiting: std::sync::Mutex::new(vec![]), allocator: Mutex::new(()) })
    }

    /// The next number of the year `now` falls in (Malaysian time).
    pub async fn allocate(&self, now: DateTime<Utc>) -> Result<String, StoreError> {
        let year = now.with_timezone(&malaysia()).year();
        let key = format!("year-{year}");
        let (tx, rx) = oneshot::channel();
        self.lock_waiting().push((key, tx));
        {
            let _turn = self.allocator.lock().await;
            let batch: Vec<_> = std::mem::take(&mut *self.lock_waiting());
            // Empty when an earlier allocator already served this request.
            let mut by_key: std::collections::BTreeMap<String, Vec<oneshot::Sender<Result<u64, String>>>> =
                Default::default();
            for (key, tx) in batch {
                by_key.entry(key).or_default().push(tx);
            }
            for (key, senders) in by_key {
                match self.reserve(&key, senders.len() as u64).await {
                    Ok(first) => {
                        for (i, tx) in senders.into_iter().enumerate() {
                            let _ = tx.send(Ok(first + i as u64));
                        }
                    }
                    Err(e) => {
                        for tx in senders {
                            let _ = tx.send(Err(e.clone()));
                        }
                    }
                }
            }
        }
        match rx.await {
            Ok(Ok(sequence)) => Ok(complaint_number(year, sequence)),
            Ok(Err(e)) => Err(StoreError::Unavailable(e)),
            Err(_) => Err(StoreError::Unavailable("complaint number allocator stopped".into())),
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiter>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `count` consecutive numbers under `key`; returns the first.
    async fn reserve(&self, key: &str, count: u64) -> Result<u64, String> {
        // Each round fails only because another instance won it, so this ends unless a
        // thousand allocations elsewhere overtake us in a row.
        for _ in 0..1000 {
            let current = self.bucket.entry(key).await.map_err(|e| e.to_string())?;
            let result = match current {
                None => {
                    self.bucket.create(key, count.to_string().into()).await.map(|_| 1).map_err(|e| match e.kind() {
                        CreateErrorKind::AlreadyExists => None,
                        _ => Some(e.to_string()),
                    })
                }
                Some(entry) => {
                    let last: u64 = std::str::from_utf8(&entry.value).ok().and_then(|v| v.parse().ok()).unwrap_or(0);
                    self.bucket
                        .update(key, (last + count).to_string().into(), entry.revision)
                        .await
                        .map(|_| last + 1)
                        .map_err(|e| match e.kind() {
                            UpdateErrorKind::WrongLastRevision => None,
                            _ => Some(e.to_string()),
                        })
                }
            };
            match result {
                Ok(first) => return Ok(first),
                Err(None) => tokio::task::yield_now().await,
                Err(Some(e)) => return Err(e),
            }
        }
        Err("complaint number counter is too contended".into())
    }
}
