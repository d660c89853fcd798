//! How every fault experiment ends: the projection catches up, every acknowledged command's
//! event is in the stream and in the read models exactly once, no complaint number is
//! given twice, nothing was skipped, and `ehelpdesk-projection verify` exits 0. Also the
//! recovery times and the report the experiments print (`--nocapture` shows it).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::TestEventLog;
use crate::load::{Load, Outcome};

/// Time from the end of a fault until the first command sent after it was acknowledged, and
/// until the projection had applied that command's event.
#[derive(Debug, Clone)]
pub struct Recovery {
    pub fault: String,
    pub first_ack: Duration,
    pub caught_up: Duration,
}

/// Waits (at most `within`, each) for the first acknowledged command sent at or after
/// `fault_end`, then for the read models at `database_url` to hold its event.
pub async fn recovery(load: &Load, database_url: &str, fault: &str, fault_end: Instant, within: Duration) -> Recovery {
    let ack = load
        .first_ack_sent_after(fault_end, within)
        .await
        .unwrap_or_else(|| panic!("{fault}: no command acknowledged within {within:?} of the fault's end"));
    let first_ack = ack.answered.duration_since(fault_end);
    let applied = checkpoint_reaches(database_url, ack.sequence, within)
        .await
        .unwrap_or_else(|| panic!("{fault}: the projection never applied sequence {} within {within:?}", ack.sequence));
    Recovery { fault: fault.to_owned(), first_ack, caught_up: applied.duration_since(fault_end) }
}

