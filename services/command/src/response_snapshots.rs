//! Snapshots of every response shape the command API answers with, built from the shared
//! event fixtures (fixed UUIDs and timestamps), against committed `.snap` files in
//! `snapshots/`. A renamed field of the domain state changes none of them.

use ehelpdesk_shared::complaint::ComplaintEvent;
use ehelpdesk_shared::staff::{StaffEvent, StaffMember};
use ehelpdesk_shared::test_fixtures;
use ehelpdesk_shared::visibility::{ComplaintView, Relation};

use crate::event_store::Receipt;
use crate::routes::ComplaintResponse;
use crate::routes::StaffView;

#[test]
fn accepted_commands() {
    let events = test_fixtures::complaint_events("ComplaintAssigned.v1");
    let assigned = test_fixtures::complaint_after("ComplaintAssigned.v1");
    insta::assert_json_snapshot!("receipt_complaint", assigned.receipt(&events[1].event, 2));
    let mut outside_categories = events[1].event.clone();
    if let ComplaintEvent::ComplaintAssigned(a) = &mut outside_categories {
        a.covers_category = false;
    }
    insta::assert_json_snapshot!("receipt_complaint_with_warning", assigned.receipt(&outside_categories, 2));
    let member = test_fixtures::staff_member();
    let deactivation = StaffEvent::StaffDeactivated(ehelpdesk_shared::staff::StaffDeactivated {
        reason: ehelpdesk_shared::validation::Text::parse("reason", "Bersara", 1, 100).unwrap(),
    });
    insta::assert_json_snapshot!("receipt_staff", <StaffMember as Receipt>::receipt(&member, &deactivation, 3));
    let mut quiet = member.clone();
    quiet.notification_preferences = ehelpdesk_shared::staff::NotificationPreferences { email: false, whatsapp: false };
    let all_off = StaffEvent::NotificationPreferencesChanged(ehelpdesk_shared::staff::NotificationPreferencesChanged {
        email: false,
        whatsapp: false,
    });
    insta::assert_json_snapshot!("receipt_staff_with_warning", <StaffMember as Receipt>::receipt(&quiet, &all_off, 4));
}

#[test]
fn complaint_view_for_each_relation() {
    let closed = test_fixtures::complaint();
    for (name, relation) in
        [("admin", Relation::Admin), ("owner", Relation::Owner), ("implementor", Relation::ReferredImplementor)]
    {
        let view = ComplaintView::of(&closed, relation);
        let response = ComplaintResponse {
            status_label_ms: view.status.label_ms(),
            status_label_en: view.status.label_en(),
            complaint: view,
            stream_sequence: 9,
        };
        insta::assert_json_snapshot!(format!("complaint_{name}"), response);
    }
}

#[test]
fn staff_view() {
    let member = test_fixtures::staff_member();
    insta::assert_json_snapshot!("staff", StaffView { staff: (&member).into(), stream_sequence: 2 });
}
