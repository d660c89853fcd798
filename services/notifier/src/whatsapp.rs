//! WhatsApp: template messages through the WhatsApp Business Cloud API, as Meta documents it
//! (`POST {base}/{version}/{phone-number-id}/messages`, a bearer token, a `template` message
//! with a language code and body parameters, the recipient in E.164 without `+`), or, in
//! development, the same request written to a file.

use std::path::PathBuf;
use std::time::Duration;

use ehelpdesk_shared::notification::{NotificationMessage, Template};
use reqwest::StatusCode;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::configuration::{CloudApi, WhatsAppDelivery};
use crate::email::write_atomically;
use crate::retry::{FailureKind, SendFailure};

#[derive(Clone)]
pub enum WhatsApp {
    CloudApi { client: reqwest::Client, endpoint: String, token: String, language: String },
    Files { dir: PathBuf, language: String },
    Off,
}

impl WhatsApp {
    pub fn new(delivery: &WhatsAppDelivery, timeout: Duration) -> Result<Self, String> {
        match delivery {
            WhatsAppDelivery::CloudApi(api) => Ok(Self::CloudApi {
                client: reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(Duration::from_secs(5))
                    .build()
                    .map_err(|e| e.to_string())?,
                endpoint: endpoint(api),
                token: api.token.clone(),
                language: api.language.clone(),
            }),
            WhatsAppDelivery::Files { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| format!("WHATSAPP_DIR {}: {e}", dir.display()))?;
                Ok(Self::Files { dir: dir.clone(), language: "ms".into() })
            }
            WhatsAppDelivery::Off => Ok(Self::Off),
        }
    }

    /// Sends the message; Ok carries WhatsApp's message id (`wamid...`) or the file written.
    pub async fn send(&self, message: &NotificationMessage) -> Result<String, SendFailure> {
        match self {
            Self::CloudApi { client, endpoint, token, language } => {
                let body = request_body(message, language)?;
                let response = client.post(endpoint).bearer_auth(token).json(&body).send().await.map_err(|e| {
                    SendFailure::transient(format!("WhatsApp Cloud API unreachable: {}", without_url(&e)))
                })?;
                let status = response.status();
                let retry_after =
                    response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| retry_after(v.to_str().ok()?));
                let text = response.text().await.unwrap_or_default();
                judge_response(status, retry_after, &text)
            }
            Self::Files { dir, language } => {
                // What would be posted, with what a developer needs to tell messages apart.
                let written = json!({
                    "notification_id": message.id,
                    "complaint_id": message.complaint_id,
                    "recipient_id": message.recipient_id,
                    "request": request_body(message, language)?,
                });
                let path = dir.join(format!("{}.json", message.id));
                let bytes = serde_json::to_vec_pretty(&written).map_err(|e| SendFailure::permanent(e.to_string()))?;
                write_atomically(&path, &bytes).await?;
                Ok(path.display().to_string())
            }
            Self::Off => Err(SendFailure::permanent("WhatsApp dimatikan / WhatsApp is off (WHATSAPP_DELIVERY=off)")),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::CloudApi { endpoint, .. } => format!("Cloud API {endpoint}"),
            Self::Files { dir, .. } => format!("files in {}", dir.display()),
            Self::Off => "off".into(),
        }
    }
}

fn endpoint(api: &CloudApi) -> String {
    format!("{}/{}/{}/messages", api.base.as_str().trim_end_matches('/'), api.version, api.phone_number_id)
}

/// reqwest's errors name the URL, which holds nothing secret here, but keep messages short.
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "connection failed"
    } else {
        "request failed"
    };
    format!("{kind}: {}", std::error::Error::source(e).map(|s| s.to_string()).unwrap_or_else(|| e.to_string()))
}

