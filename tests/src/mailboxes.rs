//! What each person received, as `make run` leaves it on a machine without an SMTP server or
//! a WhatsApp token: `.eml` files in MAIL_DIR and request files in WHATSAPP_DIR, written by
//! the notifier. `make demo` ends by listing them for the complaints it filed.

use std::collections::BTreeMap;
use std::path::Path;

use crate::smtp_sink::ReceivedMail;

/// One line per message, grouped by recipient, for the complaints in `complaint_ids`.
#[derive(Debug, Default)]
pub struct Mailboxes {
    pub by_recipient: BTreeMap<String, Vec<String>>,
    pub emails: usize,
    pub whatsapps: usize,
}

pub fn read(mail_dir: &Path, whatsapp_dir: &Path, complaint_ids: &[String]) -> Mailboxes {
    let mut out = Mailboxes::default();
    let concerns = |text: &str| complaint_ids.iter().any(|id| text.contains(id.as_str()));
    for raw in files(mail_dir, "eml") {
        let mail = ReceivedMail::parse(&raw);
        if concerns(&mail.text) {
            out.emails += 1;
            let line = format!("e-mel     {}", mail.header("Subject"));
            out.by_recipient.entry(mail.header("To").to_owned()).or_default().push(line);
        }
    }
    for raw in files(whatsapp_dir, "json") {
        let Ok(file) = serde_json::from_str::<serde_json::Value>(&raw) else { continue };
        if concerns(file["complaint_id"].as_str().unwrap_or_default()) {
            out.whatsapps += 1;
            let request = &file["request"];
            let to = format!(
                "{} (+{})",
                file["recipient_id"].as_str().unwrap_or("?"),
                request["to"].as_str().unwrap_or("?")
            );
            let params: Vec<&str> = request["template"]["components"][0]["parameters"]
                .as_array()
                .map(|ps| ps.iter().filter_map(|p| p["text"].as_str()).collect())
                .unwrap_or_default();
            let line =
                format!("WhatsApp  {} [{}]", request["template"]["name"].as_str().unwrap_or("?"), params.join(" | "));
            out.by_recipient.entry(to).or_default().push(line);
        }
    }
    out
}

fn files(dir: &Path, extension: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else { return vec![] };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    paths.sort();
    paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).collect()
}

impl std::fmt::Display for Mailboxes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (recipient, lines) in &self.by_recipient {
            writeln!(f, "  {recipient}")?;
            for line in lines {
                writeln!(f, "    {line}")?;
            }
        }
        Ok(())
    }
}
