//! The wire form of an event, as stored in JetStream:
//! `{"type", "version", "<aggregate>_id", "occurred_at", "actor", "data"}`. The actor and the
//! data go through the stored schema ([`crate::stored`]), never the domain types' serde.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::actor::Actor;
use crate::aggregate::{Aggregate, DecodeError, DomainEvent, Recorded};
use crate::stored::state::StoredActor;

/// NATS header names used on event messages.
pub mod headers {
    pub const MSG_ID: &str = "Nats-Msg-Id";
    pub const EXPECTED_LAST_SUBJECT_SEQUENCE: &str = "Nats-Expected-Last-Subject-Sequence";
    pub const EVENT_TYPE: &str = "Ehelpdesk-Event-Type";
    pub const TRACEPARENT: &str = "traceparent";
    /// Hash of the request that produced the event, to spot a reused Idempotency-Key.
    pub const REQUEST_HASH: &str = "Ehelpdesk-Request-Hash";
}

pub fn encode<A: Aggregate>(id: &A::Id, recorded: &Recorded<A::Event>) -> Vec<u8> {
    let event_type = recorded.event.event_type();
    let envelope = json!({
        "type": event_type,
        "version": A::Event::current_version(event_type).unwrap_or(1),
        A::ID_FIELD: id,
        "occurred_at": recorded.occurred_at,
        "actor": StoredActor::from(&recorded.actor),
        "data": recorded.event.to_data(),
    });
    // Serialising a `Value` cannot fail.
    serde_json::to_vec(&envelope).unwrap_or_default()
}

/// An envelope read back, with the version it was written in.
#[derive(Debug, Clone, PartialEq)]
pub struct Decoded<A: Aggregate> {
    pub id: A::Id,
    pub recorded: Recorded<A::Event>,
    pub written_version: u32,
}

pub fn decode<A: Aggregate>(payload: &[u8]) -> Result<Decoded<A>, DecodeError> {
    let mut envelope: Map<String, Value> = serde_json::from_slice(payload)?;
    let mut take = |field: &'static str| envelope.remove(field).ok_or(DecodeError::Envelope(field));
    let event_type = take("type")?;
    let event_type = event_type.as_str().ok_or(DecodeError::Envelope("type"))?.to_owned();
    let version =
        take("version")?.as_u64().and_then(|v| u32::try_from(v).ok()).ok_or(DecodeError::Envelope("version"))?;
    let id: A::Id = serde_json::from_value(take(A::ID_FIELD)?).map_err(|_| DecodeError::Envelope(A::ID_FIELD))?;
    let occurred_at: DateTime<Utc> =
        serde_json::from_value(take("occurred_at")?).map_err(|_| DecodeError::Envelope("occurred_at"))?;
    let actor: Actor =
        serde_json::from_value::<StoredActor>(take("actor")?).map_err(|_| DecodeError::Envelope("actor"))?.into();
    let data = take("data")?;
    let event = A::Event::decode(&event_type, version, data)?;
    Ok(Decoded { id, recorded: Recorded { event, occurred_at, actor }, written_version: version })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actor::Role;
    use crate::complaint::{Complaint, ComplaintEvent, InternalNoteAdded};
    use crate::validation::{StaffId, Text};

    #[test]
    fn an_event_survives_the_round_trip() {
        let id = uuid::Uuid::now_v7();
        let recorded = Recorded {
            event: ComplaintEvent::InternalNoteAdded(InternalNoteAdded {
                message: Text::parse("m", "Semak dengan BKP", 1, 100).unwrap(),
            }),
            occurred_at: Utc::now(),
            actor: Actor::new(StaffId::parse("id", "pic-aminah").unwrap(), Role::Pic, "Aminah"),
        };
        let bytes = encode::<Complaint>(&id, &recorded);
        let wire: Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(wire["type"], "InternalNoteAdded");
        assert_eq!(wire["version"], 1);
        assert_eq!(wire["complaint_id"], id.to_string());
        assert_eq!(wire["data"]["message"], "Semak dengan BKP");
        let back = decode::<Complaint>(&bytes).unwrap();
        assert_eq!((back.id, back.recorded, back.written_version), (id, recorded, 1));
    }

    #[test]
    fn malformed_envelopes_are_errors_not_panics() {
        for bad in [&b"not json"[..], b"{}", b"[]", br#"{"type":"ComplaintLogged","version":"x"}"#] {
            assert!(decode::<Complaint>(bad).is_err());
        }
        let unknown = br#"{"type":"ComplaintTeleported","version":1,"complaint_id":"0190a0e0-0000-7000-8000-000000000000","occurred_at":"2026-01-01T00:00:00Z","actor":{"id":"x","role":"admin","name":"X"},"data":{}}"#;
        assert!(matches!(decode::<Complaint>(unknown), Err(DecodeError::UnknownType(_))));
    }
}
