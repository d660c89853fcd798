//! The notifier against a real SMTP server (aiosmtpd, tests/src/smtp_sink.rs) and the
//! WhatsApp Cloud API stub (tests/src/whatsapp_stub.rs), as processes on their own streams:
//! the guide's whole flow ends with each person's mailbox holding exactly what the outbox
//! promised; a notifier killed -9 between send and ack, or two racing, send each once; an SMTP
//! outage under load delays but neither loses nor doubles; refusals are dead-lettered, and a
//! dead letter is delivered once after an admin retries it.
//!
//! Needs the binaries built (`cargo build --bins`) and .venv/ (scripts/venv.sh): `make test`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_nats::HeaderMap;
use ehelpdesk_shared::notification::{Channel, DeliveryState, NotificationMessage, Receipt, Template};
use ehelpdesk_tests::demo::Demo;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::process::Service;
use ehelpdesk_tests::smtp_sink::SmtpSink;
use ehelpdesk_tests::whatsapp_stub::{Answer, WhatsAppStub};
use ehelpdesk_tests::{Reply, TestDatabase, TestEventLog, service_env};
use futures::StreamExt;
use serde_json::json;
use uuid::Uuid;

const PUBLIC_BASE_URL: &str = "https://ehelpdesk.example.gov.my";

/// What a notifier test runs against: its own streams and database, a real SMTP server, the
/// Cloud API stand-in, and the receipts published from the start.
struct Peers {
    log: TestEventLog,
    db: TestDatabase,
    sink: SmtpSink,
    stub: WhatsAppStub,
    receipts: ReceiptLog,
}

impl Peers {
    async fn start() -> Self {
        let log = TestEventLog::new();
        let receipts = ReceiptLog::start(&log).await;
        Self {
            db: TestDatabase::new().await,
            sink: SmtpSink::start().await,
            stub: WhatsAppStub::start().await,
            receipts,
            log,
        }
    }
}

/// A notifier process delivering to `sink` and `stub`, with short timings for tests.
fn notifier_env(
    log: &TestEventLog,
    db: &TestDatabase,
    sink: &SmtpSink,
    stub: &WhatsAppStub,
) -> Vec<(&'static str, String)> {
    let mut env = service_env(log, db);
    env.extend([
        ("NOTIFIER_ADMIN_ADDR", "127.0.0.1:0".into()),
        ("MAIL_DELIVERY", "smtp".into()),
        ("SMTP_URL", sink.url()),
        ("MAIL_FROM", "eHelpdesk iSPEKS <ehelpdesk@example.gov.my>".into()),
        ("PUBLIC_BASE_URL", PUBLIC_BASE_URL.into()),
        ("NOTIFIER_ACK_WAIT_SECS", "2".into()),
        ("NOTIFIER_LEASE_SECS", "4".into()),
        ("NOTIFIER_RETRY_BASE_MS", "200".into()),
        ("NOTIFIER_RETRY_MAX_MS", "2000".into()),
        // The tests run at any hour; quiet hours have a test of their own, on a set clock.
        ("WHATSAPP_QUIET_HOURS", "off".into()),
    ]);
    env.extend(stub.env());
    env
}

fn start_notifier(env: &[(&'static str, String)], extra: &[(&'static str, &str)]) -> Service {
    let mut env = env.to_vec();
    env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    Service::start("ehelpdesk-notifier", &env, "NOTIFIER_ADDR")
}

fn notification(n: u32, channel: Channel) -> NotificationMessage {
    let address = match channel {
        Channel::Email => format!("orang{n}@example.gov.my"),
        Channel::WhatsApp => format!("+6012{:07}", n),
    };
    NotificationMessage {
        id: Uuid::now_v7(),
        complaint_id: Uuid::now_v7(),
        complaint_number: format!("ADU-2026-{n:06}"),
        event_type: "ComplaintAssigned".into(),
        template: Template::AduanDitugaskan,
        params: vec![
            format!("ADU-2026-{n:06}"),
            "Slip gaji tidak dijana".into(),
            "Gaji".into(),
            "Jabatan Kerja Raya".into(),
        ],
        recipient_id: format!("pic-{n}"),
        recipient_role: "pic".into(),
        channel,
        address,
        subject: "Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
        body: format!(
            "Aduan ADU-2026-{n:06} telah ditugaskan kepada anda.\nComplaint ADU-2026-{n:06} is assigned to you."
        ),
        created_at: chrono::Utc::now(),
        cycle: 0,
    }
}

