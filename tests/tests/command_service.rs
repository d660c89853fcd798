//! The command service in-process against the real NATS on 127.0.0.1:4222, each test with
//! its own stream.

use std::collections::BTreeSet;

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, TestEventLog};
use serde_json::{Value, json};

/// A running service with the staff of the fixtures registered.
async fn service_with_staff() -> (TestEventLog, CommandApp) {
    let log = TestEventLog::new();
    let app = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC", "PAYROLL"][..]),
        (&OTHER_PIC, &["pic"][..], &["GL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        app.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    (log, app)
}

async fn logged_complaint(app: &CommandApp) -> String {
    let reply = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Amaun salah pada baris")).await;
    reply.assert_ok(201)["complaint_id"].as_str().expect("id").to_owned()
}

async fn assigned_complaint(app: &CommandApp) -> String {
    let id = logged_complaint(app).await;
    app.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    id
}

/// The current year in Malaysia (UTC+8), as complaint numbers use.
fn year_now() -> i32 {
    use chrono::Datelike;
    chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).year()
}

#[tokio::test]
async fn the_whole_flow_of_domain_md() {
    let (log, app) = service_with_staff().await;

    let filed = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Amaun salah pada baris")).await;
    let body = filed.assert_ok(201).clone();
    let id = body["complaint_id"].as_str().unwrap().to_owned();
    assert_eq!(body["complaint_number"], format!("ADU-{}-000001", year_now()));
    assert_eq!((body["status"].as_str(), body["status_label_ms"].as_str()), (Some("new"), Some("BARU")));
    assert_eq!(filed.headers["location"], format!("/v1/complaints/{id}"));
    let path = |step: &str| format!("/v1/complaints/{id}/{step}");

    let steps: Vec<(&str, &Person, Value, &str)> = vec![
        ("assignment", &ADMIN, json!({"pic_id": PIC.id, "note": "Sila ambil tindakan"}), "assigned"),
        (
            "responses",
            &PIC,
            json!({"message": "Sila sertakan nombor baucar.", "status": "awaiting_complainant"}),
            "awaiting_complainant",
        ),
        ("replies", &COMPLAINANT, json!({"message": "Nombor baucar: BV-2026-0101."}), "in_progress"),
        (
            "referral",
            &PIC,
            json!({"implementor_id": IMPLEMENTOR.id, "message": "Mohon semakan pelaksana."}),
            "with_implementor",
        ),
        ("notes", &IMPLEMENTOR, json!({"message": "Ralat pada modul AC; perlu vendor."}), "with_implementor"),
        (
            "escalation",
            &PIC,
            json!({"vendor": "TTSB", "vendor_log_number": "TTSB-2026-0042", "message": "Dirujuk ke TTSB."}),
            "with_vendor",
        ),
        ("vendor-updates", &PIC, json!({"message": "TTSB telah membaiki ralat."}), "with_vendor"),
        (
            "responses",
            &PIC,
            json!({"message": "Masalah telah diselesaikan.", "status": "pending_closure"}),
            "pending_closure",
        ),
        ("closure", &COMPLAINANT, json!({"rating": 5, "comment": "Terima kasih"}), "closed"),
    ];
    let mut last_sequence = body["stream_sequence"].as_u64().unwrap();
    for (step, who, request, status) in steps {
        let reply = app.post(&path(step), who, &request).await;
        let receipt = reply.assert_ok(200);
        assert_eq!(receipt["status"], status, "after {step}");
        let sequence = receipt["stream_sequence"].as_u64().unwrap();
        assert!(sequence > last_sequence, "sequences grow");
        last_sequence = sequence;
    }

    let view = app.get(&format!("/v1/complaints/{id}"), &COMPLAINANT).await;
    let view = view.assert_ok(200);
    assert_eq!(view["status_label_ms"], "SELESAI");
    assert_eq!(view["complaint"]["vendor"], "TTSB");
    assert_eq!(view["complaint"]["vendor_log_number"], "TTSB-2026-0042");
    assert_eq!(view["complaint"]["satisfaction"]["rating"], 5);
    assert_eq!(view["complaint"]["complainant"]["phone"], "+60123456789");
    assert_eq!(view["stream_sequence"], last_sequence);

    // The log holds exactly the events of the flow, on the complaint's subject, with headers.
    let messages = log.messages().await;
    let complaint_events: Vec<_> = messages.iter().filter(|(s, _, _)| s.contains(".complaint.")).collect();
    let types: Vec<_> = complaint_events.iter().map(|(_, _, e)| e["type"].as_str().unwrap()).collect();
    assert_eq!(types, WHOLE_FLOW_EVENTS);
    for (subject, headers, event) in &complaint_events {
        assert_eq!(*subject, format!("{}.complaint.{id}", log.config.subject_prefix));
        assert_eq!(event["complaint_id"], id.as_str());
        let current = if event["type"] == "ComplaintLogged" { 2 } else { 1 };
        assert_eq!(event["version"], current, "events are written in their current version");
        assert!(headers.get("Nats-Msg-Id").is_some());
        assert_eq!(headers.get("Ehelpdesk-Event-Type").unwrap().as_str(), event["type"].as_str().unwrap());
        assert!(event["actor"]["role"].is_string() && event["occurred_at"].is_string());
    }
    assert_eq!(complaint_events[1].2["actor"]["id"], ADMIN.id);
    assert_eq!(complaint_events[0].2["data"]["complainant"]["ic_number"], "900101035678");
    let staff_events = messages.iter().filter(|(s, _, _)| s.contains(".staff.")).count();
    assert_eq!(staff_events, 4);
}

#[tokio::test]
async fn an_admin_logs_by_phone_for_a_complainant_who_owns_it() {
    let (_log, app) = service_with_staff().await;
    let mut request = complaint_for(&COMPLAINANT, "PAYROLL", "Slip gaji bulan lepas tiada");
    request["channel"] = json!("phone");
    let reply = app.post("/v1/complaints", &ADMIN, &request).await;
    let id = reply.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let view = app.get(&format!("/v1/complaints/{id}"), &COMPLAINANT).await;
    assert_eq!(view.assert_ok(200)["complaint"]["logged_by"]["id"], ADMIN.id);
    assert_eq!(view.body["complaint"]["channel"], "phone");
    app.post(&format!("/v1/complaints/{id}/replies"), &ADMIN, &json!({"message": "Saya pengadu"}))
        .await
        .assert_problem(403, "role_not_allowed");
    app.post(&format!("/v1/complaints/{id}/closure"), &COMPLAINANT, &json!({})).await.assert_ok(200);
    // Without an id the admin is asked for one.
    let mut anonymous = complaint_for(&COMPLAINANT, "AC", "Tanpa ID pengadu");
    anonymous["complainant"].as_object_mut().unwrap().remove("id");
    let reply = app.post("/v1/complaints", &ADMIN, &anonymous).await;
    reply.assert_problem(422, "required");
    assert_eq!(reply.body["field"], "complainant.id");
}

#[tokio::test]
async fn refusals_are_problems_and_write_nothing() {
    let (log, app) = service_with_staff().await;
    let id = assigned_complaint(&app).await;
    let closed = logged_complaint(&app).await;
    app.post(&format!("/v1/complaints/{closed}/closure"), &ADMIN, &json!({"reason": "Aduan pendua"}))
        .await
        .assert_ok(200);
    let before = log.message_count().await;
    let p = |step: &str| format!("/v1/complaints/{id}/{step}");
    let note = json!({"message": "Nota"});

    // Who may do what.
    app.post(&p("notes"), &OTHER_PIC, &note).await.assert_problem(404, "complaint_not_found");
    app.post(&p("notes"), &COMPLAINANT, &note).await.assert_problem(403, "role_not_allowed");
    app.post(&p("notes"), &AUDITOR, &note).await.assert_problem(403, "role_not_allowed");
    app.post(&p("replies"), &OTHER_COMPLAINANT, &note).await.assert_problem(404, "complaint_not_found");
    app.post(&p("assignment"), &PIC, &json!({"pic_id": PIC.id})).await.assert_problem(403, "role_not_allowed");
    app.post("/v1/complaints", &OTHER_COMPLAINANT, &complaint_for(&COMPLAINANT, "AC", "Bukan aduan saya"))
        .await
        .assert_problem(403, "cannot_log_for_others");
    app.post("/v1/staff", &PIC, &OTHER_COMPLAINANT.registration(&["pic"], &[]))
        .await
        .assert_problem(403, "role_not_allowed");

    // State conflicts.
    app.post(&p("assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_problem(409, "already_assigned");
    app.post(&p("vendor-updates"), &PIC, &note).await.assert_problem(409, "not_with_vendor");
    app.post(&p("reopening"), &COMPLAINANT, &json!({"reason": "Belum selesai"}))
        .await
        .assert_problem(409, "not_closed");
    app.post(&format!("/v1/complaints/{closed}/replies"), &COMPLAINANT, &note)
        .await
        .assert_problem(409, "complaint_closed");
    app.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &[])).await.assert_problem(409, "staff_exists");

    // Unknown things.
    let unknown = uuid::Uuid::now_v7();
    app.post(&format!("/v1/complaints/{unknown}/notes"), &PIC, &note).await.assert_problem(404, "complaint_not_found");
    app.post("/v1/complaints/not-a-uuid/notes", &PIC, &note).await.assert_problem(404, "complaint_not_found");
    app.get(&format!("/v1/complaints/{unknown}"), &ADMIN).await.assert_problem(404, "complaint_not_found");
    app.post(&p("assignment"), &ADMIN, &json!({"pic_id": "pic-tiada"})).await.assert_problem(422, "staff_not_found");
    app.post(&p("referral"), &PIC, &json!({"implementor_id": OTHER_PIC.id, "message": "x"}))
        .await
        .assert_problem(422, "staff_lacks_role");
    app.send(reqwest::Method::PATCH, "/v1/staff/tiada", &ADMIN, &json!({"name": "Nama Baru"}), None)
        .await
        .assert_problem(404, "staff_not_found");
    app.get("/v1/no-such-route", &ADMIN).await.assert_problem(404, "not_found");
    app.send(reqwest::Method::DELETE, &p("notes"), &ADMIN, &note, None).await.assert_problem(405, "method_not_allowed");

    // Validation names the field.
    for (body, field, code) in [
        (json!({"complainant": {"ic_number": "900101-03-567"}}), None, "invalid_body"),
        (json!({"message": ""}), Some("message"), "invalid_length"),
        (json!({"message": "x".repeat(5001)}), Some("message"), "invalid_length"),
        (json!({"message": "ok", "extra": 1}), None, "invalid_body"),
        (json!({"message": 42}), None, "invalid_body"),
    ] {
        let reply = app.post(&p("notes"), &PIC, &body).await;
        reply.assert_problem(422, code);
        if let Some(field) = field {
            assert_eq!(reply.body["field"], field);
        }
    }
    let mut bad_ic = complaint_for(&COMPLAINANT, "AC", "Nombor KP salah");
    bad_ic["complainant"]["ic_number"] = json!("901301-03-5678");
    let reply = app.post("/v1/complaints", &ADMIN, &bad_ic).await;
    reply.assert_problem(422, "invalid_ic_number");
    assert_eq!(reply.body["field"], "complainant.ic_number");
    assert!(!reply.body["detail"].as_str().unwrap().contains("901301"), "IC numbers are masked in errors");
    for (field, value, code) in [
        ("category", json!("XYZ"), "unknown_category"),
        ("title", json!("abc"), "invalid_length"),
        ("channel", json!("walk_in"), "channel_not_allowed"),
    ] {
        let mut request = complaint("AC", "Tajuk yang sah");
        request[field] = value;
        let reply = app.post("/v1/complaints", &COMPLAINANT, &request).await;
        reply.assert_problem(422, code);
        assert_eq!(reply.body["field"], field);
    }
    let mut bad_phone = complaint_for(&COMPLAINANT, "AC", "Telefon salah");
    bad_phone["complainant"]["phone"] = json!("+65 6123 4567");
    app.post("/v1/complaints", &ADMIN, &bad_phone).await.assert_problem(422, "invalid_phone");
    let mut bad_email = complaint_for(&COMPLAINANT, "AC", "E-mel salah");
    bad_email["complainant"]["email"] = json!("ali@");
    app.post("/v1/complaints", &ADMIN, &bad_email).await.assert_problem(422, "invalid_email");
    app.post(&p("escalation"), &PIC, &json!({"vendor": "ACME", "message": "x"}))
        .await
        .assert_problem(422, "invalid_body");
    app.post(&p("closure"), &COMPLAINANT, &json!({"rating": 6})).await.assert_problem(422, "invalid_rating");
    app.post(&p("closure"), &ADMIN, &json!({})).await.assert_problem(422, "reason_required");

    // Malformed requests.
    let raw = |content_type: &'static str, body: Vec<u8>| {
        let request = app.http.post(app.url(&p("notes"))).header("content-type", content_type).body(body);
        PIC.headers(request)
    };
    let reply =
        ehelpdesk_tests::Reply::from(raw("application/json", b"{not json".to_vec()).send().await.unwrap()).await;
    reply.assert_problem(400, "malformed_json");
    let reply = ehelpdesk_tests::Reply::from(raw("text/plain", b"{}".to_vec()).send().await.unwrap()).await;
    reply.assert_problem(415, "unsupported_media_type");
    let reply =
        ehelpdesk_tests::Reply::from(raw("application/json", vec![b' '; 70 * 1024]).send().await.unwrap()).await;
    reply.assert_problem(413, "payload_too_large");
    let reply = ehelpdesk_tests::Reply::from(
        raw("application/json", b"{\"message\": \"\xff\xfe\"}".to_vec()).send().await.unwrap(),
    )
    .await;
    assert!(reply.status == 400 || reply.status == 422, "{reply:?}");
    let reply =
        ehelpdesk_tests::Reply::from(app.http.post(app.url(&p("notes"))).json(&note).send().await.unwrap()).await;
    reply.assert_problem(401, "unauthenticated");
    let reply = ehelpdesk_tests::Reply::from(
        app.http
            .post(app.url(&p("notes")))
            .header("X-Actor-Id", "pic-aminah")
            .header("X-Actor-Role", "pic")
            .json(&note)
            .send()
            .await
            .unwrap(),
    )
    .await;
    // The development actor headers are off unless asked for: they prove nothing.
    reply.assert_problem(401, "unauthenticated");
    let reply = ehelpdesk_tests::Reply::from(
        app.http.post(app.url(&p("notes"))).bearer_auth("not-a-jwt").json(&note).send().await.unwrap(),
    )
    .await;
    reply.assert_problem(401, "invalid_token");
    assert_eq!(reply.headers["www-authenticate"], "Bearer error=\"invalid_token\"");
    let reply = ehelpdesk_tests::Reply::from(
        PIC.headers(app.http.post(app.url(&p("notes"))))
            .header("Idempotency-Key", "")
            .json(&note)
            .send()
            .await
            .unwrap(),
    )
    .await;
    reply.assert_problem(400, "invalid_idempotency_key");

    assert_eq!(log.message_count().await, before, "no refusal wrote an event");
}

