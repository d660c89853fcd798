//! docs/security.md's authorization matrix, cell by cell: every endpoint of both services
//! against every kind of caller, each cell on a complaint of its own in the state it needs
//! (and the notification retry on a dead-lettered notification of its own).

use ehelpdesk_shared::notification::record::DeliveryRecord;
use ehelpdesk_shared::notification::{Channel, NotificationMessage, NotifyConfig, RecordState, RecordStore, Template};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, Reply, TestDatabase, TestEventLog, notify_of, projection_settings};
use serde_json::{Value, json};

/// The columns of the matrix.
const CALLERS: [(&str, &Person); 8] = [
    ("complainant (owner)", &COMPLAINANT),
    ("complainant (other)", &OTHER_COMPLAINANT),
    ("PIC (assigned)", &PIC),
    ("PIC (other)", &OTHER_PIC),
    ("implementor (referred)", &IMPLEMENTOR),
    ("implementor (other)", &OTHER_IMPLEMENTOR),
    ("admin", &ADMIN),
    ("auditor", &AUDITOR),
];

#[derive(Clone, Copy, Debug)]
enum State {
    Logged,
    Assigned,
    Referred,
    WithVendor,
    Closed,
}

/// What a cell expects: a success status, a refusal (status and code), or for searches
/// whether the complaint is among the results.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Ok(u16),
    No(u16, &'static str),
    Sees(bool),
}
use Expect::*;

const F: Expect = No(403, "role_not_allowed");
const NF: Expect = No(404, "complaint_not_found");

struct Row {
    endpoint: &'static str,
    state: State,
    expect: [Expect; 8],
}

fn rows() -> Vec<Row> {
    let r = |endpoint, state, expect| Row { endpoint, state, expect };
    // A caller the complaint does not concern gets 404 for writes as for reads: nothing they
    // are refused tells them the complaint exists.
    let mine_only = [Ok(200), NF, F, NF, NF, NF, F, F];
    let pic_or_admin = [F, NF, Ok(200), NF, NF, NF, Ok(200), F];
    let admin_only = [F, F, F, F, F, F, Ok(200), F];
    let readers = [F, F, F, F, F, F, Ok(200), Ok(200)];
    let concerned = [Ok(200), NF, Ok(200), NF, Ok(200), NF, Ok(200), Ok(200)];
    vec![
        r("POST /v1/complaints", State::Logged, [Ok(201), No(403, "cannot_log_for_others"), F, F, F, F, Ok(201), F]),
        r("GET /v1/complaints/{id} (command)", State::Referred, concerned),
        // Not assigned yet: no PIC or implementor is concerned.
        r("POST /v1/complaints/{id}/assignment", State::Logged, [F, NF, NF, NF, NF, NF, Ok(200), F]),
        r("POST /v1/complaints/{id}/responses", State::Assigned, pic_or_admin),
        r("POST /v1/complaints/{id}/replies", State::Assigned, mine_only),
        r("POST /v1/complaints/{id}/referral", State::Assigned, pic_or_admin),
        r("POST /v1/complaints/{id}/escalation", State::Assigned, pic_or_admin),
        r("POST /v1/complaints/{id}/vendor-updates", State::WithVendor, pic_or_admin),
        r("POST /v1/complaints/{id}/notes", State::Referred, [F, NF, Ok(200), NF, Ok(200), NF, Ok(200), F]),
        r("POST /v1/complaints/{id}/closure", State::Assigned, [Ok(200), NF, F, NF, NF, NF, Ok(200), F]),
        r("POST /v1/complaints/{id}/reopening", State::Closed, mine_only),
        r("POST /v1/staff", State::Logged, [F, F, F, F, F, F, Ok(201), F]),
        r("PATCH /v1/staff/{id}", State::Logged, admin_only),
        r("POST /v1/staff/{id}/deactivation", State::Logged, admin_only),
        // How one is told: an admin for anyone, every member of staff for themselves
        // (`{self}` is the caller's own id; complainants have no directory entry to change).
        r("PUT /v1/staff/{id}/notification-preferences", State::Logged, admin_only),
        r(
            "PUT /v1/staff/{self}/notification-preferences",
            State::Logged,
            [F, F, Ok(200), Ok(200), Ok(200), Ok(200), Ok(200), Ok(200)],
        ),
        r("GET /v1/staff/{id}", State::Logged, readers),
        r("GET /v1/categories", State::Logged, [Ok(200); 8]),
        r("GET /v1/inbox?pic_id={pic}", State::Assigned, [F, F, Ok(200), F, F, F, Ok(200), Ok(200)]),
        r("GET /v1/inbox/badge?pic_id={pic}", State::Assigned, [F, F, Ok(200), F, F, F, Ok(200), Ok(200)]),
        r("GET /v1/inbox/badge/stream?pic_id={pic}", State::Assigned, [F, F, Ok(200), F, F, F, Ok(200), Ok(200)]),
        r("GET /v1/triage", State::Logged, readers),
        r("GET /v1/assignees?category=AC", State::Logged, readers),
        // Implementors are whom any PIC refers to.
        r("GET /v1/assignees?role=implementor", State::Logged, [F, F, Ok(200), Ok(200), F, F, Ok(200), Ok(200)]),
        r(
            "GET /v1/complaints (search)",
            State::Referred,
            [Sees(true), Sees(false), Sees(true), Sees(false), Sees(true), Sees(false), Sees(true), Sees(true)],
        ),
        r("GET /v1/complaints/{id} (query)", State::Referred, concerned),
        // Who was told what is staff business: complainants, even its own, are not told it exists.
        r(
            "GET /v1/complaints/{id}/notifications",
            State::Referred,
            [NF, NF, Ok(200), NF, Ok(200), NF, Ok(200), Ok(200)],
        ),
        r("GET /v1/reports/aging", State::Logged, readers),
        r("GET /v1/reports/resolution", State::Logged, readers),
        r("GET /v1/outbox", State::Logged, readers),
        // A dead-lettered notification of the complaint's: auditors read, never act.
        r("POST /v1/notifications/{id}/retry", State::Logged, [F, F, F, F, F, F, Ok(202), F]),
    ]
}

