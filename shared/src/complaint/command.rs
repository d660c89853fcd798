//! What people ask of a complaint. Fields are already validated value types: the HTTP edge
//! parses requests into these, so `decide` only has to judge the request against the state.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::event::{Channel, ComplainantDetails, ComplaintEvent, ResponseStatus, Vendor};
use crate::category::CategoryCode;
use crate::validation::{FieldError, StaffId, Text};

/// Satisfaction rating given when closing: 1 (poor) to 5 (excellent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Rating(u8);

impl Rating {
    pub fn parse(field: &str, raw: i64) -> Result<Self, FieldError> {
        match u8::try_from(raw) {
            Ok(r @ 1..=5) => Ok(Self(r)),
            _ => Err(FieldError::new(field, "invalid_rating", "Penilaian mesti 1-5 / rating must be 1 to 5")),
        }
    }

    pub fn value(self) -> u8 {
        self.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogComplaint {
    /// Allocated by the service before deciding (see the command service's `numbers`).
    pub number: String,
    pub complainant: ComplainantDetails,
    pub category: CategoryCode,
    pub title: Text,
    pub description: Text,
    pub channel: Channel,
    pub reference: Option<Text>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComplaintCommand {
    Log(Box<LogComplaint>),
    Assign { pic_id: StaffId, note: Option<Text> },
    Respond { message: Text, status: ResponseStatus },
    Reply { message: Text },
    ReferToImplementor { implementor_id: StaffId, message: Text },
    EscalateToVendor { vendor: Vendor, vendor_log_number: Option<Text>, message: Text },
    RecordVendorUpdate { message: Text, vendor_log_number: Option<Text> },
    AddInternalNote { message: Text },
    Close { reason: Option<Text>, rating: Option<Rating>, comment: Option<Text> },
    Reopen { reason: Text },
}

impl ComplaintCommand {
    /// The member of staff a command would put on the complaint, whom `decide` must find
    /// in the directory. Exhaustive, like [`ComplaintEvent::staff_named`].
    pub fn staff_named(&self) -> Option<&StaffId> {
        match self {
            ComplaintCommand::Assign { pic_id, .. } => Some(pic_id),
            ComplaintCommand::ReferToImplementor { implementor_id, .. } => Some(implementor_id),
            ComplaintCommand::Log(_)
            | ComplaintCommand::Respond { .. }
            | ComplaintCommand::Reply { .. }
            | ComplaintCommand::EscalateToVendor { .. }
            | ComplaintCommand::RecordVendorUpdate { .. }
            | ComplaintCommand::AddInternalNote { .. }
            | ComplaintCommand::Close { .. }
            | ComplaintCommand::Reopen { .. } => None,
        }
    }

    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            ComplaintCommand::Log(_) => "log",
            ComplaintCommand::Assign { .. } => "assign",
            ComplaintCommand::Respond { .. } => "respond",
            ComplaintCommand::Reply { .. } => "reply",
            ComplaintCommand::ReferToImplementor { .. } => "refer_to_implementor",
            ComplaintCommand::EscalateToVendor { .. } => "escalate_to_vendor",
            ComplaintCommand::RecordVendorUpdate { .. } => "record_vendor_update",
            ComplaintCommand::AddInternalNote { .. } => "add_internal_note",
            ComplaintCommand::Close { .. } => "close",
            ComplaintCommand::Reopen { .. } => "reopen",
        }
    }
}

impl ComplaintCommand {
    /// The command `decide` turned into `event` (see [`crate::aggregate::Aggregate::command_of`]).
    /// Exhaustive on purpose: a new event cannot be written without saying what asked for it.
    pub fn that_decided(event: &ComplaintEvent) -> Result<Self, FieldError> {
        Ok(match event {
            ComplaintEvent::ComplaintLogged(e) => ComplaintCommand::Log(Box::new(LogComplaint {
                number: e.number.clone(),
                complainant: e.complainant.clone(),
                category: e.category.clone(),
                title: e.title.clone(),
                description: e.description.clone(),
                channel: e.channel,
                reference: e.reference.clone(),
            })),
            ComplaintEvent::ComplaintAssigned(e) => {
                ComplaintCommand::Assign { pic_id: e.pic_id.clone(), note: e.note.clone() }
            }
            ComplaintEvent::ComplaintResponded(e) => {
                ComplaintCommand::Respond { message: e.message.clone(), status: e.status }
            }
            ComplaintEvent::ComplainantReplied(e) => ComplaintCommand::Reply { message: e.message.clone() },
            ComplaintEvent::ReferredToImplementor(e) => ComplaintCommand::ReferToImplementor {
                implementor_id: e.implementor_id.clone(),
                message: e.message.clone(),
            },
            ComplaintEvent::EscalatedToVendor(e) => ComplaintCommand::EscalateToVendor {
                vendor: e.vendor,
                vendor_log_number: e.vendor_log_number.clone(),
                message: e.message.clone(),
            },
            ComplaintEvent::VendorUpdateRecorded(e) => ComplaintCommand::RecordVendorUpdate {
                message: e.message.clone(),
                vendor_log_number: e.vendor_log_number.clone(),
            },
            ComplaintEvent::InternalNoteAdded(e) => ComplaintCommand::AddInternalNote { message: e.message.clone() },
            ComplaintEvent::ComplaintClosed(e) => ComplaintCommand::Close {
                reason: e.reason.clone(),
                rating: e.rating.map(|r| Rating::parse("rating", i64::from(r))).transpose()?,
                comment: e.comment.clone(),
            },
            ComplaintEvent::ComplaintReopened(e) => ComplaintCommand::Reopen { reason: e.reason.clone() },
        })
    }
}
