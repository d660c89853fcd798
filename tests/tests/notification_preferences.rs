//! Staff choose how they are told (issue 15, "No floods"), against the real NATS and
//! PostgreSQL: the command that records the choice, the fan-out that honours it (a channel
//! turned off gets no outbox row; with both off an assignment still comes by e-mail), the
//! admins' warning, who may choose for whom, and an old log replayed with both channels on.

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, Reply, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};

/// A second admin: the first makes changes, this one is told of them.
const OTHER_ADMIN: Person = Person {
    id: "admin-zul",
    role: "admin",
    name: "Zulkifli bin Hassan",
    ic_number: "790202035001",
    email: "zul@example.gov.my",
    phone: "013-700 7001",
    ptj: "Perbendaharaan Negeri Kelantan",
};

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
        (&ADMIN, &["admin"][..], &[][..]),
        (&OTHER_ADMIN, &["admin"][..], &[][..]),
        (&PIC, &["pic"][..], &["AC"][..]),
        (&OTHER_PIC, &["pic"][..], &["GL"][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    Stack { projection, command, db, log }
}

fn preferences_path(who: &Person) -> String {
    format!("/v1/staff/{}/notification-preferences", who.id)
}

async fn choose(s: &Stack, whose: &Person, by: &Person, email: bool, whatsapp: bool) -> Reply {
    let body = json!({"email": email, "whatsapp": whatsapp});
    s.command.send(reqwest::Method::PUT, &preferences_path(whose), by, &body, None).await
}

/// Posts a command and returns the stream sequence of its event.
async fn act(s: &Stack, path: &str, who: &Person, body: Value) -> u64 {
    let reply = s.command.post(path, who, &body).await;
    assert!(reply.status == 200 || reply.status == 201, "{path}: {reply:?}");
    reply.body["stream_sequence"].as_u64().unwrap()
}

/// A complaint filed by the complainant and assigned to the PIC: its id and the sequence of
/// the assignment.
async fn assigned_to_pic(s: &Stack, title: &str) -> (String, u64) {
    let filed = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", title)).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let seq = act(s, &format!("/v1/complaints/{id}/assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
    (id, seq)
}

/// The outbox rows of the event at stream sequence `seq`, once the projection has applied
/// it: (recipient, channel), in a stable order.
async fn told(s: &Stack, seq: u64) -> Vec<(String, String)> {
    let outbox = s.projection.get(&format!("/v1/outbox?limit=200&min_seq={seq}"), &ADMIN).await;
    let mut rows: Vec<(String, String)> = outbox
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["sequence"] == seq)
        .map(|r| (r["recipient_id"].as_str().unwrap().to_owned(), r["channel"].as_str().unwrap().to_owned()))
        .collect();
    rows.sort();
    rows
}

fn rows(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut rows: Vec<_> = expected.iter().map(|(who, channel)| (who.to_string(), channel.to_string())).collect();
    rows.sort();
    rows
}