struct World {
    command: CommandApp,
    projection: ProjectionApp,
    _db: TestDatabase,
    log: TestEventLog,
}

impl World {
    /// A notification about complaint `complaint_id`, published on NOTIFY as the relay does
    /// and dead-lettered in its delivery record as a notifier does; its id.
    async fn dead_letter(&self, complaint_id: &str) -> uuid::Uuid {
        let js = self.log.jetstream().await;
        let (stream, subject_prefix) = notify_of(&self.log.config);
        let notify = NotifyConfig { stream, subject_prefix, replicas: 1 };
        ehelpdesk_shared::streams::ensure(&js, notify.stream_config()).await.expect("NOTIFY");
        let message = NotificationMessage {
            id: uuid::Uuid::now_v7(),
            complaint_id: complaint_id.parse().expect("a complaint id"),
            complaint_number: String::new(),
            event_type: "ComplaintLogged".into(),
            template: Template::AduanDiterima,
            params: vec!["ADU-2026-000001".into(), "Aduan matriks".into()],
            recipient_id: COMPLAINANT.id.into(),
            recipient_role: "complainant".into(),
            channel: Channel::Email,
            address: COMPLAINANT.email.into(),
            subject: "Aduan diterima / Complaint received".into(),
            body: "Aduan anda diterima.\nYour complaint is received.".into(),
            created_at: chrono::Utc::now(),
            cycle: 0,
        };
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", message.message_id().as_str());
        let payload = serde_json::to_vec(&message).expect("JSON");
        let subject = notify.deliver_subject(message.channel);
        let ack = js.publish_with_headers(subject, headers, payload.into()).await.expect("publish");
        let stream_sequence = ack.await.expect("stored").sequence;
        let records = RecordStore::open(&js, &notify.deliveries_bucket(), 1).await.expect("bucket");
        let record = DeliveryRecord {
            state: RecordState::DeadLettered,
            cycle: 0,
            attempts: 1,
            worker: "matrix".into(),
            since: chrono::Utc::now(),
            retry_at: None,
            reason: Some("550 mailbox unavailable".into()),
            provider_message_id: None,
            stream_sequence,
        };
        records.write(message.id, &record, None).await.expect("record").expect("a new record");
        message.id
    }

