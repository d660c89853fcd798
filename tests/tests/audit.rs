//! Auditors: histories and time travel from the log, verification of the read models,
//! exports, old event versions, and a log that cannot be edited.

use std::time::Duration;

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

struct Stack {
    projection: ProjectionApp,
    command: CommandApp,
    db: TestDatabase,
    log: TestEventLog,
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

async fn stack_with(configure: impl FnOnce(&mut ehelpdesk_projection::configuration::Settings)) -> Stack {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &IMPLEMENTOR.registration(&["implementor"], &[])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &AUDITOR.registration(&["auditor"], &[])).await.assert_ok(201);
    let mut settings = projection_settings(&log.config, &db);
    configure(&mut settings);
    let projection = ProjectionApp::spawn(settings).await;
    projection.caught_up(&log).await;
    Stack { projection, command, db, log }
}

/// The flow of domain.md; returns the complaint id and each step's (name, sequence).
async fn flow(s: &Stack) -> (String, Vec<(&'static str, u64)>) {
    let filed = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan untuk juruaudit")).await;
    let filed = filed.assert_ok(201).clone();
    let id = filed["complaint_id"].as_str().unwrap().to_owned();
    let mut steps = vec![("logged", filed["stream_sequence"].as_u64().unwrap())];
    let p = |step: &str| format!("/v1/complaints/{id}/{step}");
    for (name, who, path, body) in [
        ("assigned", &ADMIN, p("assignment"), json!({"pic_id": PIC.id})),
        ("awaiting", &PIC, p("responses"), json!({"message": "Sila hantar baucar.", "status": "awaiting_complainant"})),
        ("replied", &COMPLAINANT, p("replies"), json!({"message": "BV-1"})),
        ("referred", &PIC, p("referral"), json!({"implementor_id": IMPLEMENTOR.id, "message": "Semak"})),
        (
            "escalated",
            &PIC,
            p("escalation"),
            json!({"vendor": "TTSB", "vendor_log_number": "T-42", "message": "Vendor"}),
        ),
        ("pending_closure", &PIC, p("responses"), json!({"message": "Selesai.", "status": "pending_closure"})),
        ("closed", &COMPLAINANT, p("closure"), json!({"rating": 4})),
    ] {
        let reply = s.command.post(&path, who, &body).await;
        steps.push((name, reply.assert_ok(200)["stream_sequence"].as_u64().unwrap()));
    }
    (id, steps)
}

#[tokio::test]
async fn history_and_the_state_as_it_stood_at_every_step() {
    let s = stack().await;
    let (id, steps) = flow(&s).await;
    let history = s.projection.get(&format!("/v1/audit/complaints/{id}/history"), &AUDITOR).await;
    let events = history.assert_ok(200)["events"].as_array().unwrap().clone();
    let sequences: Vec<u64> = events.iter().map(|e| e["sequence"].as_u64().unwrap()).collect();
    assert_eq!(sequences, steps.iter().map(|(_, seq)| *seq).collect::<Vec<_>>());
    assert_eq!(events[0]["type"], "ComplaintLogged");
    assert_eq!((events[0]["version"].as_u64(), events[0]["written_version"].as_u64()), (Some(2), Some(2)));
    assert_eq!(events[1]["actor"]["id"], ADMIN.id);
    assert!(events.iter().all(|e| e["written_at"].is_string() && e["msg_id"].is_string()));

    let expected = [
        ("logged", "new"),
        ("assigned", "assigned"),
        ("awaiting", "awaiting_complainant"),
        ("replied", "in_progress"),
        ("referred", "with_implementor"),
        ("escalated", "with_vendor"),
        ("pending_closure", "pending_closure"),
        ("closed", "closed"),
    ];
    for ((name, seq), (_, status)) in steps.iter().zip(expected) {
        let at = s.projection.get(&format!("/v1/audit/complaints/{id}/state?as_of_seq={seq}"), &ADMIN).await;
        let at = at.assert_ok(200);
        assert_eq!(at["state"]["status"], status, "after {name}");
        assert_eq!(at["last_sequence"], *seq);
        // The same moment by time: the event's own occurred_at.
        let when = events.iter().find(|e| e["sequence"] == *seq).unwrap()["occurred_at"].as_str().unwrap().to_owned();
        let by_time = s
            .projection
            .get(&format!("/v1/audit/complaints/{id}/state?as_of={}", when.replace('+', "%2B")), &ADMIN)
            .await;
        assert_eq!(by_time.assert_ok(200)["state"]["status"], status, "at {when}");
    }
    let before =
        s.projection.get(&format!("/v1/audit/complaints/{id}/state?as_of=2020-01-01T00:00:00Z"), &AUDITOR).await;
    assert_eq!(before.assert_ok(200)["state"], Value::Null, "it did not exist yet");
    let mid = s.projection.get(&format!("/v1/audit/complaints/{id}/state?as_of_seq={}", steps[5].1), &AUDITOR).await;
    assert_eq!(mid.assert_ok(200)["state"]["vendor_log_number"], "T-42");
    assert_eq!(mid.body["state"]["closed_at"], Value::Null);

    // Who may audit, and what does not exist.
    s.projection.get(&format!("/v1/audit/complaints/{id}/history"), &PIC).await.assert_problem(403, "role_not_allowed");
    s.projection
        .get(&format!("/v1/audit/complaints/{id}/history"), &COMPLAINANT)
        .await
        .assert_problem(403, "role_not_allowed");
    s.projection
        .get(&format!("/v1/audit/complaints/{}/history", uuid::Uuid::now_v7()), &AUDITOR)
        .await
        .assert_problem(404, "complaint_not_found");
    s.projection
        .get(&format!("/v1/audit/complaints/{id}/state?as_of_seq=1&as_of=2026-01-01T00:00:00Z"), &AUDITOR)
        .await
        .assert_problem(400, "invalid_query");
}

#[tokio::test]
async fn staff_directory_history() {
    let s = stack().await;
    let update = s
        .command
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/staff/{}", PIC.id),
            &ADMIN,
            &json!({"categories": ["AC", "GL"]}),
            None,
        )
        .await;
    let updated_at = update.assert_ok(200)["stream_sequence"].as_u64().unwrap();
    s.command
        .post(&format!("/v1/staff/{}/deactivation", PIC.id), &ADMIN, &json!({"reason": "Bersara"}))
        .await
        .assert_ok(200);
    let history = s.projection.get(&format!("/v1/audit/staff/{}/history", PIC.id), &AUDITOR).await;
    let types: Vec<String> = history.assert_ok(200)["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap().into())
        .collect();
    assert_eq!(types, ["StaffRegistered", "StaffUpdated", "StaffDeactivated"]);
    let then = s.projection.get(&format!("/v1/audit/staff/{}/state?as_of_seq={updated_at}", PIC.id), &AUDITOR).await;
    let then = then.assert_ok(200);
    assert_eq!(then["state"]["active"], true);
    assert_eq!(then["state"]["categories"], json!(["AC", "GL"]));
    let now = s.projection.get(&format!("/v1/audit/staff/{}/state", PIC.id), &AUDITOR).await;
    assert_eq!(now.assert_ok(200)["state"]["active"], false);
    s.projection.get("/v1/audit/staff/nobody/history", &AUDITOR).await.assert_problem(404, "staff_not_found");
}

#[tokio::test]
async fn verify_passes_on_a_clean_run_and_names_a_corrupted_row() {
    let s = stack().await;
    let (id, steps) = flow(&s).await;
    let (_, second) = flow(&s).await;
    let last = second.last().unwrap().1;
    s.projection.get(&format!("/v1/complaints/{id}?min_seq={last}"), &ADMIN).await.assert_ok(200);
    let clean = s.projection.get("/v1/audit/verify", &AUDITOR).await;
    let clean = clean.assert_ok(200).clone();
    assert_eq!(clean["differences"], json!([]), "{clean}");
    assert_eq!(clean["complaints"], 2);

    let pool = s.db.read_models().await;
    sqlx::query("UPDATE complaints SET status = 'in_progress' WHERE complaint_id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM timeline WHERE complaint_id = $1 AND sequence = $2")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .bind(steps[2].1 as i64)
        .execute(&pool)
        .await
        .unwrap();
    let dirty = s.projection.get("/v1/audit/verify", &ADMIN).await;
    let differences = dirty.assert_ok(200)["differences"].as_array().unwrap().clone();
    let about_it: Vec<String> = differences
        .iter()
        .filter(|d| d["complaint_id"] == id.as_str())
        .map(|d| d["what"].as_str().unwrap().into())
        .collect();
    assert!(about_it.iter().any(|w| w.contains("status is `in_progress`, the log says `closed`")), "{about_it:?}");
    assert!(about_it.iter().any(|w| w.contains("timeline has 7 steps, the log 8 events")), "{about_it:?}");
    assert!(differences.iter().all(|d| d["complaint_id"] == id.as_str()), "only the corrupted complaint");
    s.projection.get("/v1/audit/verify", &PIC).await.assert_problem(403, "role_not_allowed");
}

#[tokio::test]
async fn exports_stream_events_and_timelines() {
    let s = stack().await;
    let (id, steps) = flow(&s).await;
    let (other, other_steps) = flow(&s).await;
    let last = other_steps.last().unwrap().1;
    s.projection.get(&format!("/v1/complaints/{other}?min_seq={last}"), &ADMIN).await.assert_ok(200);

    let get_text = |path: String| {
        let request = AUDITOR.headers(s.projection.http.get(s.projection.url(&path)));
        async move {
            let response = request.send().await.unwrap();
            let header = |name: &str| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
            let content_type = header("content-type").unwrap();
            let disposition = header("content-disposition").unwrap_or_default();
            (response.status().as_u16(), format!("{content_type}|{disposition}"), response.text().await.unwrap())
        }
    };
    // One complaint.
    let (status, content_type, body) = get_text(format!("/v1/audit/export/events.jsonl?complaint_id={id}")).await;
    let expected = format!("application/x-ndjson|attachment; filename=\"ehelpdesk-events-{id}.jsonl\"");
    assert_eq!((status, content_type.as_str()), (200, expected.as_str()));
    let body = complete_jsonl(&body);
    let lines: Vec<Value> = body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), steps.len());
    assert_eq!(lines[0]["event"]["type"], "ComplaintLogged");
    assert_eq!(lines[0]["sequence"], steps[0].1);
    // A range: everything, then nothing in the future.
    let (_, _, all) = get_text("/v1/audit/export/events.jsonl?from=2020-01-01T00:00:00Z".into()).await;
    let all = complete_jsonl(&all);
    assert_eq!(
        all.lines().count() as u64,
        s.log.message_count().await,
        "2 staff + 16 complaint events + 2 number claims"
    );
    let (_, _, none) =
        get_text("/v1/audit/export/events.jsonl?from=2020-01-01T00:00:00Z&to=2020-01-02T00:00:00Z".into()).await;
    assert_eq!(complete_jsonl(&none), "", "nothing but the trailer");

    let (status, content_type, csv) = get_text(format!("/v1/audit/export/timeline.csv?complaint_id={id}")).await;
    let expected = format!("text/csv; charset=utf-8|attachment; filename=\"ehelpdesk-timeline-{id}.csv\"");
    assert_eq!((status, content_type.as_str()), (200, expected.as_str()));
    let rows: Vec<&str> = complete_csv(&csv).lines().collect();
    assert!(rows[0].starts_with("complaint_number,complaint_id,sequence"));
    assert_eq!(rows.len(), 1 + steps.len(), "header and one line a step, internal ones included");
    let (_, headers, range) = get_text("/v1/audit/export/timeline.csv?from=2020-01-01T00:00:00Z".into()).await;
    assert!(headers.ends_with("|attachment; filename=\"ehelpdesk-timeline.csv\""), "{headers}");
    assert_eq!(complete_csv(&range).lines().count(), 1 + steps.len() + other_steps.len());
    let forbidden = s.projection.get("/v1/audit/export/timeline.csv", &PIC).await;
    forbidden.assert_problem(403, "role_not_allowed");
}

