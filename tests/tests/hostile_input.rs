//! Hostile input thrown at every write endpoint (and the query API's parameters): each
//! answer is a 4xx problem+json and the event log does not change.

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, Reply, TestDatabase, TestEventLog, projection_settings};
use serde_json::json;

const WRITES: [(&str, &str); 14] = [
    ("POST", "/v1/complaints"),
    ("POST", "/v1/complaints/{id}/assignment"),
    ("POST", "/v1/complaints/{id}/responses"),
    ("POST", "/v1/complaints/{id}/replies"),
    ("POST", "/v1/complaints/{id}/referral"),
    ("POST", "/v1/complaints/{id}/escalation"),
    ("POST", "/v1/complaints/{id}/vendor-updates"),
    ("POST", "/v1/complaints/{id}/notes"),
    ("POST", "/v1/complaints/{id}/closure"),
    ("POST", "/v1/complaints/{id}/reopening"),
    ("POST", "/v1/staff"),
    ("PATCH", "/v1/staff/{staff}"),
    ("POST", "/v1/staff/{staff}/deactivation"),
    ("PUT", "/v1/staff/{staff}/notification-preferences"),
];

/// A hostile request body: content type and bytes.
fn cases() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
    let oversized = format!("{{\"message\": \"{}\"}}", "x".repeat(70 * 1024));
    vec![
        ("oversized body", "application/json", oversized.into_bytes()),
        ("deeply nested JSON", "application/json", deep.into_bytes()),
        ("invalid UTF-8", "application/json", b"{\"message\": \"\xff\xfe\xfd\"}".to_vec()),
        ("text/plain", "text/plain", b"{\"message\": \"hi\"}".to_vec()),
        ("XML", "application/xml", b"<message>hi</message>".to_vec()),
        ("form", "application/x-www-form-urlencoded", b"message=hi".to_vec()),
        ("empty body", "application/json", vec![]),
        ("truncated JSON", "application/json", b"{\"message\": ".to_vec()),
        ("JSON array", "application/json", b"[1, 2, 3]".to_vec()),
        ("JSON null", "application/json", b"null".to_vec()),
        (
            "unknown field",
            "application/json",
            br#"{"message": "hi", "status": "in_progress", "is_admin": true}"#.to_vec(),
        ),
        (
            "header injection",
            "application/json",
            b"{\"message\": \"ok\\r\\nBcc: victim@example.com\", \"reason\": \"ok\\r\\nBcc: victim@example.com\"}"
                .to_vec(),
        ),
        ("number out of range", "application/json", br#"{"rating": 1e400}"#.to_vec()),
        ("NUL in text", "application/json", b"{\"message\": \"a\\u0000b\", \"reason\": \"a\\u0000b\"}".to_vec()),
    ]
}

