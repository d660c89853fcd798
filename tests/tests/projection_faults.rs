//! Faults of the projection found by fault injection (issue 13): a rebuild while the live
//! projector applies, one event the read models cannot take, a failed event in a batch, a
//! stuck projection that verify and the metrics must notice, and the projector's back-off.
//! Each test has its own stream, subject prefix and database.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ehelpdesk_projection::apply::{Incoming, apply_batch};
use ehelpdesk_projection::verify::Limits;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::json;

/// Every message of the log as the projector receives it.
async fn incoming(log: &TestEventLog) -> Vec<Incoming> {
    let js = log.jetstream().await;
    let stream = js.get_stream(&log.config.stream).await.unwrap();
    let mut out = vec![];
    let mut next = 1;
    while let Ok(m) =
        stream.raw_message_builder().sequence(next).next_by_subject(log.config.all_subjects()).send().await
    {
        next = m.sequence + 1;
        out.push(Incoming {
            sequence: m.sequence,
            subject: m.subject.to_string(),
            payload: m.payload,
            traceparent: None,
        });
    }
    out
}

async fn register_staff(command: &CommandApp) {
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC", "PAYROLL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
}

/// Files a complaint and returns its id.
async fn file(command: &CommandApp, title: &str) -> String {
    let reply = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
    reply.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned()
}

async fn head(log: &TestEventLog) -> u64 {
    let js = log.jetstream().await;
    ehelpdesk_projection::db::stream_head(&js, &log.config.stream).await.unwrap()
}

async fn wait_until_applied(pool: &sqlx::PgPool, sequence: u64) {
    for _ in 0..1000 {
        if ehelpdesk_projection::db::checkpoint(pool).await.unwrap() >= sequence {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("projection never reached sequence {sequence}");
}

async fn checkpoint(pool: &sqlx::PgPool) -> u64 {
    ehelpdesk_projection::db::checkpoint(pool).await.unwrap()
}

/// The swap of a rebuild, done by hand so that the interleaving is certain: the live
/// projector waits on the checkpoint's row lock with a batch in hand while the models it
/// reads are replaced by ones further ahead. When the lock is released it must not write
/// its stale position over theirs.
#[tokio::test]
async fn a_batch_waiting_on_the_swap_does_not_move_the_new_checkpoint_back() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    for i in 0..6 {
        let id = file(&command, &format!("Aduan pertukaran {i}")).await;
        command
            .post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id}))
            .await
            .assert_ok(200);
        command
            .post(&format!("/v1/complaints/{id}/notes"), &ADMIN, &json!({"message": format!("Nota {i}")}))
            .await
            .assert_ok(200);
    }
    let events = incoming(&log).await;
    let n = events.len();
    let settings = projection_settings(&log.config, &db);
    let live = db.read_models().await;
    ehelpdesk_projection::db::prepare(&live, "readmodel", &settings.working_week, &settings.holidays).await.unwrap();
    let k = 4;
    apply_batch(&live, &log.config.subject_prefix, &events[..k]).await.unwrap();

    // What a rebuild prepared: every event applied, in a schema of its own.
    let scratch = ehelpdesk_projection::db::connect(&db.url, "readmodel_rebuild", 2).await.unwrap();
    ehelpdesk_projection::db::prepare(&scratch, "readmodel_rebuild", &settings.working_week, &settings.holidays)
        .await
        .unwrap();
    apply_batch(&scratch, &log.config.subject_prefix, &events).await.unwrap();
    let rebuilt = dump(&scratch).await;

    let admin = ehelpdesk_projection::db::connect(&db.url, "public", 1).await.unwrap();
    let mut swap = admin.begin().await.unwrap();
    sqlx::query("SELECT last_sequence FROM readmodel.projection_checkpoint WHERE name = 'main' FOR UPDATE")
        .execute(&mut *swap)
        .await
        .unwrap();
    // The live projector's next batch, which ends before the rebuilt checkpoint.
    let waiting_batch = events[k..n - 3].to_vec();
    let prefix = log.config.subject_prefix.clone();
    let pool = live.clone();
    let waiting = tokio::spawn(async move { apply_batch(&pool, &prefix, &waiting_batch).await });
    wait_for_lock_waiter(&scratch).await;
    for statement in
        ["ALTER SCHEMA readmodel RENAME TO readmodel_old", "ALTER SCHEMA readmodel_rebuild RENAME TO readmodel"]
    {
        sqlx::query(statement).execute(&mut *swap).await.unwrap();
    }
    swap.commit().await.unwrap();
    let outcome = waiting.await.unwrap();

    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!(checkpoint(&live).await, events[n - 1].sequence, "the checkpoint never moves back");
    assert_eq!(dump(&live).await, rebuilt, "the waiting batch applied nothing twice");
}

