//! Two command instances on one stream, one Idempotency-Key: whatever the interleaving, every
//! 200 answers an event that is in the log, a reused key for another request is refused, and
//! the history stays one `decide` could have produced (`verify` replays the rules).

use ehelpdesk_shared::actor::{Actor, Role};
use ehelpdesk_shared::aggregate::Recorded;
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent, ComplaintResponded, ResponseStatus};
use ehelpdesk_shared::validation::{StaffId, Text};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::process::Service;
use ehelpdesk_tests::{
    CommandApp, InProcess, ProjectionApp, Reply, TestDatabase, TestEventLog, projection_settings, service_env,
};
use serde_json::{Value, json};

/// A complaint filed, assigned and answered "please close", through `via`.
async fn pending_closure(via: &InProcess, title: &str) -> String {
    let filed = via.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    via.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    let please_close = json!({"message": "Sudah dibaiki.", "status": "pending_closure"});
    via.post(&format!("/v1/complaints/{id}/responses"), &PIC, &please_close).await.assert_ok(200);
    id
}

/// (stream sequence, event type) of one complaint's events. The test streams are never
/// edited, so the n-th message has sequence n.
async fn events_of(log: &TestEventLog, id: &str) -> Vec<(u64, String)> {
    let subject = format!("{}.complaint.{id}", log.config.subject_prefix);
    let messages = log.messages().await.into_iter().zip(1..);
    messages
        .filter(|((s, _, _), _)| *s == subject)
        .map(|((_, _, payload), seq)| (seq, payload["type"].as_str().unwrap_or_default().to_owned()))
        .collect()
}

#[tokio::test]
async fn a_key_reused_on_another_instance_for_another_request_is_refused_and_leaves_no_phantom() {
    let log = TestEventLog::new();
    let a = CommandApp::spawn(&log.config).await;
    let b = CommandApp::spawn(&log.config).await;
    a.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let id = pending_closure(&a, "Dua contoh, satu kunci").await;
    b.get(&format!("/v1/complaints/{id}"), &ADMIN).await.assert_ok(200); // b caches it now
    let notes = format!("/v1/complaints/{id}/notes");

    let first = a.post_idempotent(&notes, &PIC, &json!({"message": "satu"}), "kunci-1").await;
    let first = first.assert_ok(200).clone();
    // b's cache is one event behind and the same key now carries another body.
    let other = b.post_idempotent(&notes, &PIC, &json!({"message": "dua"}), "kunci-1").await;
    other.assert_problem(422, "idempotency_key_reused");
    let retry = b.post_idempotent(&notes, &PIC, &json!({"message": "satu"}), "kunci-1").await;
    assert_eq!(retry.assert_ok(200)["stream_sequence"], first["stream_sequence"]);
    assert_eq!(retry.headers["idempotent-replayed"], "true");

    // b's next command lands after what the log holds, not after an event never written.
    let answer = json!({"message": "Dalam tindakan.", "status": "in_progress"});
    let next = b.post(&format!("/v1/complaints/{id}/responses"), &PIC, &answer).await;
    let next_seq = next.assert_ok(200)["stream_sequence"].as_u64().unwrap();
    assert_eq!(next_seq, first["stream_sequence"].as_u64().unwrap() + 1);
    let types: Vec<String> =
        log.events().await.into_iter().map(|(_, _, p)| p["type"].as_str().unwrap().into()).collect();
    assert_eq!(
        types,
        [
            "StaffRegistered",
            "ComplaintLogged",
            "ComplaintAssigned",
            "ComplaintResponded",
            "InternalNoteAdded",
            "ComplaintResponded"
        ]
    );
}

