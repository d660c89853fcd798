//! Snapshots of every response shape the query API answers with, built from fixed values
//! (the shared event fixtures, fixed UUIDs and timestamps), against committed `.snap` files
//! in `snapshots/`. A renamed field of the domain state, the stored state or a row changes
//! none of them; a renamed field of a response type fails here before a client sees it.

use chrono::{DateTime, Utc};
use ehelpdesk_shared::aggregate::DomainEvent;
use ehelpdesk_shared::complaint::Status;
use ehelpdesk_shared::notification::{Channel, DeliveryState, Template};
use ehelpdesk_shared::test_fixtures;
use ehelpdesk_shared::visibility::{ComplaintView, Relation, StaffMemberView, mask_ic_number};
use serde_json::json;
use uuid::Uuid;

use crate::audit::HistoryEntry;
use crate::audit_routes::{HistoryResponse, StateAsOf};
use crate::queries::{
    AgingRow, ComplainantSummary, ComplaintNotification, ComplaintRow, OutboxRow, ResolutionRow, TimelineEntry,
};
use crate::routes::{Badge, ComplaintDetail, ComplaintNotifications, Inbox, SearchPage};
use crate::verify::{Difference, VerifyReport};

fn at(raw: &str) -> DateTime<Utc> {
    raw.parse().expect("a fixed timestamp")
}

fn inbox_row() -> ComplaintRow {
    let c = test_fixtures::complaint_after("ComplaintAssigned.v1");
    ComplaintRow {
        complaint_id: c.id,
        number: c.number.clone(),
        title: c.title.as_str().to_owned(),
        category: c.category.as_str().to_owned(),
        category_name_ms: c.category.category().name_ms.clone(),
        complainant: ComplainantSummary {
            id: c.complainant.id.to_string(),
            ic_number: mask_ic_number(c.complainant.ic_number.as_str()),
            name: c.complainant.name.as_str().to_owned(),
            ptj: c.complainant.ptj.as_str().to_owned(),
        },
        status: c.status,
        status_label_ms: c.status.label_ms(),
        status_label_en: c.status.label_en(),
        pic_id: c.pic.as_ref().map(|p| p.id.to_string()),
        pic_name: c.pic.as_ref().map(|p| p.name.clone()),
        logged_at: c.logged_at,
        last_activity_at: c.last_activity_at,
        closed_at: c.closed_at,
        age_calendar_days: 3,
        age_working_days: 2,
        solved_within_working_days: None,
    }
}

fn timeline_entry() -> TimelineEntry {
    TimelineEntry {
        sequence: 2,
        occurred_at: at("2026-03-01T02:00:00Z"),
        event_type: "ComplaintAssigned".into(),
        actor_id: "admin-siti".into(),
        actor_role: "admin".into(),
        actor_name: "Siti Admin".into(),
        status: Status::Assigned.as_str().to_owned(),
        status_label_ms: Status::Assigned.label_ms(),
        message: Some("Sila ambil tindakan".into()),
        details: json!({"pic_id": "pic-aminah", "pic_name": "Aminah binti Yusof"}),
        visibility: "internal".into(),
    }
}

#[test]
fn inbox_badge_and_search() {
    insta::assert_json_snapshot!("inbox", Inbox { pic_id: "pic-aminah".into(), badge: 1, items: vec![inbox_row()] });
    insta::assert_json_snapshot!("badge", Badge { pic_id: "pic-aminah".into(), count: 1 });
    insta::assert_json_snapshot!(
        "search_page",
        SearchPage { items: vec![inbox_row()], next_cursor: Some("1772330400000000_0199b8a0".into()) }
    );
}

#[test]
fn complaint_detail_as_staff_and_as_its_complainant() {
    let closed = test_fixtures::complaint();
    for (name, relation) in [("admin", Relation::Admin), ("owner", Relation::Owner)] {
        let detail = ComplaintDetail {
            summary: inbox_row().as_seen_by(relation),
            complaint: ComplaintView::of(&closed, relation),
            stream_sequence: 9,
            timeline: vec![timeline_entry().as_seen_by(relation)],
        };
        insta::assert_json_snapshot!(format!("detail_{name}"), detail);
    }
}

#[test]
fn history_and_state_as_of() {
    let events = test_fixtures::complaint_events("ComplaintAssigned.v1");
    let history = HistoryResponse {
        id: test_fixtures::complaint_id().to_string(),
        events: events
            .iter()
            .enumerate()
            .map(|(i, r)| HistoryEntry {
                sequence: i as u64 + 1,
                written_at: r.occurred_at,
                occurred_at: r.occurred_at,
                event_type: r.event.event_type(),
                version: 1,
                written_version: 1,
                actor: r.actor.clone(),
                msg_id: Some(format!("complaint:fixture:{i}")),
                data: r.event.to_data(),
            })
            .collect(),
    };
    insta::assert_json_snapshot!("history", history);

    let complaint = test_fixtures::complaint();
    let state = |value| StateAsOf { id: complaint.id.to_string(), last_sequence: 9, state: value };
    let view = serde_json::to_value(ComplaintView::of(&complaint, Relation::Auditor)).unwrap();
    insta::assert_json_snapshot!("state_as_of_complaint", state(view));
    insta::assert_json_snapshot!("state_as_of_before_it_existed", state(serde_json::Value::Null));
    let member = serde_json::to_value(StaffMemberView::from(&test_fixtures::staff_member())).unwrap();
    insta::assert_json_snapshot!(
        "state_as_of_staff",
        StateAsOf { id: "pic-aminah".into(), last_sequence: 2, state: member }
    );
}

