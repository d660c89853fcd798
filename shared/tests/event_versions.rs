//! Every version of every event ever written keeps decoding, upcast to today's shape.

use ehelpdesk_shared::aggregate::DomainEvent;
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::envelope::{decode, encode};
use ehelpdesk_shared::staff::{StaffEvent, StaffMember};

fn fixtures() -> Vec<(String, Vec<u8>)> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    files.sort();
    files
}

#[test]
fn every_fixture_decodes_and_names_its_type_and_version() {
    let mut complaint_types = vec![];
    let mut staff_types = vec![];
    for (name, bytes) in fixtures() {
        let (event_type, version) = name.trim_end_matches(".json").split_once(".v").unwrap();
        let version: u32 = version.parse().unwrap();
        if let Ok(d) = decode::<Complaint>(&bytes) {
            assert_eq!(d.recorded.event.event_type(), event_type, "{name}");
            assert_eq!(d.written_version, version, "{name}");
            // Re-encoding writes today's version, and that decodes to the same event.
            let again = decode::<Complaint>(&encode::<Complaint>(&d.id, &d.recorded)).unwrap();
            assert_eq!(again.recorded, d.recorded, "{name}");
            assert_eq!(Some(again.written_version), ComplaintEvent::current_version(event_type));
            complaint_types.push(event_type.to_owned());
        } else {
            let d = decode::<StaffMember>(&bytes).unwrap_or_else(|e| panic!("{name} does not decode: {e}"));
            assert_eq!(d.recorded.event.event_type(), event_type, "{name}");
            staff_types.push(event_type.to_owned());
        }
    }
    complaint_types.sort();
    complaint_types.dedup();
    staff_types.sort();
    staff_types.dedup();
    let mut all_complaint: Vec<_> = ComplaintEvent::TYPES.iter().map(|t| t.to_string()).collect();
    all_complaint.sort();
    let mut all_staff: Vec<_> = StaffEvent::TYPES.iter().map(|t| t.to_string()).collect();
    all_staff.sort();
    assert_eq!(complaint_types, all_complaint, "a fixture for every complaint event type");
    assert_eq!(staff_types, all_staff, "a fixture for every staff event type");
}

#[test]
fn complaint_logged_v1_is_upcast_with_no_reference() {
    let v1 = fixtures().into_iter().find(|(n, _)| n == "ComplaintLogged.v1.json").unwrap().1;
    let v2 = fixtures().into_iter().find(|(n, _)| n == "ComplaintLogged.v2.json").unwrap().1;
    let (ComplaintEvent::ComplaintLogged(old), ComplaintEvent::ComplaintLogged(new)) =
        (decode::<Complaint>(&v1).unwrap().recorded.event, decode::<Complaint>(&v2).unwrap().recorded.event)
    else {
        panic!("both are ComplaintLogged")
    };
    assert_eq!(old.reference, None);
    assert_eq!(new.reference.unwrap().as_str(), "BV-2026-0101");
    assert_eq!(old.number, new.number);
    // A version from the future is refused, not guessed at.
    let future = String::from_utf8(v2).unwrap().replace("\"version\": 2", "\"version\": 9");
    assert!(decode::<Complaint>(future.as_bytes()).is_err());
}

/// An event written under older, looser rules: an IC number with an impossible month, an
/// e-mail and a phone today's validators refuse, a staff id with capitals and a dot, a
/// category since withdrawn. The log must still read it, exactly as written.
#[test]
fn an_event_today_s_validators_would_refuse_still_decodes_as_written() {
    let raw = include_str!("fixtures/legacy/ComplaintLogged.v2.refused-today.json");
    let decoded = ehelpdesk_shared::envelope::decode::<ehelpdesk_shared::complaint::Complaint>(raw.as_bytes())
        .expect("the log decodes for ever");
    let ehelpdesk_shared::complaint::ComplaintEvent::ComplaintLogged(logged) = &decoded.recorded.event else {
        panic!("a ComplaintLogged")
    };
    let who = &logged.complainant;
    assert_eq!(
        (who.ic_number.as_str(), who.email.as_str(), who.phone.as_str(), who.id.as_str()),
        ("901301-03-5678", "pengadu@", "+65 6123 4567", "Pengadu.Lama")
    );
    assert_eq!(who.ic_number.masked(), "******-**-5678");
    assert_eq!(decoded.recorded.actor.id.as_str(), "Pengadu.Lama");
    // And what is read back is written back the same.
    let again =
        ehelpdesk_shared::envelope::encode::<ehelpdesk_shared::complaint::Complaint>(&decoded.id, &decoded.recorded);
    let again = ehelpdesk_shared::envelope::decode::<ehelpdesk_shared::complaint::Complaint>(&again).unwrap();
    assert_eq!(again.recorded, decoded.recorded);
}

/// Staff registered before notification preferences existed hear on both channels when their
/// events are replayed: the old log holds no choice, and no choice means both on.
#[test]
fn staff_from_before_preferences_existed_replay_with_both_channels_on() {
    use ehelpdesk_shared::aggregate::Aggregate;
    use ehelpdesk_shared::staff::NotificationPreferences;
    let decoded: Vec<_> = ["StaffRegistered.v1", "StaffUpdated.v1"]
        .iter()
        .map(|name| decode::<StaffMember>(&ehelpdesk_shared::test_fixtures::fixture(name)).unwrap())
        .collect();
    let events: Vec<_> = decoded.iter().map(|d| d.recorded.clone()).collect();
    let member = StaffMember::fold(&decoded[0].id, &events).unwrap().unwrap();
    assert_eq!(member.notification_preferences, NotificationPreferences { email: true, whatsapp: true });

    let changed = decode::<StaffMember>(&ehelpdesk_shared::test_fixtures::fixture("NotificationPreferencesChanged.v1"));
    let mut events = events;
    events.push(changed.unwrap().recorded);
    let member = StaffMember::fold(&decoded[0].id, &events).unwrap().unwrap();
    assert_eq!(member.notification_preferences, NotificationPreferences { email: true, whatsapp: false });
}