#[tokio::test]
async fn assigning_a_pic_outside_their_categories_warns_and_reassignment_moves_the_complaint() {
    let (_log, app) = service_with_staff().await;
    let id = logged_complaint(&app).await;
    let reply = app.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": OTHER_PIC.id})).await;
    let receipt = reply.assert_ok(200);
    assert_eq!(receipt["warnings"][0]["code"], "pic_does_not_cover_category");
    let reply = app.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await;
    assert_eq!(reply.assert_ok(200)["warnings"], json!([]));
    app.post(&format!("/v1/complaints/{id}/notes"), &OTHER_PIC, &json!({"message": "x"}))
        .await
        .assert_problem(404, "complaint_not_found");
    // A deactivated PIC gets nothing new.
    app.post(&format!("/v1/staff/{}/deactivation", OTHER_PIC.id), &ADMIN, &json!({"reason": "Bertukar jabatan"}))
        .await
        .assert_ok(200);
    app.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": OTHER_PIC.id}))
        .await
        .assert_problem(422, "staff_inactive");
}

#[tokio::test]
async fn staff_can_be_updated_and_read_back() {
    let (_log, app) = service_with_staff().await;
    let path = format!("/v1/staff/{}", PIC.id);
    let reply = app
        .send(
            reqwest::Method::PATCH,
            &path,
            &ADMIN,
            &json!({"categories": ["AC", "GL"], "phone": "+60 13-111 2222"}),
            None,
        )
        .await;
    reply.assert_ok(200);
    let view = app.get(&path, &AUDITOR).await;
    assert_eq!(view.assert_ok(200)["staff"]["categories"], json!(["AC", "GL"]));
    assert_eq!(view.body["staff"]["phone"], "+60131112222");
    app.send(reqwest::Method::PATCH, &path, &ADMIN, &json!({"categories": ["AC", "GL"]}), None)
        .await
        .assert_problem(422, "nothing_to_update");
    app.get(&path, &PIC).await.assert_problem(403, "role_not_allowed");
}

