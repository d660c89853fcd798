//! (7-8) Notifications: the notifier's delivery rate to a local SMTP server beside the same
//! server driven directly (lettre, as many pooled connections), and the time from a command
//! accepted to its e-mail stored by the server, under a command load. The server is Postfix's
//! smtp-sink ([`crate::mail_server`]), fast enough not to be what is measured.

use std::time::{Duration, Instant, SystemTime};

use async_nats::HeaderMap;
use ehelpdesk_notifier::email::Letterhead;
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::notification::{Channel, NotificationMessage, NotifyConfig, Template};
use ehelpdesk_tests::fixtures::complaint;
use ehelpdesk_tests::{TestDatabase, TestEventLog, service_env};
use futures::StreamExt;
use lettre::AsyncTransport;

use crate::Sizes;
use crate::mail_server::{MailServer, StoredMail};
use crate::phases::{BenchError, Service, percentiles, token};
use crate::report::Row;

/// Connections both sides may use: the notifier's `NOTIFIER_SMTP_CONNECTIONS` and the pool of the
/// direct run.
const CONNECTIONS: u32 = 16;

pub async fn notifications(sizes: &Sizes) -> Result<Vec<Row>, BenchError> {
    let raw = raw_smtp(sizes.notify_messages).await?;
    let delivered = through_the_notifier(sizes.notify_messages).await?;
    let (p50, p99, count) = command_to_mailbox(sizes).await?;
    Ok(vec![
        Row {
            figure: format!(
                "7. e-mails delivered by the notifier from NOTIFY to a local SMTP server ({} messages)",
                sizes.notify_messages
            ),
            value: format!("{delivered:.0} e-mails/s"),
            limit: format!(
                "{raw:.0} e-mails/s (the same server, lettre directly, {CONNECTIONS} connections, best of 3)"
            ),
            ratio: format!("{:.2}x", delivered / raw),
            target: "≥ 0.5x".into(),
        },
        Row {
            figure: format!(
                "8. command accepted → its e-mail stored by the SMTP server ({count} complaints, {} users filing)",
                sizes.virtual_users
            ),
            value: format!("p50 {p50:.0} ms, p99 {p99:.0} ms"),
            target: "p99 < 1000 ms".into(),
            ..Default::default()
        },
    ])
}

fn message(n: usize) -> NotificationMessage {
    let number = format!("ADU-2026-{n:06}");
    NotificationMessage {
        id: uuid::Uuid::now_v7(),
        complaint_id: uuid::Uuid::now_v7(),
        complaint_number: number.clone(),
        event_type: "ComplaintAssigned".into(),
        template: Template::AduanDitugaskan,
        params: vec![number.clone(), "Slip gaji tidak dijana".into(), "Gaji".into(), "JKR".into()],
        recipient_id: "pic-bench".into(),
        recipient_role: "pic".into(),
        channel: Channel::Email,
        address: format!("pic{}@example.gov.my", n % 50),
        subject: "Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
        body: format!("Aduan {number} telah ditugaskan kepada anda.\nComplaint {number} is assigned to you."),
        created_at: chrono::Utc::now(),
        cycle: 0,
    }
}

fn letterhead() -> Result<Letterhead, BenchError> {
    Ok(Letterhead {
        from: "eHelpdesk iSPEKS <ehelpdesk@example.gov.my>".parse()?,
        reply_to: "eHelpdesk iSPEKS <ehelpdesk@example.gov.my>".parse()?,
        public_base_url: url::Url::parse("http://127.0.0.1:8082")?,
    })
}

/// The server's own limit, as a client sees it: the same messages sent straight to it (the
/// best of three rounds).
async fn raw_smtp(n: usize) -> Result<f64, BenchError> {
    let sink = MailServer::start().await?;
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(sink.port)
        .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(CONNECTIONS))
        .build();
    let letterhead = letterhead()?;
    // Best of three rounds on a warmed pool: the server's limit, not one noisy half-second.
    let mut best: f64 = 0.0;
    for _ in 0..3 {
        let emails =
            (0..n).map(|i| letterhead.compose(&message(i)).map_err(|e| e.reason)).collect::<Result<Vec<_>, _>>()?;
        let started = Instant::now();
        let sent: Vec<_> = futures::stream::iter(emails)
            .map(|email| {
                let transport = transport.clone();
                async move { transport.send(email).await }
            })
            .buffer_unordered(CONNECTIONS as usize)
            .collect()
            .await;
        let elapsed = started.elapsed().as_secs_f64();
        if let Some(Err(e)) = sent.into_iter().find(Result::is_err) {
            return Err(format!("raw SMTP: {e}").into());
        }
        best = best.max(n as f64 / elapsed);
    }
    Ok(best)
}