#[tokio::test]
async fn hostile_bodies_get_4xx_problems_and_change_nothing() {
    let log = TestEventLog::new();
    let app = CommandApp::spawn(&log.config).await;
    app.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let filed = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Sasaran ujian")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    app.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    let before = log.message_count().await;

    let mut tried = 0;
    let mut failures = vec![];
    for (method, template) in WRITES {
        let path = template.replace("{id}", &id).replace("{staff}", PIC.id);
        for (case, content_type, body) in cases() {
            tried += 1;
            let who = if path.contains("/replies") || path.contains("/reopening") || path == "/v1/complaints" {
                &COMPLAINANT
            } else if path.contains("/staff") || path.contains("/assignment") {
                &ADMIN
            } else {
                &PIC
            };
            let method = match method {
                "PATCH" => reqwest::Method::PATCH,
                "PUT" => reqwest::Method::PUT,
                _ => reqwest::Method::POST,
            };
            let request =
                who.headers(app.http.request(method, app.url(&path))).header("content-type", content_type).body(body);
            let reply = Reply::from(request.send().await.unwrap()).await;
            let problem = reply.content_type() == "application/problem+json" && reply.body["code"].is_string();
            if !(400..500).contains(&reply.status) || !problem {
                failures.push(format!("{template} with {case}: {} {}", reply.status, reply.body));
            }
        }
    }
    // Ids that are not ids.
    for path in [
        "/v1/complaints/..%2F..%2Fetc%2Fpasswd/notes",
        "/v1/complaints/%00/notes",
        "/v1/complaints/1%20OR%201=1/notes",
        "/v1/staff/..%2Fadmin/deactivation",
        "/v1/staff/pic-aminah%0d%0aX-Injected:%201/deactivation",
    ] {
        tried += 1;
        let reply = app.post(path, &ADMIN, &json!({"message": "x", "reason": "xyz"})).await;
        if reply.status != 404 || reply.content_type() != "application/problem+json" {
            failures.push(format!("{path}: {} {}", reply.status, reply.body));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {tried} hostile requests were not 4xx problems:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(log.message_count().await, before, "no hostile request wrote an event");
    assert_eq!(tried, WRITES.len() * cases().len() + 5);
}

#[tokio::test]
async fn sql_and_script_text_is_stored_verbatim() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let app = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let title = "'); DROP TABLE complaints; -- <script>alert(1)</script>";
    let description = "Robert'); DELETE FROM timeline WHERE ('1'='1 \u{202e} {{7*7}} ${jndi:ldap://x}";
    let mut body = complaint("AC", title);
    body["description"] = json!(description);
    let filed = app.post("/v1/complaints", &COMPLAINANT, &body).await;
    let filed = filed.assert_ok(201).clone();
    let path =
        format!("/v1/complaints/{}?min_seq={}", filed["complaint_id"].as_str().unwrap(), filed["stream_sequence"]);
    let detail = projection.get(&path, &COMPLAINANT).await;
    let detail = detail.assert_ok(200);
    assert_eq!(detail["title"], title);
    assert_eq!(detail["complaint"]["description"], description);
    let found = projection.get("/v1/complaints?q=DROP%20TABLE", &ADMIN).await;
    assert_eq!(found.assert_ok(200)["items"][0]["title"], title);
    let sqlish = projection.get("/v1/complaints?q=%27%3B%20DROP%20TABLE%20complaints%3B--&status=new", &ADMIN).await;
    sqlish.assert_ok(200);
    let still_there = projection.get(&path, &ADMIN).await;
    still_there.assert_ok(200);
}

#[tokio::test]
async fn hostile_query_parameters_are_400s() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let _command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    for path in [
        "/v1/complaints?limit=1000000000000",
        "/v1/complaints?limit=-1",
        "/v1/complaints?limit=0",
        "/v1/complaints?min_seq=-5",
        "/v1/complaints?min_seq=abc",
        "/v1/complaints?cursor=1_not-a-uuid",
        "/v1/complaints?status=new%27%20OR%201%3D1",
        "/v1/complaints?from=2026-13-45",
        &format!("/v1/complaints?q={}", "x".repeat(201)),
        "/v1/outbox?limit=99999",
        "/v1/reports/aging?today=tomorrow",
        "/v1/triage?limit=abc",
    ] {
        let reply = projection.get(path, &ADMIN).await;
        assert_eq!(reply.status, 400, "{path}: {reply:?}");
        assert_eq!(reply.content_type(), "application/problem+json");
    }
}

