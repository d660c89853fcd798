//! Load for the fault tests: a bounded number of workers, each walking complaints through
//! the command service (log, assign, note) and reading each back from the projection, until
//! stopped. Every answer is recorded with when it was sent and answered; every acknowledged
//! command (2xx) with its event's stream sequence, which is what the consistency check
//! looks for afterwards.
//!
//! A command that fails in transit or answers 503 is retried after a short pause with the
//! same `Idempotency-Key`: if the first attempt was stored after all, the retry is answered
//! with the original receipt, so a retry never writes a second event.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fixtures::{ADMIN, COMPLAINANT, PIC, Person, PersonExt, complaint};

/// Where the workers send: changed under load when a service is restarted on a new port.
#[derive(Debug, Clone)]
struct Targets {
    command: String,
    projection: String,
}

/// One HTTP answer (or a transport error: `status` `None`).
#[derive(Debug, Clone)]
pub struct Answer {
    /// `log`, `assignment`, `notes` or `query`.
    pub what: &'static str,
    pub sent: Instant,
    pub answered: Instant,
    pub status: Option<u16>,
    /// The problem's `code`, if any.
    pub code: Option<String>,
}

/// An acknowledged command: the service said its event is in the log at `sequence`.
#[derive(Debug, Clone)]
pub struct Ack {
    pub sequence: u64,
    pub complaint_id: String,
    /// The event type the command writes.
    pub event_type: &'static str,
    /// The complaint number a `log` was answered with.
    pub number: Option<String>,
    pub sent: Instant,
    pub answered: Instant,
}

#[derive(Debug, Default)]
struct Record {
    answers: Vec<Answer>,
    acks: Vec<Ack>,
}

pub struct Load {
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    targets: Arc<RwLock<Targets>>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

/// What the load saw, once stopped.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub answers: Vec<Answer>,
    pub acks: Vec<Ack>,
}

/// Pause before a retry: short, so that the recovery time measured is the service's.
const RETRY_PAUSE: Duration = Duration::from_millis(200);
/// A client's patience for one request; well above the services' own NATS timeouts (5 s).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

