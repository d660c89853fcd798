//! Complaint events: past tense, never changed once written. A new shape of an event gets
//! a new version and an upcast in `decode` (see docs/architecture.md, "Event versions").

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::status::Status;
use crate::aggregate::{DecodeError, DomainEvent};
use crate::category::CategoryCode;
use crate::stored::complaint as stored;
use crate::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

/// The person a complaint belongs to: notified of every step, and the one who closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplainantDetails {
    pub id: StaffId,
    pub ic_number: IcNumber,
    pub name: Text,
    pub email: Email,
    pub phone: PhoneNumber,
    /// Pusat Tanggungjawab: the complainant's department.
    pub ptj: Text,
}

/// How the complaint reached the helpdesk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Web,
    Phone,
    Email,
    WalkIn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
pub enum Vendor {
    #[serde(rename = "BKP")]
    Bkp,
    #[serde(rename = "TTSB")]
    Ttsb,
}

impl Vendor {
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Bkp => "BKP",
            Vendor::Ttsb => "TTSB",
        }
    }
}

/// The three statuses of the PIC's reply form (domain.md), plus "in progress" for a reply
/// that only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResponseStatus {
    InProgress,
    AwaitingComplainant,
    PendingClosure,
}

impl From<ResponseStatus> for Status {
    fn from(s: ResponseStatus) -> Self {
        match s {
            ResponseStatus::InProgress => Status::InProgress,
            ResponseStatus::AwaitingComplainant => Status::AwaitingComplainant,
            ResponseStatus::PendingClosure => Status::PendingClosure,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClosedBy {
    Complainant,
    Admin,
}

/// Version 2 added `reference`; version 1 events are upcast with no reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintLogged {
    pub number: String,
    pub complainant: ComplainantDetails,
    pub category: CategoryCode,
    pub title: Text,
    pub description: Text,
    pub channel: Channel,
    /// The iSPEKS document the complaint is about (voucher, bill, pay-slip month...), if any.
    pub reference: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintAssigned {
    pub pic_id: StaffId,
    pub pic_name: String,
    pub previous_pic_id: Option<StaffId>,
    /// False when the PIC's categories do not include the complaint's: allowed, but warned.
    pub covers_category: bool,
    pub note: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintResponded {
    pub message: Text,
    pub status: ResponseStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplainantReplied {
    pub message: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferredToImplementor {
    pub implementor_id: StaffId,
    pub implementor_name: String,
    pub message: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EscalatedToVendor {
    pub vendor: Vendor,
    pub vendor_log_number: Option<Text>,
    pub message: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorUpdateRecorded {
    pub message: Text,
    pub vendor_log_number: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InternalNoteAdded {
    pub message: Text,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintClosed {
    pub closed_by: ClosedBy,
    pub reason: Option<Text>,
    pub rating: Option<u8>,
    pub comment: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplaintReopened {
    pub reason: Text,
}

/// Every complaint event. The variant names are the wire `type`s, and the only list of them:
/// [`ComplaintEvent::TYPES`] and `event_type` are derived from the variants, so an event
/// cannot be written without being readable.
#[derive(Debug, Clone, PartialEq, Eq, strum::IntoStaticStr, strum::VariantNames)]
pub enum ComplaintEvent {
    ComplaintLogged(ComplaintLogged),
    ComplaintAssigned(ComplaintAssigned),
    ComplaintResponded(ComplaintResponded),
    ComplainantReplied(ComplainantReplied),
    ReferredToImplementor(ReferredToImplementor),
    EscalatedToVendor(EscalatedToVendor),
    VendorUpdateRecorded(VendorUpdateRecorded),
    InternalNoteAdded(InternalNoteAdded),
    ComplaintClosed(ComplaintClosed),
    ComplaintReopened(ComplaintReopened),
}

impl ComplaintEvent {
    pub const TYPES: &'static [&'static str] = <Self as strum::VariantNames>::VARIANTS;

    /// The member of staff an event puts on the complaint, whom a projection must know.
    /// Exhaustive on purpose: a new event must say whether it names someone.
    pub fn staff_named(&self) -> Option<&StaffId> {
        match self {
            ComplaintEvent::ComplaintAssigned(e) => Some(&e.pic_id),
            ComplaintEvent::ReferredToImplementor(e) => Some(&e.implementor_id),
            ComplaintEvent::ComplaintLogged(_)
            | ComplaintEvent::ComplaintResponded(_)
            | ComplaintEvent::ComplainantReplied(_)
            | ComplaintEvent::EscalatedToVendor(_)
            | ComplaintEvent::VendorUpdateRecorded(_)
            | ComplaintEvent::InternalNoteAdded(_)
            | ComplaintEvent::ComplaintClosed(_)
            | ComplaintEvent::ComplaintReopened(_) => None,
        }
    }
}

// The log is read and written through the stored schema (`crate::stored::complaint`); the
// domain events never (de)serialize themselves, so a validator or a renamed field here
// cannot make the log unreadable.
impl DomainEvent for ComplaintEvent {
    fn event_type(&self) -> &'static str {
        self.into()
    }

    fn to_data(&self) -> Value {
        stored::StoredComplaintEvent::from(self).to_data()
    }

    fn current_version(event_type: &str) -> Option<u32> {
        stored::current_version(event_type)
    }

    fn decode(event_type: &str, version: u32, data: Value) -> Result<Self, DecodeError> {
        stored::decode(event_type, version, data).map(Self::from)
    }
}