#[tokio::test]
async fn writes_are_rate_limited_per_person() {
    let log = TestEventLog::new();
    let app = CommandApp::spawn_with(&log.config, |s| {
        s.rate_limit = ehelpdesk_command::rate_limit::RateLimit { per_second: 1, burst: 3 };
    })
    .await;
    let mut statuses = vec![];
    for i in 0..5 {
        let reply = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", &format!("Aduan banjir {i}"))).await;
        statuses.push(reply.status);
        if reply.status == 429 {
            reply.assert_problem(429, "rate_limited");
            assert!(reply.headers["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        }
    }
    assert_eq!(&statuses[..3], &[201, 201, 201]);
    assert_eq!(statuses[3], 429);
    // Another person is not held back by the first one's flood.
    let other = app.post("/v1/complaints", &OTHER_COMPLAINANT, &complaint("AC", "Aduan lain")).await;
    other.assert_ok(201);
    assert_eq!(log.event_count().await, 4, "refused writes wrote nothing");
}

#[tokio::test]
async fn tokens_are_checked_on_every_service() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let now = chrono::Utc::now().timestamp();
    let config = auth_config();
    let mint = |edit: &dyn Fn(&mut ehelpdesk_shared::auth::Claims)| {
        let mut claims = ehelpdesk_shared::auth::claims_for(
            &config,
            ADMIN.id,
            ADMIN.name,
            &[ehelpdesk_shared::actor::Role::Admin],
            std::time::Duration::from_secs(600),
        );
        edit(&mut claims);
        ehelpdesk_shared::auth::mint_hs256(&jwt_secret(), &claims).unwrap()
    };
    let expired = mint(&|c| c.exp = now - 3600);
    let wrong_audience = mint(&|c| c.aud = "other".into());
    let forged = ehelpdesk_shared::auth::mint_hs256(
        "some-other-secret-00000000000000000",
        &ehelpdesk_shared::auth::claims_for(
            &config,
            ADMIN.id,
            ADMIN.name,
            &[ehelpdesk_shared::actor::Role::Admin],
            std::time::Duration::from_secs(600),
        ),
    )
    .unwrap();
    let two_roles = mint(&|c| c.roles = vec![ehelpdesk_shared::actor::Role::Admin, ehelpdesk_shared::actor::Role::Pic]);
    for token in [&expired, &wrong_audience, &forged] {
        let reply =
            Reply::from(command.http.get(command.url("/v1/staff/pic-aminah")).bearer_auth(token).send().await.unwrap())
                .await;
        reply.assert_problem(401, "invalid_token");
        let reply =
            Reply::from(projection.http.get(projection.url("/v1/triage")).bearer_auth(token).send().await.unwrap())
                .await;
        reply.assert_problem(401, "invalid_token");
    }
    let reply =
        Reply::from(projection.http.get(projection.url("/v1/triage")).bearer_auth(&two_roles).send().await.unwrap())
            .await;
    reply.assert_problem(400, "acting_role_required");
    let acting = |role: &str| {
        projection
            .http
            .get(projection.url("/v1/triage"))
            .bearer_auth(&two_roles)
            .header("X-Acting-Role", role.to_owned())
            .send()
    };
    Reply::from(acting("admin").await.unwrap()).await.assert_ok(200);
    // The token grants "pic", but the staff directory does not know this admin as a PIC.
    Reply::from(acting("pic").await.unwrap()).await.assert_problem(403, "staff_not_registered");
    Reply::from(acting("auditor").await.unwrap()).await.assert_problem(403, "role_not_granted");
}

/// Values that parse but that PostgreSQL cannot hold (NUL, years it has no room for, forged
/// cursors) are the client's mistake: 400 problems with a code, never 500s that page someone.
#[tokio::test]
async fn values_the_database_cannot_hold_are_400s_not_500s() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let _command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let id = uuid::Uuid::now_v7();
    let mut failures = vec![];
    for (path, code) in [
        ("/v1/complaints?q=%00".to_owned(), "control_characters"),
        ("/v1/complaints?q=bayaran%01gagal".to_owned(), "control_characters"),
        ("/v1/complaints?category=%00".to_owned(), "control_characters"),
        ("/v1/complaints?ptj=JKR%1b%5B31m".to_owned(), "control_characters"),
        ("/v1/complaints?pic_id=pic-aminah%7f".to_owned(), "control_characters"),
        ("/v1/complaints?from=-200000-01-01T00:00:00Z".to_owned(), "invalid_date"),
        ("/v1/complaints?to=-200000-01-01T00:00:00Z".to_owned(), "invalid_date"),
        ("/v1/complaints?from=1999-12-31T23:59:59Z".to_owned(), "invalid_date"),
        (format!("/v1/complaints?cursor=-999999999999999999_{id}"), "invalid_cursor"),
        (format!("/v1/complaints?cursor=999999999999999999_{id}"), "invalid_cursor"),
        ("/v1/reports/aging?today=-200000-01-01".to_owned(), "invalid_date"),
        ("/v1/reports/aging?today=-0001-01-01".to_owned(), "invalid_date"),
        ("/v1/reports/resolution?today=-200000-01-01".to_owned(), "invalid_date"),
        ("/v1/audit/export/timeline.csv?from=-200000-01-01T00:00:00Z".to_owned(), "invalid_date"),
        ("/v1/audit/export/events.jsonl?to=-200000-01-01T00:00:00Z".to_owned(), "invalid_date"),
        // No check at the edge here: the database's own refusal is answered as a 400 too.
        ("/v1/inbox?pic_id=%00".to_owned(), "invalid_parameter"),
        ("/v1/inbox/badge?pic_id=a%00b".to_owned(), "invalid_parameter"),
    ] {
        let reply = projection.get(&path, &ADMIN).await;
        let problem = reply.content_type() == "application/problem+json" && reply.body["status"] == 400;
        if reply.status != 400 || !problem || reply.body["code"] != code {
            failures.push(format!("{path}: {} {}", reply.status, reply.body));
        }
    }
    assert!(failures.is_empty(), "not 400 problems with the expected code:\n{}", failures.join("\n"));
}

#[tokio::test]
async fn request_ids_are_capped_and_every_answer_says_nosniff() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    for app in [&*command, &*projection] {
        let with_id = |id: String| async move {
            let response = app.http.get(app.url("/healthz")).header("x-request-id", id).send().await.unwrap();
            response.headers()["x-request-id"].to_str().unwrap().to_owned()
        };
        assert_eq!(with_id("req-from-client-1".into()).await, "req-from-client-1", "a fit id is kept");
        for unfit in ["a".repeat(300 * 1024), "b".repeat(129), "with space".into(), "tab\tinside".into()] {
            let echoed = with_id(unfit.clone()).await;
            assert_eq!(echoed.len(), 36, "{} bytes sent, a generated UUID answered: {echoed:.60}", unfit.len());
        }
        let anonymous = app.http.get(app.url("/v1/complaints")).send().await.unwrap();
        for response in [
            app.http.get(app.url("/healthz")).send().await.unwrap(),
            app.http.get(app.url("/openapi.json")).send().await.unwrap(),
            app.http.get(app.url("/no/such/page")).send().await.unwrap(),
            anonymous,
        ] {
            let nosniff = response.headers().get("x-content-type-options");
            assert_eq!(nosniff.map(|v| v.to_str().unwrap()), Some("nosniff"), "{} {}", app.addr, response.url());
        }
    }
}