/// Writes a fixture event to the log as a new complaint of its own, past the command path
/// (as an older release wrote it); its id and stream sequence.
async fn publish_fixture(log: &TestEventLog, fixture: &str) -> (uuid::Uuid, u64) {
    let id = uuid::Uuid::now_v7();
    let mut event: Value = serde_json::from_str(fixture).unwrap();
    event["complaint_id"] = json!(id);
    let js = log.jetstream().await;
    let subject = format!("{}.complaint.{id}", log.config.subject_prefix);
    let seq = js.publish(subject, serde_json::to_vec(&event).unwrap().into()).await.unwrap().await.unwrap().sequence;
    (id, seq)
}

#[tokio::test]
async fn a_v1_event_in_the_log_is_read_as_today_s_shape() {
    let s = stack().await;
    let (id, seq) =
        publish_fixture(&s.log, include_str!("../../shared/tests/fixtures/events/ComplaintLogged.v1.json")).await;
    let detail = s.projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await;
    let detail = detail.assert_ok(200);
    assert_eq!(detail["complaint"]["reference"], Value::Null);
    assert_eq!(detail["number"], "ADU-2026-000001");
    let history = s.projection.get(&format!("/v1/audit/complaints/{id}/history"), &AUDITOR).await;
    let first = history.assert_ok(200)["events"][0].clone();
    assert_eq!((first["written_version"].as_u64(), first["version"].as_u64()), (Some(1), Some(2)));
    assert_eq!(first["data"]["reference"], Value::Null);
    // And the command side folds it too: the complaint takes commands.
    s.command.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
}

