//! A real SMTP server for the notifier's tests: aiosmtpd (PyPI, from the project's .venv/,
//! made by scripts/venv.sh) writing every message it accepts into a Maildir of the test's
//! own, and refusing the recipients a test lists with 550 (tests/smtp/ehelpdesk_sink.py).
//! It can be stopped and started again on the same port, as a mail server goes down.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::process::free_port;

pub struct SmtpSink {
    child: Option<Child>,
    pub port: u16,
    /// The test's folder: the Maildir (`maildir/`, made by the server) and `refuse`.
    pub root: PathBuf,
    pub maildir: PathBuf,
}

/// One message as the server stored it.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// Headers by lower-case name (first occurrence), values unfolded.
    pub headers: std::collections::HashMap<String, String>,
    /// Every text part, decoded.
    pub text: String,
    pub raw: String,
}

impl ReceivedMail {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str).unwrap_or("")
    }

    /// The notification it carries (`X-eHelpdesk-Notification`).
    pub fn notification_id(&self) -> &str {
        self.header("X-eHelpdesk-Notification")
    }
}

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("repository root").to_path_buf()
}

fn python() -> PathBuf {
    let venv = std::env::var("EHELPDESK_VENV").map(PathBuf::from).unwrap_or_else(|_| repository().join(".venv"));
    let python = venv.join("bin/python");
    assert!(python.exists(), "{} is missing: run scripts/venv.sh (make test does)", python.display());
    python
}

impl SmtpSink {
    pub async fn start() -> Self {
        let root = std::env::temp_dir().join(format!("ehelpdesk-smtp-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&root).expect("test folder");
        // Python's Maildir makes its tmp/new/cur only where the folder does not exist yet.
        let maildir = root.join("maildir");
        let mut sink = Self { child: None, port: free_port(), root, maildir };
        sink.resume().await;
        sink
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Takes the server down (SIGKILL): connections are refused until [`Self::resume`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on the same port and Maildir, and waits until it answers.
    pub async fn resume(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(python())
            .env("PYTHONPATH", repository().join("tests/smtp"))
            .args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{}", self.port)])
            .args(["-c", "ehelpdesk_sink.RefusingMailbox"])
            .arg(&self.maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("aiosmtpd starts");
        self.child = Some(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("aiosmtpd does not listen on {}", self.port);
    }

    /// The server answers 550 to `RCPT TO` for these addresses from now on.
    pub fn refuse(&self, addresses: &[&str]) {
        std::fs::write(self.root.join("refuse"), addresses.join("\n")).expect("refuse list");
    }

    pub fn messages(&self) -> Vec<ReceivedMail> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return vec![] };
        let mut paths: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        paths.sort();
        paths.iter().filter_map(|p| std::fs::read_to_string(p).ok()).map(|raw| ReceivedMail::parse(&raw)).collect()
    }

    /// Waits (bounded) until at least `n` messages are stored; returns them.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<ReceivedMail> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let messages = self.messages();
            if messages.len() >= n || std::time::Instant::now() > deadline {
                return messages;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

impl ReceivedMail {
    /// Headers and decoded text parts of a MIME message, enough for the tests' checks.
    pub fn parse(raw: &str) -> Self {
        parse(raw)
    }
}

fn parse(raw: &str) -> ReceivedMail {
    let raw = raw.replace("\r\n", "\n");
    let (head, body) = raw.split_once("\n\n").unwrap_or((&raw, ""));
    let mut headers = std::collections::HashMap::new();
    let mut last: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(name) = &last
                && let Some(value) = headers.get_mut(name)
            {
                let value: &mut String = value;
                value.push(' ');
                value.push_str(line.trim());
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim().to_ascii_lowercase();
            headers.entry(name.clone()).or_insert_with(|| value.trim().to_owned());
            last = Some(name);
        }
    }
    ReceivedMail { headers, text: decode_parts(body), raw }
}

/// The bodies of every part, quoted-printable or base64 decoded by their header.
fn decode_parts(body: &str) -> String {
    let mut out = String::new();
    for part in body.split("\n--") {
        let (head, content) = part.split_once("\n\n").unwrap_or(("", part));
        let head = head.to_ascii_lowercase();
        if head.contains("quoted-printable") {
            out.push_str(&decode_quoted_printable(content));
        } else if head.contains("base64") {
            let joined: String = content.lines().take_while(|l| !l.starts_with("--")).collect();
            out.push_str(&String::from_utf8_lossy(&decode_base64(&joined)));
        } else {
            out.push_str(content);
        }
        out.push('\n');
    }
    out
}

fn decode_quoted_printable(text: &str) -> String {
    let mut bytes = vec![];
    let mut input = text.as_bytes().iter().copied().peekable();
    while let Some(b) = input.next() {
        if b != b'=' {
            bytes.push(b);
            continue;
        }
        let hex: Vec<u8> = input.by_ref().take(2).collect();
        if hex.first() == Some(&b'\n') {
            // A soft line break: `=` then the line's end.
            if let Some(&next) = hex.get(1) {
                bytes.push(next);
            }
            continue;
        }
        match std::str::from_utf8(&hex).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
            Some(v) => bytes.push(v),
            None => bytes.extend(hex),
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = vec![];
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes() {
        let Some(v) = ALPHABET.iter().position(|a| *a == c) else { continue };
        buffer = (buffer << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_decoded() {
        assert_eq!(decode_quoted_printable("Aduan =C3=A9 ok=\nlagi"), "Aduan é oklagi");
        assert_eq!(decode_base64("QWR1YW4gZGl0ZXJpbWE="), b"Aduan diterima");
        let mail = parse("Subject: a\n b\nX-eHelpdesk-Notification: 7\n\nbody");
        assert_eq!(mail.header("subject"), "a b");
        assert_eq!(mail.notification_id(), "7");
    }
}
