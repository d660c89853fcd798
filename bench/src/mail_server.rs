//! Postfix's `smtp-sink` as the bench's SMTP server: written in C to measure mail clients, it
//! accepts thousands of messages a second here, where aiosmtpd (the tests' server) takes
//! about 130, so the figures measure the notifier and not the server. `make bench` unpacks it
//! under .tools/postfix/ (scripts/smtp-sink.sh). Each message is dumped to a file of its own;
//! the file's modification time is when the server had all of it.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use ehelpdesk_tests::process::free_port;

use crate::phases::BenchError;

pub struct MailServer {
    child: Child,
    pub port: u16,
    /// The run's folder: `mail/` (the server's files) and whatever else the phase keeps there.
    pub root: PathBuf,
    dump: PathBuf,
}

/// One message as the server stored it.
pub struct StoredMail {
    pub raw: String,
    pub stored_at: SystemTime,
}

fn binary() -> PathBuf {
    std::env::var("EHELPDESK_SMTP_SINK")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/postfix/usr/sbin/smtp-sink"))
}

impl MailServer {
    pub async fn start() -> Result<Self, BenchError> {
        let binary = binary();
        if !binary.exists() {
            return Err(format!("{} is missing: run scripts/smtp-sink.sh (make bench does)", binary.display()).into());
        }
        let libraries = binary.parent().and_then(Path::parent).map(|usr| usr.join("lib/postfix")).unwrap_or_default();
        let root = std::env::temp_dir().join(format!("ehelpdesk-bench-mail-{}", uuid::Uuid::new_v4().simple()));
        let dump = root.join("mail");
        std::fs::create_dir_all(&dump)?;
        let port = free_port();
        let user = whoami()?;
        let child = Command::new(&binary)
            .env("LD_LIBRARY_PATH", libraries)
            // -u: the user to run as (required when started as root); -d: one file per
            // message, named by the template and a random suffix; -m: connections at once.
            .args(["-u", &user, "-d", &format!("{}/m.", dump.display()), "-m", "1000"])
            .args([&format!("127.0.0.1:{port}"), "1024"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return Ok(Self { child, port, root, dump });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        Err(format!("smtp-sink does not listen on {port}").into())
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn count(&self) -> usize {
        std::fs::read_dir(&self.dump).map(|entries| entries.count()).unwrap_or(0)
    }

    /// Waits (bounded) until at least `n` messages are stored; returns how many are.
    pub async fn wait_for(&self, n: usize, within: Duration) -> usize {
        let deadline = std::time::Instant::now() + within;
        loop {
            let count = self.count();
            if count >= n || std::time::Instant::now() > deadline {
                return count;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn messages(&self) -> Result<Vec<StoredMail>, BenchError> {
        let mut stored = vec![];
        for entry in std::fs::read_dir(&self.dump)? {
            let path = entry?.path();
            let stored_at = std::fs::metadata(&path)?.modified()?;
            stored.push(StoredMail { raw: std::fs::read_to_string(&path)?, stored_at });
        }
        Ok(stored)
    }
}

fn whoami() -> Result<String, BenchError> {
    let output = Command::new("id").arg("-un").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.root);
    }
}