/// An event written under looser rules than today's validators (see the fixture) is still
/// projected and still folded by the command side: nothing answers 500 or skips it.
#[tokio::test]
async fn an_event_today_s_validators_would_refuse_still_projects() {
    let s = stack().await;
    let (id, seq) = publish_fixture(
        &s.log,
        include_str!("../../shared/tests/fixtures/legacy/ComplaintLogged.v2.refused-today.json"),
    )
    .await;
    let detail = s.projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await;
    let detail = detail.assert_ok(200);
    assert_eq!(detail["complaint"]["complainant"]["email"], "pengadu@");
    assert_eq!(detail["complainant"]["ic_number"], "******-**-5678", "lists mask it like any other");
    let folded = s.command.get(&format!("/v1/complaints/{id}"), &ADMIN).await;
    assert_eq!(folded.assert_ok(200)["complaint"]["complainant"]["phone"], "+65 6123 4567");
    let report = s.projection.get("/v1/audit/verify", &AUDITOR).await;
    let about_it: Vec<_> = report.assert_ok(200)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            d["complaint_id"] == id.to_string().as_str() && !d["what"].as_str().unwrap().contains("breaks the rules")
        })
        .cloned()
        .collect();
    assert!(about_it.is_empty(), "the models hold it as the log does: {about_it:?}");
}