/// Publishes on the test's NOTIFY stream as the relay does.
struct Relay {
    js: async_nats::jetstream::Context,
    prefix: String,
}

impl Relay {
    /// Creates the stream if the relay (or a notifier) has not yet.
    async fn of(log: &TestEventLog) -> Self {
        let js = log.jetstream().await;
        let (stream, prefix) = log.notify();
        let config =
            ehelpdesk_shared::notification::NotifyConfig { stream, subject_prefix: prefix.clone(), replicas: 1 };
        ehelpdesk_shared::streams::ensure(&js, config.stream_config()).await.expect("NOTIFY stream");
        Self { js, prefix }
    }

    /// `copy` > 0 republishes under another message id, as a relay would after the
    /// duplicate window.
    async fn publish(&self, message: &NotificationMessage, copy: u32) {
        let (js, prefix) = (&self.js, &self.prefix);
        let mut headers = HeaderMap::new();
        let id = if copy == 0 { message.message_id() } else { format!("{}:copy:{copy}", message.message_id()) };
        headers.insert("Nats-Msg-Id", id.as_str());
        let subject = format!("{prefix}.{}", message.channel.as_str());
        js.publish_with_headers(subject, headers, serde_json::to_vec(message).unwrap().into())
            .await
            .expect("publish")
            .await
            .expect("stored");
    }
}

/// Waits until each of `ids` has a final receipt (sent or dead-lettered); returns them all.
async fn wait_final(receipts: &ReceiptLog, ids: &[Uuid], within: Duration) -> Vec<Receipt> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let all = receipts.all();
        let states = final_states(&all);
        let open: Vec<_> = ids
            .iter()
            .filter(|id| !matches!(states.get(id), Some(DeliveryState::Sent | DeliveryState::DeadLettered)))
            .collect();
        if open.is_empty() {
            return all;
        }
        assert!(std::time::Instant::now() < deadline, "{} notifications never settled, e.g. {:?}", open.len(), open[0]);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn ids(messages: &[NotificationMessage]) -> Vec<Uuid> {
    messages.iter().map(|m| m.id).collect()
}

