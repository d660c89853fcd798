//! An admin's retry of a dead-lettered notification (`POST /v1/notifications/{id}/retry`),
//! on the command service in this process against the real NATS, with NOTIFY messages
//! published as the relay publishes them and delivery records written as the notifier writes
//! them (tests/tests/notifier.rs runs the same through a real notifier and SMTP server).

use async_nats::HeaderMap;
use chrono::Utc;
use ehelpdesk_shared::notification::record::DeliveryRecord;
use ehelpdesk_shared::notification::{
    Channel, NotificationMessage, NotifyConfig, Receipt, RecordState, RecordStore, Template,
};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, TestEventLog, notify_of};
use serde_json::{Value, json};
use uuid::Uuid;

struct Setup {
    log: TestEventLog,
    command: CommandApp,
    notify: NotifyConfig,
    js: async_nats::jetstream::Context,
}

/// The command service with a PIC and an auditor in its directory; NOTIFY and the
/// notifier's bucket not yet created.
async fn setup() -> Setup {
    let log = TestEventLog::new();
    let command = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [(&PIC, &["pic"][..], &["AC"][..]), (&AUDITOR, &["auditor"][..], &[][..])] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let (stream, subject_prefix) = notify_of(&log.config);
    let notify = NotifyConfig { stream, subject_prefix, replicas: 1 };
    let js = log.jetstream().await;
    Setup { log, command, notify, js }
}

fn notification(channel: Channel) -> NotificationMessage {
    NotificationMessage {
        id: Uuid::now_v7(),
        complaint_id: Uuid::now_v7(),
        complaint_number: "ADU-2026-000042".into(),
        event_type: "ComplaintAssigned".into(),
        template: Template::AduanDitugaskan,
        params: vec!["ADU-2026-000042".into(), "Slip gaji".into(), "Gaji".into(), "JKR".into()],
        recipient_id: PIC.id.into(),
        recipient_role: "pic".into(),
        channel,
        address: match channel {
            Channel::Email => PIC.email.into(),
            Channel::WhatsApp => "+60139002002".into(),
        },
        subject: "Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
        body: "Aduan ADU-2026-000042 ditugaskan kepada anda.\nComplaint ADU-2026-000042 is assigned to you.".into(),
        created_at: Utc::now(),
        cycle: 0,
    }
}

impl Setup {
    /// Publishes `message` on NOTIFY as the relay does (creating the stream as it does);
    /// returns its stream sequence.
    async fn publish(&self, message: &NotificationMessage) -> u64 {
        ehelpdesk_shared::streams::ensure(&self.js, self.notify.stream_config()).await.expect("NOTIFY");
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.message_id().as_str());
        let payload = serde_json::to_vec(message).unwrap();
        let subject = self.notify.deliver_subject(message.channel);
        self.js.publish_with_headers(subject, headers, payload.into()).await.unwrap().await.unwrap().sequence
    }

    /// Writes the delivery record of `id` as a notifier would (creating the bucket as it does).
    async fn record(&self, id: Uuid, state: RecordState, cycle: u32, stream_sequence: u64) {
        let records = RecordStore::open(&self.js, &self.notify.deliveries_bucket(), 1).await.expect("bucket");
        let current = records.read(id).await.unwrap().map(|r| r.revision);
        let record = DeliveryRecord {
            state,
            cycle,
            attempts: 1,
            worker: "test".into(),
            since: Utc::now(),
            retry_at: None,
            reason: Some("550 5.1.1 mailbox unavailable".into()),
            provider_message_id: None,
            stream_sequence,
        };
        records.write(id, &record, current).await.unwrap().expect("written");
    }

    /// A notification published and dead-lettered in cycle 0.
    async fn dead_letter(&self) -> NotificationMessage {
        let message = notification(Channel::Email);
        let sequence = self.publish(&message).await;
        self.record(message.id, RecordState::DeadLettered, 0, sequence).await;
        message
    }

    async fn retry(&self, id: &str, who: &Person) -> ehelpdesk_tests::Reply {
        self.command.post(&format!("/v1/notifications/{id}/retry"), who, &json!({})).await
    }

    /// Every NOTIFY message on `subject` (wildcards allowed): headers and JSON payload.
    async fn messages(&self, subject: &str) -> Vec<(HeaderMap, Value)> {
        let stream = self.js.get_stream(&self.notify.stream).await.expect("NOTIFY");
        let (mut out, mut sequence) = (vec![], 1);
        while let Ok(m) = stream.raw_message_builder().sequence(sequence).next_by_subject(subject).send().await {
            sequence = m.sequence + 1;
            out.push((m.headers, serde_json::from_slice(&m.payload).unwrap()));
        }
        out
    }

    /// The deliveries and the receipts NOTIFY holds for `id`.
    async fn of(&self, id: Uuid) -> (Vec<NotificationMessage>, Vec<Receipt>) {
        let mine = |v: &Value| v["id"] == id.to_string();
        let deliveries = self.messages(&self.notify.all_deliveries()).await;
        let receipts = self.messages(&self.notify.all_receipts()).await;
        (
            deliveries.into_iter().filter(|(_, v)| mine(v)).map(|(_, v)| serde_json::from_value(v).unwrap()).collect(),
            receipts.into_iter().filter(|(_, v)| mine(v)).map(|(_, v)| serde_json::from_value(v).unwrap()).collect(),
        )
    }
}