#[tokio::test]
async fn the_log_is_append_only_and_readyz_says_so() {
    let s = stack().await;
    let (_, steps) = flow(&s).await;
    let ready = s.projection.get("/readyz", &ADMIN).await;
    assert_eq!(ready.assert_ok(200)["append_only"], true);
    let ready = s.command.get("/readyz", &ADMIN).await;
    assert_eq!(ready.assert_ok(200)["append_only"], true);
    let js = s.log.jetstream().await;
    let stream = js.get_stream(&s.log.config.stream).await.unwrap();
    assert!(stream.delete_message(steps[1].1).await.is_err(), "the server refuses to delete an event");
    assert!(stream.purge().await.is_err(), "the server refuses to purge");
    assert_eq!(s.log.event_count().await, 3 + steps.len() as u64, "every event is still there");
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// An export's body without its trailer, after checking the trailer is the last line and its
/// count and SHA-256 match what came before it.
fn complete_jsonl(body: &str) -> &str {
    let (content, trailer) = split_last_line(body);
    let trailer: Value = serde_json::from_str(trailer).unwrap_or_else(|e| panic!("trailer `{trailer}`: {e}"));
    let complete = &trailer["export_complete"];
    assert_eq!(complete["count"], content.lines().count(), "{trailer}");
    assert_eq!(complete["sha256"], sha256_hex(content.as_bytes()), "{trailer}");
    content
}

fn complete_csv(body: &str) -> &str {
    let (content, trailer) = split_last_line(body);
    let rows = content.lines().count() - 1; // the header is not a row
    assert_eq!(trailer, format!("# export complete: rows={rows} sha256={}", sha256_hex(content.as_bytes())));
    content
}

/// (everything before the last line, the last line without its newline).
fn split_last_line(body: &str) -> (&str, &str) {
    let body = body.strip_suffix('\n').unwrap_or_else(|| panic!("ends with a newline: {body:?}"));
    let cut = body.rfind('\n').map_or(0, |i| i + 1);
    (&body[..cut], &body[cut..])
}

/// Enough timeline rows under one complaint that an export of it cannot fit in the socket
/// buffers between the database and a client that reads nothing (20 MB).
async fn pad_timeline(pool: &sqlx::PgPool, complaint_id: &str) {
    sqlx::query(
        "INSERT INTO timeline (complaint_id, sequence, occurred_at, event_type, actor_id, actor_role, actor_name, \
           status, message, details, visibility) \
         SELECT $1, 1000000 + g, now(), 'InternalNoteAdded', 'pic-aminah', 'pic', 'Aminah', 'in_progress', \
           repeat('Catatan panjang. ', 300), '{}', 'internal' FROM generate_series(1, 4000) g",
    )
    .bind(uuid::Uuid::parse_str(complaint_id).unwrap())
    .execute(pool)
    .await
    .unwrap();
}

const EXPORT_QUERY: &str = "%timeline t JOIN complaints%";

/// Exports whose database backend is stuck writing rows its client has not taken.
async fn exports_blocked_on_the_client(pool: &sqlx::PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE $1 \
           AND wait_event = 'ClientWrite' AND pid <> pg_backend_pid()",
    )
    .bind(EXPORT_QUERY)
    .fetch_one(pool)
    .await
    .unwrap()
}