    async fn ok(&self, path: &str, who: &Person, body: Value) -> u64 {
        let reply = self.command.post(path, who, &body).await;
        assert!(reply.status < 300, "set-up {path}: {reply:?}");
        reply.body["stream_sequence"].as_u64().unwrap_or(0)
    }

    /// A complaint of its own in `state`, and the sequence of its last event.
    async fn complaint(&self, state: State) -> (String, u64) {
        let reply = self.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan matriks")).await;
        let id = reply.body["complaint_id"].as_str().unwrap().to_owned();
        let mut seq = reply.body["stream_sequence"].as_u64().unwrap();
        let p = |step: &str| format!("/v1/complaints/{id}/{step}");
        if !matches!(state, State::Logged) {
            seq = self.ok(&p("assignment"), &ADMIN, json!({"pic_id": PIC.id})).await;
        }
        match state {
            State::Referred => {
                seq =
                    self.ok(&p("referral"), &PIC, json!({"implementor_id": IMPLEMENTOR.id, "message": "Rujuk"})).await;
            }
            State::WithVendor => {
                seq = self.ok(&p("escalation"), &PIC, json!({"vendor": "BKP", "message": "Vendor"})).await;
            }
            State::Closed => seq = self.ok(&p("closure"), &COMPLAINANT, json!({})).await,
            _ => {}
        }
        (id, seq)
    }

