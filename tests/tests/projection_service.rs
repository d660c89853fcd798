//! The projection service against the real NATS and PostgreSQL: each test with its own
//! stream, subject prefix and database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, NaiveDate, Weekday};
use ehelpdesk_projection::apply::{Incoming, apply_batch};
use ehelpdesk_projection::calendar::Holiday;
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};
use sqlx::Row;

struct Stack {
    projection: ProjectionApp,
    command: CommandApp,
    db: TestDatabase,
    log: TestEventLog,
}

async fn stack_with(configure: impl FnOnce(&mut ehelpdesk_projection::configuration::Settings)) -> Stack {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC", "PAYROLL"][..]),
        (&OTHER_PIC, &["pic"][..], &["GL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let mut settings = projection_settings(&log.config, &db);
    configure(&mut settings);
    let projection = ProjectionApp::spawn(settings).await;
    projection.caught_up(&log).await;
    Stack { projection, command, db, log }
}

async fn stack() -> Stack {
    stack_with(|_| {}).await
}

/// Posts a command and returns the stream sequence of its event.
async fn act(s: &Stack, path: &str, who: &Person, body: Value) -> u64 {
    let reply = s.command.post(path, who, &body).await;
    assert!(reply.status == 200 || reply.status == 201, "{path}: {reply:?}");
    reply.body["stream_sequence"].as_u64().unwrap()
}

async fn file(s: &Stack, who: &Person, category: &str, title: &str) -> (String, u64) {
    let reply = s.command.post("/v1/complaints", who, &complaint(category, title)).await;
    let body = reply.assert_ok(201);
    (body["complaint_id"].as_str().unwrap().to_owned(), body["stream_sequence"].as_u64().unwrap())
}

/// The flow of domain.md; returns the complaint id and the last sequence.
async fn whole_flow(s: &Stack) -> (String, u64) {
    let (id, _) = file(s, &COMPLAINANT, "AC", "Amaun salah pada baris arahan bayaran").await;
    let p = |step: &str| format!("/v1/complaints/{id}/{step}");
    act(s, &p("assignment"), &ADMIN, json!({"pic_id": PIC.id, "note": "Keutamaan tinggi"})).await;
    act(s, &p("responses"), &PIC, json!({"message": "Sila sertakan nombor baucar.", "status": "awaiting_complainant"}))
        .await;
    act(s, &p("replies"), &COMPLAINANT, json!({"message": "BV-2026-0101"})).await;
    act(s, &p("referral"), &PIC, json!({"implementor_id": IMPLEMENTOR.id, "message": "Mohon semakan."})).await;
    act(s, &p("notes"), &IMPLEMENTOR, json!({"message": "Pepijat modul AC; rujuk vendor."})).await;
    act(
        s,
        &p("escalation"),
        &PIC,
        json!({"vendor": "TTSB", "vendor_log_number": "TTSB-2026-0042", "message": "Dirujuk."}),
    )
    .await;
    act(s, &p("responses"), &PIC, json!({"message": "Telah dibaiki.", "status": "pending_closure"})).await;
    let last = act(s, &p("closure"), &COMPLAINANT, json!({"rating": 4, "comment": "Terima kasih"})).await;
    (id, last)
}

#[tokio::test]
async fn every_read_model_after_the_whole_flow() {
    let s = stack().await;
    let (open_id, _) = file(&s, &OTHER_COMPLAINANT, "AC", "Slip gaji tidak dapat dicetak").await;
    let (new_id, _) = file(&s, &OTHER_COMPLAINANT, "GL", "Baki lejar am tidak seimbang").await;
    act(&s, &format!("/v1/complaints/{open_id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    let (id, last) = whole_flow(&s).await;
    let wait = format!("min_seq={last}");

    // Complaint detail, as the complainant sees it: no internal notes, no admin note.
    let detail = s.projection.get(&format!("/v1/complaints/{id}?{wait}"), &COMPLAINANT).await;
    let d = detail.assert_ok(200);
    assert_eq!((d["status"].as_str(), d["status_label_ms"].as_str()), (Some("closed"), Some("SELESAI")));
    assert_eq!(d["complaint"]["vendor_log_number"], "TTSB-2026-0042");
    assert_eq!(d["complaint"]["satisfaction"]["rating"], 4);
    assert_eq!(d["complaint"]["complainant"]["ic_number"], "900101035678", "the owner sees their own number");
    assert_eq!(d["complainant"]["ic_number"], "******-**-5678");
    assert_eq!(d["pic_name"], PIC.name);
    assert!(d["solved_within_working_days"].is_number());
    let types: Vec<&str> =
        d["timeline"].as_array().unwrap().iter().map(|t| t["event_type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "ComplaintLogged",
            "ComplaintAssigned",
            "ComplaintResponded",
            "ComplainantReplied",
            "EscalatedToVendor",
            "ComplaintResponded",
            "ComplaintClosed"
        ]
    );
    assert!(d["timeline"][1]["details"].get("note").is_none());
    // The PIC sees every step, internal ones included.
    let staff_view = s.projection.get(&format!("/v1/complaints/{id}"), &PIC).await;
    let timeline = staff_view.assert_ok(200)["timeline"].as_array().unwrap().clone();
    assert_eq!(timeline.len(), 9);
    assert_eq!(timeline[1]["details"]["note"], "Keutamaan tinggi");
    let note = timeline.iter().find(|t| t["event_type"] == "InternalNoteAdded").unwrap();
    assert_eq!((note["visibility"].as_str(), note["actor_role"].as_str()), (Some("internal"), Some("implementor")));
    assert_eq!(timeline[2]["status_label_ms"], "MOHON MAKLUMBALAS PENGADU");

    // The PIC's inbox and badge: the closed complaint has left it.
    let inbox = s.projection.get("/v1/inbox", &PIC).await;
    let inbox = inbox.assert_ok(200);
    assert_eq!(inbox["badge"], 1);
    assert_eq!(inbox["items"][0]["complaint_id"], open_id.as_str());
    assert_eq!(inbox["items"][0]["complainant"]["ic_number"], "******-**-5456");
    assert_eq!(inbox["items"][0]["category_name_ms"], "Pendahuluan & Tuntutan");
    assert_eq!(inbox["items"][0]["age_working_days"], 0);
    let badge = s.projection.get("/v1/inbox/badge", &PIC).await;
    assert_eq!(badge.assert_ok(200)["count"], 1);
    let other = s.projection.get(&format!("/v1/inbox?pic_id={}", PIC.id), &ADMIN).await;
    assert_eq!(other.assert_ok(200)["badge"], 1);

    // The triage queue holds the one nobody has.
    let triage = s.projection.get("/v1/triage", &ADMIN).await;
    let triage: Vec<_> = triage.assert_ok(200).as_array().unwrap().iter().map(|r| r["complaint_id"].clone()).collect();
    assert_eq!(triage, [json!(new_id)]);

    // Reports.
    let aging = s.projection.get("/v1/reports/aging?group_by=pic", &ADMIN).await;
    let aging = aging.assert_ok(200).as_array().unwrap().clone();
    let by_key: BTreeMap<String, Value> =
        aging.iter().map(|r| (r["key"].as_str().unwrap_or("(none)").to_owned(), r.clone())).collect();
    assert_eq!(by_key["(none)"]["open"], 1);
    assert_eq!(by_key[PIC.id]["days_0_3"], 1);
    let by_category = s.projection.get("/v1/reports/aging?group_by=category", &AUDITOR).await;
    assert_eq!(by_category.assert_ok(200).as_array().unwrap().len(), 2);
    let resolution = s.projection.get("/v1/reports/resolution?group_by=category", &ADMIN).await;
    let resolution = resolution.assert_ok(200);
    assert_eq!(resolution[0]["key"], "AC");
    assert_eq!(resolution[0]["closed"], 1);
    assert_eq!(resolution[0]["within_target"], 1.0);

    // The outbox: who was told what.
    let outbox = s.projection.get("/v1/outbox?limit=200", &ADMIN).await;
    let rows = outbox.assert_ok(200).as_array().unwrap().clone();
    let mut told: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in rows.iter().filter(|r| r["complaint_id"] == id.as_str()) {
        *told
            .entry((r["event_type"].as_str().unwrap().into(), r["recipient_id"].as_str().unwrap().into()))
            .or_default() += 1;
        assert!(r["subject"].as_str().unwrap().contains(" / "), "Malay first, English beside: {r}");
    }
    let expected: BTreeMap<(String, String), usize> = [
        ("ComplaintLogged", COMPLAINANT.id),
        ("ComplaintAssigned", PIC.id),
        ("ComplaintResponded", COMPLAINANT.id),
        ("ComplainantReplied", PIC.id),
        ("ReferredToImplementor", IMPLEMENTOR.id),
        ("EscalatedToVendor", COMPLAINANT.id),
        ("ComplaintClosed", PIC.id),
    ]
    .into_iter()
    .map(|(e, who)| ((e.to_owned(), who.to_owned()), if e == "ComplaintResponded" { 4 } else { 2 }))
    .collect();
    assert_eq!(told, expected, "one e-mail and one WhatsApp per recipient, nobody told of their own act");
    let whatsapp = rows.iter().find(|r| r["channel"] == "whatsapp" && r["recipient_id"] == PIC.id).unwrap();
    assert_eq!(whatsapp["address"], "+60139002002");
    let logged =
        rows.iter().find(|r| r["event_type"] == "ComplaintLogged" && r["complaint_id"] == id.as_str()).unwrap();
    assert!(logged["body"].as_str().unwrap().starts_with("Aduan anda"));
}

#[tokio::test]
async fn search_filters_and_keyset_pagination() {
    let s = stack().await;
    let mut last = 0;
    for i in 0..7 {
        let who = if i % 2 == 0 { &COMPLAINANT } else { &OTHER_COMPLAINANT };
        let category = if i < 4 { "AC" } else { "GL" };
        let reply =
            s.command.post("/v1/complaints", who, &complaint(category, &format!("Masalah nombor {i} baucar"))).await;
        last = reply.assert_ok(201)["stream_sequence"].as_u64().unwrap();
    }
    let mut seen = vec![];
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/complaints?limit=3&min_seq={last}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = s.projection.get(&path, &ADMIN).await;
        let page = page.assert_ok(200).clone();
        seen.extend(page["items"].as_array().unwrap().iter().map(|r| r["title"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let expected: Vec<String> = (0..7).rev().map(|i| format!("Masalah nombor {i} baucar")).collect();
    assert_eq!(seen, expected, "newest first, every row once");

    let gl = s.projection.get("/v1/complaints?category=gl", &ADMIN).await;
    assert_eq!(gl.assert_ok(200)["items"].as_array().unwrap().len(), 3);
    let text = s.projection.get("/v1/complaints?q=nombor%205", &ADMIN).await;
    let hits: Vec<_> = text.assert_ok(200)["items"].as_array().unwrap().iter().map(|r| r["title"].clone()).collect();
    assert_eq!(hits, [json!("Masalah nombor 5 baucar")]);
    let mine = s.projection.get("/v1/complaints?limit=50", &COMPLAINANT).await;
    let mine = mine.assert_ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(mine.len(), 4, "a complainant finds only their own");
    assert!(mine.iter().all(|r| r["complainant"]["id"] == COMPLAINANT.id));
    let new_only = s.projection.get("/v1/complaints?status=new&ptj=Jabatan%20Pertanian%20Negeri", &ADMIN).await;
    assert_eq!(new_only.assert_ok(200)["items"].as_array().unwrap().len(), 3);
    let future = s.projection.get("/v1/complaints?from=2099-01-01T00:00:00Z", &ADMIN).await;
    assert_eq!(future.assert_ok(200)["items"], json!([]));
    let pic_view = s.projection.get("/v1/complaints", &PIC).await;
    assert_eq!(pic_view.assert_ok(200)["items"], json!([]), "a PIC finds only what is assigned to them");

    // Bad queries are 400 problems.
    for (path, code) in [
        ("/v1/complaints?status=lost", "invalid_status"),
        ("/v1/complaints?limit=100000", "invalid_limit"),
        ("/v1/complaints?cursor=abc", "invalid_cursor"),
        ("/v1/complaints?from=yesterday", "invalid_query"),
        ("/v1/complaints?colour=red", "invalid_query"),
        ("/v1/reports/aging?group_by=colour", "invalid_query"),
        ("/v1/reports/resolution?group_by=ptj", "invalid_group_by"),
        ("/v1/inbox", "pic_id_required"),
    ] {
        s.projection.get(path, &ADMIN).await.assert_problem(400, code);
    }
}

#[tokio::test]
async fn who_may_read_what() {
    let s = stack().await;
    let (id, last) = file(&s, &COMPLAINANT, "AC", "Aduan peribadi").await;
    act(&s, &format!("/v1/complaints/{id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    let path = format!("/v1/complaints/{id}?min_seq={}", last + 1);
    for who in [&COMPLAINANT, &PIC, &ADMIN, &AUDITOR] {
        s.projection.get(&path, who).await.assert_ok(200);
    }
    for who in [&OTHER_COMPLAINANT, &OTHER_PIC, &IMPLEMENTOR] {
        s.projection.get(&path, who).await.assert_problem(404, "complaint_not_found");
    }
    s.projection
        .get(&format!("/v1/complaints/{}", uuid::Uuid::now_v7()), &ADMIN)
        .await
        .assert_problem(404, "complaint_not_found");
    s.projection.get(&format!("/v1/inbox?pic_id={}", PIC.id), &OTHER_PIC).await.assert_problem(403, "role_not_allowed");
    for path in ["/v1/inbox", "/v1/triage", "/v1/reports/aging", "/v1/outbox"] {
        s.projection.get(path, &COMPLAINANT).await.assert_problem(403, "role_not_allowed");
    }
    s.projection.get("/v1/triage", &PIC).await.assert_problem(403, "role_not_allowed");
    let anonymous =
        ehelpdesk_tests::Reply::from(s.projection.http.get(s.projection.url("/v1/triage")).send().await.unwrap()).await;
    anonymous.assert_problem(401, "unauthenticated");
}

/// Holds the checkpoint row: the projector cannot commit a batch until this transaction ends.
async fn pause_projector(s: &Stack) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let pool = s.db.read_models().await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM projection_checkpoint WHERE name = 'main' FOR UPDATE").execute(&mut *tx).await.unwrap();
    tx
}

/// Waits (bounded) until the projection in `s` has applied `seq`.
async fn applied(app: &ProjectionApp, seq: u64) {
    let mut applied = app.applied();
    tokio::time::timeout(std::time::Duration::from_secs(20), applied.wait_for(|a| *a >= seq))
        .await
        .unwrap_or_else(|_| panic!("sequence {seq} never reached this instance"))
        .unwrap();
}

/// A query of `path` as `who`, answered in the background.
fn query_later(s: &Stack, path: String, who: &'static Person) -> tokio::task::JoinHandle<ehelpdesk_tests::Reply> {
    let request = who.headers(s.projection.http.get(s.projection.url(&path)));
    tokio::spawn(async move { ehelpdesk_tests::Reply::from(request.send().await.unwrap()).await })
}

async fn admin_metrics(s: &Stack) -> String {
    s.projection.http.get(s.projection.admin_url("/metrics")).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn a_min_seq_never_written_is_a_400_at_once() {
    let s = stack().await;
    let (id, seq) = file(&s, &COMPLAINANT, "AC", "Baca tulisan sendiri").await;
    let detail = s.projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &COMPLAINANT).await;
    assert_eq!(detail.assert_ok(200)["stream_sequence"], seq);
    for wanted in [u64::MAX, seq + 1000, seq + 1] {
        for path in [format!("/v1/complaints?min_seq={wanted}"), format!("/v1/complaints/{id}?min_seq={wanted}")] {
            s.projection.get(&path, &COMPLAINANT).await.assert_problem(400, "min_seq_not_written");
        }
    }
    // Once written, the same sequence is waited for and answered.
    let next = act(&s, &format!("/v1/complaints/{id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    assert_eq!(next, seq + 1);
    s.projection.get(&format!("/v1/complaints?min_seq={next}"), &COMPLAINANT).await.assert_ok(200);
}

#[tokio::test]
async fn a_min_seq_is_answered_once_the_projection_reaches_it() {
    let s = stack().await;
    let (_, seq) = file(&s, &COMPLAINANT, "AC", "Sebelum").await;
    applied(&s.projection, seq).await;
    let paused = pause_projector(&s).await;
    let (id, later) = file(&s, &COMPLAINANT, "AC", "Kemudian").await;
    let waiting = query_later(&s, format!("/v1/complaints/{id}?min_seq={later}"), &ADMIN);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!waiting.is_finished(), "answered before sequence {later} was applied");
    paused.rollback().await.unwrap();
    let reply = waiting.await.unwrap();
    assert_eq!(reply.assert_ok(200)["stream_sequence"], later);
}

#[tokio::test]
async fn a_projection_behind_answers_503_projection_behind_not_unreachable() {
    let s = stack_with(|settings| settings.min_seq_wait = std::time::Duration::from_millis(300)).await;
    let (_, seq) = file(&s, &COMPLAINANT, "AC", "Sebelum").await;
    applied(&s.projection, seq).await;
    let paused = pause_projector(&s).await;
    let (id, later) = file(&s, &COMPLAINANT, "AC", "Tertunda").await;
    let behind = s.projection.get(&format!("/v1/complaints/{id}?min_seq={later}"), &ADMIN).await;
    behind.assert_problem(503, "projection_behind");
    assert_eq!(behind.headers["retry-after"], "1");
    paused.rollback().await.unwrap();
    // The alert on unreachable dependencies keys on these codes; "behind" has its own.
    let text = admin_metrics(&s).await;
    assert!(text.contains(r#"http_problems_total{code="projection_behind",status="503"} 1"#), "{text}");
    assert!(!text.contains("_unavailable\""), "{text}");
}

#[tokio::test]
async fn waiters_over_the_cap_are_refused_at_once() {
    let s = stack_with(|settings| settings.min_seq_waiters = 2).await;
    let (_, seq) = file(&s, &COMPLAINANT, "AC", "Sebelum").await;
    applied(&s.projection, seq).await;
    let paused = pause_projector(&s).await;
    let (id, later) = file(&s, &COMPLAINANT, "AC", "Ramai menunggu").await;
    let path = format!("/v1/complaints/{id}?min_seq={later}");
    let waiting = [query_later(&s, path.clone(), &ADMIN), query_later(&s, path.clone(), &ADMIN)];
    let mut waiters = 0.0;
    for _ in 0..200 {
        let text = admin_metrics(&s).await;
        waiters = text
            .lines()
            .find_map(|l| l.strip_prefix("ehelpdesk_min_seq_waiters "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if waiters == 2.0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert_eq!(waiters, 2.0, "two requests waiting");
    let refused = s.projection.get(&path, &ADMIN).await;
    refused.assert_problem(503, "too_many_waiters");
    assert_eq!(refused.headers["retry-after"], "1");
    paused.rollback().await.unwrap();
    for reply in waiting {
        reply.await.unwrap().assert_ok(200);
    }
}

#[tokio::test]
async fn an_instance_that_does_not_apply_learns_of_each_batch_through_notify() {
    let s = stack().await;
    let mut settings = projection_settings(&s.log.config, &s.db);
    settings.projector = false;
    settings.relay_outbox = false;
    let reader = ProjectionApp::spawn(settings).await;
    // Once this first write has reached it, the reader is listening (it reads the checkpoint
    // once, when it starts to listen): the next can only reach it as a notification.
    let (_, first) = file(&s, &COMPLAINANT, "AC", "Yang pertama").await;
    applied(&reader, first).await;
    let (id, seq) = file(&s, &COMPLAINANT, "AC", "Dibaca di tempat lain").await;
    // Nothing asks this instance anything: its own view of the checkpoint moves by itself.
    applied(&reader, seq).await;
    let detail = reader.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await;
    assert_eq!(detail.assert_ok(200)["stream_sequence"], seq);
}

#[tokio::test]
async fn working_day_aging_skips_the_kelantan_weekend_and_holidays() {
    // The first working day after today is a holiday in this test's calendar.
    let today = ehelpdesk_projection::queries::today_in_malaysia();
    let is_weekend = |d: NaiveDate| matches!(d.weekday(), Weekday::Fri | Weekday::Sat);
    let holiday = (1..).map(|n| today + Duration::days(n)).find(|d| !is_weekend(*d)).unwrap();
    let holidays = vec![Holiday { date: holiday, name: "Cuti Ujian".into() }];
    let s = stack_with(|settings| settings.holidays = holidays.clone()).await;
    let (id, _) = file(&s, &COMPLAINANT, "AC", "Aduan untuk umur").await;
    let seq = act(&s, &format!("/v1/complaints/{id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;

    // Count working days by hand: after `today`, up to and including the day.
    let working_days_until = |end: NaiveDate| {
        let mut d = today;
        let mut n = 0;
        while d < end {
            d += Duration::days(1);
            if !is_weekend(d) && d != holiday {
                n += 1;
            }
        }
        n
    };
    let mut day = today;
    while working_days_until(day + Duration::days(1)) <= 3 {
        day += Duration::days(1);
    }
    let last_day_aged_3 = day;
    let first_day_aged_4 = day + Duration::days(1);
    assert!((last_day_aged_3 - today).num_days() >= 5, "the span covers a weekend and the holiday");

    let bucket = |report: &Value| {
        let row = report.as_array().unwrap().iter().find(|r| r["key"] == PIC.id).unwrap().clone();
        ["days_0_3", "days_4_7", "days_8_14", "days_15_30", "days_over_30"].into_iter().find(|b| row[*b] == 1).unwrap()
    };
    let at = |d: NaiveDate| format!("/v1/reports/aging?group_by=pic&today={d}&min_seq={seq}");
    assert_eq!(bucket(s.projection.get(&at(last_day_aged_3), &ADMIN).await.assert_ok(200)), "days_0_3");
    assert_eq!(bucket(s.projection.get(&at(first_day_aged_4), &ADMIN).await.assert_ok(200)), "days_4_7");

    let pool = s.db.read_models().await;
    let holiday_row = sqlx::query("SELECT is_working, holiday FROM calendar WHERE day = $1")
        .bind(holiday)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(!holiday_row.get::<bool, _>(0));
    assert_eq!(holiday_row.get::<Option<String>, _>(1).as_deref(), Some("Cuti Ujian"));
}

/// The report totals as the triggers left them, and as a recount from `complaints` makes them.
async fn totals_and_recount(pool: &sqlx::PgPool) -> (Vec<String>, Vec<String>) {
    let totals = |pool| async move {
        let d = dump(pool).await;
        [&d["open_by_day"][..], &d["closed_by_working_days"][..]].concat()
    };
    let kept = totals(pool).await;
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT recount_report_totals()").execute(&mut *tx).await.unwrap();
    let mut recounted = vec![];
    for sql in [
        "SELECT to_jsonb(o) FROM open_by_day o WHERE open <> 0 ORDER BY dimension, key, logged_on",
        "SELECT to_jsonb(c) FROM closed_by_working_days c WHERE closed <> 0 ORDER BY dimension, key, working_days",
    ] {
        let rows = sqlx::query(sql).fetch_all(&mut *tx).await.unwrap();
        recounted.extend(rows.iter().map(|r| r.get::<Value, _>(0).to_string()));
    }
    tx.rollback().await.unwrap();
    (kept, recounted)
}

#[tokio::test]
async fn report_totals_follow_every_change_and_the_calendar() {
    let s = stack().await;
    whole_flow(&s).await;
    let (reopened, _) = file(&s, &COMPLAINANT, "PAYROLL", "Slip gaji tidak keluar").await;
    let p = |step: &str| format!("/v1/complaints/{reopened}/{step}");
    act(&s, &p("assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    act(&s, &p("closure"), &COMPLAINANT, json!({"rating": 2})).await;
    act(&s, &p("reopening"), &COMPLAINANT, json!({"reason": "Masih berlaku"})).await;
    let (_, _) = file(&s, &COMPLAINANT, "GL", "Lejar tidak seimbang").await;
    let (held, _) = file(&s, &COMPLAINANT, "GL", "Lejar kedua").await;
    let last = act(&s, &format!("/v1/complaints/{held}/assignment"), &ADMIN, json!({"pic_id": OTHER_PIC.id})).await;
    let pool = s.db.read_models().await;
    wait_until_applied(&pool, last).await;

    let (kept, recounted) = totals_and_recount(&pool).await;
    assert_eq!(kept, recounted);
    // 3 open (one per dimension each: the reopened one, the new one, the held one) and the
    // closed one of the whole flow.
    let aging = s.projection.get(&format!("/v1/reports/aging?group_by=category&min_seq={last}"), &ADMIN).await;
    let open: Vec<(String, i64)> = aging
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["key"].as_str().unwrap().to_owned(), r["open"].as_i64().unwrap()))
        .collect();
    assert_eq!(open, [("GL".to_owned(), 2), ("PAYROLL".to_owned(), 1)]);

    // A complaint fixed by hand, logged ten days ago and closed now: the triggers count it,
    // and a new working week recounts its working days.
    sqlx::query(
        "INSERT INTO complaints (complaint_id, number, title, description, category, channel, complainant_id, \
           complainant_ic, complainant_name, complainant_email, complainant_phone, ptj, status, logged_at, \
           closed_at, last_activity_at, reopen_count, state, last_sequence) \
         SELECT gen_random_uuid(), 'ADU-TANGAN-1', title, description, category, channel, complainant_id, \
           complainant_ic, complainant_name, complainant_email, complainant_phone, ptj, 'closed', \
           now() - interval '10 days', now(), now(), 0, state, last_sequence FROM complaints LIMIT 1",
    )
    .execute(&pool)
    .await
    .unwrap();
    let days_to_close = |pool: &sqlx::PgPool| {
        let pool = pool.clone();
        async move {
            sqlx::query_scalar::<_, i32>(
                "SELECT max(working_days) FROM closed_by_working_days WHERE dimension = 'category' AND closed > 0",
            )
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let with_weekends = days_to_close(&pool).await;
    let (kept, recounted) = totals_and_recount(&pool).await;
    assert_eq!(kept, recounted);
    let no_weekend = ehelpdesk_projection::calendar::WorkingWeek::parse("").unwrap();
    ehelpdesk_projection::db::write_calendar(&pool, &no_weekend, &[]).await.unwrap();
    let every_day = days_to_close(&pool).await;
    assert!(every_day > with_weekends, "{every_day} working days now, {with_weekends} before");
    assert_eq!(every_day, 10);
    let (kept, recounted) = totals_and_recount(&pool).await;
    assert_eq!(kept, recounted);
}

/// Row-for-row dump of the models, for comparing a rebuild or a resumed run.
async fn dump(pool: &sqlx::PgPool) -> BTreeMap<&'static str, Vec<String>> {
    let mut out = BTreeMap::new();
    for (table, sql) in [
        ("complaints", "SELECT to_jsonb(c) - 'search' FROM complaints c ORDER BY complaint_id"),
        ("timeline", "SELECT to_jsonb(t) FROM timeline t ORDER BY complaint_id, sequence"),
        ("outbox", "SELECT to_jsonb(o) - 'published_at' FROM notification_outbox o ORDER BY id"),
        ("staff", "SELECT to_jsonb(s) FROM staff s ORDER BY staff_id"),
        ("checkpoint", "SELECT to_jsonb(p) - 'updated_at' FROM projection_checkpoint p"),
        ("skipped", "SELECT to_jsonb(k) - 'recorded_at' FROM skipped_events k ORDER BY sequence"),
        ("open_by_day", "SELECT to_jsonb(o) FROM open_by_day o WHERE open <> 0 ORDER BY dimension, key, logged_on"),
        (
            "closed_by_working_days",
            "SELECT to_jsonb(c) FROM closed_by_working_days c WHERE closed <> 0 ORDER BY dimension, key, working_days",
        ),
    ] {
        let rows = sqlx::query(sql).fetch_all(pool).await.unwrap();
        out.insert(table, rows.iter().map(|r| r.get::<Value, _>(0).to_string()).collect());
    }
    out
}

async fn wait_until_applied(pool: &sqlx::PgPool, sequence: u64) {
    for _ in 0..500 {
        if ehelpdesk_projection::db::checkpoint(pool).await.unwrap() >= sequence {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("projection never reached sequence {sequence}");
}

#[tokio::test]
async fn a_rebuilt_model_equals_the_live_one_row_for_row() {
    let s = stack().await;
    whole_flow(&s).await;
    let (other, _) = file(&s, &OTHER_COMPLAINANT, "GL", "Aduan kedua").await;
    let last = act(&s, &format!("/v1/complaints/{other}/assignment"), &ADMIN, json!({"pic_id": OTHER_PIC.id})).await;
    let pool = s.db.read_models().await;
    wait_until_applied(&pool, last).await;
    let live = dump(&pool).await;
    assert_eq!(live["timeline"].len(), 11);

    let settings = projection_settings(&s.log.config, &s.db);
    let mut reports = vec![];
    let report = ehelpdesk_projection::rebuild::rebuild(&settings, |p| reports.push(p.to_string())).await.unwrap();
    assert_eq!(report.last_sequence, last);
    assert!(reports.last().unwrap().contains(&format!("{last}/{last} events")), "{reports:?}");

    let rebuilt = dump(&pool).await;
    assert_eq!(rebuilt, live);
    // The live service carries on with the swapped-in models.
    let (_, seq) = file(&s, &COMPLAINANT, "AC", "Selepas bina semula").await;
    let detail = s.projection.get(&format!("/v1/complaints?min_seq={seq}"), &ADMIN).await;
    assert_eq!(detail.assert_ok(200)["items"].as_array().unwrap().len(), 3);
    let schemas: Vec<String> =
        sqlx::query_scalar("SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'readmodel%'")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(schemas, ["readmodel"], "old and scratch schemas are gone");
}

#[tokio::test]
async fn a_rebuild_keeps_the_live_outbox_and_adds_what_the_live_models_had_not_reached() {
    let s = stack().await;
    let (_, last) = whole_flow(&s).await;
    let pool = s.db.read_models().await;
    wait_until_applied(&pool, last).await;
    // A mark no regeneration could produce: the live row itself must survive the rebuild.
    sqlx::query("UPDATE notification_outbox SET subject = 'DITANDA' WHERE sequence = $1")
        .bind(last as i64)
        .execute(&pool)
        .await
        .unwrap();
    let Stack { projection, command, db, log } = s;
    projection.stop().await;
    let reply = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Semasa terhenti")).await;
    let unseen = reply.assert_ok(201)["stream_sequence"].as_u64().unwrap();

    let report = ehelpdesk_projection::rebuild::rebuild(&projection_settings(&log.config, &db), |_| {}).await.unwrap();
    assert_eq!(report.last_sequence, unseen);
    let count = |sql: &'static str, sequence: u64| {
        let pool = pool.clone();
        async move { sqlx::query_scalar::<_, i64>(sql).bind(sequence as i64).fetch_one(&pool).await.unwrap() }
    };
    assert!(
        count("SELECT count(*) FROM notification_outbox WHERE sequence = $1 AND subject = 'DITANDA'", last).await > 0
    );
    assert!(count("SELECT count(*) FROM notification_outbox WHERE sequence = $1", unseen).await > 0);
    let (kept, recounted) = totals_and_recount(&pool).await;
    assert_eq!(kept, recounted, "the rebuild's recounted totals");
}

#[tokio::test]
async fn a_crash_between_commit_and_ack_neither_loses_nor_doubles() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let s_files = |i: usize| complaint("AC", &format!("Aduan ranap {i}"));
    for i in 0..5 {
        let reply = command.post("/v1/complaints", &COMPLAINANT, &s_files(i)).await;
        let id = reply.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
        command
            .post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id}))
            .await
            .assert_ok(200);
    }
    // A first run that commits a batch and dies before acking it.
    let settings = projection_settings(&log.config, &db);
    let first = ProjectionApp::spawn(settings.clone()).await;
    first.stop().await;
    let pool = db.read_models().await;
    sqlx::query("UPDATE projection_checkpoint SET last_sequence = 0").execute(&pool).await.unwrap();
    sqlx::query("TRUNCATE complaints, timeline, notification_outbox, staff").execute(&pool).await.unwrap();
    let js = log.jetstream().await;
    let stream = js.get_stream(&log.config.stream).await.unwrap();
    let _ = stream.delete_consumer("projection").await;
    let consumer: async_nats::jetstream::consumer::PullConsumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("projection".into()),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
            filter_subject: log.config.all_subjects(),
            ..Default::default()
        })
        .await
        .unwrap();
    use futures::StreamExt;
    let mut batch = consumer.fetch().max_messages(6).messages().await.unwrap();
    let mut incoming = vec![];
    while let Some(m) = batch.next().await {
        let m = m.unwrap();
        let sequence = m.info().unwrap().stream_sequence;
        incoming.push(Incoming::from_message(&m, sequence));
    }
    assert_eq!(incoming.len(), 6);
    assert_eq!(apply_batch(&pool, &log.config.subject_prefix, &incoming).await.unwrap(), 6);
    // The same batch again (what a redelivery would bring) changes nothing.
    let after_first = dump(&pool).await;
    assert_eq!(apply_batch(&pool, &log.config.subject_prefix, &incoming).await.unwrap(), 6);
    assert_eq!(dump(&pool).await, after_first);

    // The restarted service resumes from the checkpoint with the unacked batch redelivered.
    let restarted = ProjectionApp::spawn(settings.clone()).await;
    let head = log.message_count().await;
    wait_until_applied(&pool, head).await;
    let resumed = dump(&pool).await;
    assert_eq!(resumed["complaints"].len(), 5);
    assert_eq!(resumed["timeline"].len(), 10, "each event once");
    assert_eq!(resumed["outbox"].len(), 5 * 2 * 2, "acknowledgement and assignment, two channels each");
    restarted.stop().await;

    // And it is exactly what a clean replay builds.
    ehelpdesk_projection::rebuild::rebuild(&settings, |_| {}).await.unwrap();
    assert_eq!(dump(&pool).await, resumed);
}

#[tokio::test]
async fn the_projection_recovers_when_its_consumer_disappears_mid_stream() {
    let s = stack().await;
    let (id, seq) = file(&s, &COMPLAINANT, "AC", "Sebelum pengguna hilang").await;
    s.projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await.assert_ok(200);
    let js = s.log.jetstream().await;
    js.get_stream(&s.log.config.stream).await.unwrap().delete_consumer("projection").await.unwrap();
    let mut last = 0;
    for i in 0..10 {
        last = file(&s, &COMPLAINANT, "AC", &format!("Selepas pengguna hilang {i}")).await.1;
    }
    let page = s.projection.get(&format!("/v1/complaints?limit=50&min_seq={last}"), &ADMIN).await;
    assert_eq!(page.assert_ok(200)["items"].as_array().unwrap().len(), 11);
    let ready = s.projection.get("/readyz", &ADMIN).await;
    assert_eq!(ready.assert_ok(200)["applied_sequence"], last);
}

#[tokio::test]
async fn unknown_events_are_recorded_and_skipped() {
    let s = stack().await;
    let js = s.log.jetstream().await;
    let subject = format!("{}.complaint.{}", s.log.config.subject_prefix, uuid::Uuid::now_v7());
    js.publish(subject, r#"{"type":"ComplaintTeleported","version":1}"#.into()).await.unwrap().await.unwrap();
    let (id, seq) = file(&s, &COMPLAINANT, "AC", "Selepas peristiwa asing").await;
    s.projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await.assert_ok(200);
    let pool = s.db.read_models().await;
    let reasons: Vec<String> = sqlx::query_scalar("SELECT reason FROM skipped_events").fetch_all(&pool).await.unwrap();
    assert_eq!(reasons.len(), 1);
    assert!(reasons[0].contains("ComplaintTeleported") || reasons[0].contains("complaint_id"), "{reasons:?}");
}

#[tokio::test]
async fn the_outbox_relay_publishes_each_notification_exactly_once() {
    let s = stack().await;
    let (_, last) = whole_flow(&s).await;
    let pool = s.db.read_models().await;
    wait_until_applied(&pool, last).await;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM notification_outbox").fetch_one(&pool).await.unwrap();
    let mut pending = total;
    for _ in 0..300 {
        pending = sqlx::query_scalar("SELECT count(*) FROM notification_outbox WHERE published_at IS NULL")
            .fetch_one(&pool)
            .await
            .unwrap();
        if pending == 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(pending, 0);
    let notify_stream = s.log.notify().0;
    let js = s.log.jetstream().await;
    let count = |js: async_nats::jetstream::Context, name: String| async move {
        js.get_stream(&name).await.unwrap().info().await.unwrap().state.messages as i64
    };
    assert_eq!(count(js.clone(), notify_stream.clone()).await, total);

    // A relay that crashed after publishing but before stamping publishes again: the
    // stream's duplicate window, keyed by the row id, keeps workers from seeing it twice.
    sqlx::query("UPDATE notification_outbox SET published_at = NULL").execute(&pool).await.unwrap();
    let relay = ehelpdesk_projection::relay::Relay {
        pool: pool.clone(),
        jetstream: js.clone(),
        notify: projection_settings(&s.log.config, &s.db).notify,
        metrics: None,
        assignment_batch: std::time::Duration::ZERO,
        clock: std::sync::Arc::new(chrono::Utc::now),
    };
    let mut republished = 0;
    loop {
        let n = relay.publish_pending().await.unwrap();
        if n == 0 {
            break;
        }
        republished += n;
    }
    assert!(republished as i64 <= total);
    assert_eq!(count(js.clone(), notify_stream.clone()).await, total, "no notification twice");

    // Each message carries its row id and lands on its channel's subject.
    let stream = js.get_stream(&notify_stream).await.unwrap();
    let mut ids = BTreeSet::new();
    for seq in 1..=total as u64 {
        let m = stream.get_raw_message(seq).await.unwrap();
        let body: Value = serde_json::from_slice(&m.payload).unwrap();
        assert_eq!(m.headers.get("Nats-Msg-Id").unwrap().as_str(), body["id"].as_str().unwrap());
        assert!(m.subject.ends_with(body["channel"].as_str().unwrap()));
        ids.insert(body["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(ids.len() as i64, total);
}

#[tokio::test]
async fn probes_and_openapi() {
    let s = stack().await;
    let ready = s.projection.get("/readyz", &ADMIN).await;
    assert_eq!(ready.assert_ok(200)["database"], "ok");
    let doc = s.projection.get("/openapi.json", &ADMIN).await;
    let paths: BTreeSet<String> = doc.assert_ok(200)["paths"].as_object().unwrap().keys().cloned().collect();
    for p in [
        "/v1/inbox",
        "/v1/inbox/badge",
        "/v1/triage",
        "/v1/complaints",
        "/v1/complaints/{id}",
        "/v1/reports/aging",
        "/v1/reports/resolution",
        "/v1/outbox",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains(p), "{p}");
    }
    s.projection.get("/v1/nothing", &ADMIN).await.assert_problem(404, "not_found");
}