/// Polls the read models' checkpoint until it reaches `sequence`; the instant it did.
/// Connection failures (the database restarting) are waited out.
pub async fn checkpoint_reaches(database_url: &str, sequence: u64, within: Duration) -> Option<Instant> {
    let deadline = Instant::now() + within;
    let mut pool = None;
    while Instant::now() < deadline {
        if pool.is_none() {
            pool = ehelpdesk_projection::db::connect(database_url, "readmodel", 1).await.ok();
        }
        if let Some(p) = &pool
            && let Ok(at) = ehelpdesk_projection::db::checkpoint(p).await
            && at >= sequence
        {
            return Some(Instant::now());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// One message of the stream, as far as the check needs it.
#[derive(Debug)]
struct Stored {
    subject: String,
    event_type: Option<String>,
}

/// What the check counted, for the report.
#[derive(Debug, Clone, Default)]
pub struct Consistency {
    pub stream_head: u64,
    pub events: usize,
    pub complaints: usize,
    pub acknowledged: usize,
}

/// Asserts the read models at `database_url` and the log of `log` agree with each other and
/// with every acknowledged command of `outcome`; runs `verify` with the services' `env`.
pub async fn check(
    log: &TestEventLog,
    database_url: &str,
    env: &[(&'static str, String)],
    outcome: &Outcome,
) -> Consistency {
    let js = jetstream(log).await;
    let stream_head = retry("the stream head", || ehelpdesk_projection::db::stream_head(&js, &log.config.stream)).await;
    let caught_up = checkpoint_reaches(database_url, stream_head, Duration::from_secs(120)).await;
    assert!(caught_up.is_some(), "the projection never reached the stream head {stream_head}");

    // The log, read from the stream's leader.
    let stream = retry("the stream", || js.get_stream(&log.config.stream)).await;
    let mut stored = BTreeMap::new();
    let mut next = 1;
    while next <= stream_head {
        let message = retry("a stored message", || {
            stream.raw_message_builder().sequence(next).next_by_subject(log.config.all_subjects()).send()
        })
        .await;
        next = message.sequence + 1;
        let payload: serde_json::Value = serde_json::from_slice(&message.payload).expect("stored messages are JSON");
        let event_type = payload["type"].as_str().map(str::to_owned);
        stored.insert(message.sequence, Stored { subject: message.subject.to_string(), event_type });
    }
    let complaint_prefix = format!("{}.complaint.", log.config.subject_prefix);
    // (complaint id, sequence) of every complaint event in the log.
    let logged_steps: BTreeSet<(String, u64)> = stored
        .iter()
        .filter_map(|(seq, m)| Some((m.subject.strip_prefix(&complaint_prefix)?.to_owned(), *seq)))
        .collect();
    let logged_complaints: BTreeSet<String> = stored
        .iter()
        .filter(|(_, m)| m.event_type.as_deref() == Some("ComplaintLogged"))
        .filter_map(|(_, m)| m.subject.strip_prefix(&complaint_prefix).map(str::to_owned))
        .collect();

    // Every acknowledged command's event is in the log, on its complaint, of its type.
    let acknowledged: BTreeMap<u64, &crate::load::Ack> = outcome.acks.iter().map(|a| (a.sequence, a)).collect();
    let not_in_log: Vec<String> = acknowledged
        .values()
        .filter(|a| {
            stored.get(&a.sequence).is_none_or(|m| {
                m.subject != format!("{complaint_prefix}{}", a.complaint_id)
                    || m.event_type.as_deref() != Some(a.event_type)
            })
        })
        .map(|a| format!("{} {} at {}", a.event_type, a.complaint_id, a.sequence))
        .collect();
    assert!(not_in_log.is_empty(), "acknowledged but not in the log: {not_in_log:?}");
    // Two acks of one sequence must be one command (an idempotent replay), never two.
    for ack in &outcome.acks {
        let first = acknowledged[&ack.sequence];
        assert_eq!(
            (first.complaint_id.as_str(), first.event_type),
            (ack.complaint_id.as_str(), ack.event_type),
            "two commands acknowledged with one sequence {}",
            ack.sequence
        );
    }
    let mut numbers: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for ack in &outcome.acks {
        if let Some(number) = &ack.number {
            numbers.entry(number).or_default().insert(&ack.complaint_id);
        }
    }
    let shared: Vec<_> = numbers.iter().filter(|(_, ids)| ids.len() > 1).collect();
    assert!(shared.is_empty(), "a complaint number acknowledged for two complaints: {shared:?}");

    // The read models: one timeline row per complaint event of the log, no more, no fewer.
    let pool = ehelpdesk_projection::db::connect(database_url, "readmodel", 2).await.expect("read models reachable");
    let rows: Vec<(uuid::Uuid, i64)> =
        sqlx::query_as("SELECT complaint_id, sequence FROM timeline").fetch_all(&pool).await.expect("timeline");
    let projected: BTreeSet<(String, u64)> = rows.iter().map(|(id, seq)| (id.to_string(), *seq as u64)).collect();
    assert_eq!(projected.len(), rows.len(), "a timeline row twice");
    let sequences: BTreeSet<u64> = projected.iter().map(|(_, s)| *s).collect();
    assert_eq!(sequences.len(), projected.len(), "one event applied to two complaints");
    let missing: Vec<_> = logged_steps.difference(&projected).take(20).collect();
    let extra: Vec<_> = projected.difference(&logged_steps).take(20).collect();
    assert!(missing.is_empty() && extra.is_empty(), "timeline vs log: missing {missing:?}, not in the log {extra:?}");
    let not_projected: Vec<u64> =
        acknowledged.values().filter(|a| !sequences.contains(&a.sequence)).map(|a| a.sequence).collect();
    assert!(not_projected.is_empty(), "acknowledged but not in the read models: {not_projected:?}");

    let complaint_rows: Vec<(uuid::Uuid, String)> =
        sqlx::query_as("SELECT complaint_id, number FROM complaints").fetch_all(&pool).await.expect("complaints");
    let ids: BTreeSet<String> = complaint_rows.iter().map(|(id, _)| id.to_string()).collect();
    assert_eq!(ids, logged_complaints, "one complaint row per ComplaintLogged");
    let distinct_numbers: BTreeSet<&String> = complaint_rows.iter().map(|(_, n)| n).collect();
    assert_eq!(distinct_numbers.len(), complaint_rows.len(), "a complaint number twice in the read models");
    for ack in &outcome.acks {
        if let Some(number) = &ack.number {
            let row = complaint_rows.iter().find(|(id, _)| id.to_string() == ack.complaint_id);
            assert_eq!(row.map(|(_, n)| n), Some(number), "the number {number} acknowledged for {}", ack.complaint_id);
        }
    }
    let skipped: i64 =
        sqlx::query_scalar("SELECT count(*) FROM skipped_events").fetch_one(&pool).await.expect("skipped events");
    assert_eq!(skipped, 0, "events skipped by the projection");
    pool.close().await;

    let (code, out) = verify(env).await;
    assert_eq!(code, 0, "ehelpdesk-projection verify:\n{out}");
    Consistency { stream_head, events: logged_steps.len(), complaints: ids.len(), acknowledged: acknowledged.len() }
}

/// `ehelpdesk-projection verify` as a process with the services' environment, strict: no
/// event may be left unapplied.
pub async fn verify(env: &[(&'static str, String)]) -> (i32, String) {
    let env = env.to_vec();
    tokio::task::spawn_blocking(move || {
        let output = std::process::Command::new(crate::process::binary("ehelpdesk-projection"))
            .arg("verify")
            .envs(env)
            .env("RUST_LOG", "warn")
            .env("VERIFY_MAX_BEHIND", "0")
            .output()
            .expect("verify runs");
        (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
    })
    .await
    .expect("verify's thread")
}

async fn jetstream(log: &TestEventLog) -> async_nats::jetstream::Context {
    let client = retry("NATS", || async_nats::connect(&log.config.nats_url)).await;
    async_nats::jetstream::new(client)
}

/// Retries `attempt` for up to a minute: a cluster that just lost and regained nodes may
/// take a while to elect leaders again.
async fn retry<T, E: std::fmt::Debug, F: std::future::Future<Output = Result<T, E>>>(
    what: &str,
    mut attempt: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match attempt().await {
            Ok(value) => return value,
            Err(e) if Instant::now() > deadline => panic!("{what}: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

/// One `/readyz` probe with a client's patience of 10 s: the status (`None`: no answer)
/// and how long it took.
pub async fn readiness(service_url: &str) -> (Option<u16>, Duration) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("HTTP client");
    let started = Instant::now();
    let status = http.get(format!("{service_url}/readyz")).send().await.ok().map(|r| r.status().as_u16());
    (status, started.elapsed())
}

/// Prints what clients saw during an experiment and asserts what they must never see: a
/// 5xx other than 503, or a command answered with anything but 2xx or 503.
pub fn report(experiment: &str, outcome: &Outcome, recoveries: &[Recovery], consistency: &Consistency) {
    println!("== fault experiment: {experiment}");
    println!(
        "   commands acknowledged: {} (events in the log: {}, complaints: {}, stream head {})",
        consistency.acknowledged, consistency.events, consistency.complaints, consistency.stream_head
    );
    println!("   command answers by status: {:?}", outcome.command_statuses());
    println!("   query answers by status:   {:?}", outcome.query_statuses());
    println!("   503s by problem code:      {:?}", outcome.codes_of_503s());
    for r in recoveries {
        println!(
            "   {}: first command acknowledged {:.2} s after it, projection caught up {:.2} s after it",
            r.fault,
            r.first_ack.as_secs_f64(),
            r.caught_up.as_secs_f64()
        );
    }
    let server_errors = outcome.server_errors();
    println!("   500s and other 5xx but 503: {}", server_errors.len());
    assert!(server_errors.is_empty(), "{experiment}: server errors: {server_errors:?}");
    let unexpected = outcome.unexpected_command_answers();
    assert!(unexpected.is_empty(), "{experiment}: commands answered neither 2xx nor 503: {unexpected:?}");
}
