//! Who sees what, field by field, on both services: the command service's fold and the
//! projection's detail answer each caller with the same view of a complaint, built in one
//! place (`shared::visibility`), as docs/security.md says.

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};

const MASKED: &str = "******-**-5678";

#[tokio::test]
async fn each_role_sees_the_same_fields_on_both_services() {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    command.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &IMPLEMENTOR.registration(&["implementor"], &[])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &AUDITOR.registration(&["auditor"], &[])).await.assert_ok(201);
    command.post("/v1/staff", &ADMIN, &OTHER_PIC.registration(&["pic"], &["GL"])).await.assert_ok(201);
    let other_implementor = OTHER_IMPLEMENTOR.registration(&["implementor"], &[]);
    command.post("/v1/staff", &ADMIN, &other_implementor).await.assert_ok(201);
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;

    let filed = command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Slip gaji tiada")).await;
    let id = filed.assert_ok(201)["complaint_id"].as_str().unwrap().to_owned();
    let p = |step: &str| format!("/v1/complaints/{id}/{step}");
    command.post(&p("assignment"), &ADMIN, &json!({"pic_id": PIC.id, "note": "Kes gaji"})).await.assert_ok(200);
    let refer = json!({"implementor_id": IMPLEMENTOR.id, "message": "Sila semak modul gaji"});
    command.post(&p("referral"), &PIC, &refer).await.assert_ok(200);
    let last = command.post(&p("notes"), &IMPLEMENTOR, &json!({"message": "Pepijat dalam kerja malam"})).await;
    let last = last.assert_ok(200)["stream_sequence"].as_u64().unwrap();

    for who in [&COMPLAINANT, &PIC, &IMPLEMENTOR, &ADMIN, &AUDITOR] {
        let folded = command.get(&format!("/v1/complaints/{id}"), who).await;
        let folded = folded.assert_ok(200).clone();
        let detail = projection.get(&format!("/v1/complaints/{id}?min_seq={last}"), who).await;
        let detail = detail.assert_ok(200).clone();
        assert_eq!(folded["complaint"], detail["complaint"], "{}: one view on both services", who.id);

        let view = &detail["complaint"];
        let owner = who.id == COMPLAINANT.id;
        let ic = if who.role == "implementor" { MASKED } else { COMPLAINANT.ic_number.replace('-', "").leak() };
        assert_eq!(view["complainant"]["ic_number"], ic, "{}", who.id);
        assert_eq!(view["implementor"].is_null(), owner, "{}: the referral is staff business", who.id);
        let (status, label) =
            if owner { ("in_progress", "DALAM TINDAKAN") } else { ("with_implementor", "RUJUK IMPLEMENTOR") };
        assert_eq!(view["status"], status, "{}", who.id);
        assert_eq!(folded["status_label_ms"], label, "{}", who.id);
        assert_eq!(detail["status"], status, "{}: the summary row too", who.id);
        assert_eq!(detail["status_label_ms"], label, "{}", who.id);

        let timeline = detail["timeline"].as_array().unwrap();
        let types: Vec<&str> = timeline.iter().map(|t| t["event_type"].as_str().unwrap()).collect();
        if owner {
            assert_eq!(types, ["ComplaintLogged", "ComplaintAssigned"], "no referral or note");
            assert_eq!(timeline[1]["details"].get("note"), None, "the admin's note stays with staff");
        } else {
            assert_eq!(types.len(), 4, "{}: {types:?}", who.id);
            assert_eq!(timeline[1]["details"]["note"], "Kes gaji");
        }
        let statuses: Vec<&str> = timeline.iter().map(|t| t["status"].as_str().unwrap()).collect();
        if owner {
            assert!(!statuses.contains(&"with_implementor"), "{statuses:?}");
        } else {
            assert_eq!(statuses[2..], ["with_implementor", "with_implementor"], "{}", who.id);
        }
    }

    // Lists: the complainant finds it as "in progress", and not by the status they never see.
    let search = |query: &'static str| {
        let path = format!("/v1/complaints?{query}");
        let projection = &projection;
        async move { projection.get(&path, &COMPLAINANT).await }
    };
    let mine = search("").await;
    assert_eq!(mine.assert_ok(200)["items"][0]["status"], "in_progress");
    let by_shown = search("status=in_progress").await;
    assert_eq!(by_shown.assert_ok(200)["items"].as_array().unwrap().len(), 1);
    let by_hidden = search("status=with_implementor").await;
    assert_eq!(by_hidden.assert_ok(200)["items"], json!([]));
    let staff = projection.get("/v1/complaints?status=with_implementor", &ADMIN).await;
    assert_eq!(staff.assert_ok(200)["items"][0]["complainant"]["ic_number"], MASKED, "lists mask for everyone");

    // Nobody else learns anything, on either service.
    for who in [&OTHER_COMPLAINANT, &OTHER_PIC, &OTHER_IMPLEMENTOR] {
        command.get(&format!("/v1/complaints/{id}"), who).await.assert_problem(404, "complaint_not_found");
        let hidden = projection.get(&format!("/v1/complaints/{id}"), who).await;
        hidden.assert_problem(404, "complaint_not_found");
        let found: Value = projection.get("/v1/complaints", who).await.assert_ok(200).clone();
        assert_eq!(found["items"], json!([]), "{}", who.id);
    }
}