#[tokio::test]
async fn a_complaint_is_private_to_those_concerned() {
    let (_log, app) = service_with_staff().await;
    let id = assigned_complaint(&app).await;
    let path = format!("/v1/complaints/{id}");
    for who in [&COMPLAINANT, &PIC, &ADMIN, &AUDITOR] {
        app.get(&path, who).await.assert_ok(200);
    }
    for who in [&OTHER_COMPLAINANT, &OTHER_PIC, &IMPLEMENTOR] {
        app.get(&path, who).await.assert_problem(404, "complaint_not_found");
    }
}

/// Two service instances (separate caches, as in production) racing on one complaint.
#[tokio::test]
async fn racing_commands_that_are_both_valid_both_succeed() {
    let (log, app) = service_with_staff().await;
    let other_instance = CommandApp::spawn(&log.config).await;
    let id = assigned_complaint(&app).await;
    // Warm the second instance's cache so it starts from a state that will go stale.
    other_instance.get(&format!("/v1/complaints/{id}"), &ADMIN).await.assert_ok(200);
    let before = log.message_count().await;

    let path = format!("/v1/complaints/{id}/notes");
    let mut tasks = vec![];
    for i in 0..16 {
        let (url, who) = if i % 2 == 0 { (app.url(&path), &PIC) } else { (other_instance.url(&path), &ADMIN) };
        let request = who.headers(app.http.post(url)).json(&json!({"message": format!("Nota {i}")}));
        tasks.push(tokio::spawn(async move { ehelpdesk_tests::Reply::from(request.send().await.unwrap()).await }));
    }
    let mut sequences = BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        sequences.insert(reply.assert_ok(200)["stream_sequence"].as_u64().unwrap());
    }
    assert_eq!(sequences.len(), 16, "every note got its own event");
    assert_eq!(log.message_count().await, before + 16);
    let view = app.get(&format!("/v1/complaints/{id}"), &ADMIN).await;
    assert_eq!(view.assert_ok(200)["complaint"]["version"], 2 + 16);
}

