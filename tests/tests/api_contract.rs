//! The OpenAPI contract of both services, as they serve it at `/openapi.json`.
//!
//! `documents_are_sound` checks the documents' shape without any outside tool, so a
//! regression fails `cargo test` alone. `schemathesis_finds_no_failure` runs
//! openapi-spec-validator and Schemathesis (all checks) against both running services as
//! admin, PIC and complainant; it runs when `EHELPDESK_CONTRACT_VENV` names the virtual
//! environment that holds them (scripts/api-contract.sh sets it up), and says it skipped
//! otherwise.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};
use serde_json::{Value, json};

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

struct Stack {
    command: CommandApp,
    projection: ProjectionApp,
    _db: TestDatabase,
    log: TestEventLog,
}

/// Both services on one fresh stream and database, with the fixtures' staff registered.
async fn stack() -> Stack {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    // Schemathesis writes far faster than a person: the rate limit is not under test here.
    let command = CommandApp::spawn_with(&log.config, |s| {
        s.rate_limit.per_second = 10_000;
        s.rate_limit.burst = 10_000;
    })
    .await;
    for (person, roles, categories) in [
        (&PIC, &["pic"][..], &["AC", "PAYROLL"][..]),
        (&IMPLEMENTOR, &["implementor"][..], &[][..]),
        (&AUDITOR, &["auditor"][..], &[][..]),
    ] {
        command.post("/v1/staff", &ADMIN, &person.registration(roles, categories)).await.assert_ok(201);
    }
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    projection.caught_up(&log).await;
    Stack { command, projection, _db: db, log }
}

