//! Helpers for tests that run the services against the real NATS (and, later, PostgreSQL).
//!
//! Every test gets its own stream and subject prefix ([`TestEventLog`]), removed again when
//! the test ends, pass or fail.

pub mod browser;
pub mod consistency;
pub mod demo;
pub mod fixtures;
pub mod load;
pub mod mailboxes;
pub mod nats_cluster;
pub mod postgres_server;
pub mod process;
pub mod smtp_sink;
pub mod whatsapp_stub;

use std::net::SocketAddr;

use crate::fixtures::PersonExt;
use ehelpdesk_command::configuration::Settings;
use ehelpdesk_command::startup::Application;
use ehelpdesk_shared::config::EventLogConfig;
use serde_json::Value;
use tokio::sync::oneshot;

pub fn nats_url() -> String {
    std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// [`nats_url`] as the services' configuration holds it.
pub fn nats_servers() -> ehelpdesk_shared::config::NatsServers {
    nats_url().parse().expect("NATS_URL is a list of NATS server URLs")
}

/// A stream and subject prefix of this test's own, deleted on drop.
pub struct TestEventLog {
    pub config: EventLogConfig,
}

/// The environment that points a service binary at a test's event log and database.
pub fn service_env(log: &TestEventLog, db: &TestDatabase) -> Vec<(&'static str, String)> {
    service_env_for(log, &db.url)
}

/// [`service_env`] with a database of any server (the fault tests run their own).
pub fn service_env_for(log: &TestEventLog, database_url: &str) -> Vec<(&'static str, String)> {
    let (notify_stream, notify_prefix) = log.notify();
    vec![
        ("NATS_URL", log.config.nats_url.to_string()),
        ("STREAM_NAME", log.config.stream.clone()),
        ("SUBJECT_PREFIX", log.config.subject_prefix.clone()),
        ("STREAM_REPLICAS", log.config.replicas.to_string()),
        ("DATABASE_URL", database_url.to_owned()),
        ("NOTIFY_STREAM", notify_stream),
        ("NOTIFY_SUBJECT_PREFIX", notify_prefix),
        ("JWT_HS256_SECRET", fixtures::jwt_secret()),
        ("BOOTSTRAP_ADMIN_IDS", fixtures::ADMIN.id.to_owned()),
        ("STAFF_CACHE_SECONDS", "0".to_owned()),
        // Assignments go out at once unless a test gathers them.
        ("ASSIGNMENT_BATCH_SECS", "0".to_owned()),
        // Tests run side by side: no two may take the default admin ports.
        ("COMMAND_ADMIN_ADDR", "127.0.0.1:0".into()),
        ("PROJECTION_ADMIN_ADDR", "127.0.0.1:0".into()),
    ]
}

/// The NOTIFY stream and subject prefix that go with a test's event log.
pub fn notify_of(event_log: &EventLogConfig) -> (String, String) {
    (format!("{}_NOTIFY", event_log.stream), format!("{}_notify", event_log.subject_prefix))
}

impl TestEventLog {
    /// This log's NOTIFY stream and subject prefix (the relay creates the stream).
    pub fn notify(&self) -> (String, String) {
        notify_of(&self.config)
    }

    pub fn new() -> Self {
        let tag = uuid::Uuid::new_v4().simple().to_string();
        let tag = &tag[..12];
        Self {
            config: EventLogConfig {
                nats_url: nats_servers(),
                stream: format!("TEST_{tag}"),
                subject_prefix: format!("test_{tag}"),
                replicas: 1,
                duplicate_window: std::time::Duration::from_secs(120),
            },
        }
    }

    pub async fn jetstream(&self) -> async_nats::jetstream::Context {
        let client = async_nats::connect(&self.config.nats_url).await.expect("NATS reachable");
        async_nats::jetstream::new(client)
    }

    /// Every message in the test's stream, in order: (subject, headers, JSON payload).
    pub async fn messages(&self) -> Vec<(String, async_nats::HeaderMap, Value)> {
        let js = self.jetstream().await;
        let stream = js.get_stream(&self.config.stream).await.expect("stream exists");
        let mut out = vec![];
        let mut seq = 1;
        loop {
            match stream.raw_message_builder().sequence(seq).next_by_subject(self.config.all_subjects()).send().await {
                Ok(m) => {
                    seq = m.sequence + 1;
                    let payload = serde_json::from_slice(&m.payload).expect("events are JSON");
                    out.push((m.subject.to_string(), m.headers, payload));
                }
                Err(_) => return out,
            }
        }
    }

    /// The events among `messages`: without the complaint numbers' claims the command
    /// service also writes to the log.
    pub async fn events(&self) -> Vec<(String, async_nats::HeaderMap, Value)> {
        let mut messages = self.messages().await;
        messages.retain(|(subject, _, _)| self.config.parse_number_claim(subject).is_none());
        messages
    }

    pub async fn event_count(&self) -> u64 {
        self.events().await.len() as u64
    }

    /// Every message in the stream: events and number claims.
    pub async fn message_count(&self) -> u64 {
        let js = self.jetstream().await;
        let mut stream = js.get_stream(&self.config.stream).await.expect("stream exists");
        stream.info().await.expect("stream info").state.messages
    }
}

impl Default for TestEventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for TestEventLog {
    fn drop(&mut self) {
        let config = self.config.clone();
        // Drop cannot be async; clean up on a runtime of our own, on its own thread so it
        // works inside or outside the test's runtime.
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(client) = async_nats::connect(&config.nats_url).await {
                    let js = async_nats::jetstream::new(client);
                    let _ = js.delete_stream(&config.stream).await;
                    let _ = js.delete_stream(notify_of(&config).0).await;
                    let _ = js.delete_stream(format!("KV_{}", config.numbers_bucket())).await;
                    let _ = js.delete_stream(format!("KV_{}_deliveries", notify_of(&config).0)).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// A service running in this process on a random port, stopped when dropped.
pub struct InProcess {
    pub addr: SocketAddr,
    /// The admin address (`/metrics`).
    pub admin: SocketAddr,
    pub http: reqwest::Client,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl InProcess {
    /// Runs `serve` (a service's `run_until`, given its shutdown signal) in the background.
    fn start<F, Fut>(addr: SocketAddr, admin: SocketAddr, serve: F) -> Self
    where
        F: FnOnce(futures::future::BoxFuture<'static, ()>) -> Fut,
        Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(serve(Box::pin(async {
            let _ = rx.await;
        })));
        Self { addr, admin, http: reqwest::Client::new(), shutdown: Some(tx), server: Some(server) }
    }

    /// A client of a service running elsewhere (a process of its own); nothing to stop.
    pub fn client_for(addr: SocketAddr, admin: SocketAddr) -> Self {
        Self { addr, admin, http: reqwest::Client::new(), shutdown: None, server: None }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A URL on the admin address.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin)
    }

    /// Sends a command as `actor`; returns the status and the JSON body.
    pub async fn post(&self, path: &str, actor: &fixtures::Person, body: &Value) -> Reply {
        self.send(reqwest::Method::POST, path, actor, body, None).await
    }

    pub async fn post_idempotent(&self, path: &str, actor: &fixtures::Person, body: &Value, key: &str) -> Reply {
        self.send(reqwest::Method::POST, path, actor, body, Some(key)).await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        actor: &fixtures::Person,
        body: &Value,
        key: Option<&str>,
    ) -> Reply {
        let mut request = self.http.request(method, self.url(path)).json(body);
        request = actor.headers(request);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        Reply::from(request.send().await.expect("request sent")).await
    }

    pub async fn get(&self, path: &str, actor: &fixtures::Person) -> Reply {
        let request = actor.headers(self.http.get(self.url(path)));
        Reply::from(request.send().await.expect("request sent")).await
    }

    /// Stops the service gracefully (requests in flight, background work) and waits for it.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// The command service in this process.
pub struct CommandApp(InProcess);

impl std::ops::Deref for CommandApp {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl CommandApp {
    pub async fn spawn(event_log: &EventLogConfig) -> Self {
        Self::spawn_with(event_log, |_| {}).await
    }

    pub async fn spawn_with(event_log: &EventLogConfig, configure: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = Settings {
            listen: "127.0.0.1:0".parse().expect("address"),
            admin_listen: "127.0.0.1:0".parse().expect("address"),
            http: Default::default(),
            event_log: event_log.clone(),
            cache_capacity: 1000,
            auth: fixtures::auth_config(),
            // Tests fire many writes as one person; the limit has a test of its own.
            rate_limit: ehelpdesk_command::rate_limit::RateLimit { per_second: 10_000, burst: 10_000 },
            complaint_id_secret: "a-test-secret-for-complaint-ids-0000000".into(),
            notify: {
                let (stream, subject_prefix) = notify_of(event_log);
                ehelpdesk_shared::notification::NotifyConfig { stream, subject_prefix, replicas: event_log.replicas }
            },
        };
        configure(&mut settings);
        let app = Application::build(settings).await.expect("command service builds");
        let addr = app.local_addr().expect("bound");
        let admin = app.admin_addr().expect("bound");
        CommandApp(InProcess::start(addr, admin, |stop| app.run_until(stop)))
    }

    pub async fn stop(self) {
        self.0.stop().await
    }
}

/// A response, read whole.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    pub async fn from(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()));
        Self { status, headers, body }
    }

    pub fn content_type(&self) -> &str {
        self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    /// Asserts a problem+json refusal with this status and code.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.content_type(), "application/problem+json", "{self:?}");
        assert_eq!(self.body["code"], code, "{self:?}");
        assert_eq!(self.body["status"], status, "{self:?}");
    }

    #[track_caller]
    pub fn assert_ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{self:?}");
        &self.body
    }
}

pub fn database_url() -> String {
    std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/ehelpdesk".into())
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, _) = url.split_once('?').unwrap_or((url, ""));
    let cut = base.rfind('/').expect("DATABASE_URL has a path");
    format!("{}/{name}", &base[..cut])
}

/// A database of this test's own, dropped on drop.
pub struct TestDatabase {
    pub name: String,
    pub url: String,
}

impl TestDatabase {
    pub async fn new() -> Self {
        let name = format!("test_{}", &uuid::Uuid::new_v4().simple().to_string()[..16]);
        let admin = with_database(&database_url(), "postgres");
        let pool = sqlx::PgPool::connect(&admin).await.expect("PostgreSQL reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&pool)
            .await
            .expect("create database");
        pool.close().await;
        Self { url: with_database(&database_url(), &name), name }
    }

    /// A pool on the read-model schema.
    pub async fn read_models(&self) -> sqlx::PgPool {
        ehelpdesk_projection::db::connect(&self.url, "readmodel", 4).await.expect("connect")
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let admin = with_database(&database_url(), "postgres");
        let name = self.name.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async {
                if let Ok(pool) = sqlx::PgPool::connect(&admin).await {
                    let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                    let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&pool).await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Settings of a projection service for this test's stream and database.
pub fn projection_settings(
    event_log: &EventLogConfig,
    db: &TestDatabase,
) -> ehelpdesk_projection::configuration::Settings {
    use ehelpdesk_projection::calendar::WorkingWeek;
    use ehelpdesk_projection::configuration::Settings;
    use ehelpdesk_shared::notification::NotifyConfig;
    Settings {
        listen: "127.0.0.1:0".parse().expect("address"),
        admin_listen: "127.0.0.1:0".parse().expect("address"),
        http: Default::default(),
        database_url: db.url.clone(),
        database_max_connections: 16,
        schema: "readmodel".into(),
        event_log: event_log.clone(),
        consumer: "projection".into(),
        batch_size: 100,
        rebuild_batch_size: 100,
        notify: {
            let (stream, subject_prefix) = notify_of(event_log);
            NotifyConfig { stream, subject_prefix, replicas: event_log.replicas }
        },
        working_week: WorkingWeek::kelantan(),
        holidays: vec![],
        resolution_target_days: 5,
        min_seq_wait: std::time::Duration::from_secs(5),
        min_seq_waiters: 256,
        projector: true,
        relay_outbox: true,
        receipts: true,
        receipts_consumer: "projection-receipts".into(),
        // Digests are written by a test that sets the time; not on the wall clock. Assignments
        // go out at once unless a test gathers them.
        daily_digest_at: None,
        assignment_batch: std::time::Duration::ZERO,
        export_max_concurrent: 4,
        export_write_timeout: std::time::Duration::from_secs(30),
        verify_max_behind: 1000,
        verify_stall_wait: std::time::Duration::from_secs(10),
        auth: fixtures::auth_config(),
    }
}

/// The projection service in this process.
pub struct ProjectionApp(InProcess, tokio::sync::watch::Receiver<u64>);

impl std::ops::Deref for ProjectionApp {
    type Target = InProcess;
    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl ProjectionApp {
    pub async fn spawn(settings: ehelpdesk_projection::configuration::Settings) -> Self {
        let app = ehelpdesk_projection::startup::Application::build(settings).await.expect("projection builds");
        let addr = app.local_addr().expect("bound");
        let admin = app.admin_addr().expect("bound");
        let applied = app.state().applied.clone();
        ProjectionApp(InProcess::start(addr, admin, |stop| app.run_until(stop)), applied)
    }

    /// The last stream sequence this instance knows to be in the read models, as its
    /// `min_seq` waits see it.
    pub fn applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.1.clone()
    }

    /// Stops serving and projecting, and waits until it has.
    pub async fn stop(self) {
        self.0.stop().await
    }

    /// Waits until everything in `log` so far is applied: staff registered a moment ago
    /// are in the directory the query side reads.
    pub async fn caught_up(&self, log: &TestEventLog) {
        let head = log.message_count().await;
        self.get(&format!("/v1/triage?limit=1&min_seq={head}"), &fixtures::ADMIN).await.assert_ok(200);
    }
}
