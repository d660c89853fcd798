//! Any bytes read from the stream as an event: decoding may refuse them, never panic, and
//! whatever decodes must fold without panicking and re-encode to the same event.
#![no_main]

use ehelpdesk_shared::aggregate::Aggregate;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::envelope::{decode, encode};
use ehelpdesk_shared::staff::StaffMember;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = decode::<Complaint>(data) {
        let _ = Complaint::fold(&d.id, [&d.recorded]);
        let again = decode::<Complaint>(&encode::<Complaint>(&d.id, &d.recorded)).expect("re-encoded event decodes");
        assert_eq!(again.recorded, d.recorded);
    }
    if let Ok(d) = decode::<StaffMember>(data) {
        let _ = StaffMember::fold(&d.id, [&d.recorded]);
    }
});