/// Waits until the notifier's consumer has nothing pending or in hand (every copy acked).
async fn wait_consumer_idle(log: &TestEventLog, within: Duration) {
    let js = log.jetstream().await;
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(stream) = js.get_stream(log.notify().0).await
            && let Ok(mut consumer) =
                stream.get_consumer::<async_nats::jetstream::consumer::pull::Config>("notifier").await
            && let Ok(info) = consumer.info().await
            && info.num_pending == 0
            && info.num_ack_pending == 0
            && info.num_redelivered == 0
        {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the notifier's consumer still holds messages");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every receipt published on the test's NOTIFY stream from its start, gathered by a plain
/// subscription (reading them back from the stream on every poll was too slow under load).
#[derive(Clone)]
struct ReceiptLog(Arc<Mutex<Vec<Receipt>>>);

impl ReceiptLog {
    async fn start(log: &TestEventLog) -> Self {
        let client = async_nats::connect(log.config.nats_url.to_string()).await.expect("NATS");
        let mut subscription = client.subscribe(format!("{}.receipt.>", log.notify().1)).await.expect("subscribe");
        client.flush().await.expect("flush");
        let receipts = Arc::new(Mutex::new(vec![]));
        let gathered = receipts.clone();
        tokio::spawn(async move {
            let _client = client;
            while let Some(m) = subscription.next().await {
                gathered.lock().unwrap().push(serde_json::from_slice(&m.payload).expect("a receipt"));
            }
        });
        Self(receipts)
    }

    fn all(&self) -> Vec<Receipt> {
        self.0.lock().unwrap().clone()
    }
}

/// The last state reported for each notification.
fn final_states(receipts: &[Receipt]) -> HashMap<Uuid, DeliveryState> {
    let mut last: HashMap<Uuid, &Receipt> = HashMap::new();
    for r in receipts {
        let newer = last.get(&r.id).is_none_or(|l| r.supersedes(l.cycle, l.attempts, l.state));
        if newer {
            last.insert(r.id, r);
        }
    }
    last.into_iter().map(|(id, r)| (id, r.state)).collect()
}

fn count_by_notification(sink: &SmtpSink) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for mail in sink.messages() {
        *counts.entry(mail.notification_id().to_owned()).or_insert(0) += 1;
    }
    counts
}

#[tokio::test]
async fn the_whole_flow_ends_with_each_mailbox_holding_what_the_outbox_promised() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = service_env(log, db);
    let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    command.wait_ready().await;
    let mut projection = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
    projection.wait_ready().await;
    let mut notifier = start_notifier(&notifier_env(log, db, sink, stub), &[]);
    notifier.wait_ready().await;

    Demo::new(&command.url, &projection.url).run().await.expect("the demo flow succeeds");

    // What the outbox promised, once the relay has published it all.
    let http = reqwest::Client::new();
    let mut rows = vec![];
    for _ in 0..100 {
        let reply = Reply::from(
            ADMIN.headers(http.get(format!("{}/v1/outbox?limit=200", projection.url))).send().await.unwrap(),
        )
        .await;
        rows = reply.assert_ok(200).as_array().unwrap().clone();
        if rows.iter().all(|r| !r["published_at"].is_null()) && !rows.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (emails, whatsapps): (Vec<_>, Vec<_>) = rows.iter().partition(|r| r["channel"] == "email");
    assert_eq!((emails.len(), whatsapps.len()), (10, 10), "ten notifications, each by both channels");
    let promised: Vec<Uuid> = rows.iter().map(|r| r["id"].as_str().unwrap().parse().unwrap()).collect();
    let reported = wait_final(receipts, &promised, Duration::from_secs(60)).await;

    let mail = sink.messages();
    assert_eq!(mail.len(), emails.len(), "one e-mail per e-mail notification");
    for row in &emails {
        let id = row["id"].as_str().unwrap();
        let mine: Vec<_> = mail.iter().filter(|m| m.notification_id() == id).collect();
        assert_eq!(mine.len(), 1, "notification {id}: {} e-mails", mine.len());
        let m = mine[0];
        assert!(m.header("To").contains(row["address"].as_str().unwrap()), "{:?}", m.headers);
        assert!(m.header("Subject").starts_with("ADU-"), "the subject starts with the number: {}", m.header("Subject"));
        assert!(m.header("Message-ID").contains(id), "{:?}", m.headers);
        let link = format!("{PUBLIC_BASE_URL}/complaints/{}", row["complaint_id"].as_str().unwrap());
        assert!(m.text.contains(&link), "the body links to the complaint: {}", m.text);
        let malay_first = m.text.contains("Lihat aduan / View the complaint") && m.text.contains("secara automatik");
        assert!(malay_first, "Malay first, English beside: {}", m.text);
        assert!(m.text.to_lowercase().contains("aduan"), "{}", m.text);
        assert!(m.text.contains("<html lang=\"ms\">"), "an HTML part: {}", m.raw);
    }
    let sent = stub.accepted();
    assert!(stub.violations().is_empty(), "{:?}", stub.violations());
    assert_eq!(sent.len(), whatsapps.len(), "one WhatsApp message per WhatsApp notification");
    for row in &whatsapps {
        let to = row["address"].as_str().unwrap().trim_start_matches('+');
        assert!(sent.iter().any(|s| s.to == to && s.language == "ms"), "{to}: {sent:?}");
    }
    let states = final_states(&reported);
    assert_eq!(states.len(), rows.len());
    assert!(states.values().all(|s| *s == DeliveryState::Sent), "{states:?}");
    // The projection records the receipts: the outbox shows each notification sent.
    let mut unsent = usize::MAX;
    for _ in 0..100 {
        let reply = Reply::from(
            ADMIN.headers(http.get(format!("{}/v1/outbox?limit=200", projection.url))).send().await.unwrap(),
        )
        .await;
        let rows = reply.assert_ok(200).as_array().unwrap().clone();
        unsent = rows.iter().filter(|r| r["delivery_state"] != "sent" || r["provider_message_id"].is_null()).count();
        if unsent == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(unsent, 0, "every outbox row shows its notification sent");

    assert!(notifier.terminate().await.success(), "graceful shutdown");
}

#[tokio::test]
async fn a_notifier_killed_between_send_and_ack_sends_nothing_twice() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    // Room for every message at once: each one hangs in hand.
    let mut first = start_notifier(&env, &[("NOTIFIER_FAULT", "hang-before-ack"), ("NOTIFIER_CONCURRENCY", "64")]);
    first.wait_ready().await;
    let relay = Relay::of(log).await;
    let messages: Vec<_> =
        (0..20).map(|n| notification(n, if n % 4 == 0 { Channel::WhatsApp } else { Channel::Email })).collect();
    for m in &messages {
        relay.publish(m, 0).await;
    }
    let emails = messages.iter().filter(|m| m.channel == Channel::Email).count();
    assert_eq!(sink.wait_for(emails, Duration::from_secs(30)).await.len(), emails);
    drop(first); // SIGKILL: every message sent and recorded, none acked

    let mut second = start_notifier(&env, &[]);
    second.wait_ready().await;
    // The second notifier acks what the first sent: the consumer then holds nothing.
    wait_consumer_idle(log, Duration::from_secs(60)).await;
    let counts = count_by_notification(sink);
    assert_eq!(counts.len(), emails);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    assert_eq!(stub.accepted().len(), messages.len() - emails);
    let states = final_states(&receipts.all());
    assert!(messages.iter().all(|m| states.get(&m.id) == Some(&DeliveryState::Sent)), "{states:?}");
}

#[tokio::test]
async fn a_notifier_killed_after_claiming_is_taken_over_when_its_lease_ends() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    let mut first = start_notifier(&env, &[("NOTIFIER_FAULT", "hang-before-send")]);
    first.wait_ready().await;
    let relay = Relay::of(log).await;
    let messages: Vec<_> = (0..5).map(|n| notification(n, Channel::Email)).collect();
    for m in &messages {
        relay.publish(m, 0).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(first); // claimed, never sent

    let mut second = start_notifier(&env, &[]);
    second.wait_ready().await;
    wait_final(receipts, &ids(&messages), Duration::from_secs(60)).await;
    let counts = count_by_notification(sink);
    assert_eq!(counts.len(), messages.len(), "taken over after the lease: {counts:?}");
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
}

#[tokio::test]
async fn two_notifiers_racing_for_the_same_notifications_send_each_once() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    let (mut a, mut b) = (start_notifier(&env, &[]), start_notifier(&env, &[]));
    a.wait_ready().await;
    b.wait_ready().await;
    let relay = Relay::of(log).await;
    // Each notification three times under different message ids: the two workers get copies
    // of one notification at the same moment.
    let messages: Vec<_> =
        (0..30).map(|n| notification(n, if n % 3 == 0 { Channel::WhatsApp } else { Channel::Email })).collect();
    for copy in 0..3 {
        for m in &messages {
            relay.publish(m, copy).await;
        }
    }
    wait_final(receipts, &ids(&messages), Duration::from_secs(60)).await;
    wait_consumer_idle(log, Duration::from_secs(30)).await;
    let emails = messages.iter().filter(|m| m.channel == Channel::Email).count();
    let counts = count_by_notification(sink);
    assert_eq!(counts.len(), emails);
    assert!(counts.values().all(|n| *n == 1), "{counts:?}");
    let mut whatsapp: Vec<String> = stub.accepted().into_iter().map(|r| r.to).collect();
    whatsapp.sort();
    let before = whatsapp.len();
    whatsapp.dedup();
    assert_eq!((before, whatsapp.len()), (messages.len() - emails, messages.len() - emails));
}