#[tokio::test]
async fn the_fan_out_honours_what_a_pic_chose() {
    let s = stack().await;
    let reply = |id: &str| format!("/v1/complaints/{id}/replies");

    // WhatsApp off, by the PIC herself: the assignment reaches her by e-mail only.
    let chosen = choose(&s, &PIC, &PIC, true, false).await;
    let receipt = chosen.assert_ok(200);
    assert_eq!(receipt["notification_preferences"], json!({"email": true, "whatsapp": false}));
    assert_eq!(receipt["warnings"], json!([]));
    let (first, seq) = assigned_to_pic(&s, "Baucar tidak dapat dicetak").await;
    assert_eq!(told(&s, seq).await, rows(&[(PIC.id, "email")]));

    // Both off: the answer warns (Malay first), and the admin who did not make the change is
    // e-mailed about it; the PIC still gets an assignment by e-mail, and nothing else.
    let chosen = choose(&s, &PIC, &PIC, false, false).await;
    let receipt = chosen.assert_ok(200).clone();
    assert_eq!(receipt["warnings"][0]["code"], "all_notifications_off");
    let warning = receipt["warnings"][0]["message"].as_str().unwrap();
    assert!(warning.starts_with("E-mel dan WhatsApp dimatikan untuk Aminah binti Yusof"), "{warning}");
    assert!(warning.contains(" / E-mail and WhatsApp are off for Aminah binti Yusof"), "{warning}");
    let off_at = receipt["stream_sequence"].as_u64().unwrap();
    assert_eq!(told(&s, off_at).await, rows(&[(ADMIN.id, "email"), (OTHER_ADMIN.id, "email")]));
    let outbox = s.projection.get("/v1/outbox?limit=200", &ADMIN).await;
    let notice = outbox.assert_ok(200).as_array().unwrap().iter().find(|r| r["sequence"] == off_at).unwrap().clone();
    assert_eq!((notice["template"].as_str(), notice["complaint_number"].as_str()), (Some("notice"), Some("")));
    assert_eq!(notice["event_type"], "NotificationPreferencesChanged");
    let body = notice["body"].as_str().unwrap();
    assert!(body.contains("Aminah binti Yusof (pic-aminah) telah mematikan notifikasi e-mel dan WhatsApp"), "{body}");
    assert!(body.contains("has turned off e-mail and WhatsApp notifications; assignments will still be e-mailed"));

    let (second, seq) = assigned_to_pic(&s, "Slip gaji tiada").await;
    assert_eq!(told(&s, seq).await, rows(&[(PIC.id, "email")]), "an assignment still comes by e-mail");
    let seq = act(&s, &reply(&second), &COMPLAINANT, json!({"message": "Masih berlaku"})).await;
    assert_eq!(told(&s, seq).await, rows(&[]), "a complainant's reply does not page her");
    // The complainant, not in the directory, keeps both channels.
    let seq = act(&s, &format!("/v1/complaints/{second}/closure"), &ADMIN, json!({"reason": "Pendua"})).await;
    assert_eq!(told(&s, seq).await, rows(&[(COMPLAINANT.id, "email"), (COMPLAINANT.id, "whatsapp")]));

    // Both views show the choice: the command side's directory and the auditors' staff state.
    let view = s.command.get(&format!("/v1/staff/{}", PIC.id), &ADMIN).await;
    assert_eq!(view.assert_ok(200)["staff"]["notification_preferences"], json!({"email": false, "whatsapp": false}));
    let state = s.projection.get(&format!("/v1/audit/staff/{}/state", PIC.id), &ADMIN).await;
    assert_eq!(state.assert_ok(200)["state"]["notification_preferences"], json!({"email": false, "whatsapp": false}));

    // Choosing what is already chosen records nothing.
    let events = s.log.event_count().await;
    choose(&s, &PIC, &PIC, false, false).await.assert_problem(422, "nothing_to_update");
    assert_eq!(s.log.event_count().await, events);

    // Back on: an admin turns both on again; no warning, and the PIC hears on both channels.
    let chosen = choose(&s, &PIC, &ADMIN, true, true).await;
    assert_eq!(chosen.assert_ok(200)["warnings"], json!([]));
    assert_eq!(told(&s, chosen.body["stream_sequence"].as_u64().unwrap()).await, rows(&[]));
    let seq = act(&s, &reply(&first), &COMPLAINANT, json!({"message": "Masih berlaku"})).await;
    assert_eq!(told(&s, seq).await, rows(&[(PIC.id, "email"), (PIC.id, "whatsapp")]));
    let (_, seq) = assigned_to_pic(&s, "Lejar tidak seimbang").await;
    assert_eq!(told(&s, seq).await, rows(&[(PIC.id, "email"), (PIC.id, "whatsapp")]));

    // The read model's columns follow the state.
    let pool = s.db.read_models().await;
    let (email, whatsapp): (bool, bool) =
        sqlx::query_as("SELECT notify_email, notify_whatsapp FROM staff WHERE staff_id = $1")
            .bind(PIC.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((email, whatsapp), (true, true));
}

#[tokio::test]
async fn only_the_member_of_staff_or_an_admin_chooses() {
    let s = stack().await;
    let before = s.log.event_count().await;
    // A complainant, another PIC: refused, and the log unchanged.
    choose(&s, &PIC, &COMPLAINANT, false, false).await.assert_problem(403, "role_not_allowed");
    choose(&s, &PIC, &OTHER_PIC, false, false).await.assert_problem(403, "role_not_allowed");
    // A complainant has no directory entry to change, even their own id.
    choose(&s, &COMPLAINANT, &COMPLAINANT, true, false).await.assert_problem(403, "role_not_allowed");
    assert_eq!(s.log.event_count().await, before);
    // An admin for anyone; the admin who made the change is not told of it, the other admin is.
    let chosen = choose(&s, &PIC, &ADMIN, false, false).await;
    let seq = chosen.assert_ok(200)["stream_sequence"].as_u64().unwrap();
    assert_eq!(chosen.body["warnings"][0]["code"], "all_notifications_off");
    assert_eq!(told(&s, seq).await, rows(&[(OTHER_ADMIN.id, "email")]));
    // Someone not in the directory: 404 for an admin.
    let ghost = Person { id: "pic-tiada", ..PIC };
    choose(&s, &ghost, &ADMIN, true, false).await.assert_problem(404, "staff_not_found");
    // Bad bodies are 4xx problems.
    let path = preferences_path(&PIC);
    let partial = s.command.send(reqwest::Method::PUT, &path, &PIC, &json!({"email": true}), None).await;
    assert!((400..500).contains(&partial.status) && partial.content_type() == "application/problem+json");
    let wrong_type = json!({"email": "ya", "whatsapp": true});
    let wrong = s.command.send(reqwest::Method::PUT, &path, &PIC, &wrong_type, None).await;
    assert!((400..500).contains(&wrong.status) && wrong.content_type() == "application/problem+json");
}

/// Writes a staff fixture to the log past the command path, as an older release wrote it.
async fn publish_staff_fixture(log: &TestEventLog, fixture: &str) -> u64 {
    let event: Value = serde_json::from_str(fixture).unwrap();
    let subject = format!("{}.staff.{}", log.config.subject_prefix, event["staff_id"].as_str().unwrap());
    let js = log.jetstream().await;
    js.publish(subject, serde_json::to_vec(&event).unwrap().into()).await.unwrap().await.unwrap().sequence
}

/// A log written before preferences existed: the PIC registered and updated then is told on
/// both channels, by both services' reading of it.
#[tokio::test]
async fn an_old_log_replays_with_both_channels_on() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    // The command service creates the stream; the fixtures' PIC is pic-aminah.
    let command = CommandApp::spawn(&log.config).await;
    publish_staff_fixture(&log, include_str!("../../shared/tests/fixtures/events/StaffRegistered.v1.json")).await;
    publish_staff_fixture(&log, include_str!("../../shared/tests/fixtures/events/StaffUpdated.v1.json")).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;

    let view = command.get(&format!("/v1/staff/{}", PIC.id), &ADMIN).await;
    assert_eq!(view.assert_ok(200)["staff"]["notification_preferences"], json!({"email": true, "whatsapp": true}));
    let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Baucar tidak dapat dicetak")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let assigned = command.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await;
    let seq = assigned.assert_ok(200)["stream_sequence"].as_u64().unwrap();
    let outbox = projection.get(&format!("/v1/outbox?limit=200&min_seq={seq}"), &ADMIN).await;
    let mut to_pic: Vec<(String, String)> = outbox
        .assert_ok(200)
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["sequence"] == seq)
        .map(|r| (r["channel"].as_str().unwrap().to_owned(), r["address"].as_str().unwrap().to_owned()))
        .collect();
    to_pic.sort();
    assert_eq!(
        to_pic,
        [("email".to_owned(), "aminah@example.gov.my".to_owned()), ("whatsapp".to_owned(), "+60131112222".to_owned())]
    );
    // The row as the old events left it: both columns on, and no choice in the stored state.
    let pool = db.read_models().await;
    let (email, whatsapp, state): (bool, bool, Value) =
        sqlx::query_as("SELECT notify_email, notify_whatsapp, state FROM staff WHERE staff_id = $1")
            .bind(PIC.id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((email, whatsapp), (true, true));
    assert!(state.get("notification_preferences").is_none(), "{state}");
}
