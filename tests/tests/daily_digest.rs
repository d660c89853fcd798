//! The daily digest on a clock the test sets: on a Kelantan working day from 08:00 Malaysian
//! time, each PIC with open complaints gets one e-mail in the outbox listing them oldest
//! first; never on the weekend, never twice, not for closed complaints, not to a PIC who
//! turned e-mail off. Real NATS and PostgreSQL, with the test's own streams and database.

use chrono::{DateTime, NaiveTime, Utc};
use ehelpdesk_projection::calendar::{WorkingDays, WorkingWeek};
use ehelpdesk_projection::digest::write_due;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::json;

const EIGHT: NaiveTime = NaiveTime::from_hms_opt(8, 0, 0).unwrap();

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[tokio::test]
async fn each_pic_with_open_complaints_gets_one_digest_a_working_day() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    for (person, categories) in [(&PIC, &["AC"][..]), (&OTHER_PIC, &["GL"][..])] {
        command.post("/v1/staff", &ADMIN, &person.registration(&["pic"], categories)).await.assert_ok(201);
    }
    let mut ids = vec![];
    for title in ["Amaun salah pada baris arahan bayaran", "Slip gaji tiada", "Baucar tidak dijana"] {
        let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
        let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
        command
            .post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id}))
            .await
            .assert_ok(200);
        ids.push(id);
    }
    // One of Aminah's is closed by the admin: it is no longer hers to do.
    let close = json!({"reason": "Aduan berganda / duplicate"});
    command.post(&format!("/v1/complaints/{}/closure", ids[2]), &ADMIN, &close).await.assert_ok(200);
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    let pool = ehelpdesk_projection::db::connect(&db.url, "readmodel", 2).await.unwrap();
    let calendar =
        WorkingDays::new("2026-01-01".parse().unwrap(), "2027-12-31".parse().unwrap(), &WorkingWeek::kelantan(), &[]);

    // Friday 4 December 2026 at 09:00 in Kota Bharu is the weekend; Sunday 07:59 is too early.
    assert_eq!(write_due(&pool, &calendar, at("2026-12-04T01:00:00Z"), EIGHT).await.unwrap(), 0);
    assert_eq!(write_due(&pool, &calendar, at("2026-12-05T23:59:00Z"), EIGHT).await.unwrap(), 0);
    // Sunday 08:00: one digest, for Aminah only (Abu Bakar has nothing open).
    assert_eq!(write_due(&pool, &calendar, at("2026-12-06T00:00:00Z"), EIGHT).await.unwrap(), 1);
    // Every instance looks every 30 s: the day's digest is written once.
    assert_eq!(write_due(&pool, &calendar, at("2026-12-06T03:00:00Z"), EIGHT).await.unwrap(), 0);
    let rows = projection.get("/v1/outbox?limit=200", &ADMIN).await;
    let digests: Vec<_> =
        rows.assert_ok(200).as_array().unwrap().iter().filter(|r| r["event_type"] == "DailyDigest").cloned().collect();
    assert_eq!(digests.len(), 1, "{digests:?}");
    let digest = &digests[0];
    assert_eq!((digest["recipient_id"].as_str(), digest["channel"].as_str()), (Some(PIC.id), Some("email")));
    assert_eq!(digest["template"], "ringkasan_harian");
    let subject = digest["subject"].as_str().unwrap();
    assert!(subject.starts_with("Ringkasan harian 06/12/2026: 2 aduan terbuka / Daily summary"), "{subject}");
    let body = digest["body"].as_str().unwrap();
    assert!(body.contains("Slip gaji tiada") && body.contains("Amaun salah"), "{body}");
    assert!(!body.contains("Baucar tidak dijana"), "closed complaints are not listed: {body}");
    // Monday brings the next one.
    assert_eq!(write_due(&pool, &calendar, at("2026-12-07T00:30:00Z"), EIGHT).await.unwrap(), 1);

    // A PIC who turned e-mail off gets no digest (it is a reminder, not an assignment); back
    // on, the next working day's comes.
    let path = format!("/v1/staff/{}/notification-preferences", PIC.id);
    let choose = |email: bool| json!({"email": email, "whatsapp": true});
    command.send(reqwest::Method::PUT, &path, &PIC, &choose(false), None).await.assert_ok(200);
    projection.caught_up(&log).await;
    assert_eq!(write_due(&pool, &calendar, at("2026-12-08T00:30:00Z"), EIGHT).await.unwrap(), 0);
    command.send(reqwest::Method::PUT, &path, &PIC, &choose(true), None).await.assert_ok(200);
    projection.caught_up(&log).await;
    assert_eq!(write_due(&pool, &calendar, at("2026-12-09T00:30:00Z"), EIGHT).await.unwrap(), 1);
}