#[tokio::test]
async fn racing_commands_where_only_one_can_win_give_one_success_and_one_conflict() {
    let (log, app) = service_with_staff().await;
    let other_instance = CommandApp::spawn(&log.config).await;
    for _round in 0..5 {
        let id = assigned_complaint(&app).await;
        other_instance.get(&format!("/v1/complaints/{id}"), &ADMIN).await.assert_ok(200);
        let path = format!("/v1/complaints/{id}/closure");
        let by_complainant = COMPLAINANT.headers(app.http.post(app.url(&path))).json(&json!({"rating": 4}));
        let by_admin =
            ADMIN.headers(app.http.post(other_instance.url(&path))).json(&json!({"reason": "Selesai melalui telefon"}));
        let (a, b) =
            tokio::join!(async { ehelpdesk_tests::Reply::from(by_complainant.send().await.unwrap()).await }, async {
                ehelpdesk_tests::Reply::from(by_admin.send().await.unwrap()).await
            },);
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let loser = if a.status == 409 { &a } else { &b };
        loser.assert_problem(409, "complaint_closed");
        let events = log.messages().await;
        let closes = events.iter().filter(|(s, _, e)| s.ends_with(&id) && e["type"] == "ComplaintClosed").count();
        assert_eq!(closes, 1);
    }
}

