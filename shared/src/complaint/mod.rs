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

/// Each reopening pages the PIC; past this many, the complainant files a new complaint.
pub const MAX_REOPENS: u32 = 3;

/// Each reply pages the PIC; past this many in a row without an answer, the complainant
/// waits for one.
pub const MAX_REPLIES_WITHOUT_ANSWER: u32 = 5;

/// `ADU-2026-000123`: what people read out on the phone.
pub fn complaint_number(year: i32, sequence: u64) -> String {
    format!("ADU-{year}-{sequence:06}")
}

#[cfg(test)]
mod tests;
