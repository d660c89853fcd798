//! The event log in JetStream: stream set-up, loading one aggregate's events, and appending
//! with optimistic concurrency (`Nats-Expected-Last-Subject-Sequence`).

use std::collections::HashMap;
use std::time::Duration;

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::{self, RawMessageErrorKind, StorageType};
use bytes::Bytes;
use ehelpdesk_shared::aggregate::{Aggregate, DomainEvent, Recorded, ReplayError};
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope::{self, headers};

/// What a command's reply says about the aggregate right after one of its events. Kept for
/// every event read, so a retried request gets the very answer the first attempt got.
pub trait Receipt: Aggregate {
    type Receipt: serde::Serialize + Clone + Send + Sync;
    fn receipt(&self, event: &Self::Event, sequence: u64) -> Self::Receipt;
}

/// What we know of one aggregate after reading its subject up to `last_sequence`.
#[derive(Clone)]
pub struct Loaded<A: Receipt> {
    pub state: Option<A>,
    /// Stream sequence of the subject's last message; 0 when the subject has none.
    pub last_sequence: u64,
    /// Every event by its `Nats-Msg-Id`, so a retried request is recognised however old it is.
    pub written: HashMap<String, Written<A::Receipt>>,
}

impl<A: Receipt> Default for Loaded<A> {
    fn default() -> Self {
        Self { state: None, last_sequence: 0, written: HashMap::new() }
    }
}

impl<A: Receipt> Loaded<A> {
    /// Applies an event read from or just written to the log.
    pub fn record(
        &mut self,
        id: &A::Id,
        recorded: &Recorded<A::Event>,
        sequence: u64,
        msg_id: Option<String>,
        request_hash: Option<String>,
    ) -> Result<(), ReplayError> {
        let state = A::apply(self.state.take(), id, recorded)?;
        if let Some(msg_id) = msg_id {
            let receipt = state.receipt(&recorded.event, sequence);
            self.written.insert(msg_id, Written { request_hash, receipt });
        }
        self.state = Some(state);
        self.last_sequence = sequence;
        Ok(())
    }
}

/// An event already in the log, as a retried request needs to answer again.
#[derive(Debug, Clone)]
pub struct Written<R> {
    pub request_hash: Option<String>,
    pub receipt: R,
}

/// What JetStream made of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// Our event is in the log at this stream sequence.
    Stored(u64),
    /// A message with our `Nats-Msg-Id` was already in the log (at this sequence): someone
    /// else's event, perhaps another instance's with the same key. Nothing of ours was written.
    Duplicate(u64),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("NATS is unavailable: {0}")]
    Unavailable(String),
    #[error("the subject already moved on (wrong last sequence)")]
    WrongLastSequence,
    #[error("stored event at sequence {sequence} cannot be read: {reason}")]
    Corrupt { sequence: u64, reason: String },
}

#[derive(Clone)]
pub struct EventStore {
    jetstream: async_nats::jetstream::Context,
    config: EventLogConfig,
}

impl EventStore {
    pub fn new(client: async_nats::Client, config: EventLogConfig) -> Self {
        let jetstream = async_nats::jetstream::ContextBuilder::new().timeout(Duration::from_secs(5)).build(client);
        Self { jetstream, config }
    }

    pub fn config(&self) -> &EventLogConfig {
        &self.config
    }

    pub fn jetstream(&self) -> &async_nats::jetstream::Context {
        &self.jetstream
    }

    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![self.config.all_subjects()],
            storage: StorageType::File,
            num_replicas: self.config.replicas,
            // Auditors need an append-only log: no message can be deleted or purged.
            deny_delete: true,
            deny_purge: true,
            duplicate_window: self.config.duplicate_window,
            // Loads go to the leader (STREAM.MSG.GET), never to a possibly stale follower.
            allow_direct: false,
            ..Default::default()
        }
    }

    /// Creates the stream, or brings an existing one to the configured settings.
    pub async fn ensure_stream(&self) -> Result<(), StoreError> {
        ehelpdesk_shared::streams::ensure(&self.jetstream, self.stream_config())
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot set up the event stream: {e}")))
    }

    pub async fn stream_present(&self) -> Result<stream::Info, StoreError> {
        let mut stream =
            self.jetstream.get_stream(&self.config.stream).await.map_err(|e| StoreError::Unavailable(e.to_string()))?;
        stream.info().await.cloned().map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Reads the aggregate's events after `from.last_sequence` and folds them into `from`.
    /// Each read is a leader read of "the next message on this subject", so a cached state
    /// catches up with one request per missing event (plus one that finds nothing).
    pub async fn catch_up<A: Receipt>(&self, id: &A::Id, mut from: Loaded<A>) -> Result<Loaded<A>, StoreError> {
        let subject = self.config.subject(A::SUBJECT_KIND, id);
        let stream = self
            .jetstream
            .get_stream_no_info(&self.config.stream)
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        loop {
            let next =
                stream.raw_message_builder().sequence(from.last_sequence + 1).next_by_subject(&subject).send().await;
            let message = match next {
                Ok(message) => message,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(from),
                Err(e) => return Err(StoreError::Unavailable(e.to_string())),
            };
            let decoded = envelope::decode::<A>(&message.payload)
                .map_err(|e| StoreError::Corrupt { sequence: message.sequence, reason: e.to_string() })?;
            let msg_id = message.headers.get(headers::MSG_ID).map(|h| h.to_string());
            let request_hash = message.headers.get(headers::REQUEST_HASH).map(|h| h.to_string());
            from.record(id, &decoded.recorded, message.sequence, msg_id, request_hash)
                .map_err(|e| StoreError::Corrupt { sequence: message.sequence, reason: e.to_string() })?;
        }
    }

    /// Appends one event if the subject's last message is still `expected_last_sequence`.
    pub async fn append<A: Aggregate>(
        &self,
        id: &A::Id,
        recorded: &Recorded<A::Event>,
        expected_last_sequence: u64,
        msg_id: &str,
        request_hash: Option<&str>,
    ) -> Result<Appended, StoreError> {
        let subject = self.config.subject(A::SUBJECT_KIND, id);
        let mut message_headers = HeaderMap::new();
        message_headers.insert(headers::MSG_ID, msg_id);
        message_headers.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, expected_last_sequence.to_string().as_str());
        message_headers.insert(headers::EVENT_TYPE, recorded.event.event_type());
        if let Some(hash) = request_hash {
            message_headers.insert(headers::REQUEST_HASH, hash);
        }
        // The request's trace continues in the projection and the notification relay.
        if let Some(traceparent) = ehelpdesk_shared::telemetry::current_traceparent() {
            message_headers.insert(headers::TRACEPARENT, traceparent.as_str());
        }
        let payload = Bytes::from(envelope::encode::<A>(id, recorded));
        let ack = self
            .jetstream
            .publish_with_headers(subject, message_headers, payload)
            .await
            .map_err(|e| publish_error(e.kind(), &e))?
            .await
            .map_err(|e| publish_error(e.kind(), &e))?;
        Ok(if ack.duplicate { Appended::Duplicate(ack.sequence) } else { Appended::Stored(ack.sequence) })
    }
}

fn publish_error(kind: PublishErrorKind, e: &dyn std::fmt::Display) -> StoreError {
    match kind {
        PublishErrorKind::WrongLastSequence => StoreError::WrongLastSequence,
        _ => StoreError::Unavailable(e.to_string()),
    }
}
