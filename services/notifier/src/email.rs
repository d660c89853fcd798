//! E-mail: a notification composed as a MIME message (plain text and HTML, Malay first with
//! English beside), and the mailer that hands it to an SMTP server or, in development,
//! writes it to a file.

use std::path::PathBuf;
use std::time::Duration;

use ehelpdesk_shared::notification::NotificationMessage;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use url::Url;

use crate::configuration::{MailDelivery, redact_password};
use crate::retry::SendFailure;

/// What every e-mail shares: who it is from and where its links point.
#[derive(Debug, Clone)]
pub struct Letterhead {
    pub from: Mailbox,
    pub reply_to: Mailbox,
    pub public_base_url: Url,
}

impl Letterhead {
    /// `<base>/complaints/<id>`: the complaint's page in the web app; `<base>/inbox` for a
    /// message about no one complaint (the daily digest).
    pub fn complaint_link(&self, message: &NotificationMessage) -> String {
        let base = self.public_base_url.as_str().trim_end_matches('/');
        match message.complaint_id.is_nil() {
            true => format!("{base}/inbox"),
            false => format!("{base}/complaints/{}", message.complaint_id),
        }
    }

    /// `<notification id>@<the sender's domain>`: every attempt at one notification carries
    /// the same Message-ID, so a resend is recognisable (and collapsed by most mail stores).
    pub fn message_id(&self, message: &NotificationMessage) -> String {
        format!("<{}@{}>", message.id, self.from.email.domain())
    }

    pub fn compose(&self, message: &NotificationMessage) -> Result<Message, SendFailure> {
        let to: Mailbox = message.address.parse().map_err(|e| {
            SendFailure::permanent(format!(
                "alamat e-mel tidak sah / invalid e-mail address `{}`: {e}",
                message.address
            ))
        })?;
        let link = self.complaint_link(message);
        let (plain, html) = (plain_body(message, &link), html_body(message, &link));
        Message::builder()
            .from(self.from.clone())
            .reply_to(self.reply_to.clone())
            .to(to)
            .subject(subject(message))
            .message_id(Some(self.message_id(message)))
            // RFC 3834: out-of-office robots must not answer a notification.
            .raw_header(HeaderValue::new(HeaderName::new_from_ascii_str("Auto-Submitted"), "auto-generated".into()))
            .raw_header(HeaderValue::new(
                HeaderName::new_from_ascii_str("X-eHelpdesk-Notification"),
                message.id.to_string(),
            ))
            .multipart(MultiPart::alternative().singlepart(SinglePart::plain(plain)).singlepart(SinglePart::html(html)))
            .map_err(|e| SendFailure::permanent(format!("e-mel tidak dapat disusun / the e-mail cannot be built: {e}")))
    }
}

const FOOTER_MS: &str = "E-mel ini dihantar secara automatik oleh eHelpdesk iSPEKS.";
const FOOTER_EN: &str = "This e-mail was sent automatically by the iSPEKS eHelpdesk.";

/// Subjects start with the complaint number, so that a mailbox sorts and threads by it.
pub fn subject(message: &NotificationMessage) -> String {
    let subject: String = message.subject.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    match message.complaint_number.as_str() {
        "" => subject,
        number if subject.starts_with(number) => subject,
        number => format!("{number}: {subject}"),
    }
}

fn plain_body(message: &NotificationMessage, link: &str) -> String {
    format!(
        "{}\n\nLihat aduan / View the complaint:\n{link}\n\n-- \n{FOOTER_MS}\n{FOOTER_EN}\n",
        message.body.trim_end()
    )
}

fn html_body(message: &NotificationMessage, link: &str) -> String {
    let paragraphs: String = message
        .body
        .trim_end()
        .split("\n\n")
        .map(|p| format!("<p>{}</p>\n", escape(p).replace('\n', "<br>\n")))
        .collect();
    let link = escape(link);
    format!(
        "<!DOCTYPE html>\n<html lang=\"ms\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n\
         <body style=\"font-family: sans-serif; line-height: 1.5\">\n{paragraphs}\
         <p><a href=\"{link}\">Lihat aduan</a> / <a href=\"{link}\" lang=\"en\">View the complaint</a></p>\n\
         <hr>\n<p style=\"color: #555; font-size: small\">{FOOTER_MS}<br>\n<span lang=\"en\">{FOOTER_EN}</span></p>\n\
         </body>\n</html>\n",
        title = escape(&subject(message)),
    )
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Where e-mail goes.
#[derive(Clone)]
pub enum Mailer {
    Smtp { transport: AsyncSmtpTransport<Tokio1Executor>, url: String },
    Files { dir: PathBuf },
}

impl Mailer {
    pub fn new(delivery: &MailDelivery, pool_size: u32, timeout: Duration) -> Result<Self, String> {
        match delivery {
            MailDelivery::Smtp { url } => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| format!("SMTP_URL: {e}"))?
                    .timeout(Some(timeout))
                    .pool_config(PoolConfig::new().max_size(pool_size).idle_timeout(Duration::from_secs(60)))
                    .build();
                Ok(Self::Smtp { transport, url: redact_password(url) })
            }
            MailDelivery::Files { dir } => {
                std::fs::create_dir_all(dir).map_err(|e| format!("MAIL_DIR {}: {e}", dir.display()))?;
                Ok(Self::Files { dir: dir.clone() })
            }
        }
    }

    /// Hands the message over; Ok carries the provider's word for it (the server's reply,
    /// which names its queue id, or the file written).
    pub async fn send(&self, id: uuid::Uuid, email: Message) -> Result<String, SendFailure> {
        match self {
            Self::Smtp { transport, .. } => match transport.send(email).await {
                Ok(response) => Ok(format!("{} {}", response.code(), response.message().collect::<Vec<_>>().join(" "))),
                Err(e) => Err(classify_smtp(&e)),
            },
            Self::Files { dir } => {
                let path = dir.join(format!("{id}.eml"));
                write_atomically(&path, &email.formatted()).await?;
                Ok(path.display().to_string())
            }
        }
    }

    /// Whether the SMTP server answers (readiness); files: whether the folder is there.
    pub async fn check(&self) -> Result<(), String> {
        match self {
            Self::Smtp { transport, url } => match transport.test_connection().await {
                Ok(true) => Ok(()),
                Ok(false) => Err(format!("SMTP server at {url} does not answer NOOP")),
                Err(e) => Err(format!("SMTP server at {url} unreachable: {e}")),
            },
            Self::Files { dir } => {
                tokio::fs::metadata(dir).await.map(|_| ()).map_err(|e| format!("MAIL_DIR {}: {e}", dir.display()))
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Smtp { url, .. } => format!("SMTP {url}"),
            Self::Files { dir } => format!("files in {}", dir.display()),
        }
    }
}