#[tokio::test]
async fn an_smtp_outage_under_load_delays_delivery_and_loses_or_doubles_nothing() {
    let mut peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &mut peers;
    let env = notifier_env(log, db, sink, stub);
    // Enough attempts, at most 5 s apart, to outlast a 30 s outage.
    let mut notifier = start_notifier(&env, &[("NOTIFIER_MAX_ATTEMPTS", "30"), ("NOTIFIER_RETRY_MAX_MS", "5000")]);
    notifier.wait_ready().await;
    let relay = Relay::of(log).await;
    let before: Vec<_> = (0..50).map(|n| notification(n, Channel::Email)).collect();
    for m in &before {
        relay.publish(m, 0).await;
    }
    sink.stop();
    let during: Vec<_> = (50..250).map(|n| notification(n, Channel::Email)).collect();
    let publishing = async {
        for m in &during {
            relay.publish(m, 0).await;
            tokio::time::sleep(Duration::from_millis(140)).await;
        }
    };
    // About 30 s of load with the mail server down.
    publishing.await;
    let failed_while_down = receipts.all().iter().filter(|r| r.state == DeliveryState::Failed).count();
    sink.resume().await;
    println!("SMTP outage: the mail server is back at {}", chrono::Utc::now());
    let every: Vec<Uuid> = before.iter().chain(&during).map(|m| m.id).collect();
    wait_final(receipts, &every, Duration::from_secs(120)).await;
    let counts = count_by_notification(sink);
    let all = before.len() + during.len();
    let dead: Vec<_> = receipts.all().into_iter().filter(|r| r.state == DeliveryState::DeadLettered).collect();
    if let Some(first) = dead.first() {
        let history: Vec<_> =
            receipts.all().into_iter().filter(|r| r.id == first.id).map(|r| (r.attempts, r.at, r.reason)).collect();
        panic!("{} dead-lettered, e.g. {history:?}", dead.len());
    }
    assert_eq!(counts.len(), all, "every notification delivered");
    assert!(counts.values().all(|n| *n == 1), "none twice: {counts:?}");
    assert!(failed_while_down > 0, "the outage was seen and retried");
    let states = final_states(&receipts.all());
    assert_eq!(states.values().filter(|s| **s == DeliveryState::Sent).count(), all);
    println!("SMTP outage: {failed_while_down} failed attempts reported while down, {all} delivered once after");
}