/// The notifier running, `n` notifications published at once: until the server holds them all.
async fn through_the_notifier(n: usize) -> Result<f64, BenchError> {
    let sink = MailServer::start().await?;
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let mut env = notifier_env(&log, &db, &sink);
    // The same number of connections to the server as the direct run; more messages in hand
    // than connections, as the notifier runs by default, so NATS round trips overlap sends.
    env.push(("NOTIFIER_SMTP_CONNECTIONS", CONNECTIONS.to_string()));
    env.push(("NOTIFIER_CONCURRENCY", (4 * CONNECTIONS).to_string()));
    let _notifier = Service::start("ehelpdesk-notifier", "NOTIFIER_ADDR", &env).await?;
    let js = log.jetstream().await;
    let (stream, prefix) = log.notify();
    let notify = NotifyConfig { stream, subject_prefix: prefix, replicas: 1 };
    ehelpdesk_shared::streams::ensure(&js, notify.stream_config()).await?;
    let messages: Vec<_> = (0..n).map(message).collect();
    let started = Instant::now();
    let mut acks = vec![];
    for m in &messages {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", m.message_id().as_str());
        acks.push(
            js.publish_with_headers(notify.deliver_subject(Channel::Email), headers, serde_json::to_vec(m)?.into())
                .await?,
        );
    }
    for ack in acks {
        ack.await?;
    }
    let stored = sink.wait_for(n, Duration::from_secs(600)).await;
    let elapsed = started.elapsed().as_secs_f64();
    if stored < n {
        return Err(format!("the notifier delivered {stored} of {n} e-mails in 10 minutes").into());
    }
    Ok(n as f64 / elapsed)
}

fn notifier_env(log: &TestEventLog, db: &TestDatabase, sink: &MailServer) -> Vec<(&'static str, String)> {
    let mut env = service_env(log, db);
    env.extend([
        ("NOTIFIER_ADMIN_ADDR", "127.0.0.1:0".to_owned()),
        ("MAIL_DELIVERY", "smtp".to_owned()),
        ("SMTP_URL", sink.url()),
        ("WHATSAPP_DELIVERY", "files".to_owned()),
        ("WHATSAPP_DIR", sink.root.join("whatsapp").display().to_string()),
        // Measured as it would run: no limit of our own between the queue and the server.
        ("NOTIFIER_EMAIL_PER_SECOND", "1000000".to_owned()),
        ("NOTIFIER_WHATSAPP_PER_SECOND", "1000000".to_owned()),
    ]);
    env
}

/// Complaints filed by `virtual_users` at once; for each, from the 201 to the moment the
/// server stored its acknowledgement (the Maildir file's modification time).
async fn command_to_mailbox(sizes: &Sizes) -> Result<(f64, f64, usize), BenchError> {
    let sink = MailServer::start().await?;
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = notifier_env(&log, &db, &sink);
    let command = Service::start("ehelpdesk-command", "COMMAND_ADDR", &env).await?;
    let _projection = Service::start("ehelpdesk-projection", "PROJECTION_ADDR", &env).await?;
    let _notifier = Service::start("ehelpdesk-notifier", "NOTIFIER_ADDR", &env).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(128).build()?;
    let mut users = vec![];
    for u in 0..sizes.virtual_users {
        let (http, url) = (http.clone(), command.url.clone());
        let filings = sizes.notify_filings_per_user;
        users.push(tokio::spawn(async move {
            let mine = token(&format!("bench-n{u}"), Role::Complainant);
            let mut accepted = vec![];
            for f in 0..filings {
                let body = complaint("AC", &format!("Aduan notifikasi {u}-{f}"));
                let response = http.post(format!("{url}/v1/complaints")).bearer_auth(&mine).json(&body).send().await?;
                let at = SystemTime::now();
                let value: serde_json::Value = response.json().await?;
                let id = value["complaint_id"].as_str().ok_or_else(|| format!("filing refused: {value}"))?.to_owned();
                accepted.push((id, at));
            }
            Ok::<_, BenchError>(accepted)
        }));
    }
    let mut accepted = std::collections::HashMap::new();
    for user in users {
        accepted.extend(user.await??);
    }
    let stored = sink.wait_for(accepted.len(), Duration::from_secs(120)).await;
    if stored < accepted.len() {
        return Err(format!("{stored} of {} acknowledgements arrived within 2 minutes", accepted.len()).into());
    }
    let mut latencies = vec![];
    for StoredMail { raw, stored_at } in sink.messages()? {
        let Some(id) = raw.split("/complaints/").nth(1).map(|rest| rest.chars().take(36).collect::<String>()) else {
            continue;
        };
        if let Some(at) = accepted.get(&id) {
            latencies.push(stored_at.duration_since(*at).unwrap_or_default());
        }
    }
    let count = latencies.len();
    let (p50, p99, _) = percentiles(latencies);
    Ok((p50, p99, count))
}