/// SMTP 5xx is final for this message; 4xx, a refused connection, a timeout or a broken TLS
/// handshake may pass.
fn classify_smtp(e: &lettre::transport::smtp::Error) -> SendFailure {
    let reason = format!("SMTP: {e}");
    if e.is_permanent() || e.is_client() { SendFailure::permanent(reason) } else { SendFailure::transient(reason) }
}

/// Written whole or not at all: a reader (or a crash) never sees half a file.
pub async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), SendFailure> {
    let temporary = path.with_extension("partial");
    let failed = |e: std::io::Error| SendFailure::transient(format!("{}: {e}", path.display()));
    tokio::fs::write(&temporary, bytes).await.map_err(failed)?;
    tokio::fs::rename(&temporary, path).await.map_err(failed)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use ehelpdesk_shared::notification::{Channel, Template};
    use uuid::Uuid;

    use super::*;

    fn message() -> NotificationMessage {
        NotificationMessage {
            id: Uuid::from_u128(7),
            complaint_id: Uuid::from_u128(9),
            complaint_number: "ADU-2026-000123".into(),
            event_type: "ComplaintAssigned".into(),
            template: Template::AduanDitugaskan,
            params: vec![],
            recipient_id: "pic-aminah".into(),
            recipient_role: "pic".into(),
            channel: Channel::Email,
            address: "aminah@example.gov.my".into(),
            subject: "Aduan ditugaskan kepada anda / Complaint assigned to you".into(),
            body: "Aduan <b>\"Slip gaji\"</b> & lain-lain.\nBaris dua.\n\nComplaint assigned.".into(),
            created_at: Utc::now(),
            cycle: 0,
        }
    }

    fn letterhead() -> Letterhead {
        Letterhead {
            from: "eHelpdesk <helpdesk@example.gov.my>".parse().unwrap(),
            reply_to: "Meja Bantuan <bantuan@example.gov.my>".parse().unwrap(),
            public_base_url: Url::parse("https://ehelpdesk.example.gov.my").unwrap(),
        }
    }

    #[test]
    fn a_message_has_both_parts_the_number_first_and_a_stable_message_id() {
        let email = letterhead().compose(&message()).unwrap();
        let text = String::from_utf8(email.formatted()).unwrap();
        assert!(text.contains("Subject: ADU-2026-000123: Aduan ditugaskan"), "{text}");
        assert!(text.contains("Message-ID: <00000000-0000-0000-0000-000000000007@example.gov.my>"), "{text}");
        assert!(text.contains("Reply-To: \"Meja Bantuan\" <bantuan@example.gov.my>"), "{text}");
        assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
        assert!(text.contains("multipart/alternative"), "{text}");
        assert!(text.contains("text/plain") && text.contains("text/html"), "{text}");
        // Both parts link to the complaint; the HTML part escapes what the complainant wrote.
        let link = letterhead().complaint_link(&message());
        assert_eq!(link, "https://ehelpdesk.example.gov.my/complaints/00000000-0000-0000-0000-000000000009");
        let (plain, html) = (plain_body(&message(), &link), html_body(&message(), &link));
        assert!(plain.starts_with("Aduan <b>\"Slip gaji\"</b> & lain-lain.\nBaris dua.") && plain.contains(&link));
        assert!(html.contains("Aduan &lt;b&gt;&quot;Slip gaji&quot;&lt;/b&gt; &amp; lain-lain.<br>"), "{html}");
        assert!(html.contains(&format!("<a href=\"{link}\">Lihat aduan</a>")) && html.contains("lang=\"ms\""));
    }

    #[test]
    fn a_message_about_no_one_complaint_links_to_the_inbox() {
        let digest = NotificationMessage { complaint_id: Uuid::nil(), complaint_number: String::new(), ..message() };
        assert_eq!(letterhead().complaint_link(&digest), "https://ehelpdesk.example.gov.my/inbox");
    }

    #[test]
    fn a_subject_already_starting_with_the_number_is_kept() {
        let m = NotificationMessage { subject: "ADU-2026-000123: Aduan ditutup\r\nBcc: x@y".into(), ..message() };
        assert_eq!(subject(&m), "ADU-2026-000123: Aduan ditutup  Bcc: x@y");
        let old = NotificationMessage { complaint_number: String::new(), ..message() };
        assert_eq!(subject(&old), old.subject);
    }

    #[test]
    fn an_invalid_address_fails_for_good() {
        let m = NotificationMessage { address: "not an address".into(), ..message() };
        let failure = letterhead().compose(&m).unwrap_err();
        assert_eq!(failure.kind, crate::retry::FailureKind::Permanent);
        assert!(failure.reason.contains("invalid e-mail address"), "{}", failure.reason);
    }
}
