//! What became of each notification: receipts the notifier publishes on NOTIFY come back
//! to the outbox, in any order and any number of times; `/v1/outbox` shows and filters
//! them, staff see who was told of a complaint, and a rebuild keeps it all. Real NATS and
//! PostgreSQL, each test with its own streams and database.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use ehelpdesk_projection::receipts::record_batch;
use ehelpdesk_shared::notification::{Channel, DeliveryState, NotificationMessage, Receipt};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};
use uuid::Uuid;

struct Stack {
    projection: ProjectionApp,
    command: CommandApp,
    db: TestDatabase,
    log: TestEventLog,
}

async fn stack() -> Stack {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC"][..]),
        (&OTHER_PIC, &["pic"][..], &["GL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    Stack { projection, command, db, log }
}

async fn file(s: &Stack, who: &Person, title: &str) -> (String, u64) {
    let reply = s.command.post("/v1/complaints", who, &complaint("AC", title)).await;
    let body = reply.assert_ok(201);
    (body["complaint_id"].as_str().unwrap().to_owned(), body["stream_sequence"].as_u64().unwrap())
}

/// Polls `check` on the admin's outbox (bounded) until it holds; returns the last page.
async fn outbox_until(s: &Stack, query: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let mut rows = vec![];
    for _ in 0..400 {
        rows = s
            .projection
            .get(&format!("/v1/outbox?limit=200{query}"), &ADMIN)
            .await
            .assert_ok(200)
            .as_array()
            .unwrap()
            .clone();
        if check(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the outbox never reached the expected state: {rows:#?}");
}

/// Every message the relay published on the test's NOTIFY deliveries.
async fn published(s: &Stack) -> Vec<NotificationMessage> {
    let js = s.log.jetstream().await;
    let stream = js.get_stream(s.log.notify().0).await.unwrap();
    let prefix = s.log.notify().1;
    let mut out = vec![];
    let mut seq = 1;
    while let Ok(m) = stream.raw_message_builder().sequence(seq).next_by_subject(format!("{prefix}.*")).send().await {
        seq = m.sequence + 1;
        out.push(serde_json::from_slice(&m.payload).unwrap());
    }
    out
}

fn at(second: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 1, 0, second).unwrap()
}

fn receipt(id: Uuid, channel: Channel, cycle: u32, attempts: u32, state: DeliveryState, second: u32) -> Receipt {
    let reason = match state {
        DeliveryState::Failed => Some(format!("421 cuba lagi / try again (attempt {attempts})")),
        DeliveryState::DeadLettered => Some("131026: bukan pengguna WhatsApp / not a WhatsApp user".into()),
        _ => None,
    };
    let provider_message_id = (state == DeliveryState::Sent).then(|| format!("provider-{cycle}-{attempts}"));
    Receipt { id, channel, state, attempts, cycle, reason, provider_message_id, at: at(second) }
}

/// Publishes as the notifier does: on the channel's receipt subject, with the receipt's own
/// `Nats-Msg-Id` (or none, for a copy that slips past the duplicate window).
async fn publish(s: &Stack, receipt: &Receipt, with_msg_id: bool) {
    let js = s.log.jetstream().await;
    let (_, prefix) = s.log.notify();
    let subject = format!("{prefix}.receipt.{}", receipt.channel);
    let mut headers = async_nats::HeaderMap::new();
    if with_msg_id {
        headers.insert("Nats-Msg-Id", receipt.message_id().as_str());
    }
    let payload = serde_json::to_vec(receipt).unwrap();
    js.publish_with_headers(subject, headers, payload.into()).await.unwrap().await.unwrap();
}

async fn metric(s: &Stack, series: &str) -> f64 {
    let text = s.projection.http.get(s.projection.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines().find_map(|l| l.strip_prefix(&format!("{series} "))).and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

fn row(rows: &[Value], id: Uuid) -> &Value {
    rows.iter().find(|r| r["id"] == id.to_string()).unwrap_or_else(|| panic!("no outbox row {id}"))
}

/// The delivery columns of every row, for comparing before and after a rebuild.
async fn deliveries(pool: &sqlx::PgPool) -> Vec<String> {
    sqlx::query_scalar::<_, String>(
        "SELECT format('%s|%s|%s|%s|%s|%s|%s|%s', id, delivery_state, attempts, retry_cycle, delivery_reason, \
           provider_message_id, delivered_at, receipt_at) FROM notification_outbox ORDER BY id",
    )
    .fetch_all(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn receipts_come_back_to_the_outbox_in_any_order_and_survive_a_rebuild() {
    let s = stack().await;
    let (a, _) = file(&s, &COMPLAINANT, "Baucar tidak dapat dicetak").await;
    s.command.post(&format!("/v1/complaints/{a}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    let (b, _) = file(&s, &OTHER_COMPLAINANT, "Slip gaji tiada").await;

    // Six notifications, published by the relay with what the notifier needs.
    let rows = outbox_until(&s, "", |rows| rows.len() == 6 && rows.iter().all(|r| !r["published_at"].is_null())).await;
    for r in &rows {
        assert_eq!(
            (r["delivery_state"].as_str(), r["attempts"].as_i64(), r["retry_cycle"].as_i64()),
            (Some("queued"), Some(0), Some(0))
        );
        let number = r["complaint_number"].as_str().unwrap();
        assert!(number.starts_with("ADU-"), "{r}");
        assert!(r["subject"].as_str().unwrap().starts_with(&format!("{number}: ")), "{r}");
        assert!(r["delivered_at"].is_null() && r["delivery_reason"].is_null() && r["provider_message_id"].is_null());
    }
    let messages = published(&s).await;
    assert_eq!(messages.len(), 6);
    let find = |complaint: &str, who: &str, channel: Channel| {
        messages
            .iter()
            .find(|m| m.complaint_id.to_string() == complaint && m.recipient_id == who && m.channel == channel)
            .unwrap_or_else(|| panic!("no message to {who} on {channel} about {complaint}"))
            .clone()
    };
    let pic_whatsapp = find(&a, PIC.id, Channel::WhatsApp);
    assert_eq!(pic_whatsapp.template.name(), "aduan_ditugaskan");
    assert_eq!(pic_whatsapp.params.len(), 4);
    assert_eq!(pic_whatsapp.params[0], pic_whatsapp.complaint_number);
    assert_eq!(pic_whatsapp.params[1], "Baucar tidak dapat dicetak");
    for m in &messages {
        assert_eq!(m.params.len(), m.template.parameter_count(), "{m:?}");
    }
    let (a_mail, a_whatsapp) =
        (find(&a, COMPLAINANT.id, Channel::Email).id, find(&a, COMPLAINANT.id, Channel::WhatsApp).id);
    let (pic_mail, pic_whatsapp) = (find(&a, PIC.id, Channel::Email).id, pic_whatsapp.id);
    let (b_mail, b_whatsapp) =
        (find(&b, OTHER_COMPLAINANT.id, Channel::Email).id, find(&b, OTHER_COMPLAINANT.id, Channel::WhatsApp).id);

    use DeliveryState::*;
    let sent_once = receipt(a_mail, Channel::Email, 0, 1, Sent, 1);
    let sequence = [
        // Sent at the first attempt; reported twice (the second slips past the stream's
        // duplicate window, as a worker's late retry would).
        (sent_once.clone(), true),
        (sent_once.clone(), true),
        (sent_once.clone(), false),
        // Failed twice, not yet given up on.
        (receipt(a_whatsapp, Channel::WhatsApp, 0, 1, Failed, 2), true),
        (receipt(a_whatsapp, Channel::WhatsApp, 0, 2, Failed, 4), true),
        // Out of order: the second attempt's success arrives before both failures.
        (receipt(pic_mail, Channel::Email, 0, 2, Sent, 6), true),
        (receipt(pic_mail, Channel::Email, 0, 1, Failed, 3), true),
        (receipt(pic_mail, Channel::Email, 0, 2, Failed, 5), true),
        // Dead-lettered, retried by an admin (cycle 1 queued), sent in the retry; the
        // retry's success arrives before its "queued".
        (receipt(pic_whatsapp, Channel::WhatsApp, 0, 5, DeadLettered, 7), true),
        (receipt(pic_whatsapp, Channel::WhatsApp, 1, 1, Sent, 9), true),
        (receipt(pic_whatsapp, Channel::WhatsApp, 1, 0, Queued, 8), true),
        // Given up on for good.
        (receipt(b_whatsapp, Channel::WhatsApp, 0, 3, DeadLettered, 10), true),
        (receipt(b_whatsapp, Channel::WhatsApp, 0, 2, Failed, 9), true),
        // Nobody's: another deployment's, or a row this database never had.
        (receipt(Uuid::now_v7(), Channel::Email, 0, 1, Sent, 11), true),
        // The right id on the wrong channel is nobody's either.
        (receipt(b_mail, Channel::WhatsApp, 0, 2, Sent, 11), true),
    ];
    for (r, with_msg_id) in &sequence {
        publish(&s, r, *with_msg_id).await;
    }
    let js = s.log.jetstream().await;
    js.publish(format!("{}.receipt.email", s.log.notify().1), "bukan resit / not a receipt".into())
        .await
        .unwrap()
        .await
        .unwrap();

    let rows = outbox_until(&s, "", |rows| {
        let state = |id: Uuid| rows.iter().find(|r| r["id"] == id.to_string()).map(|r| r["delivery_state"].clone());
        state(a_mail) == Some(json!("sent"))
            && state(pic_whatsapp) == Some(json!("sent"))
            && state(b_whatsapp) == Some(json!("dead_lettered"))
            && state(pic_mail) == Some(json!("sent"))
            && rows.iter().any(|r| r["id"] == a_whatsapp.to_string() && r["attempts"] == 2)
    })
    .await;
    let get = |id| row(&rows, id);
    let summary = |id| {
        let r = get(id);
        (
            r["delivery_state"].as_str().unwrap().to_owned(),
            r["attempts"].as_i64().unwrap(),
            r["retry_cycle"].as_i64().unwrap(),
        )
    };
    assert_eq!(summary(a_mail), ("sent".into(), 1, 0));
    assert_eq!(get(a_mail)["delivered_at"], "2026-11-02T01:00:01Z");
    assert_eq!(get(a_mail)["provider_message_id"], "provider-0-1");
    assert_eq!(summary(a_whatsapp), ("failed".into(), 2, 0));
    assert_eq!(get(a_whatsapp)["delivery_reason"], "421 cuba lagi / try again (attempt 2)");
    assert!(get(a_whatsapp)["delivered_at"].is_null());
    assert_eq!(summary(pic_mail), ("sent".into(), 2, 0));
    assert!(get(pic_mail)["delivery_reason"].is_null(), "a success clears the failure's reason");
    assert_eq!(summary(pic_whatsapp), ("sent".into(), 1, 1));
    assert_eq!(get(pic_whatsapp)["delivered_at"], "2026-11-02T01:00:09Z");
    assert_eq!(summary(b_whatsapp), ("dead_lettered".into(), 3, 0));
    assert_eq!(get(b_whatsapp)["delivery_reason"], "131026: bukan pengguna WhatsApp / not a WhatsApp user");
    assert_eq!(summary(b_mail), ("queued".into(), 0, 0));

    // Filters by state, newest first; `pending` still means "not yet published".
    let ids = |rows: Vec<Value>| rows.iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let by_state = |state: &'static str| {
        let s = &s;
        async move {
            s.projection
                .get(&format!("/v1/outbox?state={state}"), &AUDITOR)
                .await
                .assert_ok(200)
                .as_array()
                .unwrap()
                .clone()
        }
    };
    let sent = by_state("sent").await;
    assert_eq!(sent.len(), 3);
    let sequences: Vec<i64> = sent.iter().map(|r| r["sequence"].as_i64().unwrap()).collect();
    assert!(sequences.windows(2).all(|w| w[0] >= w[1]), "newest first: {sequences:?}");
    assert_eq!(ids(by_state("failed").await), [a_whatsapp.to_string()]);
    assert_eq!(ids(by_state("dead_lettered").await), [b_whatsapp.to_string()]);
    assert_eq!(ids(by_state("queued").await), [b_mail.to_string()]);
    let pending = s.projection.get("/v1/outbox?pending=true", &ADMIN).await;
    assert_eq!(pending.assert_ok(200), &json!([]));
    let both = s.projection.get("/v1/outbox?pending=false&state=sent&limit=2", &ADMIN).await;
    assert_eq!(both.assert_ok(200).as_array().unwrap().len(), 2);
    for bad in ["state=lost", "state=SENT", "state=", "pending=maybe"] {
        s.projection.get(&format!("/v1/outbox?{bad}"), &ADMIN).await.assert_problem(400, "invalid_query");
    }
    s.projection.get("/v1/outbox?state=sent", &PIC).await.assert_problem(403, "role_not_allowed");

    // Every receipt counted once, by what became of it: 15 published, one dropped by the
    // stream's duplicate window, two for no row; the other twelve reached rows, each applied
    // or found superseded (how many of each depends on how they were batched).
    let counted = || async {
        let mut applied = 0.0;
        for state in ["queued", "failed", "dead_lettered", "sent"] {
            applied += metric(&s, &format!("ehelpdesk_receipts_applied_total{{state=\"{state}\"}}")).await;
        }
        (
            applied,
            metric(&s, "ehelpdesk_receipts_superseded_total").await,
            metric(&s, "ehelpdesk_receipts_unknown_total").await,
            metric(&s, "ehelpdesk_receipts_unreadable_total").await,
        )
    };
    let mut figures = counted().await;
    for _ in 0..100 {
        if figures.0 + figures.1 == 12.0 && figures.2 == 2.0 && figures.3 == 1.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        figures = counted().await;
    }
    let (applied, superseded, unknown, unreadable) = figures;
    assert_eq!((applied + superseded, unknown, unreadable), (12.0, 2.0, 1.0), "{figures:?}");
    // The copy, both stale failures of the PIC's e-mail, the failure after a dead letter,
    // the retry's "queued" after its success: whatever the batching.
    assert!(superseded >= 5.0, "{figures:?}");

    // Staff see who was told of a complaint; complainants, and staff it does not concern, see
    // nothing, not even that it exists.
    let path = format!("/v1/complaints/{a}/notifications");
    for who in [&PIC, &ADMIN, &AUDITOR] {
        let told = s.projection.get(&path, who).await;
        let told = told.assert_ok(200);
        assert_eq!(told["complaint_id"], a.as_str());
        assert!(told["number"].as_str().unwrap().starts_with("ADU-"));
        let items = told["items"].as_array().unwrap();
        assert_eq!(items.len(), 4, "{told}");
        let seen: BTreeMap<(String, String), String> = items
            .iter()
            .map(|i| {
                (
                    (i["recipient_id"].as_str().unwrap().into(), i["channel"].as_str().unwrap().into()),
                    i["delivery_state"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(seen[&(COMPLAINANT.id.into(), "email".into())], "sent");
        assert_eq!(seen[&(COMPLAINANT.id.into(), "whatsapp".into())], "failed");
        assert_eq!(seen[&(PIC.id.into(), "whatsapp".into())], "sent");
        let first = &items[0];
        assert_eq!(first["event_type"], "ComplaintLogged");
        assert_eq!(first["recipient_role"], "complainant");
        assert_eq!(first["address"], COMPLAINANT.email);
        for field in
            ["id", "subject", "attempts", "retry_cycle", "delivery_reason", "delivered_at", "created_at", "sequence"]
        {
            assert!(first.get(field).is_some(), "{field} in {first}");
        }
    }
    for who in [&COMPLAINANT, &OTHER_COMPLAINANT, &OTHER_PIC, &IMPLEMENTOR] {
        s.projection.get(&path, who).await.assert_problem(404, "complaint_not_found");
    }
    s.projection
        .get(&format!("/v1/complaints/{}/notifications", Uuid::now_v7()), &ADMIN)
        .await
        .assert_problem(404, "complaint_not_found");
    s.projection
        .get(&format!("/v1/complaints/{a}/notifications?colour=red"), &ADMIN)
        .await
        .assert_problem(400, "invalid_query");

    // A rebuild keeps what the notifier reported, and receipts keep landing afterwards.
    let pool = s.db.read_models().await;
    let before = deliveries(&pool).await;
    ehelpdesk_projection::rebuild::rebuild(&projection_settings(&s.log.config, &s.db), |_| {}).await.unwrap();
    assert_eq!(deliveries(&pool).await, before, "delivery states survive the rebuild");
    publish(&s, &receipt(b_mail, Channel::Email, 0, 1, Sent, 12), true).await;
    let rows = outbox_until(&s, "&state=sent", |rows| rows.iter().any(|r| r["id"] == b_mail.to_string())).await;
    assert_eq!(row(&rows, b_mail)["delivered_at"], "2026-11-02T01:00:12Z");
}

/// The same receipts recorded in order one at a time, reversed in one batch, and shuffled
/// in pairs, each twice: every row ends the same, at the receipt that supersedes the rest.
#[tokio::test]
async fn any_order_and_any_batching_record_the_same_row() {
    let db = TestDatabase::new().await;
    let log = TestEventLog::new();
    let settings = projection_settings(&log.config, &db);
    let pool = db.read_models().await;
    ehelpdesk_projection::db::prepare(&pool, "readmodel", &settings.working_week, &settings.holidays).await.unwrap();
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for id in &ids {
        sqlx::query(
            "INSERT INTO notification_outbox (id, sequence, complaint_id, event_type, recipient_id, recipient_role, \
               channel, address, subject, body, created_at) \
             VALUES ($1, 1, $1, 'ComplaintLogged', 'pengadu-ali', 'complainant', 'whatsapp', '+60123456789', 's', 'b', now())",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    use DeliveryState::*;
    let news = |id: Uuid| {
        vec![
            receipt(id, Channel::WhatsApp, 0, 1, Failed, 1),
            receipt(id, Channel::WhatsApp, 0, 2, Failed, 2),
            receipt(id, Channel::WhatsApp, 0, 3, DeadLettered, 3),
            receipt(id, Channel::WhatsApp, 1, 0, Queued, 4),
            receipt(id, Channel::WhatsApp, 1, 1, Failed, 5),
            receipt(id, Channel::WhatsApp, 1, 2, Sent, 6),
        ]
    };
    for r in news(ids[0]).iter().chain(news(ids[0]).iter()) {
        record_batch(&pool, std::slice::from_ref(r)).await.unwrap();
    }
    let mut reversed = news(ids[1]);
    reversed.reverse();
    record_batch(&pool, &[reversed.clone(), reversed].concat()).await.unwrap();
    let shuffled = news(ids[2]);
    for pair in [[4, 0], [5, 2], [1, 3], [2, 5], [3, 4], [0, 1]] {
        record_batch(&pool, &pair.map(|i| shuffled[i].clone())).await.unwrap();
    }
    let rows = deliveries(&pool).await;
    let strip = |row: &String| row.split_once('|').unwrap().1.to_owned();
    assert_eq!(strip(&rows[0]), strip(&rows[1]));
    assert_eq!(strip(&rows[0]), strip(&rows[2]));
    assert!(strip(&rows[0]).starts_with("sent|2|1||provider-1-2|"), "{}", rows[0]);
    // A stale receipt after all of them changes nothing.
    let recorded = record_batch(&pool, &[receipt(ids[0], Channel::WhatsApp, 0, 3, DeadLettered, 7)]).await.unwrap();
    assert_eq!((recorded.superseded, recorded.unknown, recorded.applied.len()), (1, 0, 0));
    assert_eq!(deliveries(&pool).await, rows);
}