async fn documents(s: &Stack) -> [(&'static str, Value); 2] {
    let command = s.command.get("/openapi.json", &ADMIN).await.assert_ok(200).clone();
    let projection = s.projection.get("/openapi.json", &ADMIN).await.assert_ok(200).clone();
    [("command", command), ("projection", projection)]
}

/// Every `$ref` in `value`, wherever it is.
fn refs(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| refs(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn check_document(service: &str, doc: &Value) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut found = Vec::new();
    refs(doc, &mut found);
    for reference in found {
        if resolve(doc, &reference).is_none() {
            wrong.push(format!("{service}: $ref {reference} does not resolve"));
        }
    }
    let schemes = &doc["components"]["securitySchemes"];
    if schemes["bearer"]["type"] != "http" || schemes["bearer"]["scheme"] != "bearer" {
        wrong.push(format!("{service}: no http bearer security scheme"));
    }
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        let in_template: BTreeSet<&str> =
            path.split('{').skip(1).filter_map(|rest| rest.split_once('}').map(|(name, _)| name)).collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{service}: {} {path}", method.to_uppercase());
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut declared = BTreeSet::new();
            for p in &params {
                let name = p["name"].as_str().unwrap_or_default();
                match p["in"].as_str() {
                    Some("path") if !in_template.contains(name) => {
                        wrong.push(format!("{at}: `{name}` is in: path but not in the path template"))
                    }
                    Some("path") => {
                        declared.insert(name.to_owned());
                    }
                    Some("header") if name.starts_with("X-Actor-") && p["required"] == true => {
                        wrong.push(format!("{at}: development header {name} is required"))
                    }
                    _ => {}
                }
            }
            for name in &in_template {
                if !declared.contains(*name) {
                    wrong.push(format!("{at}: path parameter `{name}` is not declared"));
                }
            }
            if let Some(body) = op.get("requestBody") {
                let content = &body["content"]["application/json"];
                if content.get("example").is_none()
                    && content.get("examples").is_none()
                    && !schema_has_example(doc, &content["schema"])
                {
                    wrong.push(format!("{at}: the request body has no example"));
                }
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            let public = op["security"].as_array().is_some_and(Vec::is_empty);
            if !public {
                if op["security"][0].get("bearer").is_none() {
                    wrong.push(format!("{at}: does not require the bearer token"));
                }
                for status in ["400", "401", "403", "503"] {
                    if !responses.contains_key(status) {
                        wrong.push(format!("{at}: {status} is not documented"));
                    }
                }
            }
            for (status, response) in &responses {
                let is_error = status.starts_with('4') || status.starts_with('5');
                // /readyz answers 503 with its own readiness body, not a problem.
                if is_error && !(path == "/readyz" && status == "503") {
                    let problem = &response["content"]["application/problem+json"]["schema"]["$ref"];
                    if problem != "#/components/schemas/Problem" {
                        wrong.push(format!("{at}: {status} is not application/problem+json with the Problem schema"));
                    }
                }
            }
        }
    }
    wrong
}

/// A schema (followed through its `$ref`) with an example of the whole body, for
/// Schemathesis's examples phase and for people.
fn schema_has_example(doc: &Value, schema: &Value) -> bool {
    let schema = match schema["$ref"].as_str() {
        Some(reference) => resolve(doc, reference).unwrap_or(&Value::Null),
        None => schema,
    };
    schema.get("example").is_some() || schema.get("examples").is_some()
}

#[tokio::test]
async fn documents_are_sound() {
    let s = stack().await;
    let mut wrong = Vec::new();
    for (service, doc) in documents(&s).await {
        wrong.extend(check_document(service, &doc));
    }
    assert!(wrong.is_empty(), "the OpenAPI documents are wrong:\n{}", wrong.join("\n"));
}

/// Complaints each role can act on, so that generated requests reach success paths: one the
/// complainant logged, one an admin logged and assigned to the PIC, one referred onwards.
async fn seed(s: &Stack) -> Value {
    let own = s.command.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Baucar tidak dapat dicetak")).await;
    let own = own.assert_ok(201)["complaint_id"].as_str().unwrap_or_default().to_owned();
    let assigned =
        s.command.post("/v1/complaints", &ADMIN, &complaint_for(&COMPLAINANT, "AC", "Amaun baucar salah")).await;
    let assigned = assigned.assert_ok(201)["complaint_id"].as_str().unwrap_or_default().to_owned();
    s.command
        .post(&format!("/v1/complaints/{assigned}/assignment"), &ADMIN, &json!({"pic_id": PIC.id}))
        .await
        .assert_ok(200);
    s.projection.caught_up(&s.log).await;
    json!({"own": own, "assigned": assigned})
}

fn venv() -> Option<PathBuf> {
    std::env::var_os("EHELPDESK_CONTRACT_VENV").map(PathBuf::from).filter(|p| p.join("bin/schemathesis").exists())
}

// The tools run as child processes while this runtime serves both services: several threads,
// and the waits off the runtime's threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_failure() {
    let Some(venv) = venv() else {
        eprintln!("skipped: EHELPDESK_CONTRACT_VENV is unset (scripts/api-contract.sh runs this test)");
        return;
    };
    let s = stack().await;
    let seeded = seed(&s).await;
    let dir = tempfile_dir();
    let examples = std::env::var("SCHEMATHESIS_MAX_EXAMPLES").unwrap_or_else(|_| "10".into());
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemathesis.toml");
    let mut failed = Vec::new();
    for (service, doc) in documents(&s).await {
        let url = match service {
            "command" => s.command.url(""),
            _ => s.projection.url(""),
        };
        let file = dir.join(format!("{service}.json"));
        std::fs::write(&file, serde_json::to_vec_pretty(&with_seeded_ids(doc, &seeded)).unwrap()).unwrap();
        let mut validator = Command::new(venv.join("bin/openapi-spec-validator"));
        validator.arg(&file);
        if !run_tool(validator).await {
            failed.push(format!("{service}: openapi-spec-validator"));
        }
        let app = if service == "command" { &*s.command } else { &*s.projection };
        for person in [&ADMIN, &PIC, &COMPLAINANT] {
            let started = std::time::Instant::now();
            let before = answers(app).await;
            let mut run = Command::new(venv.join("bin/schemathesis"));
            run.args(["--config-file"])
                .arg(&config)
                .args(["run", "--checks", "all", "--max-examples", &examples, "--seed", "14", "--workers", "1"])
                .args(["--header", &format!("Authorization: Bearer {}", person.token())])
                .args(["--url", url.trim_end_matches('/')])
                .arg(&file);
            let passed = run_tool(run).await;
            let after = answers(app).await;
            let (total, success) = (after.0 - before.0, after.1 - before.1);
            eprintln!(
                "schemathesis {service} as {}: passed={passed} in {:.0?}; the service answered {total} requests, \
                 {success} of them 2xx",
                person.role,
                started.elapsed()
            );
            if !passed {
                failed.push(format!("{service} as {}", person.role));
            }
        }
    }
    assert!(failed.is_empty(), "contract failures: {failed:?}");
}

/// The document with the seeded complaints' ids as the examples of `{id}`, so that the
/// examples phase reaches complaints that exist and the caller may see.
fn with_seeded_ids(mut doc: Value, seeded: &Value) -> Value {
    let Some(paths) = doc["paths"].as_object_mut() else { return doc };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else { continue };
        for op in item.values_mut() {
            let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else { continue };
            for p in params.iter_mut().filter(|p| p["in"] == "path" && p["name"] == "id") {
                if path.starts_with("/v1/complaints/") || path.starts_with("/v1/audit/complaints/") {
                    p["example"] = seeded["assigned"].clone();
                }
            }
        }
    }
    doc
}

/// Requests the service has answered, and how many with 2xx, from its own metrics: how far
/// the generated requests got past the refusals.
async fn answers(app: &ehelpdesk_tests::InProcess) -> (u64, u64) {
    let Ok(response) = reqwest::get(app.admin_url("/metrics")).await else { return (0, 0) };
    let text = response.text().await.unwrap_or_default();
    let mut counts = (0, 0);
    for line in text.lines().filter(|l| l.starts_with("http_requests_total{")) {
        let value: u64 = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0) as u64;
        counts.0 += value;
        if line.contains("status=\"2") {
            counts.1 += value;
        }
    }
    counts
}

/// Runs a tool to its end without holding a runtime thread.
async fn run_tool(mut command: Command) -> bool {
    tokio::task::spawn_blocking(move || command.status().is_ok_and(|s| s.success())).await.unwrap_or(false)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ehelpdesk-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
