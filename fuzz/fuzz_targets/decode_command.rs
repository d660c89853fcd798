//! Any bytes as the body of "log a complaint" and of the other commands: parsing and
//! validation may refuse them, never panic.
#![no_main]

use ehelpdesk_command::routes::{
    AssignRequest, CloseRequest, EscalateRequest, LogComplaintRequest, MessageRequest, RegisterStaffRequest, RespondRequest,
};
use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::validation::StaffId;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let actor = Actor::new(StaffId::parse("id", "pengadu-ali").expect("id"), Role::Complainant, "Ali");
    if let Ok(request) = serde_json::from_slice::<LogComplaintRequest>(data) {
        let _ = request.into_command(&actor, "ADU-2026-000001".into());
    }
    let _ = serde_json::from_slice::<AssignRequest>(data);
    let _ = serde_json::from_slice::<RespondRequest>(data);
    let _ = serde_json::from_slice::<MessageRequest>(data);
    let _ = serde_json::from_slice::<EscalateRequest>(data);
    let _ = serde_json::from_slice::<CloseRequest>(data);
    let _ = serde_json::from_slice::<RegisterStaffRequest>(data);
});