/// The Cloud API's request body for a template message.
pub fn request_body(message: &NotificationMessage, language: &str) -> Result<Value, SendFailure> {
    let to = recipient(&message.address)?;
    let params: Vec<String> = match (message.template, message.params.is_empty()) {
        (Template::Notice, true) => vec![message.subject.clone()],
        _ => message.params.clone(),
    };
    if params.len() != message.template.parameter_count() {
        return Err(SendFailure::permanent(format!(
            "templat {} perlu {} parameter / template {} takes {} parameters, got {}",
            message.template.name(),
            message.template.parameter_count(),
            message.template.name(),
            message.template.parameter_count(),
            params.len()
        )));
    }
    let parameters: Vec<Value> = params.iter().map(|p| json!({"type": "text", "text": parameter_text(p)})).collect();
    Ok(json!({
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "template",
        "template": {
            "name": message.template.name(),
            "language": {"code": language},
            "components": [{"type": "body", "parameters": parameters}],
        },
    }))
}

/// E.164 without the `+`, as the Cloud API takes it.
fn recipient(address: &str) -> Result<String, SendFailure> {
    let digits = address.strip_prefix('+').unwrap_or(address);
    if (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0') {
        Ok(digits.to_owned())
    } else {
        Err(SendFailure::permanent(format!("nombor telefon tidak sah / not an E.164 phone number: `{address}`")))
    }
}

/// Template parameters may not hold new lines, tabs or more than four spaces in a row
/// (the API refuses them), and are cut at 1,024 characters.
fn parameter_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().map(|c| if c.is_control() { ' ' } else { c }) {
        if !(c == ' ' && out.ends_with(' ')) {
            out.push(c);
        }
    }
    out.trim().chars().take(1024).collect()
}