/// Waits (at most a minute) until `condition` holds.
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut condition: impl FnMut() -> F) {
    for _ in 0..600 {
        if condition().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gave up waiting: {what}");
}

/// A flow whose complaint's timeline is long; returns the complaint and a pool on its database.
async fn long_timeline(s: &Stack) -> (String, sqlx::PgPool) {
    let (id, steps) = flow(s).await;
    let last = steps.last().unwrap().1;
    s.projection.get(&format!("/v1/complaints/{id}?min_seq={last}"), &ADMIN).await.assert_ok(200);
    let pool = s.db.read_models().await;
    pad_timeline(&pool, &id).await;
    (id, pool)
}

async fn open_export(s: &Stack, path: &str) -> reqwest::Response {
    AUDITOR.headers(s.projection.http.get(s.projection.url(path))).send().await.unwrap()
}

/// Reads the rest of a body: Ok when it ended as HTTP says a body ends, Err when it broke off.
async fn read_to_end(mut response: reqwest::Response) -> Result<usize, reqwest::Error> {
    let mut read = 0;
    while let Some(chunk) = response.chunk().await? {
        read += chunk.len();
    }
    Ok(read)
}

#[tokio::test]
async fn exports_nobody_reads_leave_the_pool_to_queries() {
    let s = stack_with(|settings| {
        settings.database_max_connections = 2;
        settings.export_max_concurrent = 3;
    })
    .await;
    let (id, pool) = long_timeline(&s).await;
    let path = format!("/v1/audit/export/timeline.csv?complaint_id={id}");
    // More exports than the pool has connections, and nobody reads them.
    let mut stalled = vec![];
    for _ in 0..3 {
        let response = open_export(&s, &path).await;
        assert_eq!(response.status(), 200);
        stalled.push(response);
    }
    eventually("the exports are stuck on their clients", || async { exports_blocked_on_the_client(&pool).await >= 2 })
        .await;
    s.projection.get("/v1/complaints?limit=5", &ADMIN).await.assert_ok(200);
    s.projection.get("/readyz", &ADMIN).await.assert_ok(200);
    // Over the cap, CSV and JSON Lines alike: refused, with when to try again.
    for over in [path.clone(), "/v1/audit/export/events.jsonl".into()] {
        let refused = s.projection.get(&over, &AUDITOR).await;
        refused.assert_problem(429, "too_many_exports");
        assert!(refused.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    }
    drop(stalled);
}

#[tokio::test]
async fn an_export_nobody_reads_is_cut_after_the_write_timeout() {
    let s = stack_with(|settings| {
        settings.export_max_concurrent = 1;
        settings.export_write_timeout = Duration::from_secs(1);
    })
    .await;
    let (id, _pool) = long_timeline(&s).await;
    let stalled = open_export(&s, &format!("/v1/audit/export/timeline.csv?complaint_id={id}")).await;
    assert_eq!(stalled.status(), 200);
    // The one export allowed is taken until the write timeout gives up on the stalled one.
    let probe = format!("/v1/audit/export/timeline.csv?complaint_id={}", uuid::Uuid::now_v7());
    eventually("the stalled export lets go of its place", || async {
        let response = open_export(&s, &probe).await;
        response.status() == 200 && read_to_end(response).await.is_ok()
    })
    .await;
    // Reading now, the stalled client gets what was already on its way, then a broken body.
    let rest = read_to_end(stalled).await;
    assert!(rest.is_err(), "the abandoned export ended as if complete after {rest:?} bytes");
}

#[tokio::test]
async fn a_timeline_export_whose_database_connection_dies_ends_in_a_broken_body() {
    let s = stack().await;
    let (id, pool) = long_timeline(&s).await;
    let mut response = open_export(&s, &format!("/v1/audit/export/timeline.csv?complaint_id={id}")).await;
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some(), "the export has begun");
    eventually("the export is mid-stream", || async { exports_blocked_on_the_client(&pool).await == 1 }).await;
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() \
           AND query LIKE $1 AND pid <> pg_backend_pid()",
    )
    .bind(EXPORT_QUERY)
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(killed, [true]);
    let rest = read_to_end(response).await;
    assert!(rest.is_err(), "the export ended as if complete after {rest:?} more bytes");
}

#[tokio::test]
async fn an_events_export_whose_stream_vanishes_ends_in_a_broken_body() {
    let s = stack().await;
    // 24 MB of events: more than one batch of the export's consumer, more than the buffers.
    let js = s.log.jetstream().await;
    let pad = "x".repeat(8 * 1024);
    let mut acks = vec![];
    for i in 0..3000 {
        let subject = format!("{}.filler.{i}", s.log.config.subject_prefix);
        let payload = serde_json::to_vec(&json!({"type": "Filler", "pad": pad})).unwrap();
        acks.push(js.publish(subject, payload.into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
    let mut response = open_export(&s, "/v1/audit/export/events.jsonl").await;
    assert_eq!(response.status(), 200);
    assert!(response.chunk().await.unwrap().is_some(), "the export has begun");
    js.delete_stream(&s.log.config.stream).await.unwrap();
    let rest = read_to_end(response).await;
    assert!(rest.is_err(), "the export ended as if complete after {rest:?} more bytes");
}