#[tokio::test]
async fn a_retried_request_gets_the_same_answer_and_writes_one_event() {
    let (log, app) = service_with_staff().await;
    let request = complaint("AC", "Aduan dengan kunci idempoten");
    let first = app.post_idempotent("/v1/complaints", &COMPLAINANT, &request, "retry-key-1").await;
    let body = first.assert_ok(201).clone();
    let count = log.message_count().await;
    let again = app.post_idempotent("/v1/complaints", &COMPLAINANT, &request, "retry-key-1").await;
    assert_eq!(again.assert_ok(201), &body, "same complaint, number and sequence");
    assert_eq!(again.headers["idempotent-replayed"], "true");
    assert_eq!(log.message_count().await, count);

    let id = body["complaint_id"].as_str().unwrap();
    let assign = json!({"pic_id": PIC.id});
    let path = format!("/v1/complaints/{id}/assignment");
    let first = app.post_idempotent(&path, &ADMIN, &assign, "assign-1").await;
    let receipt = first.assert_ok(200).clone();
    // The complaint moves on before the retry arrives; the retry still gets the first answer.
    app.post(
        &format!("/v1/complaints/{id}/responses"),
        &PIC,
        &json!({"message": "Dalam semakan", "status": "in_progress"}),
    )
    .await
    .assert_ok(200);
    let retry = app.post_idempotent(&path, &ADMIN, &assign, "assign-1").await;
    assert_eq!(retry.assert_ok(200), &receipt);
    let assignments = log.messages().await.iter().filter(|(_, _, e)| e["type"] == "ComplaintAssigned").count();
    assert_eq!(assignments, 1);

    // The same key for a different request is refused, not silently answered.
    app.post_idempotent(&path, &ADMIN, &json!({"pic_id": OTHER_PIC.id}), "assign-1")
        .await
        .assert_problem(422, "idempotency_key_reused");
    // The key is the client's: another actor using the same key is another request.
    let mine = complaint("AC", "Aduan dengan kunci idempoten");
    let other = app.post_idempotent("/v1/complaints", &OTHER_COMPLAINANT, &mine, "retry-key-1").await;
    assert_ne!(other.assert_ok(201)["complaint_id"], body["complaint_id"]);
}

