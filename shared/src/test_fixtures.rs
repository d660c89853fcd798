//! Fixed states for the services' snapshot tests (feature `test-fixtures`, enabled only by
//! their dev-dependencies), folded from the event fixtures in `shared/tests/fixtures/events`
//! (fixed UUIDs and timestamps), so snapshots are deterministic. Panics are the point here:
//! a fixture that does not fold is a broken test.

use crate::aggregate::{Aggregate, Recorded};
use crate::complaint::{Complaint, ComplaintEvent};
use crate::envelope::decode;
use crate::staff::StaffMember;

/// One event of every complaint type, in the order a complaint could live them.
pub const COMPLAINT_LIFE: &[&str] = &[
    "ComplaintLogged.v2",
    "ComplaintAssigned.v1",
    "ComplaintResponded.v1",
    "ComplainantReplied.v1",
    "ReferredToImplementor.v1",
    "EscalatedToVendor.v1",
    "VendorUpdateRecorded.v1",
    "InternalNoteAdded.v1",
    "ComplaintClosed.v1",
    "ComplaintReopened.v1",
];

/// One event of every staff type.
pub const STAFF_LIFE: &[&str] =
    &["StaffRegistered.v1", "StaffUpdated.v1", "NotificationPreferencesChanged.v1", "StaffDeactivated.v1"];

/// The stored bytes of the event fixture `name` (`shared/tests/fixtures/events/<name>.json`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/events/{name}.json", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The complaint fixtures' events up to and including `last`, in the order a complaint lives them.
pub fn complaint_events(last: &str) -> Vec<Recorded<ComplaintEvent>> {
    let life = COMPLAINT_LIFE;
    let end = life.iter().position(|n| *n == last).map_or(life.len(), |i| i + 1);
    life[..end].iter().map(|name| decode::<Complaint>(&fixture(name)).unwrap().recorded).collect()
}

/// A closed complaint (assigned, referred, escalated, rated).
pub fn complaint() -> Complaint {
    complaint_after("ComplaintClosed.v1")
}

/// The complaint as it stood after the fixture `last`.
pub fn complaint_after(last: &str) -> Complaint {
    Complaint::fold(&complaint_id(), &complaint_events(last)).unwrap().unwrap()
}

pub fn complaint_id() -> uuid::Uuid {
    decode::<Complaint>(&fixture("ComplaintLogged.v2")).unwrap().id
}

/// A PIC, registered and then updated.
pub fn staff_member() -> StaffMember {
    let decoded: Vec<_> = ["StaffRegistered.v1", "StaffUpdated.v1"]
        .iter()
        .map(|name| decode::<StaffMember>(&fixture(name)).unwrap())
        .collect();
    let events: Vec<_> = decoded.iter().map(|d| d.recorded.clone()).collect();
    StaffMember::fold(&decoded[0].id, &events).unwrap().unwrap()
}