/// Waits until some session waits for a lock (the projector's batch behind the swap).
async fn wait_for_lock_waiter(pool: &sqlx::PgPool) {
    for _ in 0..500 {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
        .fetch_one(pool)
        .await
        .unwrap();
        if waiting > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the batch never waited for the checkpoint lock");
}

/// Row-for-row dump of the models.
async fn dump(pool: &sqlx::PgPool) -> BTreeMap<&'static str, Vec<String>> {
    use sqlx::Row;
    let mut out = BTreeMap::new();
    for (table, sql) in [
        ("complaints", "SELECT to_jsonb(c) - 'search' FROM complaints c ORDER BY complaint_id"),
        ("timeline", "SELECT to_jsonb(t) FROM timeline t ORDER BY complaint_id, sequence"),
        ("outbox", "SELECT to_jsonb(o) - 'published_at' FROM notification_outbox o ORDER BY id"),
        ("staff", "SELECT to_jsonb(s) FROM staff s ORDER BY staff_id"),
        ("checkpoint", "SELECT to_jsonb(p) - 'updated_at' FROM projection_checkpoint p"),
        ("skipped", "SELECT to_jsonb(k) - 'recorded_at' FROM skipped_events k ORDER BY sequence"),
    ] {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        out.insert(table, rows.iter().map(|r| r.get::<serde_json::Value, _>(0).to_string()).collect());
    }
    out
}

/// What the fault injection did: `rebuild` while four writers send commands, the live
/// service restarted during it. Afterwards every acknowledged event is in the read models
/// exactly once, the checkpoint never went back, and verify is clean.
#[tokio::test]
async fn a_rebuild_under_load_leaves_the_live_models_exact() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = Arc::new(CommandApp::spawn(&log.config).await);
    register_staff(&command).await;
    let settings = projection_settings(&log.config, &db);
    let mut projection = ProjectionApp::spawn(settings.clone()).await;
    let pool = db.read_models().await;

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = vec![];
    for w in 0..4 {
        let (command, stop) = (command.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut acknowledged = vec![];
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) || i < 3 {
                let reply = command
                    .post("/v1/complaints", &COMPLAINANT, &complaint("AC", &format!("Aduan penulis {w} nombor {i}")))
                    .await;
                let body = reply.assert_ok(201);
                acknowledged.push(body["stream_sequence"].as_u64().unwrap());
                let id = body["complaint_id"].as_str().unwrap().to_owned();
                for (path, body) in [
                    ("assignment", json!({"pic_id": PIC.id})),
                    ("notes", json!({"message": "Semakan awal"})),
                    ("notes", json!({"message": "Disemak"})),
                ] {
                    let reply = command.post(&format!("/v1/complaints/{id}/{path}"), &ADMIN, &body).await;
                    acknowledged.push(reply.assert_ok(200)["stream_sequence"].as_u64().unwrap());
                }
                i += 1;
            }
            acknowledged
        }));
    }
    // The checkpoint as the live models show it, sampled throughout.
    let sampler = {
        let (pool, stop) = (pool.clone(), stop.clone());
        tokio::spawn(async move {
            let mut seen = vec![];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(c) = ehelpdesk_projection::db::checkpoint(&pool).await {
                    seen.push(c);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            seen
        })
    };
    wait_until_applied(&pool, 40).await;
    let rebuild = {
        let settings = settings.clone();
        tokio::spawn(async move { ehelpdesk_projection::rebuild::rebuild(&settings, |_| {}).await })
    };
    // The live service restarted while the rebuild runs.
    tokio::time::sleep(Duration::from_millis(30)).await;
    projection.stop().await;
    projection = ProjectionApp::spawn(settings.clone()).await;
    let report = rebuild.await.unwrap().expect("rebuild succeeds under load");
    // Writers carry on a moment after the swap, onto the swapped-in models.
    let after_swap = head(&log).await;
    wait_until_applied(&pool, after_swap + 20).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = vec![];
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    let samples = sampler.await.unwrap();
    let last = head(&log).await;
    wait_until_applied(&pool, last).await;
    println!(
        "rebuild under load: {} events acknowledged; the rebuild replayed {} and held the live projection {:?} \
         (live checkpoint {} when locked, rebuild at {} then)",
        acknowledged.len(),
        report.last_sequence,
        report.live_paused,
        report.live_checkpoint_at_swap,
        report.caught_up_before_swap,
    );
    // While the live projector is paused the rebuild applies only what the live models had
    // reached (the swap must not chase the stream's head with the lock held).
    assert!(
        report.last_sequence <= report.caught_up_before_swap.max(report.live_checkpoint_at_swap),
        "the swap applied events past the live checkpoint while holding it: {report:?}"
    );

    let backwards: Vec<(u64, u64)> = samples.windows(2).filter(|w| w[1] < w[0]).map(|w| (w[0], w[1])).collect();
    assert!(backwards.is_empty(), "the checkpoint went back: {backwards:?}");
    let steps: Vec<i64> =
        sqlx::query_scalar("SELECT sequence FROM timeline ORDER BY sequence").fetch_all(&pool).await.unwrap();
    let unique: BTreeSet<i64> = steps.iter().copied().collect();
    assert_eq!(unique.len(), steps.len(), "no step twice");
    let missing: Vec<u64> = acknowledged.iter().filter(|s| !unique.contains(&(**s as i64))).copied().collect();
    assert!(missing.is_empty(), "acknowledged events missing from the read models: {missing:?}");
    let js = log.jetstream().await;
    let verified = ehelpdesk_projection::verify::verify(&pool, &js, &log.config, Limits::of(&settings)).await.unwrap();
    assert!(verified.is_clean(), "{:?}", verified.differences);
    assert_eq!(verified.checkpoint, last);
    projection.stop().await;
}