/// design.md's trap: the retry of a stored publish that carries the same Nats-Msg-Id AND
/// the OCC header is answered "wrong last sequence", not "duplicate". Provoked here the way
/// it happens in production: the retry reaches another instance whose cache is stale.
#[tokio::test]
async fn a_retry_answered_wrong_last_sequence_is_recognised_as_already_done() {
    let (log, app) = service_with_staff().await;
    let other_instance = CommandApp::spawn(&log.config).await;
    let id = assigned_complaint(&app).await;
    other_instance.get(&format!("/v1/complaints/{id}"), &ADMIN).await.assert_ok(200);

    let path = format!("/v1/complaints/{id}/responses");
    let request = json!({"message": "Sila hantar tangkapan skrin.", "status": "awaiting_complainant"});
    let first = app.post_idempotent(&path, &PIC, &request, "respond-7").await;
    let receipt = first.assert_ok(200).clone();
    let retry = other_instance.post_idempotent(&path, &PIC, &request, "respond-7").await;
    assert_eq!(retry.assert_ok(200), &receipt);
    let responses = log.messages().await.iter().filter(|(_, _, e)| e["type"] == "ComplaintResponded").count();
    assert_eq!(responses, 1);

    // And the raw server behaviour the service relies on, straight from async-nats.
    let js = log.jetstream().await;
    let subject = format!("{}.complaint.{id}", log.config.subject_prefix);
    let last =
        js.get_stream(&log.config.stream).await.unwrap().get_last_raw_message_by_subject(&subject).await.unwrap();
    let publish = |expected: u64| {
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", "raw-trap-1");
        headers.insert("Nats-Expected-Last-Subject-Sequence", expected.to_string().as_str());
        let js = js.clone();
        let subject = subject.clone();
        async move { js.publish_with_headers(subject, headers, "{}".into()).await.unwrap().await }
    };
    let stored = publish(last.sequence).await.expect("first publish stored");
    let retried = publish(last.sequence).await;
    match retried {
        Err(e) => assert_eq!(e.kind(), async_nats::jetstream::context::PublishErrorKind::WrongLastSequence),
        Ok(ack) => assert!(ack.duplicate && ack.sequence == stored.sequence, "{ack:?}"),
    }
}