#[tokio::test]
async fn refusals_are_dead_lettered_and_passing_trouble_is_retried() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    let mut notifier = start_notifier(&env, &[]);
    notifier.wait_ready().await;
    let relay = Relay::of(log).await;

    let refused = notification(1, Channel::Email);
    sink.refuse(&[&refused.address]);
    let rate_limited = notification(2, Channel::WhatsApp);
    stub.script(rate_limited.address.trim_start_matches('+'), &[Answer::RateLimited { retry_after: 1 }]);
    let server_error = notification(3, Channel::WhatsApp);
    stub.script(server_error.address.trim_start_matches('+'), &[Answer::ServerError, Answer::ServerError]);
    let not_a_user = notification(4, Channel::WhatsApp);
    stub.script(not_a_user.address.trim_start_matches('+'), &[Answer::NotAWhatsAppUser]);
    let no_template = notification(5, Channel::WhatsApp);
    stub.script(no_template.address.trim_start_matches('+'), &[Answer::NoSuchTemplate]);
    let bad_address = NotificationMessage { address: "bukan alamat".into(), ..notification(6, Channel::Email) };
    let sent = [&refused, &rate_limited, &server_error, &not_a_user, &no_template, &bad_address];
    for m in sent {
        relay.publish(m, 0).await;
    }
    let all = wait_final(receipts, &sent.map(|m| m.id), Duration::from_secs(60)).await;
    let states = final_states(&all);
    let state = |m: &NotificationMessage| states.get(&m.id).copied();
    assert_eq!(state(&refused), Some(DeliveryState::DeadLettered));
    assert_eq!(state(&not_a_user), Some(DeliveryState::DeadLettered));
    assert_eq!(state(&no_template), Some(DeliveryState::DeadLettered));
    assert_eq!(state(&bad_address), Some(DeliveryState::DeadLettered));
    assert_eq!(state(&rate_limited), Some(DeliveryState::Sent));
    assert_eq!(state(&server_error), Some(DeliveryState::Sent));
    let final_of = |m: &NotificationMessage| all.iter().rfind(|r| r.id == m.id).cloned().unwrap();
    // A refusal fails at once, with the server's word for it.
    assert_eq!(final_of(&refused).attempts, 1);
    assert!(final_of(&refused).reason.unwrap_or_default().contains("550"), "{:?}", final_of(&refused));
    assert!(final_of(&not_a_user).reason.unwrap_or_default().contains("131026"));
    assert_eq!(final_of(&server_error).attempts, 3, "two 500s, then accepted");
    assert_eq!(final_of(&rate_limited).attempts, 2);
    assert!(final_of(&rate_limited).provider_message_id.unwrap_or_default().starts_with("wamid."));
    // The 429's Retry-After of 1 s was honoured: the second try came no sooner.
    let tries: Vec<_> = all.iter().filter(|r| r.id == rate_limited.id).collect();
    let waited = tries.last().unwrap().at - tries.first().unwrap().at;
    assert!(waited >= chrono::Duration::milliseconds(900), "retried after {waited}");
    assert!(sink.messages().is_empty(), "nothing reached the refused mailbox");
    assert!(stub.violations().is_empty(), "{:?}", stub.violations());
}

