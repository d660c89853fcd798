//! What auditors read straight from the event log: a complaint's (or a member of staff's)
//! history, and its state as it stood at any moment, folded by the same domain code that
//! serves commands. Reads go to the stream leader, one message at a time along the subject.

use async_nats::jetstream::stream::RawMessageErrorKind;
use chrono::{DateTime, Utc};
use ehelpdesk_shared::actor::Actor;
use ehelpdesk_shared::aggregate::{Aggregate, DomainEvent, Recorded};
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::staff::StaffMember;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("event at stream sequence {sequence} cannot be read: {reason}")]
    Unreadable { sequence: u64, reason: String },
}

/// One event as the log holds it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct HistoryEntry {
    pub sequence: u64,
    /// When JetStream stored it.
    pub written_at: DateTime<Utc>,
    /// When it happened, as the service that wrote it said.
    pub occurred_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub event_type: &'static str,
    /// The version shown in `data` (today's shape).
    pub version: u32,
    /// The version it was written in; older ones are upcast.
    pub written_version: u32,
    pub actor: Actor,
    pub msg_id: Option<String>,
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// An aggregate's events, in order, with what is needed to fold them again.
pub struct History<A: Aggregate> {
    pub id: A::Id,
    pub entries: Vec<HistoryEntry>,
    pub events: Vec<Recorded<A::Event>>,
}

pub async fn read_history<A: Aggregate>(
    jetstream: &async_nats::jetstream::Context,
    log: &EventLogConfig,
    id: &A::Id,
) -> Result<History<A>, AuditError> {
    let stream = jetstream.get_stream_no_info(&log.stream).await.map_err(|e| AuditError::Nats(e.to_string()))?;
    let subject = log.subject(A::SUBJECT_KIND, id);
    let mut history = History { id: id.clone(), entries: vec![], events: vec![] };
    let mut next = 1;
    loop {
        let message = match stream.raw_message_builder().sequence(next).next_by_subject(&subject).send().await {
            Ok(m) => m,
            Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => return Ok(history),
            Err(e) => return Err(AuditError::Nats(e.to_string())),
        };
        let decoded = envelope::decode::<A>(&message.payload)
            .map_err(|e| AuditError::Unreadable { sequence: message.sequence, reason: e.to_string() })?;
        let event = &decoded.recorded.event;
        history.entries.push(HistoryEntry {
            sequence: message.sequence,
            written_at: message.time,
            occurred_at: decoded.recorded.occurred_at,
            event_type: event.event_type(),
            version: A::Event::current_version(event.event_type()).unwrap_or(decoded.written_version),
            written_version: decoded.written_version,
            actor: decoded.recorded.actor.clone(),
            msg_id: message.headers.get("Nats-Msg-Id").map(|v| v.to_string()),
            data: event.to_data(),
        });
        history.events.push(decoded.recorded);
        next = message.sequence + 1;
    }
}

/// A point in an aggregate's life.
#[derive(Debug, Clone, Copy)]
pub enum AsOf {
    /// The state after every event that happened at or before this time.
    Time(DateTime<Utc>),
    /// The state after every event at or below this stream sequence.
    Sequence(u64),
}

impl<A: Aggregate> History<A> {
    /// The state as it stood at `as_of` (None: it did not exist yet), and the sequence of
    /// the last event folded.
    pub fn state_as_of(&self, as_of: Option<AsOf>) -> Result<(Option<A>, u64), AuditError> {
        let mut state = None;
        let mut last = 0;
        for (entry, event) in self.entries.iter().zip(&self.events) {
            let included = match as_of {
                None => true,
                Some(AsOf::Time(t)) => entry.occurred_at <= t,
                Some(AsOf::Sequence(n)) => entry.sequence <= n,
            };
            if !included {
                break;
            }
            state = Some(
                A::apply(state, &self.id, event)
                    .map_err(|e| AuditError::Unreadable { sequence: entry.sequence, reason: e.to_string() })?,
            );
            last = entry.sequence;
        }
        Ok((state, last))
    }
}

/// The staff directory as the log has it now, the source both services judge staff by (see
/// `ehelpdesk_shared::access`): not the read model, which may lag a registration the caller
/// just saw succeed.
pub fn staff_lookup(
    jetstream: async_nats::jetstream::Context,
    log: EventLogConfig,
) -> ehelpdesk_shared::access::Lookup {
    std::sync::Arc::new(move |id| {
        let (jetstream, log) = (jetstream.clone(), log.clone());
        Box::pin(async move {
            let history = read_history::<StaffMember>(&jetstream, &log, &id).await.map_err(|e| match e {
                AuditError::Nats(reason) => ApiError::Unavailable(reason),
                unreadable => ApiError::Internal(unreadable.to_string()),
            })?;
            let member = StaffMember::fold(&id, &history.events).map_err(|e| ApiError::Internal(e.to_string()))?;
            Ok(member.map(|m| m.standing()))
        })
    })
}