#[tokio::test]
async fn one_key_on_two_different_commands_makes_two_events() {
    let log = TestEventLog::new();
    let a = CommandApp::spawn(&log.config).await;
    a.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let id = pending_closure(&a, "Nota dan kemas kini vendor").await;
    let escalate = json!({"vendor": "BKP", "message": "Kepada vendor"});
    a.post(&format!("/v1/complaints/{id}/escalation"), &PIC, &escalate).await.assert_ok(200);
    let same = json!({"message": "Vendor sedang menyemak."});
    let note = a.post_idempotent(&format!("/v1/complaints/{id}/notes"), &PIC, &same, "k-sama").await;
    let update = a.post_idempotent(&format!("/v1/complaints/{id}/vendor-updates"), &PIC, &same, "k-sama").await;
    let note_seq = note.assert_ok(200)["stream_sequence"].clone();
    assert_ne!(update.assert_ok(200)["stream_sequence"], note_seq, "the vendor update is its own event");
    assert!(!update.headers.contains_key("idempotent-replayed"));
    let types: Vec<String> = events_of(&log, &id).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(types.iter().rev().take(2).collect::<Vec<_>>(), ["VendorUpdateRecorded", "InternalNoteAdded"]);
}

/// The outside review's race, on two real command processes: the complainant sends `replies`
/// to one and `closure` to the other with one key at the same time, then the PIC answers
/// through each. Every 200 is an event in the log, and the history stays legal.
#[tokio::test]
async fn two_command_processes_racing_one_key_keep_every_answer_true_and_the_history_legal() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = service_env(&log, &db);
    let mut a = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    let mut b = Service::start("ehelpdesk-command", &env, "COMMAND_ADDR");
    a.wait_ready().await;
    b.wait_ready().await;
    let http = reqwest::Client::new();
    let send = |url: &str, who: &Person, path: &str, body: Value, key: Option<String>| {
        let mut request = who.headers(http.post(format!("{url}{path}"))).json(&body);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        async move { Reply::from(request.send().await.expect("request")).await }
    };
    let setup = InProcess::client_for(a.addr, a.admin);
    setup.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    setup.post("/v1/staff", &ADMIN, &AUDITOR.registration(&["auditor"], &[])).await.assert_ok(201);

    for round in 0..12 {
        let id = pending_closure(&setup, &format!("Perlumbaan {round}")).await;
        for service in [&a, &b] {
            let warm = COMPLAINANT.headers(http.get(format!("{}/v1/complaints/{id}", service.url)));
            assert_eq!(warm.send().await.unwrap().status(), 200);
        }
        let key = format!("perlumbaan-{round}");
        let (reply, close) = tokio::join!(
            send(
                &a.url,
                &COMPLAINANT,
                &format!("/v1/complaints/{id}/replies"),
                json!({"message": "Belum"}),
                Some(key.clone())
            ),
            send(&b.url, &COMPLAINANT, &format!("/v1/complaints/{id}/closure"), json!({"rating": 5}), Some(key)),
        );
        let answer = json!({"message": "Disemak semula.", "status": "in_progress"});
        let mut answered = vec![(reply, "ComplainantReplied"), (close, "ComplaintClosed")];
        for service in [&b, &a] {
            let pic = send(&service.url, &PIC, &format!("/v1/complaints/{id}/responses"), answer.clone(), None).await;
            answered.push((pic, "ComplaintResponded"));
        }
        let in_log = events_of(&log, &id).await;
        let mut accepted = 0;
        for (reply, event_type) in &answered {
            assert!(reply.status < 500, "round {round}: {reply:?}");
            match reply.status {
                200 => {
                    accepted += 1;
                    let seq = reply.body["stream_sequence"].as_u64().unwrap();
                    assert!(
                        in_log.contains(&(seq, (*event_type).to_owned())),
                        "round {round}: a 200 for {event_type} at {seq} that the log does not hold: {in_log:?}"
                    );
                }
                409 => assert_eq!(reply.body["code"], "complaint_closed", "round {round}: {reply:?}"),
                _ => panic!("round {round}: unexpected {reply:?}"),
            }
        }
        assert_eq!(in_log.len(), 3 + accepted, "round {round}: one event per 200, no more: {in_log:?}");
    }

    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let head = log.message_count().await;
    projection.get(&format!("/v1/complaints?min_seq={head}"), &ADMIN).await.assert_ok(200);
    let report = projection.get("/v1/audit/verify", &AUDITOR).await;
    assert_eq!(report.assert_ok(200)["differences"], json!([]), "{report:?}");
    drop((a, b));
}