#[tokio::test]
async fn an_admin_retry_publishes_the_next_cycle_and_a_queued_receipt() {
    let s = setup().await;
    let message = s.dead_letter().await;
    let reply = s.retry(&message.id.to_string(), &ADMIN).await;
    let body = reply.assert_ok(202);
    assert_eq!(body, &json!({"notification_id": message.id, "cycle": 1, "state": "queued"}));

    let (deliveries, receipts) = s.of(message.id).await;
    assert_eq!(deliveries.len(), 2, "the relay's and the retry's");
    assert_eq!(deliveries[1], NotificationMessage { cycle: 1, ..message.clone() }, "the same message, cycle 1");
    assert_eq!(receipts.len(), 1);
    let queued = &receipts[0];
    assert_eq!((queued.state.as_str(), queued.cycle, queued.attempts), ("queued", 1, 0));
    assert_eq!((queued.channel, queued.reason.as_deref()), (Channel::Email, None));
    let retried = s.messages(&s.notify.deliver_subject(Channel::Email)).await;
    let ids: Vec<_> = retried.iter().filter_map(|(h, _)| h.get("Nats-Msg-Id").map(|v| v.to_string())).collect();
    assert!(ids.contains(&format!("{}:retry:1", message.id)), "{ids:?}");

    // The notifier dead-letters cycle 1 too (it writes the record from the retry's message):
    // the next retry resends that message as cycle 2.
    let stream = s.js.get_stream(&s.notify.stream).await.unwrap();
    let last = stream.get_last_raw_message_by_subject(&s.notify.deliver_subject(Channel::Email)).await.unwrap();
    s.record(message.id, RecordState::DeadLettered, 1, last.sequence).await;
    s.retry(&message.id.to_string(), &ADMIN).await.assert_ok(202);
    let (deliveries, receipts) = s.of(message.id).await;
    assert_eq!(deliveries.iter().map(|d| d.cycle).collect::<Vec<_>>(), [0, 1, 2]);
    assert_eq!(receipts.iter().map(|r| r.cycle).collect::<Vec<_>>(), [1, 2]);
}