/// An event the domain refuses (a second ComplaintLogged) in the middle of a batch: it is
/// recorded and skipped, and the complaint's state before it carries on to the batch's
/// later events and into the row.
#[tokio::test]
async fn a_refused_event_does_not_lose_its_complaint_for_the_rest_of_the_batch() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let id = file(&command, "Aduan dengan peristiwa berganda").await;
    command.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    let mut events = incoming(&log).await;
    let logged = events.iter().position(|m| m.subject.ends_with(&id)).unwrap();
    // The same ComplaintLogged again, right after the first.
    let again = events[logged].clone();
    events.insert(logged + 1, again);
    for (i, m) in events.iter_mut().enumerate() {
        m.sequence = i as u64 + 1;
    }
    let pool = db.read_models().await;
    let settings = projection_settings(&log.config, &db);
    ehelpdesk_projection::db::prepare(&pool, "readmodel", &settings.working_week, &settings.holidays).await.unwrap();

    let last = apply_batch(&pool, &log.config.subject_prefix, &events).await.unwrap();

    assert_eq!(last, events.len() as u64);
    let skipped: Vec<i64> = sqlx::query_scalar("SELECT sequence FROM skipped_events").fetch_all(&pool).await.unwrap();
    assert_eq!(skipped, [logged as i64 + 2], "only the second ComplaintLogged is skipped");
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM complaints WHERE complaint_id = $1::uuid")
        .bind(&id)
        .fetch_optional(&pool)
        .await
        .unwrap();
    assert_eq!(status.as_deref(), Some("assigned"), "the assignment after the refused event applies");
    let steps: i64 = sqlx::query_scalar("SELECT count(*) FROM timeline WHERE complaint_id = $1::uuid")
        .bind(&id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(steps, 2);
}

