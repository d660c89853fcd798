//! The stored schemas, pinned: every event type as `envelope::encode` writes it today, and
//! the read model's stored states, against committed golden snapshots (`snapshots/`). A
//! renamed or retyped stored field fails here before it reaches a log or a row.
//! Snapshots are never accepted in CI: a difference is a failure.

use ehelpdesk_shared::aggregate::{Aggregate, DomainEvent, Recorded};
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::envelope::{decode, encode};
use ehelpdesk_shared::staff::{StaffEvent, StaffMember};
use ehelpdesk_shared::stored::state::{StoredComplaint, StoredStaffMember};
use serde_json::Value;

use ehelpdesk_shared::test_fixtures::{COMPLAINT_LIFE, STAFF_LIFE, fixture};

fn complaint_events() -> Vec<(uuid::Uuid, Recorded<ComplaintEvent>)> {
    COMPLAINT_LIFE
        .iter()
        .map(|name| decode::<Complaint>(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
        .map(|d| (d.id, d.recorded))
        .collect()
}

fn staff_events() -> Vec<(ehelpdesk_shared::validation::StaffId, Recorded<StaffEvent>)> {
    STAFF_LIFE
        .iter()
        .map(|name| decode::<StaffMember>(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}")))
        .map(|d| (d.id, d.recorded))
        .collect()
}

#[test]
fn every_complaint_event_encodes_as_the_golden_snapshot() {
    let events = complaint_events();
    let mut types: Vec<&str> = events.iter().map(|(_, r)| r.event.event_type()).collect();
    types.sort();
    let mut all = ComplaintEvent::TYPES.to_vec();
    all.sort();
    assert_eq!(types, all, "the golden file holds every complaint event type");
    for (id, recorded) in &events {
        let wire: Value = serde_json::from_slice(&encode::<Complaint>(id, recorded)).unwrap();
        insta::assert_json_snapshot!(format!("event_{}", recorded.event.event_type()), wire);
    }
}

#[test]
fn every_staff_event_encodes_as_the_golden_snapshot() {
    let events = staff_events();
    let types: Vec<&str> = events.iter().map(|(_, r)| r.event.event_type()).collect();
    assert_eq!(types, StaffEvent::TYPES, "the golden file holds every staff event type");
    for (id, recorded) in &events {
        let wire: Value = serde_json::from_slice(&encode::<StaffMember>(id, recorded)).unwrap();
        insta::assert_json_snapshot!(format!("event_{}", recorded.event.event_type()), wire);
    }
}

#[test]
fn the_stored_states_are_the_golden_snapshots_and_read_back_the_same() {
    let events = complaint_events();
    let id = events[0].0;
    let recorded: Vec<_> = events.iter().map(|(_, r)| r.clone()).collect();
    // Closed (with a rating), then the same after its reopening.
    let closed = Complaint::fold(&id, &recorded[..recorded.len() - 1]).unwrap().unwrap();
    let reopened = Complaint::fold(&id, &recorded).unwrap().unwrap();
    for (name, state) in [("closed", &closed), ("reopened", &reopened)] {
        let stored = StoredComplaint::from(state);
        insta::assert_json_snapshot!(format!("state_complaint_{name}"), stored);
        let back: StoredComplaint = serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
        assert_eq!(Complaint::from(back), *state, "{name}");
    }

    let staff = staff_events();
    let staff_id = staff[0].0.clone();
    let recorded: Vec<_> = staff.iter().map(|(_, r)| r.clone()).collect();
    let member = StaffMember::fold(&staff_id, &recorded).unwrap().unwrap();
    let stored = StoredStaffMember::from(&member);
    insta::assert_json_snapshot!("state_staff", stored);
    let back: StoredStaffMember = serde_json::from_value(serde_json::to_value(&stored).unwrap()).unwrap();
    assert_eq!(StaffMember::from(back), member);
}

/// A state stored before `replies_since_answer` existed has no such key, and one written
/// with none pending writes none: rows and `verify` compare the same either way.
#[test]
fn a_state_stored_without_newer_fields_reads_back() {
    let events = complaint_events();
    let recorded: Vec<_> = events.iter().map(|(_, r)| r.clone()).collect();
    let closed = Complaint::fold(&events[0].0, &recorded[..recorded.len() - 1]).unwrap().unwrap();
    let mut old = serde_json::to_value(StoredComplaint::from(&closed)).unwrap();
    let map = old.as_object_mut().unwrap();
    map.remove("replies_since_answer");
    map.remove("reference");
    let back: StoredComplaint = serde_json::from_value(old).unwrap();
    assert_eq!((back.reference, back.replies_since_answer), (None, 0));
    let mut none_pending = StoredComplaint::from(&closed);
    none_pending.replies_since_answer = 0;
    assert!(!serde_json::to_value(none_pending).unwrap().as_object().unwrap().contains_key("replies_since_answer"));
}

/// A staff row stored before notification preferences existed has no such key and reads as
/// both channels on; one with both on writes none, so old and rebuilt rows are the same.
#[test]
fn a_staff_state_stored_without_preferences_reads_back_with_both_on() {
    use ehelpdesk_shared::staff::NotificationPreferences;
    let member = ehelpdesk_shared::test_fixtures::staff_member();
    assert_eq!(member.notification_preferences, NotificationPreferences::default());
    let stored = serde_json::to_value(StoredStaffMember::from(&member)).unwrap();
    assert!(!stored.as_object().unwrap().contains_key("notification_preferences"), "{stored}");
    let back: StoredStaffMember = serde_json::from_value(stored).unwrap();
    assert_eq!(StaffMember::from(back), member);

    let mut quiet = member.clone();
    quiet.notification_preferences = NotificationPreferences { email: false, whatsapp: false };
    let stored = serde_json::to_value(StoredStaffMember::from(&quiet)).unwrap();
    assert_eq!(stored["notification_preferences"], serde_json::json!({"email": false, "whatsapp": false}));
    let back: StoredStaffMember = serde_json::from_value(stored).unwrap();
    assert_eq!(StaffMember::from(back), quiet);
}
