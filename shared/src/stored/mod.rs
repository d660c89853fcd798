//! The stored schemas: what the event log and the read model's `state` column hold, kept
//! apart from the domain types so that each can change alone (esrs' "event schema").
//!
//! Everything here is plain data (strings, numbers, closed enums): it decodes whatever was
//! once written, whatever today's validators say, and it is the only shape the log and the
//! stored states are read through. The conversions to and from the domain are exhaustive
//! matches and struct literals, so a new domain event or field fails to compile until its
//! stored form is written down. Golden snapshots (`shared/tests/stored_schema.rs`) pin the
//! wire names, so a renamed stored field fails a test.
//!
//! - [`complaint`]: complaint event payloads, versioned and upcast.
//! - [`staff`]: staff directory event payloads.
//! - [`state`]: the folded states as the read model stores them (`state` jsonb column).

pub mod complaint;
pub mod staff;
pub mod state;

use serde_json::Value;

use crate::aggregate::DecodeError;

/// The payload of an adjacently tagged stored event (`{"type", "data"}`): the envelope keeps
/// the type apart, so only `data` is written.
fn data_of(tagged: serde_json::Result<Value>) -> Value {
    match tagged {
        Ok(Value::Object(mut map)) => map.remove("data").unwrap_or(Value::Null),
        _ => Value::Null,
    }
}

/// Reads `data` as the stored event of `event_type`.
fn read_tagged<T: serde::de::DeserializeOwned>(event_type: &str, data: Value) -> Result<T, DecodeError> {
    Ok(serde_json::from_value(serde_json::json!({ "type": event_type, "data": data }))?)
}