/// Publishes `payload` (a stored event, changed by `edit`) as the event of a new complaint.
async fn publish_edited(log: &TestEventLog, payload: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> u64 {
    let mut event: serde_json::Value = serde_json::from_slice(payload).unwrap();
    let id = uuid::Uuid::now_v7();
    event["complaint_id"] = json!(id);
    edit(&mut event);
    let js = log.jetstream().await;
    let subject = format!("{}.complaint.{id}", log.config.subject_prefix);
    js.publish(subject, event.to_string().into()).await.unwrap().await.unwrap().sequence
}

/// Events the read models cannot take (a number given twice, a NUL PostgreSQL refuses in
/// text) stop nothing: each is narrowed down, recorded in `skipped_events` with its
/// SQLSTATE, the projection carries on, a metric counts them, and a rebuild gets past them
/// the same way.
#[tokio::test]
async fn events_the_read_models_cannot_take_are_recorded_and_skipped() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let settings = projection_settings(&log.config, &db);
    let projection = ProjectionApp::spawn(settings.clone()).await;
    let first = file(&command, "Aduan yang asal").await;
    let events = incoming(&log).await;
    let logged = events.iter().find(|m| m.subject.ends_with(&first)).unwrap().payload.clone();
    let duplicate = publish_edited(&log, &logged, |_| {}).await;
    let nul = publish_edited(&log, &logged, |e| {
        e["data"]["number"] = json!("ADU-1999-000001");
        e["data"]["title"] = json!("Tajuk\u{0}rosak");
    })
    .await;
    for i in 0..3 {
        file(&command, &format!("Aduan selepas yang rosak {i}")).await;
    }
    let pool = db.read_models().await;
    wait_until_applied(&pool, head(&log).await).await;

    let skipped: Vec<(i64, String, Option<String>)> =
        sqlx::query_as("SELECT sequence, kind, sqlstate FROM skipped_events ORDER BY sequence")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        skipped,
        [
            (duplicate as i64, "data_error".to_owned(), Some("23505".to_owned())),
            (nul as i64, "data_error".to_owned(), Some("22P05".to_owned())),
        ]
    );
    let complaints: i64 = sqlx::query_scalar("SELECT count(*) FROM complaints").fetch_one(&pool).await.unwrap();
    assert_eq!(complaints, 4, "the first and the three after");
    let mut skipped_metric = 0.0;
    for _ in 0..100 {
        let text = command.http.get(projection.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
        skipped_metric = text
            .lines()
            .find(|l| l.starts_with("ehelpdesk_projection_skipped_events{kind=\"data_error\"}"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0.0);
        if skipped_metric >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(skipped_metric, 2.0);

    let live = dump(&pool).await;
    ehelpdesk_projection::rebuild::rebuild(&settings, |_| {}).await.expect("a rebuild gets past them too");
    assert_eq!(dump(&pool).await, live);
    projection.stop().await;
}

/// `ehelpdesk-projection verify` as a process against this test's log and database.
fn verify_process(log: &TestEventLog, db: &TestDatabase) -> (i32, String) {
    let output = std::process::Command::new(ehelpdesk_tests::process::binary("ehelpdesk-projection"))
        .arg("verify")
        .envs(ehelpdesk_tests::service_env(log, db))
        .env("RUST_LOG", "warn")
        .env("VERIFY_STALL_SECS", "1")
        .env("VERIFY_MAX_BEHIND", "2")
        .output()
        .unwrap();
    (output.status.code().unwrap_or(-1), String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Verify compares the models with the log up to the checkpoint; a projection that stopped
/// short of the head must fail it too, not pass it with "0 differences".
#[tokio::test]
async fn verify_fails_while_the_projection_is_stuck_and_names_the_head() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let settings = projection_settings(&log.config, &db);
    let projection = ProjectionApp::spawn(settings.clone()).await;
    file(&command, "Sebelum unjuran berhenti").await;
    let pool = db.read_models().await;
    wait_until_applied(&pool, head(&log).await).await;
    projection.stop().await;
    for i in 0..3 {
        file(&command, &format!("Semasa unjuran berhenti {i}")).await;
    }
    let stuck_at = checkpoint(&pool).await;
    let head_now = head(&log).await;

    let (code, out) = verify_process(&log, &db);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains(&format!("stream head {head_now}")) && out.contains(&format!("checkpoint {stuck_at}")),
        "{out}"
    );
    assert!(out.contains("stalled") && out.contains("behind"), "{out}");

    let projection = ProjectionApp::spawn(settings).await;
    wait_until_applied(&pool, head_now).await;
    let (code, out) = verify_process(&log, &db);
    assert_eq!(code, 0, "{out}");
    projection.stop().await;
}

/// Two complaints with one number (written before numbers were claimed, or by hand) are a
/// difference verify names, whatever the read models hold.
#[tokio::test]
async fn verify_names_a_number_given_to_two_complaints() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let first = file(&command, "Aduan yang asal").await;
    let events = incoming(&log).await;
    let logged = events.iter().find(|m| m.subject.ends_with(&first)).unwrap();
    let number = serde_json::from_slice::<serde_json::Value>(&logged.payload).unwrap()["data"]["number"].clone();
    publish_edited(&log, &logged.payload.clone(), |_| {}).await;
    let pool = db.read_models().await;
    wait_until_applied(&pool, head(&log).await).await;

    let report = projection.get("/v1/audit/verify", &AUDITOR).await;
    let differences = report.assert_ok(200)["differences"].as_array().unwrap().clone();
    let about_number: Vec<_> =
        differences.iter().filter(|d| d["what"].as_str().unwrap().contains(number.as_str().unwrap())).collect();
    assert_eq!(about_number.len(), 2, "both complaints are named: {differences:?}");
    projection.stop().await;
}

/// One sample of the projection's `/metrics`, 0 when absent.
async fn metric(projection: &ProjectionApp, name: &str) -> f64 {
    let text = projection.http.get(projection.admin_url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Waits (bounded) until `check` holds for the projection's metrics and readiness.
async fn wait_for_projection(
    projection: &ProjectionApp,
    what: &str,
    check: impl Fn(&BTreeMap<&str, f64>, u16) -> bool,
) {
    let mut seen = (BTreeMap::new(), 0);
    for _ in 0..150 {
        let mut figures = BTreeMap::new();
        for name in [
            "ehelpdesk_projection_lag_events",
            "ehelpdesk_projection_lag_seconds",
            "ehelpdesk_projection_consecutive_failures",
        ] {
            figures.insert(name, metric(projection, name).await);
        }
        let ready = projection.get("/readyz", &ADMIN).await.status;
        if check(&figures, ready) {
            return;
        }
        seen = (figures, ready);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: never; last seen {seen:?}");
}

/// A projection whose every batch fails keeps its lag metrics moving, counts its failures,
/// and is not ready; once the fault is gone all of it recovers.
#[tokio::test]
async fn a_stuck_projection_shows_in_its_lag_metrics_and_readiness() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    file(&command, "Sebelum unjuran tersangkut").await;
    let pool = db.read_models().await;
    wait_until_applied(&pool, head(&log).await).await;
    // Every batch now fails the way a lock timeout would: a transient error, retried.
    sqlx::query(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = '55P03'; END $$",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON timeline FOR EACH STATEMENT EXECUTE FUNCTION refuse()")
        .execute(&pool)
        .await
        .unwrap();
    for i in 0..2 {
        file(&command, &format!("Semasa unjuran tersangkut {i}")).await;
    }
    wait_for_projection(&projection, "lag and failures while stuck", |m, ready| {
        m["ehelpdesk_projection_lag_events"] >= 2.0
            && m["ehelpdesk_projection_lag_seconds"] > 0.0
            && m["ehelpdesk_projection_consecutive_failures"] >= 3.0
            && ready == 503
    })
    .await;
    let body = projection.get("/readyz", &ADMIN).await.body;
    assert!(body["consecutive_failures"].as_u64().is_some_and(|n| n >= 3), "{body}");

    sqlx::query("DROP TRIGGER refuse ON timeline").execute(&pool).await.unwrap();
    wait_for_projection(&projection, "recovery", |m, ready| {
        m["ehelpdesk_projection_lag_events"] == 0.0
            && m["ehelpdesk_projection_lag_seconds"] == 0.0
            && m["ehelpdesk_projection_consecutive_failures"] == 0.0
            && ready == 200
    })
    .await;
    projection.stop().await;
}

/// Makes every batch fail the way a lock timeout would (a transient error, retried).
async fn refuse_batches(pool: &sqlx::PgPool) {
    sqlx::query(
        "CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS \
         $$ BEGIN RAISE EXCEPTION 'injected fault' USING ERRCODE = '55P03'; END $$",
    )
    .execute(pool)
    .await
    .unwrap();
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON timeline FOR EACH STATEMENT EXECUTE FUNCTION refuse()")
        .execute(pool)
        .await
        .unwrap();
}

/// After a batch applies, the next interruption waits the shortest back-off again, not the
/// longest one reached before (issue 13: 17 s to resume after a quorum loss).
#[tokio::test]
async fn the_back_off_starts_over_after_a_batch_applies() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    register_staff(&command).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let pool = db.read_models().await;
    wait_until_applied(&pool, head(&log).await).await;
    let failures = "ehelpdesk_projection_consecutive_failures";
    let backoff = "ehelpdesk_projection_retry_backoff_seconds";

    refuse_batches(&pool).await;
    file(&command, "Gagal berulang kali").await;
    wait_for(&projection, failures, |n| n >= 4.0).await;
    sqlx::query("DROP TRIGGER refuse ON timeline").execute(&pool).await.unwrap();
    wait_until_applied(&pool, head(&log).await).await;
    wait_for(&projection, failures, |n| n == 0.0).await;

    refuse_batches(&pool).await;
    file(&command, "Gagal sekali lagi").await;
    wait_for(&projection, failures, |n| n >= 1.0).await;
    assert_eq!(metric(&projection, backoff).await, 0.2, "the first wait after a success is the shortest");
    sqlx::query("DROP TRIGGER refuse ON timeline").execute(&pool).await.unwrap();
    projection.stop().await;
}

/// Waits (bounded) until the projection's metric `name` satisfies `check`.
async fn wait_for(projection: &ProjectionApp, name: &str, check: impl Fn(f64) -> bool) {
    let mut last = 0.0;
    for _ in 0..200 {
        last = metric(projection, name).await;
        if check(last) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("{name} never got there; last {last}");
}