#[tokio::test]
async fn complaint_numbers_are_unique_under_concurrent_logging() {
    let log = TestEventLog::new();
    let first = CommandApp::spawn(&log.config).await;
    let second = CommandApp::spawn(&log.config).await;
    let mut tasks = vec![];
    for i in 0..60 {
        let app_url = if i % 2 == 0 { first.url("/v1/complaints") } else { second.url("/v1/complaints") };
        let request =
            COMPLAINANT.headers(first.http.post(app_url)).json(&complaint("GL", &format!("Aduan serentak {i}")));
        tasks.push(tokio::spawn(async move { ehelpdesk_tests::Reply::from(request.send().await.unwrap()).await }));
    }
    let mut numbers = BTreeSet::new();
    for task in tasks {
        let reply = task.await.unwrap();
        numbers.insert(reply.assert_ok(201)["complaint_number"].as_str().unwrap().to_owned());
    }
    let expected: BTreeSet<_> = (1..=60).map(|n| format!("ADU-{}-{n:06}", year_now())).collect();
    assert_eq!(numbers, expected, "60 distinct numbers, none skipped");
}

#[tokio::test]
async fn nats_unreachable_means_503_with_retry_after() {
    let mut log = TestEventLog::new();
    log.config.nats_url = "nats://127.0.0.1:1".parse().expect("a NATS URL");
    let app = CommandApp::spawn(&log.config).await;
    let reply = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "NATS tiada")).await;
    reply.assert_problem(503, "event_log_unavailable");
    assert_eq!(reply.headers["retry-after"], "5");
    let ready = app.get("/readyz", &ADMIN).await;
    assert_eq!(ready.status, 503);
    assert_eq!(ready.body["ready"], false);
    app.get("/healthz", &ADMIN).await.assert_ok(200);
    log.config.nats_url = ehelpdesk_tests::nats_servers();
}

#[tokio::test]
async fn probes_and_openapi() {
    let (log, app) = service_with_staff().await;
    let ready = app.get("/readyz", &ADMIN).await;
    assert_eq!(ready.assert_ok(200)["stream"], log.config.stream);
    assert_eq!(ready.body["stream_messages"], 4);
    let doc = app.get("/openapi.json", &ADMIN).await;
    let paths = doc.assert_ok(200)["paths"].as_object().unwrap().keys().cloned().collect::<BTreeSet<_>>();
    for path in [
        "/v1/complaints",
        "/v1/complaints/{id}",
        "/v1/complaints/{id}/assignment",
        "/v1/complaints/{id}/responses",
        "/v1/complaints/{id}/replies",
        "/v1/complaints/{id}/referral",
        "/v1/complaints/{id}/escalation",
        "/v1/complaints/{id}/vendor-updates",
        "/v1/complaints/{id}/notes",
        "/v1/complaints/{id}/closure",
        "/v1/complaints/{id}/reopening",
        "/v1/staff",
        "/v1/staff/{id}",
        "/v1/staff/{id}/deactivation",
        "/v1/notifications/{id}/retry",
        "/v1/categories",
        "/healthz",
        "/readyz",
    ] {
        assert!(paths.contains(path), "{path} missing from openapi.json");
    }
    let categories = app.get("/v1/categories", &COMPLAINANT).await;
    assert!(categories.assert_ok(200).as_array().unwrap().iter().any(|c| c["name_ms"] == "Lejar Am"));
}

#[tokio::test]
async fn graceful_shutdown_finishes_and_stops_listening() {
    let (_log, app) = service_with_staff().await;
    let addr = app.addr;
    let id = logged_complaint(&app).await;
    assert!(!id.is_empty());
    app.stop().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err(), "no longer listening");
}