/// `Retry-After` in seconds (the API's form) or as an HTTP date.
fn retry_after(value: &str) -> Option<Duration> {
    if let Ok(seconds) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

#[derive(Deserialize)]
struct Accepted {
    messages: Vec<AcceptedMessage>,
}

#[derive(Deserialize)]
struct AcceptedMessage {
    id: String,
}

#[derive(Deserialize)]
struct Refusal {
    error: RefusalError,
}

#[derive(Deserialize)]
struct RefusalError {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_data: Option<Value>,
}

/// Error codes the Cloud API documents as passing: rate limits (4, 80007, 130429, 131048,
/// 131056), and its own trouble (1, 2, 131000, 131016, 133004). Every other refusal (not a
/// WhatsApp user 131026, template errors 132xxx, invalid parameter 100, an expired token
/// 190, ...) will be refused again.
const PASSING_CODES: [i64; 10] = [1, 2, 4, 80007, 130429, 131000, 131016, 131048, 131056, 133004];

pub fn judge_response(status: StatusCode, retry_after: Option<Duration>, body: &str) -> Result<String, SendFailure> {
    if status.is_success() {
        return match serde_json::from_str::<Accepted>(body) {
            Ok(accepted) => Ok(accepted.messages.into_iter().next().map(|m| m.id).unwrap_or_default()),
            // Accepted, but not in the documented shape: it was sent; keep what was said.
            Err(_) => Ok(body.chars().take(200).collect()),
        };
    }
    let refusal = serde_json::from_str::<Refusal>(body).ok().map(|r| r.error);
    let reason = match &refusal {
        Some(e) => {
            let details = e.error_data.as_ref().and_then(|d| d.get("details")).and_then(Value::as_str).unwrap_or("");
            format!("WhatsApp {} ({}): {} {details}", status.as_u16(), e.code, e.message).trim_end().to_owned()
        }
        None => format!("WhatsApp {}: {}", status.as_u16(), body.chars().take(200).collect::<String>()),
    };
    let passing = status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || refusal.as_ref().is_some_and(|e| PASSING_CODES.contains(&e.code));
    let kind = if passing { FailureKind::Transient { retry_after } } else { FailureKind::Permanent };
    Err(SendFailure { kind, reason })
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ehelpdesk_shared::notification::Channel;
    use uuid::Uuid;

    use super::*;

    fn message(template: Template, params: &[&str]) -> NotificationMessage {
        NotificationMessage {
            id: Uuid::from_u128(7),
            complaint_id: Uuid::from_u128(9),
            complaint_number: "ADU-2026-000123".into(),
            event_type: "ComplaintAssigned".into(),
            template,
            params: params.iter().map(|p| p.to_string()).collect(),
            recipient_id: "pic-aminah".into(),
            recipient_role: "pic".into(),
            channel: Channel::WhatsApp,
            address: "+60123456789".into(),
            subject: "ADU-2026-000123: Aduan ditugaskan".into(),
            body: "b".into(),
            created_at: Utc::now(),
            cycle: 0,
        }
    }

    #[test]
    fn the_request_is_a_malay_template_message_to_the_number_without_plus() {
        let m = message(Template::AduanDitugaskan, &["ADU-2026-000123", "Slip\ngaji  \t  hilang", "Gaji", "JKR"]);
        let body = request_body(&m, "ms").unwrap();
        assert_eq!(body["messaging_product"], "whatsapp");
        assert_eq!(body["to"], "60123456789");
        assert_eq!(body["type"], "template");
        assert_eq!(body["template"]["name"], "aduan_ditugaskan");
        assert_eq!(body["template"]["language"]["code"], "ms");
        let params = &body["template"]["components"][0]["parameters"];
        assert_eq!(params[1], json!({"type": "text", "text": "Slip gaji hilang"}));
        assert_eq!(params.as_array().unwrap().len(), 4);
    }

    #[test]
    fn a_notice_without_parameters_carries_its_subject_and_a_short_list_is_refused() {
        let body = request_body(&message(Template::Notice, &[]), "ms").unwrap();
        assert_eq!(body["template"]["components"][0]["parameters"][0]["text"], "ADU-2026-000123: Aduan ditugaskan");
        let failure = request_body(&message(Template::AduanDitugaskan, &["x"]), "ms").unwrap_err();
        assert_eq!(failure.kind, FailureKind::Permanent);
        let bad_phone = NotificationMessage { address: "012-345".into(), ..message(Template::Notice, &[]) };
        assert_eq!(request_body(&bad_phone, "ms").unwrap_err().kind, FailureKind::Permanent);
    }

    #[test]
    fn answers_are_judged_as_meta_documents_them() {
        let ok = r#"{"messaging_product":"whatsapp","contacts":[{"input":"60123456789","wa_id":"60123456789"}],"messages":[{"id":"wamid.HBgLNjAxMjM0NTY3ODkVAgARGBI"}]}"#;
        assert_eq!(judge_response(StatusCode::OK, None, ok).unwrap(), "wamid.HBgLNjAxMjM0NTY3ODkVAgARGBI");
        let not_a_user = r#"{"error":{"message":"(#131026) Message undeliverable","type":"OAuthException","code":131026,"error_data":{"messaging_product":"whatsapp","details":"Message Undeliverable."},"fbtrace_id":"A"}}"#;
        let f = judge_response(StatusCode::BAD_REQUEST, None, not_a_user).unwrap_err();
        assert_eq!(f.kind, FailureKind::Permanent);
        assert!(f.reason.contains("131026"), "{}", f.reason);
        let template =
            r#"{"error":{"message":"(#132001) Template name does not exist in the translation","code":132001}}"#;
        assert_eq!(judge_response(StatusCode::NOT_FOUND, None, template).unwrap_err().kind, FailureKind::Permanent);
        let limited = r#"{"error":{"message":"(#130429) Rate limit hit","code":130429}}"#;
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            judge_response(StatusCode::TOO_MANY_REQUESTS, wait, limited).unwrap_err().kind,
            FailureKind::Transient { retry_after: wait }
        );
        assert_eq!(
            judge_response(StatusCode::BAD_GATEWAY, None, "<html>").unwrap_err().kind,
            FailureKind::Transient { retry_after: None }
        );
        assert_eq!(retry_after("30"), Some(Duration::from_secs(30)));
        assert_eq!(retry_after("soon"), None);
    }
}