impl Load {
    /// Starts `workers` workers against the command and projection services at these URLs.
    /// The staff the workers name (ADMIN, PIC in category AC) must be registered.
    pub fn start(workers: usize, command_url: &str, projection_url: &str) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let record = Arc::new(Mutex::new(Record::default()));
        let targets =
            Arc::new(RwLock::new(Targets { command: command_url.to_owned(), projection: projection_url.to_owned() }));
        let http = reqwest::Client::builder().timeout(REQUEST_TIMEOUT).build().expect("HTTP client");
        let run = uuid::Uuid::new_v4().simple().to_string();
        let workers = (0..workers)
            .map(|w| {
                let worker = Worker {
                    name: format!("{}-{w}", &run[..8]),
                    http: http.clone(),
                    stop: stop.clone(),
                    record: record.clone(),
                    targets: targets.clone(),
                };
                tokio::spawn(worker.run())
            })
            .collect();
        Self { stop, record, targets, workers }
    }

    /// Sends from now on to a restarted service.
    pub fn retarget(&self, command_url: Option<&str>, projection_url: Option<&str>) {
        let mut targets = self.targets.write().expect("targets lock");
        if let Some(url) = command_url {
            targets.command = url.to_owned();
        }
        if let Some(url) = projection_url {
            targets.projection = url.to_owned();
        }
    }

    /// Everything answered so far.
    pub fn snapshot(&self) -> Outcome {
        let record = self.record.lock().expect("record lock");
        Outcome { answers: record.answers.clone(), acks: record.acks.clone() }
    }

    /// Waits (at most `within`) until a command sent at or after `since` is acknowledged;
    /// returns the first such ack.
    pub async fn first_ack_sent_after(&self, since: Instant, within: Duration) -> Option<Ack> {
        let deadline = Instant::now() + within;
        loop {
            let first = {
                let record = self.record.lock().expect("record lock");
                record.acks.iter().filter(|a| a.sent >= since).min_by_key(|a| a.answered).cloned()
            };
            if first.is_some() || Instant::now() > deadline {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits (at most `within`) until `n` more commands are acknowledged than now.
    pub async fn wait_for_acks(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        let target = self.record.lock().expect("record lock").acks.len() + n;
        while Instant::now() < deadline {
            if self.record.lock().expect("record lock").acks.len() >= target {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    }

    /// Stops the workers (each finishes or abandons its request in flight; bounded by the
    /// request timeout) and returns what they saw.
    pub async fn stop(self) -> Outcome {
        self.stop.store(true, Ordering::Relaxed);
        for worker in self.workers {
            worker.await.expect("a load worker panicked");
        }
        let record = self.record.lock().expect("record lock");
        Outcome { answers: record.answers.clone(), acks: record.acks.clone() }
    }
}

struct Worker {
    name: String,
    http: reqwest::Client,
    stop: Arc<AtomicBool>,
    record: Arc<Mutex<Record>>,
    targets: Arc<RwLock<Targets>>,
}

impl Worker {
    async fn run(self) {
        let mut i = 0u64;
        while !self.stopped() {
            let key = format!("{}-{i}", self.name);
            let body = complaint("AC", &format!("Aduan beban {key}"));
            let Some(logged) = self.command("log", "/v1/complaints".into(), &COMPLAINANT, &body, &key).await else {
                return;
            };
            let id = logged.complaint_id.clone();
            let steps =
                [("assignment", json!({"pic_id": PIC.id})), ("notes", json!({"message": format!("Semakan {key}")}))];
            let mut last = logged.sequence;
            for (what, body) in steps {
                let path = format!("/v1/complaints/{id}/{what}");
                let Some(ack) = self.command(what, path, &ADMIN, &body, &format!("{key}-{what}")).await else {
                    return;
                };
                last = ack.sequence;
            }
            self.query(&id, last).await;
            i += 1;
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    fn targets(&self) -> Targets {
        self.targets.read().expect("targets lock").clone()
    }

    /// Sends one command until it is acknowledged (or the load stops: `None`).
    async fn command(&self, what: &'static str, path: String, who: &Person, body: &Value, key: &str) -> Option<Ack> {
        loop {
            if self.stopped() {
                return None;
            }
            let url = format!("{}{path}", self.targets().command);
            let request = who.headers(self.http.post(url)).header("Idempotency-Key", key).json(body);
            let (answer, reply) = self.send(what, request).await;
            let status = answer.status;
            let sent = answer.sent;
            let answered = answer.answered;
            self.record.lock().expect("record lock").answers.push(answer);
            if let (Some(200 | 201), Some(reply)) = (status, reply) {
                let ack = Ack {
                    sequence: reply["stream_sequence"].as_u64().expect("a receipt carries stream_sequence"),
                    complaint_id: reply["complaint_id"].as_str().expect("a receipt carries complaint_id").to_owned(),
                    event_type: match what {
                        "log" => "ComplaintLogged",
                        "assignment" => "ComplaintAssigned",
                        _ => "InternalNoteAdded",
                    },
                    number: reply["complaint_number"].as_str().map(str::to_owned).filter(|_| what == "log"),
                    sent,
                    answered,
                };
                self.record.lock().expect("record lock").acks.push(ack.clone());
                return Some(ack);
            }
            // 503, a transport error, or anything else (recorded, and judged by the test):
            // the same request again, after a pause.
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Reads the complaint back once it is projected (`min_seq`); recorded, not retried.
    async fn query(&self, id: &str, min_seq: u64) {
        let url = format!("{}/v1/complaints/{id}?min_seq={min_seq}", self.targets().projection);
        let (answer, _) = self.send("query", ADMIN.headers(self.http.get(url))).await;
        let failed = answer.status != Some(200);
        self.record.lock().expect("record lock").answers.push(answer);
        if failed {
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn send(&self, what: &'static str, request: reqwest::RequestBuilder) -> (Answer, Option<Value>) {
        let sent = Instant::now();
        let (status, body) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.ok();
                (Some(status), body)
            }
            Err(_) => (None, None),
        };
        let code = body.as_ref().and_then(|b| b["code"].as_str()).map(str::to_owned);
        (Answer { what, sent, answered: Instant::now(), status, code }, body)
    }
}

impl Outcome {
    /// Answers to commands (not queries) by status: `"201"`, `"503"`, `"transport"`, ...
    pub fn command_statuses(&self) -> BTreeMap<String, usize> {
        tally(self.answers.iter().filter(|a| a.what != "query"))
    }

    /// Answers to queries by status.
    pub fn query_statuses(&self) -> BTreeMap<String, usize> {
        tally(self.answers.iter().filter(|a| a.what == "query"))
    }

    /// Command answers that arrived within `[from, to)`, by status. (By arrival, not by
    /// sending: a request sent into an outage may wait out the service's timeouts and be
    /// answered only after it.)
    pub fn command_statuses_between(&self, from: Instant, to: Instant) -> BTreeMap<String, usize> {
        tally(self.commands_answered_between(from, to))
    }

    /// The longest a command answered within `[from, to)` waited for its answer.
    pub fn slowest_command_between(&self, from: Instant, to: Instant) -> Option<Duration> {
        self.commands_answered_between(from, to).map(|a| a.answered.duration_since(a.sent)).max()
    }

    fn commands_answered_between(&self, from: Instant, to: Instant) -> impl Iterator<Item = &Answer> {
        self.answers.iter().filter(move |a| a.what != "query" && a.answered >= from && a.answered < to)
    }

    /// The problem codes of the 503s, commands and queries: `"log: event_log_unavailable"`.
    pub fn codes_of_503s(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for a in self.answers.iter().filter(|a| a.status == Some(503)) {
            let kind = if a.what == "query" { "query" } else { "command" };
            *out.entry(format!("{kind}: {}", a.code.as_deref().unwrap_or("-"))).or_insert(0) += 1;
        }
        out
    }

    /// Every 5xx but 503, commands and queries: never allowed.
    pub fn server_errors(&self) -> Vec<&Answer> {
        self.answers.iter().filter(|a| a.status.is_some_and(|s| s >= 500 && s != 503)).collect()
    }

    /// Command answers that are neither 2xx, 503 nor a transport error.
    pub fn unexpected_command_answers(&self) -> Vec<&Answer> {
        self.answers
            .iter()
            .filter(|a| a.what != "query" && a.status.is_some_and(|s| !matches!(s, 200 | 201 | 503)))
            .collect()
    }
}

fn tally<'a>(answers: impl Iterator<Item = &'a Answer>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for a in answers {
        let key = a.status.map_or_else(|| "transport".to_owned(), |s| s.to_string());
        *out.entry(key).or_insert(0) += 1;
    }
    out
}
