//! The complaint aggregate: its statuses, events, commands and the pure rules that link them.

mod command;
mod decide;
mod event;
mod state;
mod status;

pub use command::{ComplaintCommand, LogComplaint, Rating};
pub use event::{
    Channel, ClosedBy, ComplainantDetails, ComplainantReplied, ComplaintAssigned, ComplaintClosed, ComplaintEvent,
    ComplaintLogged, ComplaintReopened, ComplaintResponded, EscalatedToVendor, InternalNoteAdded,
    ReferredToImplementor, ResponseStatus, Vendor, VendorUpdateRecorded,
};
pub use state::{Complaint, Satisfaction, StaffRef};
pub use status::Status;

/// A closed complaint may be reopened by its complainant for this many days.
pub const REOPEN_WINDOW_DAYS: i64 = 14;

/// `ADU-2026-000123`: what people read out on the phone.
pub fn complaint_number(year: i32, sequence: u64) -> String {
    format!("ADU-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests;