#[test]
fn reports_outbox_and_verify() {
    let aging = vec![AgingRow {
        key: Some("pic-aminah".into()),
        days_0_3: 1,
        days_4_7: 2,
        days_8_14: 0,
        days_15_30: 0,
        days_over_30: 1,
        open: 4,
    }];
    insta::assert_json_snapshot!("report_aging", aging);
    let resolution = vec![ResolutionRow {
        key: None,
        closed: 10,
        median_working_days: 2.5,
        p90_working_days: 7.0,
        within_target: 0.8,
        target_working_days: 5,
    }];
    insta::assert_json_snapshot!("report_resolution", resolution);
    let complaint_id = test_fixtures::complaint_id();
    let outbox = vec![
        OutboxRow {
            id: Uuid::parse_str("0199b8a0-6a7e-7c3e-9d2a-00000000a001").unwrap(),
            sequence: 2,
            complaint_id,
            complaint_number: "ADU-2026-000001".into(),
            event_type: "ComplaintAssigned".into(),
            template: Template::AduanDitugaskan.name().into(),
            recipient_id: "pic-aminah".into(),
            recipient_role: "pic".into(),
            channel: Channel::Email,
            address: "aminah@example.gov.my".into(),
            subject: "ADU-2026-000001: Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
            body: "Aduan ADU-2026-000001 ditugaskan kepada anda.".into(),
            created_at: at("2026-03-01T02:00:00Z"),
            published_at: Some(at("2026-03-01T02:00:01Z")),
            delivery_state: DeliveryState::Sent,
            attempts: 1,
            retry_cycle: 0,
            delivery_reason: None,
            provider_message_id: Some("<0199b8a0-6a7e-7c3e-9d2a-00000000a001@ehelpdesk>".into()),
            delivered_at: Some(at("2026-03-01T02:00:03Z")),
            receipt_at: Some(at("2026-03-01T02:00:03Z")),
        },
        OutboxRow {
            id: Uuid::parse_str("0199b8a0-6a7e-7c3e-9d2a-00000000a002").unwrap(),
            sequence: 2,
            complaint_id,
            complaint_number: "ADU-2026-000001".into(),
            event_type: "ComplaintAssigned".into(),
            template: Template::AduanDitugaskan.name().into(),
            recipient_id: "pic-aminah".into(),
            recipient_role: "pic".into(),
            channel: Channel::WhatsApp,
            address: "+60139002002".into(),
            subject: "ADU-2026-000001: Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
            body: "Aduan ADU-2026-000001 ditugaskan kepada anda.".into(),
            created_at: at("2026-03-01T02:00:00Z"),
            published_at: Some(at("2026-03-01T02:00:01Z")),
            delivery_state: DeliveryState::DeadLettered,
            attempts: 5,
            retry_cycle: 0,
            delivery_reason: Some("131026: bukan pengguna WhatsApp / not a WhatsApp user".into()),
            provider_message_id: None,
            delivered_at: None,
            receipt_at: Some(at("2026-03-01T02:09:00Z")),
        },
    ];
    insta::assert_json_snapshot!("outbox", outbox);
    let told = ComplaintNotifications {
        complaint_id,
        number: "ADU-2026-000001".into(),
        items: outbox
            .iter()
            .map(|r| ComplaintNotification {
                id: r.id,
                sequence: r.sequence,
                event_type: r.event_type.clone(),
                recipient_id: r.recipient_id.clone(),
                recipient_role: r.recipient_role.clone(),
                channel: r.channel,
                address: r.address.clone(),
                subject: r.subject.clone(),
                delivery_state: r.delivery_state,
                attempts: r.attempts,
                retry_cycle: r.retry_cycle,
                delivery_reason: r.delivery_reason.clone(),
                delivered_at: r.delivered_at,
                created_at: r.created_at,
            })
            .collect(),
    };
    insta::assert_json_snapshot!("complaint_notifications", told);
    let report = VerifyReport {
        events: 12,
        checkpoint: 12,
        stream_head: 13,
        behind: 1,
        complaints: 1,
        differences: vec![Difference { complaint_id, what: "status differs: read model new, log assigned".into() }],
        projection_problems: vec!["1 event(s) behind the stream".into()],
    };
    insta::assert_json_snapshot!("verify", report);
}
