//! Several assignments to one PIC within the batch window go out as one message per channel
//! listing the complaints, and a receipt for that message marks every row it spoke for.
//! Real NATS and PostgreSQL, with the test's own streams and database.

use std::time::Duration;

use chrono::Utc;
use ehelpdesk_shared::notification::{Channel, DeliveryState, NotificationMessage, Receipt, Template};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use futures::StreamExt;
use serde_json::json;

/// Every notification published on the test's NOTIFY stream for `channel`.
async fn published(log: &TestEventLog, channel: Channel) -> Vec<NotificationMessage> {
    let js = log.jetstream().await;
    let (stream, prefix) = log.notify();
    let Ok(stream) = js.get_stream(&stream).await else { return vec![] };
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: format!("{prefix}.{}", channel.as_str()),
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = vec![];
    while let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(300), messages.next()).await {
        out.push(serde_json::from_slice(&m.payload).expect("a notification"));
    }
    out
}

async fn assignments_to_pic(log: &TestEventLog, channel: Channel) -> Vec<NotificationMessage> {
    let all = published(log, channel).await;
    all.into_iter().filter(|m| m.recipient_id == PIC.id && m.template != Template::AduanDiterima).collect()
}

#[tokio::test]
async fn assignments_to_one_pic_within_the_window_go_out_as_one_message() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let mut settings = projection_settings(&log.config, &db);
    settings.assignment_batch = Duration::from_secs(5);
    let projection = ProjectionApp::spawn(settings).await;
    let assign = |id: String| {
        let command = &command;
        async move {
            let path = format!("/v1/complaints/{id}/assignment");
            command.post(&path, &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
        }
    };
    let mut ids = vec![];
    for title in
        ["Amaun salah pada baris arahan bayaran", "Slip gaji tiada", "Baucar tidak dijana", "Lejar tidak seimbang"]
    {
        let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
        ids.push(filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned());
    }
    for id in &ids[..3] {
        assign(id.clone()).await;
    }
    projection.caught_up(&log).await;

    // Within the window nothing goes to the PIC; after it, one message per channel.
    assert!(assignments_to_pic(&log, Channel::Email).await.is_empty(), "held for the window");
    let mut email = vec![];
    for _ in 0..100 {
        email = assignments_to_pic(&log, Channel::Email).await;
        if !email.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(email.len(), 1, "{email:?}");
    let batch = &email[0];
    assert_eq!(batch.template, Template::AduanDitugaskanBerkumpulan);
    assert_eq!(batch.params[0], "3");
    assert!(batch.subject.starts_with("3 aduan ditugaskan kepada anda"), "{}", batch.subject);
    assert!(batch.body.contains("Slip gaji tiada") && batch.body.contains("Baucar tidak dijana"), "{}", batch.body);
    assert_eq!(assignments_to_pic(&log, Channel::WhatsApp).await.len(), 1);

    // The notifier's receipt for the one message marks the three rows it spoke for.
    let js = log.jetstream().await;
    let receipt = Receipt {
        id: batch.id,
        channel: Channel::Email,
        state: DeliveryState::Sent,
        attempts: 1,
        cycle: 0,
        reason: None,
        provider_message_id: Some("250 2.0.0 Ok: queued as 4Xk9".into()),
        at: Utc::now(),
    };
    let subject = format!("{}.receipt.email", log.notify().1);
    js.publish(subject, serde_json::to_vec(&receipt).unwrap().into()).await.unwrap().await.unwrap();
    let mut sent = 0;
    for _ in 0..100 {
        let rows = projection.get("/v1/outbox?limit=200&state=sent", &ADMIN).await;
        sent = rows.assert_ok(200).as_array().unwrap().iter().filter(|r| r["recipient_id"] == PIC.id).count();
        if sent == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(sent, 3, "every assignment the message listed shows it sent");

    // An assignment after the batch went is a message of its own, once its window passes.
    assign(ids[3].clone()).await;
    let mut later = vec![];
    for _ in 0..100 {
        later = assignments_to_pic(&log, Channel::Email).await;
        if later.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(later.len(), 2, "{later:?}");
    assert_eq!(later[1].template, Template::AduanDitugaskan);
    assert_eq!(later[1].complaint_id.to_string(), ids[3]);
}

/// The window on a clock the test sets: the relay of this test publishes by hand.
#[tokio::test]
async fn an_assignment_waits_out_the_window_by_the_relays_clock() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let mut settings = projection_settings(&log.config, &db);
    settings.relay_outbox = false;
    let notify = settings.notify.clone();
    let projection = ProjectionApp::spawn(settings).await;
    for title in ["Slip gaji tiada", "Baucar tidak dijana"] {
        let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
        let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
        let path = format!("/v1/complaints/{id}/assignment");
        command.post(&path, &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    }
    projection.caught_up(&log).await;
    let pool = ehelpdesk_projection::db::connect(&db.url, "readmodel", 2).await.unwrap();
    // The window runs from the first assignment's event.
    let first: chrono::DateTime<Utc> =
        sqlx::query_scalar("SELECT min(created_at) FROM notification_outbox WHERE template = 'aduan_ditugaskan'")
            .fetch_one(&pool)
            .await
            .unwrap();
    let now = std::sync::Arc::new(std::sync::Mutex::new(first));
    let clock = now.clone();
    let relay = ehelpdesk_projection::relay::Relay {
        pool,
        jetstream: log.jetstream().await,
        notify,
        metrics: None,
        assignment_batch: Duration::from_secs(120),
        clock: std::sync::Arc::new(move || *clock.lock().unwrap()),
    };
    relay.ensure_stream().await.unwrap();
    let publish_all = || async {
        let mut published = 0;
        loop {
            match relay.publish_pending().await.unwrap() {
                0 => return published,
                n => published += n,
            }
        }
    };
    // At 119 s only the acknowledgements to the complainant go (e-mail and WhatsApp each).
    *now.lock().unwrap() = first + chrono::Duration::seconds(119);
    assert_eq!(publish_all().await, 4);
    assert!(assignments_to_pic(&log, Channel::Email).await.is_empty(), "held until the window ends");
    // At 120 s the first is due and takes the second along: one message per channel.
    *now.lock().unwrap() = first + chrono::Duration::seconds(120);
    assert_eq!(publish_all().await, 4, "two rows per channel");
    let email = assignments_to_pic(&log, Channel::Email).await;
    assert_eq!(email.len(), 1, "{email:?}");
    assert_eq!((email[0].template, email[0].params[0].as_str()), (Template::AduanDitugaskanBerkumpulan, "2"));
    assert_eq!(assignments_to_pic(&log, Channel::WhatsApp).await.len(), 1);
}
