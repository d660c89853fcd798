//! Number claims: before a number is handed out it is claimed on a subject of its own in the
//! event stream (`<prefix>.number.<year>.<n>`), published with an expected last subject
//! sequence of 0, so JetStream stores it only if nobody ever claimed that number. The
//! stream denies delete and purge, so a claim is never undone: a duplicate number is
//! impossible whatever happens to the counter, which only says where to try next.

use async_nats::HeaderMap;
use async_nats::jetstream::context::PublishErrorKind;
use async_nats::jetstream::stream::RawMessageErrorKind;
use bytes::Bytes;
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope::headers;
use uuid::Uuid;

use super::CounterFault;

/// The event type header of a claim, for whoever reads the log.
pub const CLAIM_TYPE: &str = "ComplaintNumberClaimed";

#[derive(Clone)]
pub struct Claims {
    jetstream: async_nats::jetstream::Context,
    log: EventLogConfig,
}

/// Why a claim was not stored.
#[derive(Debug)]
pub enum ClaimError {
    /// The number was claimed before: whoever proposed it is behind the log.
    Taken,
    Unavailable(String),
}

impl Claims {
    pub fn new(jetstream: async_nats::jetstream::Context, log: EventLogConfig) -> Self {
        Self { jetstream, log }
    }

    /// Claims number `sequence` of `year` (`number` in full) for `complaint_id`.
    pub async fn claim(&self, year: i32, sequence: u64, number: &str, complaint_id: Uuid) -> Result<(), ClaimError> {
        let mut message_headers = HeaderMap::new();
        message_headers.insert(headers::EXPECTED_LAST_SUBJECT_SEQUENCE, "0");
        message_headers.insert(headers::EVENT_TYPE, CLAIM_TYPE);
        let payload = serde_json::json!({
            "type": CLAIM_TYPE, "number": number, "complaint_id": complaint_id, "claimed_at": chrono::Utc::now(),
        });
        let ack = self
            .jetstream
            .publish_with_headers(
                self.log.number_claim_subject(year, sequence),
                message_headers,
                Bytes::from(payload.to_string()),
            )
            .await
            .map_err(|e| ClaimError::Unavailable(e.to_string()))?
            .await;
        match ack {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == PublishErrorKind::WrongLastSequence => Err(ClaimError::Taken),
            Err(e) => Err(ClaimError::Unavailable(e.to_string())),
        }
    }

    /// Whether number `sequence` of `year` was ever claimed (a leader read).
    pub async fn is_claimed(&self, year: i32, sequence: u64) -> Result<bool, CounterFault> {
        Ok(self.last_on(&self.log.number_claim_subject(year, sequence)).await?.is_some())
    }

    /// The number of `year` claimed last, if any. Claims follow the counter upwards, so this
    /// is the highest one unless the counter was already wrong.
    pub async fn last_claimed(&self, year: i32) -> Result<Option<u64>, CounterFault> {
        let subject = self.last_on(&self.log.number_claims_of(year)).await?;
        Ok(subject.and_then(|s| self.log.parse_number_claim(&s)).map(|(_, sequence)| sequence))
    }

    /// The subject of the last message on `subject` (which may be a wildcard).
    async fn last_on(&self, subject: &str) -> Result<Option<String>, CounterFault> {
        let unavailable = |e: &dyn std::fmt::Display| CounterFault::Unavailable(e.to_string());
        let stream = self.jetstream.get_stream_no_info(&self.log.stream).await.map_err(|e| unavailable(&e))?;
        match stream.raw_message_builder().last_by_subject(subject).send().await {
            Ok(message) => Ok(Some(message.subject.to_string())),
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => Ok(None),
            Err(e) => Err(unavailable(&e)),
        }
    }
}