#[tokio::test]
async fn only_an_admin_retries_and_only_a_dead_letter_still_in_notify() {
    let s = setup().await;
    // No notifier has ever run: no bucket, so no notification of any id.
    s.retry(&Uuid::now_v7().to_string(), &ADMIN).await.assert_problem(404, "notification_not_found");
    let bucket = format!("KV_{}", s.notify.deliveries_bucket());
    assert!(s.js.get_stream(&bucket).await.is_err(), "the command service does not create the bucket");

    let message = s.dead_letter().await;
    let id = message.id.to_string();
    // Auditors read, never act; nobody else may either, and learns nothing of the id.
    for who in [&PIC, &AUDITOR, &COMPLAINANT] {
        s.retry(&id, who).await.assert_problem(403, "role_not_allowed");
        s.retry("not-a-notification", who).await.assert_problem(403, "role_not_allowed");
    }
    s.retry(&Uuid::now_v7().to_string(), &ADMIN).await.assert_problem(404, "notification_not_found");
    s.retry("not-a-notification", &ADMIN).await.assert_problem(404, "notification_not_found");

    for (state, name) in
        [(RecordState::Sent, "sent"), (RecordState::Failed, "failed"), (RecordState::Sending, "sending")]
    {
        let other = notification(Channel::WhatsApp);
        let sequence = s.publish(&other).await;
        s.record(other.id, state, 0, sequence).await;
        let reply = s.retry(&other.id.to_string(), &ADMIN).await;
        reply.assert_problem(409, "notification_not_dead_lettered");
        let detail = reply.body["detail"].as_str().unwrap();
        assert!(
            detail.contains(&format!("keadaan kini: {name}")) && detail.contains(&format!("current state: {name}"))
        );
    }

    // Its message is gone from NOTIFY (past max_age), or the sequence holds another one's.
    let gone = notification(Channel::Email);
    s.record(gone.id, RecordState::DeadLettered, 0, 1_000_000).await;
    s.retry(&gone.id.to_string(), &ADMIN).await.assert_problem(409, "notification_expired");
    let elsewhere = notification(Channel::Email);
    let sequence = s.publish(&message).await; // a duplicate: the sequence of `message`
    s.record(elsewhere.id, RecordState::DeadLettered, 0, sequence).await;
    s.retry(&elsewhere.id.to_string(), &ADMIN).await.assert_problem(409, "notification_expired");
    let (deliveries, receipts) = s.of(elsewhere.id).await;
    assert!(deliveries.is_empty() && receipts.is_empty(), "nothing published for a refused retry");

    s.retry(&id, &ADMIN).await.assert_ok(202);
    // The helpdesk's log is untouched: a retry is no event of a complaint.
    assert!(s.log.events().await.iter().all(|(_, _, e)| e["type"] == "StaffRegistered"));
}

#[tokio::test]
async fn two_admins_retrying_at_once_publish_one_message() {
    let s = setup().await;
    let message = s.dead_letter().await;
    let id = message.id.to_string();
    let replies = futures::future::join_all((0..8).map(|_| s.retry(&id, &ADMIN))).await;
    for reply in &replies {
        assert_eq!(reply.assert_ok(202)["cycle"], 1, "{reply:?}");
    }
    let (deliveries, receipts) = s.of(message.id).await;
    assert_eq!(deliveries.iter().map(|d| d.cycle).collect::<Vec<_>>(), [0, 1], "one retry message");
    assert_eq!(receipts.len(), 1, "one queued receipt");
}

#[tokio::test]
async fn a_retry_while_nats_is_down_is_503() {
    let log = TestEventLog::new();
    let mut config = log.config.clone();
    let closed = ehelpdesk_tests::process::free_port();
    config.nats_url = format!("nats://127.0.0.1:{closed}").parse().unwrap();
    let command = CommandApp::spawn(&config).await;
    let reply = command.post(&format!("/v1/notifications/{}/retry", Uuid::now_v7()), &ADMIN, &json!({})).await;
    assert_eq!(reply.status, 503, "{reply:?}");
    assert_eq!(reply.content_type(), "application/problem+json");
    assert!(reply.headers.contains_key("retry-after"));
}
