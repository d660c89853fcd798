//! The token proves who is calling; the staff directory says what they may do; and a
//! complainant's complaint carries the complainant's own details, never a body's claims.

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{claims_for, mint_hs256};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, InProcess, ProjectionApp, Reply, TestDatabase, TestEventLog, projection_settings};
use serde_json::json;

const SECOND_ADMIN: Person = Person {
    id: "admin-kamal",
    role: "admin",
    name: "Kamal bin Hassan",
    ic_number: "810909-03-5301",
    email: "kamal.admin@helpdesk.example.gov.my",
    phone: "013-900 6006",
    ptj: "Perbendaharaan Negeri",
};

struct Stack {
    command: CommandApp,
    projection: ProjectionApp,
    log: TestEventLog,
    _db: TestDatabase,
}

async fn stack() -> Stack {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&SECOND_ADMIN, &["admin"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    Stack { command, projection, log, _db: db }
}

async fn token_request(service: &InProcess, path: &str, token: &str) -> Reply {
    Reply::from(service.http.get(service.url(path)).bearer_auth(token).send().await.unwrap()).await
}

#[tokio::test]
async fn staff_act_only_as_the_directory_says() {
    let s = stack().await;
    let filed = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan untuk direktori")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    s.command.post(&format!("/v1/complaints/{id}/assignment"), &ADMIN, &json!({"pic_id": PIC.id})).await.assert_ok(200);
    s.projection.get("/v1/inbox", &PIC).await.assert_ok(200);

    // A deactivated PIC reads no inbox and answers nothing, on either service.
    let deactivation = format!("/v1/staff/{}/deactivation", PIC.id);
    s.command.post(&deactivation, &ADMIN, &json!({"reason": "Bertukar jabatan"})).await.assert_ok(200);
    s.projection.caught_up(&s.log).await;
    s.projection.get("/v1/inbox", &PIC).await.assert_problem(403, "staff_inactive");
    let answer = json!({"message": "Masih di sini", "status": "in_progress"});
    let responded = s.command.post(&format!("/v1/complaints/{id}/responses"), &PIC, &answer).await;
    responded.assert_problem(403, "staff_inactive");

    // A token's role claim is not enough: an implementor whose token says admin.
    let forged_admin = IMPLEMENTOR.as_role("admin");
    let registered = s.command.post("/v1/staff", &forged_admin, &OTHER_PIC.registration(&["pic"], &["GL"])).await;
    registered.assert_problem(403, "role_not_in_directory");
    s.projection.get("/v1/triage", &forged_admin).await.assert_problem(403, "role_not_in_directory");

    // Any `sub` with an admin role: nobody the directory knows.
    let stranger = mint_hs256(
        &jwt_secret(),
        &claims_for(&auth_config(), "siapa-saja", "Siapa Saja", &[Role::Admin], Duration::from_secs(600)),
    )
    .unwrap();
    let refused = Reply::from(
        s.command
            .http
            .post(s.command.url("/v1/staff"))
            .bearer_auth(&stranger)
            .json(&OTHER_PIC.registration(&["pic"], &["GL"]))
            .send()
            .await
            .unwrap(),
    )
    .await;
    refused.assert_problem(403, "staff_not_registered");
    token_request(&s.projection, "/v1/triage", &stranger).await.assert_problem(403, "staff_not_registered");

    // A deactivated admin registers nobody, and a bootstrap admin once registered is ruled
    // by the directory like anyone else.
    s.command
        .post(&format!("/v1/staff/{}/deactivation", SECOND_ADMIN.id), &ADMIN, &json!({"reason": "Bersara"}))
        .await
        .assert_ok(200);
    let by_retired = s.command.post("/v1/staff", &SECOND_ADMIN, &OTHER_PIC.registration(&["pic"], &["GL"])).await;
    by_retired.assert_problem(403, "staff_inactive");
    s.command.post("/v1/staff", &ADMIN, &ADMIN.registration(&["admin"], &[])).await.assert_ok(201);
    s.command.post("/v1/staff", &ADMIN, &OTHER_PIC.registration(&["pic"], &["GL"])).await.assert_ok(201);
    let deactivate_self = format!("/v1/staff/{}/deactivation", ADMIN.id);
    s.command.post(&deactivate_self, &ADMIN, &json!({"reason": "Ujian"})).await.assert_ok(200);
    let after = s.command.post("/v1/staff", &ADMIN, &OTHER_IMPLEMENTOR.registration(&["implementor"], &[])).await;
    after.assert_problem(403, "staff_inactive");
}

#[tokio::test]
async fn a_complaint_carries_its_complainant_s_own_details() {
    let s = stack().await;
    let before = s.log.message_count().await;
    // The phishing attempt: someone else's contacts and a lure for a title.
    let mut lure = complaint_for(&OTHER_COMPLAINANT, "AC", "Akaun anda disekat, sahkan di http://contoh.invalid");
    lure["complainant"]["id"] = json!(COMPLAINANT.id);
    let refused = s.command.post("/v1/complaints", &COMPLAINANT, &lure).await;
    refused.assert_problem(422, "complainant_from_profile");
    let refused =
        s.command.post("/v1/complaints", &OTHER_COMPLAINANT, &complaint_for(&COMPLAINANT, "AC", "Lain")).await;
    refused.assert_problem(403, "cannot_log_for_others");
    let two_lines = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Tajuk\r\nBcc: semua")).await;
    two_lines.assert_problem(422, "line_breaks");
    assert_eq!(s.log.message_count().await, before, "nothing written");

    // Filed under the token's profile.
    let filed = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Aduan dengan profil")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let view = s.command.get(&format!("/v1/complaints/{id}"), &COMPLAINANT).await;
    let who = view.assert_ok(200)["complaint"]["complainant"].clone();
    assert_eq!(who["email"], COMPLAINANT.email);
    assert_eq!(who["phone"], "+60123456789");
    assert_eq!(who["name"], COMPLAINANT.name);

    // No profile in the token: a member of staff files under the directory's details,
    // anyone else is asked to complete their portal profile.
    let bare = |id: &str| {
        let claims = claims_for(&auth_config(), id, "Tanpa Profil", &[Role::Complainant], Duration::from_secs(600));
        mint_hs256(&jwt_secret(), &claims).unwrap()
    };
    let post = |token: String| {
        let request = s.command.http.post(s.command.url("/v1/complaints")).bearer_auth(token);
        async move { Reply::from(request.json(&complaint("AC", "Aduan tanpa profil")).send().await.unwrap()).await }
    };
    post(bare("pengadu-baru")).await.assert_problem(422, "profile_incomplete");
    let by_staff = post(bare(PIC.id)).await;
    let staff_id = by_staff.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let staff_view = s.command.get(&format!("/v1/complaints/{staff_id}"), &ADMIN).await;
    assert_eq!(staff_view.assert_ok(200)["complaint"]["complainant"]["email"], PIC.email);

    // An admin logs on someone's behalf, and the acknowledgement says who did.
    let logged =
        s.command.post("/v1/complaints", &ADMIN, &complaint_for(&OTHER_COMPLAINANT, "AC", "Melalui telefon")).await;
    let seq = logged.assert_ok(201)["stream_sequence"].as_u64().unwrap();
    let outbox = s.projection.get(&format!("/v1/outbox?min_seq={seq}"), &ADMIN).await;
    let acknowledgement = outbox.assert_ok(200).as_array().unwrap().iter().find(|n| n["sequence"] == seq).cloned();
    let body = acknowledgement.expect("an acknowledgement")["body"].as_str().unwrap().to_owned();
    assert!(body.contains(&format!("dilog bagi pihak anda oleh {}", ADMIN.name)), "{body}");
}

#[tokio::test]
async fn tokens_with_unsafe_names_or_endless_lives_are_refused() {
    let s = stack().await;
    let minted = |edit: &dyn Fn(&mut ehelpdesk_shared::auth::Claims)| {
        let mut claims =
            claims_for(&auth_config(), COMPLAINANT.id, "Ali", &[Role::Complainant], Duration::from_secs(600));
        claims.profile = COMPLAINANT.profile();
        edit(&mut claims);
        mint_hs256(&jwt_secret(), &claims).unwrap()
    };
    for token in [
        minted(&|c| c.name = Some("Ali\r\nX-Injected: 1".into())),
        minted(&|c| c.name = Some("A".repeat(380_000))),
        minted(&|c| c.exp = 253_402_300_799),
    ] {
        let somebody_s = format!("/v1/complaints/{}", uuid::Uuid::now_v7());
        token_request(&s.command, &somebody_s, &token).await.assert_problem(401, "invalid_token");
        token_request(&s.projection, "/v1/complaints", &token).await.assert_problem(401, "invalid_token");
    }
}

/// Both services judge staff by the log itself: a query instance whose read models lag (here:
/// one that never applies) still admits a PIC registered a moment ago, and refuses one
/// deactivated a moment ago.
#[tokio::test]
async fn the_query_side_judges_staff_by_the_log_not_by_its_lagging_read_model() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let mut settings = projection_settings(&log.config, &db);
    settings.projector = false;
    let lagging = ProjectionApp::spawn(settings).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    let inbox = lagging.get("/v1/inbox", &PIC).await;
    assert_eq!(inbox.assert_ok(200)["badge"], 0, "admitted; the read model itself knows nothing yet");
    let deactivation = format!("/v1/staff/{}/deactivation", PIC.id);
    command.post(&deactivation, &ADMIN, &json!({"reason": "Bertukar"})).await.assert_ok(200);
    lagging.get("/v1/inbox", &PIC).await.assert_problem(403, "staff_inactive");
}