#[tokio::test]
async fn verify_names_an_event_that_decide_could_not_have_produced() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &AUDITOR.registration(&["auditor"], &[])).await.assert_ok(201);
    let id = pending_closure(&command, "Sejarah yang dilanggar").await;
    command.post(&format!("/v1/complaints/{id}/closure"), &COMPLAINANT, &json!({})).await.assert_ok(200);

    // Written past the command path, as the race used to: a PIC's answer after the close.
    let complaint_id = uuid::Uuid::parse_str(&id).unwrap();
    let pic = Actor::new(StaffId::parse("id", PIC.id).unwrap(), Role::Pic, PIC.name);
    let event = Recorded {
        event: ComplaintEvent::ComplaintResponded(ComplaintResponded {
            message: Text::parse("message", "Selepas ditutup", 1, 100).unwrap(),
            status: ResponseStatus::InProgress,
        }),
        occurred_at: chrono::Utc::now(),
        actor: pic,
    };
    let payload = ehelpdesk_shared::envelope::encode::<Complaint>(&complaint_id, &event);
    let js = log.jetstream().await;
    let subject = format!("{}.complaint.{id}", log.config.subject_prefix);
    let seq = js.publish(subject, payload.into()).await.unwrap().await.unwrap().sequence;

    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.get(&format!("/v1/complaints/{id}?min_seq={seq}"), &ADMIN).await.assert_ok(200);
    let report = projection.get("/v1/audit/verify", &AUDITOR).await;
    let differences = report.assert_ok(200)["differences"].as_array().unwrap().clone();
    assert_eq!(differences.len(), 1, "{differences:?}");
    assert_eq!(differences[0]["complaint_id"], id.as_str());
    let what = differences[0]["what"].as_str().unwrap();
    assert!(what.contains(&format!("event {seq} (ComplaintResponded) breaks the rules: complaint_closed")), "{what}");
}

#[tokio::test]
async fn a_keyed_complaint_id_cannot_be_computed_without_the_server_secret() {
    let log = TestEventLog::new();
    let a = CommandApp::spawn(&log.config).await;
    let b = CommandApp::spawn(&log.config).await;
    let other_secret = CommandApp::spawn_with(&log.config, |s| {
        s.complaint_id_secret = "another-deployment-s-secret-0000000000".into();
    })
    .await;
    let body = complaint("AC", "Aduan dengan kunci");
    let first = a.post_idempotent("/v1/complaints", &COMPLAINANT, &body, "kunci-x").await;
    let id = first.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    // The old, public derivation: anyone who guessed the key knew the id.
    let namespace = uuid::Uuid::from_u128(0x6f1c_2d4e_8a7b_4c3d_9e2f_1a0b_5c6d_7e8f);
    let guessable = uuid::Uuid::new_v5(&namespace, format!("{}:kunci-x", COMPLAINANT.id).as_bytes());
    assert_ne!(id, guessable.to_string());
    // Every instance of one deployment finds the retry; another secret gives another id.
    let retry = b.post_idempotent("/v1/complaints", &COMPLAINANT, &body, "kunci-x").await;
    assert_eq!(retry.assert_ok(201)["complaint_id"], id.as_str());
    assert_eq!(retry.headers["idempotent-replayed"], "true");
    let elsewhere = other_secret.post_idempotent("/v1/complaints", &COMPLAINANT, &body, "kunci-x").await;
    assert_ne!(elsewhere.assert_ok(201)["complaint_id"], id.as_str());
}
