//! Complaint events as the log stores them. Plain strings where the domain has validating
//! value types: an event written under looser rules still reads back, exactly as written.
//!
//! A new shape of an event is a new version: change the struct here, raise its number in
//! [`current_version`] and add an upcast arm in [`decode`] (docs/architecture.md, "Event
//! versions"). The small closed enums (`Channel`, `Vendor`, `ResponseStatus`, `ClosedBy`)
//! are shared with the domain: their wire names are pinned by the golden snapshot.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::aggregate::DecodeError;
use crate::category::CategoryCode;
use crate::complaint::{self as domain, Channel, ClosedBy, ComplaintEvent, ResponseStatus, Vendor};
use crate::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Complainant {
    pub id: String,
    pub ic_number: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub ptj: String,
}

/// Version 2 added `reference`; version 1 events are upcast with no reference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintLogged {
    pub number: String,
    pub complainant: Complainant,
    pub category: String,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    pub reference: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintAssigned {
    pub pic_id: String,
    pub pic_name: String,
    pub previous_pic_id: Option<String>,
    pub covers_category: bool,
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintResponded {
    pub message: String,
    pub status: ResponseStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferredToImplementor {
    pub implementor_id: String,
    pub implementor_name: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EscalatedToVendor {
    pub vendor: Vendor,
    pub vendor_log_number: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VendorUpdateRecorded {
    pub message: String,
    pub vendor_log_number: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintClosed {
    pub closed_by: ClosedBy,
    pub reason: Option<String>,
    pub rating: Option<u8>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComplaintReopened {
    pub reason: String,
}

/// Every complaint event as stored. The variant names are the wire `type`s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum StoredComplaintEvent {
    ComplaintLogged(ComplaintLogged),
    ComplaintAssigned(ComplaintAssigned),
    ComplaintResponded(ComplaintResponded),
    ComplainantReplied(Message),
    ReferredToImplementor(ReferredToImplementor),
    EscalatedToVendor(EscalatedToVendor),
    VendorUpdateRecorded(VendorUpdateRecorded),
    InternalNoteAdded(Message),
    ComplaintClosed(ComplaintClosed),
    ComplaintReopened(ComplaintReopened),
}

/// The wire `type`s, from the stored variants: a type missing here cannot be written, since
/// every domain event converts into one of them.
pub const TYPES: &[&str] = <StoredComplaintEvent as strum::VariantNames>::VARIANTS;

/// The version written today for `event_type`.
pub fn current_version(event_type: &str) -> Option<u32> {
    match event_type {
        "ComplaintLogged" => Some(2),
        other => TYPES.contains(&other).then_some(1),
    }
}

/// Reads a payload of any version ever written, upcast to today's stored shape.
pub fn decode(event_type: &str, version: u32, mut data: Value) -> Result<StoredComplaintEvent, DecodeError> {
    let current = current_version(event_type).ok_or_else(|| DecodeError::UnknownType(event_type.into()))?;
    // Upcasts: one arm per (type, old version), each bringing the payload one version up.
    // Events are never rewritten in the log; they are read through these forever.
    let mut at = version;
    while at < current {
        match (event_type, at) {
            ("ComplaintLogged", 1) => {
                if let Some(map) = data.as_object_mut() {
                    map.insert("reference".into(), Value::Null);
                }
            }
            _ => break,
        }
        at += 1;
    }
    if at != current || version == 0 {
        return Err(DecodeError::UnknownVersion { event_type: event_type.into(), version });
    }
    super::read_tagged(event_type, data)
}

impl StoredComplaintEvent {
    /// The payload as written today (the envelope carries the type).
    pub fn to_data(&self) -> Value {
        super::data_of(serde_json::to_value(self))
    }
}

fn text(t: &Text) -> String {
    t.as_str().to_owned()
}

fn opt_text(t: &Option<Text>) -> Option<String> {
    t.as_ref().map(text)
}

impl From<&domain::ComplainantDetails> for Complainant {
    fn from(c: &domain::ComplainantDetails) -> Self {
        Complainant {
            id: c.id.as_str().to_owned(),
            ic_number: c.ic_number.as_str().to_owned(),
            name: text(&c.name),
            email: c.email.as_str().to_owned(),
            phone: c.phone.as_str().to_owned(),
            ptj: text(&c.ptj),
        }
    }
}

impl From<Complainant> for domain::ComplainantDetails {
    fn from(c: Complainant) -> Self {
        domain::ComplainantDetails {
            id: StaffId::from_stored(c.id),
            ic_number: IcNumber::from_stored(c.ic_number),
            name: Text::from_stored(c.name),
            email: Email::from_stored(c.email),
            phone: PhoneNumber::from_stored(c.phone),
            ptj: Text::from_stored(c.ptj),
        }
    }
}

impl From<&ComplaintEvent> for StoredComplaintEvent {
    fn from(event: &ComplaintEvent) -> Self {
        use ComplaintEvent as D;
        use StoredComplaintEvent as S;
        match event {
            D::ComplaintLogged(e) => S::ComplaintLogged(ComplaintLogged {
                number: e.number.clone(),
                complainant: (&e.complainant).into(),
                category: e.category.as_str().to_owned(),
                title: text(&e.title),
                description: text(&e.description),
                channel: e.channel,
                reference: opt_text(&e.reference),
            }),
            D::ComplaintAssigned(e) => S::ComplaintAssigned(ComplaintAssigned {
                pic_id: e.pic_id.as_str().to_owned(),
                pic_name: e.pic_name.clone(),
                previous_pic_id: e.previous_pic_id.as_ref().map(|p| p.as_str().to_owned()),
                covers_category: e.covers_category,
                note: opt_text(&e.note),
            }),
            D::ComplaintResponded(e) => {
                S::ComplaintResponded(ComplaintResponded { message: text(&e.message), status: e.status })
            }
            D::ComplainantReplied(e) => S::ComplainantReplied(Message { message: text(&e.message) }),
            D::ReferredToImplementor(e) => S::ReferredToImplementor(ReferredToImplementor {
                implementor_id: e.implementor_id.as_str().to_owned(),
                implementor_name: e.implementor_name.clone(),
                message: text(&e.message),
            }),
            D::EscalatedToVendor(e) => S::EscalatedToVendor(EscalatedToVendor {
                vendor: e.vendor,
                vendor_log_number: opt_text(&e.vendor_log_number),
                message: text(&e.message),
            }),
            D::VendorUpdateRecorded(e) => S::VendorUpdateRecorded(VendorUpdateRecorded {
                message: text(&e.message),
                vendor_log_number: opt_text(&e.vendor_log_number),
            }),
            D::InternalNoteAdded(e) => S::InternalNoteAdded(Message { message: text(&e.message) }),
            D::ComplaintClosed(e) => S::ComplaintClosed(ComplaintClosed {
                closed_by: e.closed_by,
                reason: opt_text(&e.reason),
                rating: e.rating,
                comment: opt_text(&e.comment),
            }),
            D::ComplaintReopened(e) => S::ComplaintReopened(ComplaintReopened { reason: text(&e.reason) }),
        }
    }
}

impl From<StoredComplaintEvent> for ComplaintEvent {
    fn from(stored: StoredComplaintEvent) -> Self {
        use ComplaintEvent as D;
        use StoredComplaintEvent as S;
        let text = Text::from_stored;
        let opt_text = |t: Option<String>| t.map(Text::from_stored);
        match stored {
            S::ComplaintLogged(e) => D::ComplaintLogged(domain::ComplaintLogged {
                number: e.number,
                complainant: e.complainant.into(),
                category: CategoryCode::from_stored(e.category),
                title: text(e.title),
                description: text(e.description),
                channel: e.channel,
                reference: opt_text(e.reference),
            }),
            S::ComplaintAssigned(e) => D::ComplaintAssigned(domain::ComplaintAssigned {
                pic_id: StaffId::from_stored(e.pic_id),
                pic_name: e.pic_name,
                previous_pic_id: e.previous_pic_id.map(StaffId::from_stored),
                covers_category: e.covers_category,
                note: opt_text(e.note),
            }),
            S::ComplaintResponded(e) => {
                D::ComplaintResponded(domain::ComplaintResponded { message: text(e.message), status: e.status })
            }
            S::ComplainantReplied(e) => D::ComplainantReplied(domain::ComplainantReplied { message: text(e.message) }),
            S::ReferredToImplementor(e) => D::ReferredToImplementor(domain::ReferredToImplementor {
                implementor_id: StaffId::from_stored(e.implementor_id),
                implementor_name: e.implementor_name,
                message: text(e.message),
            }),
            S::EscalatedToVendor(e) => D::EscalatedToVendor(domain::EscalatedToVendor {
                vendor: e.vendor,
                vendor_log_number: opt_text(e.vendor_log_number),
                message: text(e.message),
            }),
            S::VendorUpdateRecorded(e) => D::VendorUpdateRecorded(domain::VendorUpdateRecorded {
                message: text(e.message),
                vendor_log_number: opt_text(e.vendor_log_number),
            }),
            S::InternalNoteAdded(e) => D::InternalNoteAdded(domain::InternalNoteAdded { message: text(e.message) }),
            S::ComplaintClosed(e) => D::ComplaintClosed(domain::ComplaintClosed {
                closed_by: e.closed_by,
                reason: opt_text(e.reason),
                rating: e.rating,
                comment: opt_text(e.comment),
            }),
            S::ComplaintReopened(e) => D::ComplaintReopened(domain::ComplaintReopened { reason: text(e.reason) }),
        }
    }
}
