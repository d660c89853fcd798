//! A stand-in for the WhatsApp Business Cloud API (a service on the internet, the one part
//! tests may not reach): an HTTP server on 127.0.0.1 that checks each request against what
//! Meta documents for `POST /{version}/{phone-number-id}/messages` (bearer token, a template
//! message, the recipient in E.164 without `+`, text body parameters) and answers as the API
//! does: 200 with a `wamid`, or the scripted refusals (400 not a WhatsApp user, 404 no such
//! template, 429 with Retry-After, 500).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub const VERSION: &str = "v21.0";
pub const PHONE_NUMBER_ID: &str = "106540352242922";
pub const TOKEN: &str = "test-token-not-secret";

/// An answer the stub can be told to give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept,
    /// 429, code 130429, with `Retry-After` in seconds.
    RateLimited {
        retry_after: u64,
    },
    /// 500, code 131000.
    ServerError,
    /// 400, code 131026 (the number has no WhatsApp).
    NotAWhatsAppUser,
    /// 404, code 132001 (no such template).
    NoSuchTemplate,
}

/// A request the stub received, as the API reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub to: String,
    pub template: String,
    pub language: String,
    pub params: Vec<String>,
    pub status: u16,
}

#[derive(Default)]
struct Stub {
    script: HashMap<String, VecDeque<Answer>>,
    received: Vec<Received>,
    violations: Vec<String>,
    next_id: u64,
}

pub struct WhatsAppStub {
    pub base: String,
    stub: Arc<Mutex<Stub>>,
    server: tokio::task::JoinHandle<()>,
}

impl WhatsAppStub {
    pub async fn start() -> Self {
        let stub = Arc::new(Mutex::new(Stub::default()));
        let app = axum::Router::new()
            .route("/{version}/{phone_number_id}/messages", axum::routing::post(messages))
            .fallback(|| async { (StatusCode::NOT_FOUND, Json(error(803, "Unknown path"))) })
            .with_state(stub.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base, stub, server }
    }

    /// The environment that points a notifier at this stub.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("WHATSAPP_DELIVERY", "cloud-api".into()),
            ("WHATSAPP_API_BASE", self.base.clone()),
            ("WHATSAPP_API_VERSION", VERSION.into()),
            ("WHATSAPP_PHONE_NUMBER_ID", PHONE_NUMBER_ID.into()),
            ("WHATSAPP_TOKEN", TOKEN.into()),
        ]
    }

    /// Answers the next requests to `to` (digits, no `+`) in this order, then accepts.
    pub fn script(&self, to: &str, answers: &[Answer]) {
        self.stub.lock().expect("stub").script.entry(to.to_owned()).or_default().extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.stub.lock().expect("stub").received.clone()
    }

    pub fn accepted(&self) -> Vec<Received> {
        self.received().into_iter().filter(|r| r.status == 200).collect()
    }

    /// Requests that did not have the documented shape (the real API would refuse them).
    pub fn violations(&self) -> Vec<String> {
        self.stub.lock().expect("stub").violations.clone()
    }
}

impl Drop for WhatsAppStub {
    fn drop(&mut self) {
        self.server.abort();
    }
}

fn error(code: u64, message: &str) -> Value {
    json!({"error": {"message": format!("(#{code}) {message}"), "type": "OAuthException", "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": message}, "fbtrace_id": "AbCdEf"}})
}

async fn messages(
    State(stub): State<Arc<Mutex<Stub>>>,
    Path((version, phone_number_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut stub = stub.lock().expect("stub");
    let problems = shape_problems(&version, &phone_number_id, &headers, &body);
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let to = request["to"].as_str().unwrap_or_default().to_owned();
    let mut received = Received {
        to: to.clone(),
        template: request["template"]["name"].as_str().unwrap_or_default().to_owned(),
        language: request["template"]["language"]["code"].as_str().unwrap_or_default().to_owned(),
        params: request["template"]["components"][0]["parameters"]
            .as_array()
            .map(|ps| ps.iter().map(|p| p["text"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default(),
        status: 400,
    };
    if !problems.is_empty() {
        stub.violations.extend(problems.iter().cloned());
        stub.received.push(received);
        return (StatusCode::BAD_REQUEST, Json(error(100, &problems.join("; ")))).into_response();
    }
    let answer = stub.script.get_mut(&to).and_then(VecDeque::pop_front).unwrap_or(Answer::Accept);
    let response = match answer {
        Answer::Accept => {
            stub.next_id += 1;
            let id = format!("wamid.STUB{:08}", stub.next_id);
            (
                StatusCode::OK,
                Json(json!({"messaging_product": "whatsapp", "contacts": [{"input": to, "wa_id": to}],
                "messages": [{"id": id}]})),
            )
                .into_response()
        }
        Answer::RateLimited { retry_after } => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, Json(error(130429, "Rate limit hit"))).into_response();
            r.headers_mut().insert("retry-after", retry_after.to_string().parse().expect("header"));
            r
        }
        Answer::ServerError => {
            (StatusCode::INTERNAL_SERVER_ERROR, Json(error(131000, "Something went wrong"))).into_response()
        }
        Answer::NotAWhatsAppUser => {
            (StatusCode::BAD_REQUEST, Json(error(131026, "Message undeliverable"))).into_response()
        }
        Answer::NoSuchTemplate => {
            (StatusCode::NOT_FOUND, Json(error(132001, "Template name does not exist in the translation")))
                .into_response()
        }
    };
    received.status = response.status().as_u16();
    stub.received.push(received);
    response
}

/// What Meta's documentation requires of a template message that the request lacks.
fn shape_problems(version: &str, phone_number_id: &str, headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut problems = vec![];
    let mut require = |ok: bool, what: &str| {
        if !ok {
            problems.push(what.to_owned());
        }
    };
    require(version == VERSION, "API version");
    require(phone_number_id == PHONE_NUMBER_ID, "phone number id");
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
    require(auth == format!("Bearer {TOKEN}"), "bearer token");
    let json_body =
        headers.get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|c| c.starts_with("application/json"));
    require(json_body, "content-type application/json");
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        require(false, "a JSON body");
        return problems;
    };
    require(request["messaging_product"] == "whatsapp", "messaging_product whatsapp");
    let to = request["to"].as_str().unwrap_or("");
    require((8..=15).contains(&to.len()) && to.bytes().all(|b| b.is_ascii_digit()), "to: E.164 digits without +");
    require(request["type"] == "template", "type template");
    let template = &request["template"];
    require(template["name"].as_str().is_some_and(|n| !n.is_empty()), "template.name");
    require(template["language"]["code"].as_str().is_some_and(|c| !c.is_empty()), "template.language.code");
    let component = &template["components"][0];
    require(component["type"] == "body", "a body component");
    let parameters = component["parameters"].as_array().cloned().unwrap_or_default();
    require(!parameters.is_empty(), "body parameters");
    for p in &parameters {
        let text = p["text"].as_str().unwrap_or("");
        require(p["type"] == "text" && !text.is_empty(), "text parameters");
        require(
            !text.contains(['\n', '\t']) && !text.contains("     "),
            "no new lines, tabs or 5 spaces in parameters",
        );
    }
    problems
}