#[tokio::test]
async fn bad_configuration_is_named_and_an_unreachable_mail_server_is_not_ready() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let sink = SmtpSink::start().await;
    let stub = WhatsAppStub::start().await;
    let env = notifier_env(&log, &db, &sink, &stub);
    for (var, value) in [("PUBLIC_BASE_URL", "ehelpdesk.example.gov.my"), ("WHATSAPP_TOKEN", ""), ("SMTP_URL", "")] {
        let output = std::process::Command::new(ehelpdesk_tests::process::binary("ehelpdesk-notifier"))
            .envs(env.iter().map(|(k, v)| (*k, v.clone())))
            .env(var, value)
            .env("NOTIFIER_ADDR", "127.0.0.1:0")
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{var}: {stderr}");
        assert!(stderr.contains(&format!("ehelpdesk-notifier: configuration: {var} =")), "{var}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let closed = ehelpdesk_tests::process::free_port();
    let mut notifier = start_notifier(&env, &[("SMTP_URL", &format!("smtp://127.0.0.1:{closed}"))]);
    let http = reqwest::Client::new();
    let mut readiness = None;
    for _ in 0..100 {
        if let Ok(r) = http.get(format!("{}/readyz", notifier.url)).send().await {
            readiness = Some((r.status().as_u16(), r.json::<serde_json::Value>().await.unwrap()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, body) = readiness.expect("the notifier answers its probe");
    assert_eq!(status, 503, "{body}");
    assert!(body["email"].as_str().unwrap().contains("unreachable"), "{body}");
    assert_eq!(body["notify_stream"], "ok", "{body}");
    let _ = &mut notifier;
}

/// A clock the test sets, for a notifier running in this process.
#[derive(Clone)]
struct SetClock(Arc<Mutex<chrono::DateTime<chrono::Utc>>>);

impl SetClock {
    fn at(rfc3339: &str) -> Self {
        Self(Arc::new(Mutex::new(rfc3339.parse().unwrap())))
    }

    fn set(&self, rfc3339: &str) {
        *self.0.lock().unwrap() = rfc3339.parse().unwrap();
    }

    fn clock(&self) -> ehelpdesk_notifier::clock::Clock {
        let now = self.0.clone();
        Arc::new(move || *now.lock().unwrap())
    }
}

/// The notifier in this process, on `clock`, configured as `env` (plus `extra`) says.
async fn notifier_in_process(
    env: &[(&'static str, String)],
    extra: &[(&'static str, &str)],
    clock: &SetClock,
) -> tokio::task::JoinHandle<std::io::Result<()>> {
    let mut vars: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    vars.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    vars.insert("NOTIFIER_ADDR".into(), "127.0.0.1:0".into());
    let settings =
        ehelpdesk_notifier::configuration::Settings::from_env(&ehelpdesk_shared::config::Env(move |k: &str| {
            vars.get(k).cloned()
        }))
        .expect("settings");
    let app = ehelpdesk_notifier::startup::Application::build(settings, clock.clock()).await.expect("notifier builds");
    tokio::spawn(app.run_until(std::future::pending()))
}

#[tokio::test]
async fn whatsapp_keeps_quiet_hours_and_e_mail_does_not() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    // 23:30 in Kota Bharu.
    let clock = SetClock::at("2026-12-03T15:30:00Z");
    let notifier = notifier_in_process(
        &env,
        &[("WHATSAPP_QUIET_HOURS", "22:00-07:00"), ("NOTIFIER_HOLD_RECHECK_SECS", "1")],
        &clock,
    )
    .await;
    let relay = Relay::of(log).await;
    let (whatsapp, email) = (notification(1, Channel::WhatsApp), notification(2, Channel::Email));
    relay.publish(&whatsapp, 0).await;
    relay.publish(&email, 0).await;
    wait_final(receipts, &[email.id], Duration::from_secs(30)).await;
    // Looked at again every second, and held each time.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(stub.received().is_empty(), "nothing to a phone at night: {:?}", stub.received());
    assert!(!final_states(&receipts.all()).contains_key(&whatsapp.id), "held, not failed");
    // 06:59 is still night; 07:00 is morning.
    clock.set("2026-12-03T22:59:00Z");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(stub.received().is_empty());
    clock.set("2026-12-03T23:00:00Z");
    wait_final(receipts, &[whatsapp.id], Duration::from_secs(30)).await;
    assert_eq!(stub.accepted().len(), 1);
    assert_eq!(sink.messages().len(), 1);
    notifier.abort();
}

#[tokio::test]
async fn a_backlog_goes_out_no_faster_than_the_channel_rate() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = notifier_env(log, db, sink, stub);
    let relay = Relay::of(log).await;
    // The backlog is there before the notifier starts, as after an outage.
    let backlog: Vec<_> = (0..16).map(|n| notification(n, Channel::Email)).collect();
    for m in &backlog {
        relay.publish(m, 0).await;
    }
    let mut notifier = start_notifier(&env, &[("NOTIFIER_EMAIL_PER_SECOND", "4")]);
    notifier.wait_ready().await;
    let all = wait_final(receipts, &ids(&backlog), Duration::from_secs(60)).await;
    let mut sent: Vec<_> = all.iter().filter(|r| r.state == DeliveryState::Sent).map(|r| r.at).collect();
    sent.sort();
    assert_eq!(sent.len(), backlog.len());
    // 4 a second after a burst of 4: any 9 sends in a row span at least 1.25 s.
    for window in sent.windows(9) {
        let span = window[8] - window[0];
        assert!(span >= chrono::Duration::milliseconds(1000), "9 sends within {span}");
    }
}

/// Waits until `id` has a final receipt (sent or dead-lettered) of retry cycle `cycle`.
async fn wait_cycle_final(receipts: &ReceiptLog, id: Uuid, cycle: u32, within: Duration) -> Receipt {
    let deadline = std::time::Instant::now() + within;
    loop {
        let settled = receipts.all().into_iter().find(|r| {
            r.id == id && r.cycle == cycle && matches!(r.state, DeliveryState::Sent | DeliveryState::DeadLettered)
        });
        if let Some(receipt) = settled {
            return receipt;
        }
        assert!(std::time::Instant::now() < deadline, "cycle {cycle} of {id} never settled: {:?}", receipts.all());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `GET /v1/outbox?state=<state>` until the row `id` is there; returns it.
async fn outbox_row(projection: &str, state: &str, id: Uuid, cycle: u32) -> serde_json::Value {
    let http = reqwest::Client::new();
    let mut rows = vec![];
    for _ in 0..150 {
        let url = format!("{projection}/v1/outbox?state={state}&limit=200");
        let reply = Reply::from(ADMIN.headers(http.get(url)).send().await.unwrap()).await;
        rows = reply.assert_ok(200).as_array().unwrap().clone();
        if let Some(row) = rows.iter().find(|r| r["id"] == id.to_string() && r["retry_cycle"] == cycle) {
            return row.clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{id} never showed {state} in cycle {cycle}: {rows:?}");
}

#[tokio::test]
async fn a_dead_letter_is_delivered_once_after_the_admin_retries_it() {
    let peers = Peers::start().await;
    let Peers { log, db, sink, stub, receipts } = &peers;
    let env = service_env(log, db);
    let mut command = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    command.wait_ready().await;
    let mut projection = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
    projection.wait_ready().await;
    let mut notifier = start_notifier(&notifier_env(log, db, sink, stub), &[]);
    notifier.wait_ready().await;
    let http = reqwest::Client::new();
    let post = |path: String, who: &Person, body: serde_json::Value| {
        let request = who.headers(http.post(format!("{}{path}", command.url))).json(&body);
        async move { Reply::from(request.send().await.expect("request sent")).await }
    };

    // The PIC's mailbox refuses mail (550): the assignment's e-mail to her is dead-lettered.
    sink.refuse(&[PIC.email]);
    post("/v1/staff".into(), &ADMIN, PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let filed = post("/v1/complaints".into(), &COMPLAINANT, complaint("AC", "Baucar tidak dapat dicetak")).await;
    let complaint_id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let assigned = post(format!("/v1/complaints/{complaint_id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    assigned.assert_ok(200);
    let mut dead = None;
    for _ in 0..150 {
        let url = format!("{}/v1/outbox?state=dead_lettered&limit=200", projection.url);
        let rows = Reply::from(ADMIN.headers(http.get(url)).send().await.unwrap()).await;
        dead = rows.assert_ok(200).as_array().unwrap().iter().find(|r| r["address"] == PIC.email).cloned();
        if dead.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let dead = dead.expect("the PIC's e-mail shows dead-lettered on /v1/outbox");
    let id: Uuid = dead["id"].as_str().unwrap().parse().unwrap();
    assert_eq!((dead["retry_cycle"].as_u64(), dead["attempts"].as_u64()), (Some(0), Some(1)), "{dead}");
    assert!(dead["delivery_reason"].as_str().unwrap_or_default().contains("550"), "{dead}");
    let retry = format!("/v1/notifications/{id}/retry");

    // Only an admin retries.
    post(retry.clone(), &PIC, json!({})).await.assert_problem(403, "role_not_allowed");

    // Retried while the mailbox still refuses: dead-lettered again, in cycle 1.
    let reply = post(retry.clone(), &ADMIN, json!({})).await;
    assert_eq!(reply.assert_ok(202), &json!({"notification_id": id, "cycle": 1, "state": "queued"}));
    let again = wait_cycle_final(receipts, id, 1, Duration::from_secs(30)).await;
    assert_eq!((again.state, again.attempts), (DeliveryState::DeadLettered, 1), "{again:?}");
    outbox_row(&projection.url, "dead_lettered", id, 1).await;
    assert!(!count_by_notification(sink).contains_key(&id.to_string()), "nothing reached the refused mailbox");

    // The mailbox takes mail again; the next retry delivers it, once.
    sink.refuse(&[]);
    let reply = post(retry.clone(), &ADMIN, json!({})).await;
    assert_eq!(reply.assert_ok(202)["cycle"], 2);
    let sent = wait_cycle_final(receipts, id, 2, Duration::from_secs(30)).await;
    assert_eq!((sent.state, sent.attempts), (DeliveryState::Sent, 1), "{sent:?}");
    let row = outbox_row(&projection.url, "sent", id, 2).await;
    assert!(!row["provider_message_id"].is_null(), "{row}");
    wait_consumer_idle(log, Duration::from_secs(30)).await;
    assert_eq!(count_by_notification(sink).get(&id.to_string()), Some(&1), "one e-mail for the notification");
    let mail = sink.messages().into_iter().find(|m| m.notification_id() == id.to_string()).unwrap();
    assert!(mail.header("To").contains(PIC.email), "{:?}", mail.headers);

    // The receipts tell the whole story: each retry queued its cycle, and the last one sent.
    let mine: Vec<_> = receipts.all().into_iter().filter(|r| r.id == id).collect();
    for cycle in [1, 2] {
        assert!(mine.iter().any(|r| r.cycle == cycle && r.state == DeliveryState::Queued), "{mine:?}");
    }
    assert_eq!(final_states(&mine).get(&id), Some(&DeliveryState::Sent));
    // Sent now: nothing to retry.
    post(retry, &ADMIN, json!({})).await.assert_problem(409, "notification_not_dead_lettered");
    assert!(notifier.terminate().await.success(), "graceful shutdown");
}