    async fn attempt(&self, row: &Row, who: &Person) -> Reply {
        let (id, seq) = self.complaint(row.state).await;
        let unique = uuid::Uuid::new_v4().simple().to_string()[..10].to_owned();
        let (method, path) = row.endpoint.split_once(' ').unwrap();
        let path =
            path.split(' ').next().unwrap().replace("{id}", &id).replace("{pic}", PIC.id).replace("{self}", who.id);
        let body = match row.endpoint {
            "POST /v1/complaints" if who.role == "admin" => complaint_for(&COMPLAINANT, "AC", "Aduan matriks"),
            // Another complainant naming the owner in the body.
            "POST /v1/complaints" if who.id == OTHER_COMPLAINANT.id => complaint_for(&COMPLAINANT, "AC", "Bukan saya"),
            "POST /v1/complaints" => complaint("AC", "Aduan matriks"),
            e if e.ends_with("/assignment") => json!({"pic_id": PIC.id}),
            e if e.ends_with("/responses") => json!({"message": "Jawapan", "status": "in_progress"}),
            e if e.ends_with("/referral") => json!({"implementor_id": IMPLEMENTOR.id, "message": "Rujuk"}),
            e if e.ends_with("/escalation") => json!({"vendor": "TTSB", "message": "Vendor"}),
            e if e.ends_with("/closure") && who.role == "admin" => json!({"reason": "Ditutup oleh admin"}),
            e if e.ends_with("/closure") => json!({}),
            e if e.ends_with("/reopening") => json!({"reason": "Belum selesai"}),
            "POST /v1/staff" => {
                let mut body = OTHER_COMPLAINANT.registration(&["complainant"], &[]);
                body["staff_id"] = json!(format!("staf-{unique}"));
                body
            }
            "PATCH /v1/staff/{id}" => json!({"phone": format!("013-{}", 1_000_000 + seq % 8_000_000)}),
            "POST /v1/staff/{id}/deactivation" => json!({"reason": "Bertukar"}),
            // A change from the default (both on), or it would be refused as changing nothing.
            e if e.ends_with("/notification-preferences") => json!({"email": true, "whatsapp": false}),
            _ => json!({"message": "Mesej"}),
        };
        // Staff rows act on a member of staff of their own, so cells do not disturb each other.
        // The notification row acts on a dead letter of its own.
        let path = if path.starts_with("/v1/notifications/") {
            path.replacen(&id, &self.dead_letter(&id).await.to_string(), 1)
        } else {
            path
        };
        let path = if path.starts_with("/v1/staff/") && path.contains(&id) {
            let staff_id = format!("staf-{unique}");
            let mut registration = OTHER_COMPLAINANT.registration(&["complainant"], &[]);
            registration["staff_id"] = json!(staff_id);
            self.ok("/v1/staff", &ADMIN, registration).await;
            path.replacen(&id, &staff_id, 1)
        } else {
            path
        };
        let on_query_side = method == "GET"
            && !row.endpoint.contains("(command)")
            && !path.starts_with("/v1/staff")
            && path != "/v1/categories";
        if path.starts_with("/v1/inbox/badge/stream") {
            // An event stream never ends: its answer's head is the cell (a refusal is whole).
            let response = who.headers(reqwest::Client::new().get(self.projection.url(&path))).send().await;
            let response = response.expect("request sent");
            if response.status().is_success() {
                return Reply {
                    status: response.status().as_u16(),
                    headers: response.headers().clone(),
                    body: Value::Null,
                };
            }
            Reply::from(response).await
        } else if on_query_side {
            let separator = if path.contains('?') { '&' } else { '?' };
            self.projection.get(&format!("{path}{separator}min_seq={seq}"), who).await
        } else if method == "GET" {
            self.command.get(&path, who).await
        } else {
            let method = match method {
                "PATCH" => reqwest::Method::PATCH,
                "PUT" => reqwest::Method::PUT,
                _ => reqwest::Method::POST,
            };
            self.command.send(method, &path, who, &body, None).await
        }
    }
}

#[tokio::test]
async fn every_cell_of_the_authorization_matrix() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [
        // The admin too (not only a bootstrap admin), so that she has preferences of her own.
        (&ADMIN, &["admin"][..], &[][..]),
        (&PIC, &["pic"][..], &["AC"][..]),
        (&OTHER_PIC, &["pic"][..], &["GL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&OTHER_IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    let world = World { command, projection, _db: db, log };

    let mut cells = 0;
    let mut failures = vec![];
    for row in rows() {
        for ((caller, who), expected) in CALLERS.iter().zip(row.expect) {
            cells += 1;
            let reply = if row.endpoint == "GET /v1/complaints (search)" {
                let (id, seq) = world.complaint(row.state).await;
                let page = world.projection.get(&format!("/v1/complaints?limit=200&min_seq={seq}"), who).await;
                let seen = page.body["items"]
                    .as_array()
                    .is_some_and(|items| items.iter().any(|r| r["complaint_id"] == id.as_str()));
                if Sees(seen) != expected || page.status != 200 {
                    failures.push(format!(
                        "{} as {caller}: expected {expected:?}, saw {seen} ({})",
                        row.endpoint, page.status
                    ));
                }
                continue;
            } else {
                world.attempt(&row, who).await
            };
            let fine = match expected {
                Ok(status) => reply.status == status,
                No(status, code) => {
                    reply.status == status
                        && reply.body["code"] == code
                        && reply.content_type() == "application/problem+json"
                }
                Sees(_) => false,
            };
            if !fine {
                failures.push(format!(
                    "{} as {caller}: expected {expected:?}, got {} {}",
                    row.endpoint, reply.status, reply.body["code"]
                ));
            }
        }
    }
    assert_eq!(cells, 31 * 8);
    assert!(
        failures.is_empty(),
        "{} of {cells} cells differ from docs/security.md:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
