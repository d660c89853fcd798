//! The six measurements of issue 7, each beside its limit.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use ehelpdesk_projection::queries::{self, GroupBy};
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{claims_for, mint_hs256};
use ehelpdesk_tests::fixtures::{ADMIN, PIC, auth_config, complaint, jwt_secret};
use ehelpdesk_tests::process::admin_var;
use ehelpdesk_tests::{TestDatabase, TestEventLog, service_env};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::Sizes;
use crate::report::Row;

pub type BenchError = Box<dyn std::error::Error + Send + Sync>;

fn binary(name: &str) -> Result<PathBuf, BenchError> {
    let path = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/release")).join(name);
    if !path.exists() {
        return Err(
            format!("{} is missing: run `cargo build --release --bins` (make bench does)", path.display()).into()
        );
    }
    Ok(path)
}

/// p50, p99, p99.9 in milliseconds.
pub(crate) fn percentiles(mut samples: Vec<Duration>) -> (f64, f64, f64) {
    if samples.is_empty() {
        return (0.0, 0.0, 0.0);
    }
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize].as_secs_f64() * 1000.0;
    (at(0.5), at(0.99), at(0.999))
}

/// Peak resident memory of a process, in MiB (VmHWM).
fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        .map_or(0.0, |kib| kib / 1024.0)
}

/// CPU seconds a process has used so far (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let ticks_per_second = 100.0; // USER_HZ, fixed at 100 on Linux for /proc
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name (which may hold spaces): state is field 3.
            let rest = stat.rsplit_once(')')?.1;
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?)
        })
        .map_or(0.0, |ticks| ticks / ticks_per_second)
}

/// The pids of every process named `name` (PostgreSQL runs a process per connection).
fn pids_named(name: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return vec![] };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == name))
        .collect()
}

/// Where the machine's CPU went during a phase: our processes by name, NATS, PostgreSQL
/// and this load generator. Sampled repeatedly, because a connection's PostgreSQL process
/// takes its CPU time with it when it exits.
struct CpuUse {
    ours: Vec<(&'static str, u32)>,
    /// Per process: its group and CPU seconds at the start (0 if born later) and last seen.
    seen: std::collections::HashMap<u32, (&'static str, f64, f64)>,
    started: Instant,
}

impl CpuUse {
    fn start(ours: &[(&'static str, u32)]) -> Self {
        let mut cpu = Self { ours: ours.to_vec(), seen: Default::default(), started: Instant::now() };
        cpu.sample();
        for (_, at_start, last) in cpu.seen.values_mut() {
            *at_start = *last;
        }
        cpu
    }

    fn sample(&mut self) {
        let mut groups: Vec<(&'static str, u32)> = self.ours.clone();
        groups.extend(pids_named("nats-server").into_iter().map(|pid| ("NATS", pid)));
        groups.extend(pids_named("postgres").into_iter().map(|pid| ("PostgreSQL", pid)));
        groups.push(("load generator", std::process::id()));
        for (group, pid) in groups {
            let now = cpu_seconds(pid);
            let entry = self.seen.entry(pid).or_insert((group, 0.0, 0.0));
            entry.2 = entry.2.max(now);
        }
    }

    /// CPU seconds by group since the start, in a fixed order.
    fn used(&self) -> Vec<(&'static str, f64)> {
        let mut order: Vec<&'static str> = self.ours.iter().map(|(name, _)| *name).collect();
        order.extend(["NATS", "PostgreSQL", "load generator"]);
        order
            .into_iter()
            .map(|group| {
                let sum = self.seen.values().filter(|(g, _, _)| *g == group).map(|(_, from, to)| to - from).sum();
                (group, sum)
            })
            .collect()
    }

    /// Milliseconds of CPU per unit of work by group, and how busy the machine was.
    fn report(&mut self, units: f64) -> (String, String) {
        self.sample();
        let used = self.used();
        let total: f64 = used.iter().map(|(_, s)| s).sum();
        let ms = |s: f64| s * 1000.0 / units.max(1.0);
        let parts: Vec<String> = used.iter().map(|(name, s)| format!("{name} {:.3}", ms(*s))).collect();
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        let elapsed = self.started.elapsed().as_secs_f64().max(1e-9);
        (
            format!("{} (total {:.3})", parts.join(", "), ms(total)),
            format!("{:.0}% of {cores} cores busy", total * 100.0 / elapsed / cores),
        )
    }
}

pub(crate) struct Service {
    child: Child,
    pub(crate) url: String,
    /// The admin address's URL (`/metrics`).
    admin_url: String,
}

impl Service {
    pub(crate) async fn start(name: &str, addr_var: &str, env: &[(&str, String)]) -> Result<Self, BenchError> {
        let free_port = || std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port());
        let (port, admin_port) = (free_port()?, free_port()?);
        let child = Command::new(binary(name)?)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env(addr_var, format!("127.0.0.1:{port}"))
            .env(admin_var(addr_var), format!("127.0.0.1:{admin_port}"))
            .env("RUST_LOG", "warn")
            .env("RATE_LIMIT_PER_SECOND", "1000000")
            .env("RATE_LIMIT_BURST", "1000000")
            .stdout(Stdio::null())
            .spawn()?;
        let service = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            admin_url: format!("http://127.0.0.1:{admin_port}"),
        };
        let http = reqwest::Client::new();
        for _ in 0..300 {
            if http.get(format!("{}/healthz", service.url)).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(service);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("{name} did not start").into())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) fn token(id: &str, role: Role) -> String {
    let mut claims = claims_for(&auth_config(), id, id, &[role], Duration::from_secs(7200));
    // A complainant files under the portal's profile of them.
    claims.profile = ehelpdesk_tests::fixtures::COMPLAINANT.profile();
    mint_hs256(&jwt_secret(), &claims).unwrap_or_default()
}

/// Runs every phase, or those named in `BENCH_ONLY` (raw, commands, catchup, queries, notify).
pub async fn run_all(sizes: &Sizes) -> Result<Vec<Row>, BenchError> {
    const PHASES: [&str; 5] = ["raw", "commands", "catchup", "queries", "notify"];
    let only = std::env::var("BENCH_ONLY").unwrap_or_default();
    if let Some(unknown) = only.split(',').map(str::trim).find(|p| !p.is_empty() && !PHASES.contains(p)) {
        return Err(format!("BENCH_ONLY: `{unknown}` is not a phase ({})", PHASES.join(", ")).into());
    }
    let wanted = |phase: &str| only.is_empty() || only.split(',').any(|p| p.trim() == phase);
    let mut rows = vec![];
    let mut raw = None;
    if wanted("raw") {
        eprintln!("1/6 raw JetStream appends with OCC");
        let rate = raw_appends(sizes).await?;
        rows.push(Row {
            figure: "1. raw JetStream appends (OCC, 64 writers, 5 events/subject)".into(),
            value: format!("{rate:.0} events/s"),
            ..Default::default()
        });
        raw = Some(rate);
    }
    if wanted("commands") {
        eprintln!("2-3/6 commands over HTTP and projection lag");
        rows.extend(commands_and_lag(sizes, raw).await?);
    }
    if wanted("catchup") {
        eprintln!("4/6 catch-up");
        rows.extend(catch_up(sizes).await?);
    }
    if wanted("queries") {
        eprintln!("5/6 queries");
        rows.extend(queries(sizes).await?);
    }
    if wanted("notify") {
        eprintln!("6/6 notifications");
        rows.extend(crate::notify::notifications(sizes).await?);
    }
    Ok(rows)
}

/// (1) Straight from async-nats: appends with `Nats-Expected-Last-Subject-Sequence`.
async fn raw_appends(sizes: &Sizes) -> Result<f64, BenchError> {
    let log = TestEventLog::new();
    let js = log.jetstream().await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: log.config.stream.clone(),
        subjects: vec![log.config.all_subjects()],
        storage: async_nats::jetstream::stream::StorageType::File,
        ..Default::default()
    })
    .await?;
    let started = Instant::now();
    let mut writers = vec![];
    for _ in 0..64 {
        let js = js.clone();
        let prefix = log.config.subject_prefix.clone();
        let subjects = sizes.raw_subjects_per_writer;
        writers.push(tokio::spawn(async move {
            for _ in 0..subjects {
                let subject = format!("{prefix}.complaint.{}", uuid::Uuid::now_v7());
                let mut last = 0;
                for _ in 0..5 {
                    let mut headers = HeaderMap::new();
                    headers.insert("Nats-Expected-Last-Subject-Sequence", last.to_string().as_str());
                    headers.insert("Nats-Msg-Id", uuid::Uuid::now_v7().to_string().as_str());
                    let ack = js.publish_with_headers(subject.clone(), headers, "{}".into()).await?.await?;
                    last = ack.sequence;
                }
            }
            Ok::<(), BenchError>(())
        }));
    }
    for w in writers {
        w.await??;
    }
    Ok((64 * sizes.raw_subjects_per_writer * 5) as f64 / started.elapsed().as_secs_f64())
}

/// (2) commands over HTTP by 64 virtual users, (3) projection lag, (6) memory.
async fn commands_and_lag(sizes: &Sizes, raw: Option<f64>) -> Result<Vec<Row>, BenchError> {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = service_env(&log, &db);
    let command = Service::start("ehelpdesk-command", "COMMAND_ADDR", &env).await?;
    let projection = Service::start("ehelpdesk-projection", "PROJECTION_ADDR", &env).await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(128).build()?;
    let admin = token(ADMIN.id, Role::Admin);
    let pic = token(PIC.id, Role::Pic);
    let staff = http
        .post(format!("{}/v1/staff", command.url))
        .bearer_auth(&admin)
        .json(&PIC.registration(&["pic"], &["AC"]))
        .send()
        .await?;
    if !staff.status().is_success() {
        return Err(format!("staff registration: {}", staff.status()).into());
    }
    let latencies = Arc::new(Mutex::new(vec![]));
    let lags = Arc::new(Mutex::new(vec![]));
    let ours = [("command", command.child.id()), ("projection", projection.child.id())];
    let mut cpu = CpuUse::start(&ours);
    let started = Instant::now();
    let mut users = vec![];
    for u in 0..sizes.virtual_users {
        let (http, c, q, admin, pic) =
            (http.clone(), command.url.clone(), projection.url.clone(), admin.clone(), pic.clone());
        let (latencies, lags) = (latencies.clone(), lags.clone());
        let walks = sizes.walks_per_user;
        users.push(tokio::spawn(async move {
            let me = format!("bench-c{u}");
            let mine = token(&me, Role::Complainant);
            let mut timings = vec![];
            let mut lag_samples = vec![];
            for w in 0..walks {
                let body = complaint("AC", &format!("Aduan beban {u}-{w}"));
                let send = |path: String, token: &str, body: Value| {
                    let request = http.post(format!("{c}{path}")).bearer_auth(token).json(&body);
                    async move {
                        let t = Instant::now();
                        let response = request.send().await?;
                        let status = response.status();
                        let value: Value = response.json().await?;
                        if !status.is_success() {
                            return Err::<_, BenchError>(format!("{path}: {status} {value}").into());
                        }
                        Ok((t.elapsed(), value))
                    }
                };
                let (t, filed) = send("/v1/complaints".into(), &mine, body).await?;
                timings.push(t);
                let id = filed["complaint_id"].as_str().unwrap_or_default().to_owned();
                let (t, assigned) =
                    send(format!("/v1/complaints/{id}/assignment"), &admin, json!({"pic_id": PIC.id})).await?;
                timings.push(t);
                // (3) from the reply to the change being visible in the query API.
                let seq = assigned["stream_sequence"].as_u64().unwrap_or(0);
                let replied = Instant::now();
                let visible =
                    http.get(format!("{q}/v1/complaints/{id}?min_seq={seq}")).bearer_auth(&admin).send().await?;
                if visible.status().is_success() {
                    lag_samples.push(replied.elapsed());
                }
                let (t, _) = send(
                    format!("/v1/complaints/{id}/responses"),
                    &pic,
                    json!({"message": "Mohon maklum balas", "status": "awaiting_complainant"}),
                )
                .await?;
                timings.push(t);
                let (t, _) = send(format!("/v1/complaints/{id}/replies"), &mine, json!({"message": "BV-1"})).await?;
                timings.push(t);
                let (t, _) = send(format!("/v1/complaints/{id}/closure"), &mine, json!({"rating": 5})).await?;
                timings.push(t);
            }
            latencies.lock().await.extend(timings);
            lags.lock().await.extend(lag_samples);
            Ok::<(), BenchError>(())
        }));
    }
    for u in users {
        u.await??;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let scraped = http.get(format!("{}/metrics", projection.admin_url)).send().await?.text().await?;
    let metric = |name: &str| {
        scraped
            .lines()
            .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let batches = metric("ehelpdesk_projection_batch_size_count").max(1.0);
    let batch_events = metric("ehelpdesk_projection_batch_size_sum") / batches;
    let batch_ms = metric("ehelpdesk_projection_batch_seconds_sum") * 1000.0 / batches;
    let latencies = std::mem::take(&mut *latencies.lock().await);
    let latencies_count = latencies.len();
    let (cpu_per_command, busy) = cpu.report(latencies_count as f64);
    let commands = latencies_count as f64 / elapsed;
    let (p50, p99, p999) = percentiles(latencies);
    let (lag50, lag99, _) = percentiles(std::mem::take(&mut *lags.lock().await));
    let rss_command = peak_rss_mib(command.child.id());
    let rss_projection = peak_rss_mib(projection.child.id());
    Ok(vec![
        Row {
            figure: format!(
                "2. commands over HTTP ({} users walking log→assign→respond→reply→close)",
                sizes.virtual_users
            ),
            value: format!("{commands:.0} commands/s; p50 {p50:.1} ms, p99 {p99:.1} ms, p99.9 {p999:.1} ms"),
            limit: raw.map(|raw| format!("{raw:.0} events/s (1)")).unwrap_or_default(),
            ratio: raw.map(|raw| format!("{:.0}%", commands * 100.0 / raw)).unwrap_or_default(),
            target: "≥ 50%, p99 < 20 ms".into(),
        },
        Row {
            figure: "3. projection lag under that load (reply → visible with min_seq)".into(),
            value: format!("p50 {lag50:.1} ms, p99 {lag99:.1} ms"),
            target: "p99 < 100 ms".into(),
            ..Default::default()
        },
        Row {
            figure: "2b. CPU per command during (2), ms".into(),
            value: cpu_per_command,
            limit: busy,
            ..Default::default()
        },
        Row {
            figure: "3b. projection batches during (2)".into(),
            value: format!("{batches:.0} batches, {batch_events:.1} events and {batch_ms:.1} ms each on average"),
            ..Default::default()
        },
        Row {
            figure: "6a. peak RSS during (2)".into(),
            value: format!("command {rss_command:.0} MiB, projection {rss_projection:.0} MiB"),
            ..Default::default()
        },
    ])
}

/// (4) rebuild from the log beside a raw PostgreSQL batch-upsert limit; (6) its memory.
async fn catch_up(sizes: &Sizes) -> Result<Vec<Row>, BenchError> {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = service_env(&log, &db);
    let seed = Command::new(binary("ehelpdesk-seed")?)
        .arg(sizes.catchup_complaints.to_string())
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .output()?;
    if !seed.status.success() {
        return Err(format!("seed failed: {}", String::from_utf8_lossy(&seed.stderr)).into());
    }
    let mut rebuild = Command::new(binary("ehelpdesk-projection")?)
        .arg("rebuild")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = rebuild.id();
    let mut cpu = CpuUse::start(&[("rebuild", pid)]);
    let mut rss = 0.0_f64;
    let status = loop {
        rss = rss.max(peak_rss_mib(pid));
        // Read while the processes live: their /proc entries go with them.
        cpu.sample();
        if let Some(status) = rebuild.try_wait()? {
            break status;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut out = String::new();
    if let Some(mut stdout) = rebuild.stdout.take() {
        use std::io::Read;
        stdout.read_to_string(&mut out)?;
    }
    if !status.success() {
        return Err(format!("rebuild failed: {out}").into());
    }
    // "rebuilt N events in X s (R events/s); ..."
    let rate: f64 = out
        .lines()
        .find(|l| l.starts_with("rebuilt "))
        .and_then(|l| l.split('(').nth(1))
        .and_then(|s| s.split(' ').next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("no rate in rebuild output: {out}"))?;
    let events = sizes.catchup_complaints * 5 + 300;
    let (cpu_per_event, busy) = cpu.report(events as f64);
    let pg = raw_postgres(&db, sizes.pg_raw_rows).await?;
    Ok(vec![
        Row {
            figure: format!("4. catch-up: rebuild from {events} events"),
            value: format!("{rate:.0} events/s"),
            limit: format!("{pg:.0} rows/s (raw PostgreSQL, 500-row upserts + checkpoint a transaction)"),
            ratio: format!("{:.0}%", rate * 100.0 / pg),
            target: "≥ 30%".into(),
        },
        Row {
            figure: "4b. CPU per event during (4), ms".into(),
            value: cpu_per_event,
            limit: busy,
            ..Default::default()
        },
        Row { figure: "6b. peak RSS of the rebuild".into(), value: format!("{rss:.0} MiB"), ..Default::default() },
    ])
}

async fn raw_postgres(db: &TestDatabase, rows: usize) -> Result<f64, BenchError> {
    let pool = sqlx::PgPool::connect(&db.url).await?;
    sqlx::query(
        "CREATE TABLE raw_rows (id uuid PRIMARY KEY, number text, status text, state jsonb, last_sequence bigint)",
    )
    .execute(&pool)
    .await?;
    sqlx::query("CREATE TABLE raw_checkpoint (name text PRIMARY KEY, last_sequence bigint)").execute(&pool).await?;
    sqlx::query("INSERT INTO raw_checkpoint VALUES ('main', 0)").execute(&pool).await?;
    let state = json!({"title": "Aduan ujian", "description": "Amaun pada baris arahan bayaran tidak sama.", "status": "closed",
        "complainant": {"id": "pengadu", "name": "Pengadu Ujian", "ptj": "PTJ 1"}});
    let started = Instant::now();
    let mut sequence = 0i64;
    for chunk in 0..rows.div_ceil(500) {
        let batch: Vec<Value> = (0..500)
            .map(|i| {
                sequence += 1;
                json!({"id": uuid::Uuid::now_v7(), "number": format!("ADU-{chunk}-{i}"), "status": "closed",
                    "state": state, "last_sequence": sequence})
            })
            .collect();
        let mut tx = pool.begin().await?;
        sqlx::query(
            "INSERT INTO raw_rows SELECT * FROM jsonb_populate_recordset(NULL::raw_rows, $1) \
             ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, state = EXCLUDED.state, \
             last_sequence = EXCLUDED.last_sequence",
        )
        .bind(Value::Array(batch))
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE raw_checkpoint SET last_sequence = $1 WHERE name = 'main'")
            .bind(sequence)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    let rate = sequence as f64 / started.elapsed().as_secs_f64();
    pool.close().await;
    Ok(rate)
}

/// The i-th request path of a query kind.
type PathFor = Box<dyn Fn(usize) -> String + Send + Sync>;

/// How a reader proves who it is: the APIs take a bearer token, the web app its session cookie.
enum Credentials {
    Bearer(String),
    Cookie(String),
}

/// `query_readers` readers asking `base` + `path(i)` for `query_duration` after a second of
/// warming up; (p50 ms, p99 ms, requests counted). Any answer but a success fails the run.
async fn read_under_load(
    http: &reqwest::Client,
    base: &str,
    credentials: &Credentials,
    path: PathFor,
    sizes: &Sizes,
) -> Result<(f64, f64, usize), BenchError> {
    let path = Arc::new(path);
    let samples = Arc::new(Mutex::new(vec![]));
    let counted_from = Instant::now() + Duration::from_secs(1);
    let deadline = counted_from + sizes.query_duration;
    let mut readers = vec![];
    for r in 0..sizes.query_readers {
        let (http, url, path, samples) = (http.clone(), base.to_owned(), path.clone(), samples.clone());
        let (bearer, cookie) = match credentials {
            Credentials::Bearer(token) => (Some(token.clone()), None),
            Credentials::Cookie(token) => (None, Some(format!("ehd_session={token}"))),
        };
        readers.push(tokio::spawn(async move {
            let mut i = r * 7919;
            let mut mine = vec![];
            while Instant::now() < deadline {
                i += 1;
                let t = Instant::now();
                let mut request = http.get(format!("{url}{}", path(i)));
                if let Some(token) = &bearer {
                    request = request.bearer_auth(token);
                }
                if let Some(cookie) = &cookie {
                    request = request.header("cookie", cookie);
                }
                let response = request.send().await?;
                let status = response.status();
                let body = response.bytes().await?;
                if !status.is_success() {
                    let body = String::from_utf8_lossy(&body);
                    return Err::<(), BenchError>(format!("query {} answered {status}: {body}", path(i)).into());
                }
                if t >= counted_from {
                    mine.push(t.elapsed());
                }
            }
            samples.lock().await.extend(mine);
            Ok(())
        }));
    }
    for r in readers {
        r.await??;
    }
    let samples = std::mem::take(&mut *samples.lock().await);
    let count = samples.len();
    let (p50, p99, _) = percentiles(samples);
    Ok((p50, p99, count))
}

/// The web app's inbox and complaint pages over the same data, each beside the query API's
/// answer it is built from, measured in the same way.
async fn web_pages(
    env: &[(&'static str, String)],
    [command, projection]: [&Service; 2],
    http: &reqwest::Client,
    admin: &str,
    ids: &[uuid::Uuid],
    sizes: &Sizes,
) -> Result<Vec<Row>, BenchError> {
    let mut web_env = env.to_vec();
    web_env.push(("COMMAND_URL", command.url.clone()));
    web_env.push(("QUERY_URL", projection.url.clone()));
    let web = Service::start("ehelpdesk-web", "WEB_ADDR", &web_env).await?;
    let ids = Arc::new(ids.to_vec());
    let detail = |prefix: &'static str| -> PathFor {
        let ids = ids.clone();
        Box::new(move |i| format!("{prefix}{}", ids[i % ids.len().max(1)]))
    };
    let pages: [(&str, PathFor, PathFor); 2] = [
        ("inbox page (newest 25)", Box::new(|_| "/inbox".into()), Box::new(|_| "/v1/complaints?limit=25".into())),
        ("complaint page", detail("/complaints/"), detail("/v1/complaints/")),
    ];
    let mut rows = vec![];
    for (name, page, api) in pages {
        let (_, api_p99, _) =
            read_under_load(http, &projection.url, &Credentials::Bearer(admin.to_owned()), api, sizes).await?;
        let (p50, p99, count) =
            read_under_load(http, &web.url, &Credentials::Cookie(admin.to_owned()), page, sizes).await?;
        rows.push(Row {
            figure: format!(
                "5w. web {name} at {} complaints ({} readers, as the admin)",
                sizes.query_complaints, sizes.query_readers
            ),
            value: format!("p50 {p50:.1} ms, p99 {p99:.1} ms ({count} pages)"),
            limit: format!("the query API's answer it is built from: p99 {api_p99:.1} ms"),
            target: "p99 < 50 ms".into(),
            ..Default::default()
        });
    }
    Ok(rows)
}

/// (5) queries at scale: read models generated in SQL, 16 concurrent readers per query.
async fn queries(sizes: &Sizes) -> Result<Vec<Row>, BenchError> {
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = service_env(&log, &db);
    // The command service creates the event log's stream, which the staff directory (who may
    // ask what) is read from; the projection creates the schema, migrations and calendar. No
    // events are written: only the queries are measured.
    let command = Service::start("ehelpdesk-command", "COMMAND_ADDR", &env).await?;
    let projection = Service::start("ehelpdesk-projection", "PROJECTION_ADDR", &env).await?;
    let pool = ehelpdesk_projection::db::connect(&db.url, "readmodel", 2).await?;
    let n = sizes.query_complaints as i64;
    sqlx::query(
        "INSERT INTO complaints (complaint_id, number, title, description, category, channel, complainant_id, \
           complainant_ic, complainant_name, complainant_email, complainant_phone, ptj, status, pic_id, pic_name, \
           logged_at, assigned_at, closed_at, last_activity_at, closed_by, reopen_count, state, last_sequence) \
         SELECT gen_random_uuid(), 'ADU-B-' || i, \
           'Aduan ' || i || ' ' || (ARRAY['baucar','slip gaji','bayaran','invois','lejar','aset'])[1 + i % 6], \
           'Keterangan aduan nombor ' || i, \
           (ARRAY['AP','AR','AC','GL','PAYROLL','ASSET','BUDGET','CM','INVEST','LOAN','ACCESS','AP'])[1 + i % 12], \
           'web', 'bench-c' || (i % 50000), '900101035678', 'Pengadu ' || i, 'p@example.gov.my', '+60123456789', \
           'PTJ ' || (i % 80), \
           CASE WHEN i % 5 = 0 THEN (ARRAY['assigned','in_progress','awaiting_complainant'])[1 + i % 3] ELSE 'closed' END, \
           'pic-' || lpad(r.pic::text, 3, '0'), 'PIC ' || r.pic, \
           now() - r.age * interval '1 day', now() - r.age * interval '1 day', \
           CASE WHEN i % 5 = 0 THEN NULL ELSE now() - r.age * interval '1 day' + least(r.took, r.age) * interval '1 day' END, \
           now(), CASE WHEN i % 5 = 0 THEN NULL ELSE 'complainant' END, 0, '{}'::jsonb, i \
         FROM generate_series(1, $1) i CROSS JOIN LATERAL (SELECT \
           (hashint8(i) & 2147483647) % 300 AS pic, (hashint8(i + 7919) & 2147483647) % 400 AS age, \
           (hashint8(i + 104729) & 2147483647) % 20 AS took) r",
    )
    .bind(n)
    .execute(&pool)
    .await?;
    // The states the detail query reads, for the complaints it asks for (a tenth of them),
    // built from the row as the projection would store it.
    sqlx::query(
        "UPDATE complaints SET state = jsonb_build_object( \
           'id', complaint_id, 'number', number, \
           'complainant', jsonb_build_object('id', complainant_id, 'ic_number', complainant_ic, \
             'name', complainant_name, 'email', complainant_email, 'phone', complainant_phone, 'ptj', ptj), \
           'category', category, 'title', title, 'description', description, 'channel', channel, \
           'reference', NULL, \
           'logged_by', jsonb_build_object('id', complainant_id, 'role', 'complainant', 'name', complainant_name), \
           'status', status, 'pic', jsonb_build_object('id', pic_id, 'name', pic_name), \
           'implementor', NULL, 'vendor', NULL, 'vendor_log_number', NULL, \
           'logged_at', to_char(logged_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
           'assigned_at', to_char(assigned_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
           'first_response_at', NULL, \
           'closed_at', to_char(closed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
           'closed_by', closed_by, 'satisfaction', NULL, \
           'last_activity_at', to_char(last_activity_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), \
           'reopen_count', 0, 'version', 1) \
         WHERE last_sequence % 10 = 0",
    )
    .execute(&pool)
    .await?;
    sqlx::query(
        "INSERT INTO timeline (complaint_id, sequence, occurred_at, event_type, actor_id, actor_role, actor_name, \
           status, message, details, visibility) \
         SELECT complaint_id, last_sequence, logged_at, 'ComplaintLogged', complainant_id, 'complainant', \
           complainant_name, status, NULL, '{}'::jsonb, 'public' FROM complaints WHERE last_sequence % 10 = 0",
    )
    .execute(&pool)
    .await?;
    // As autovacuum would leave a settled table: statistics, and a visibility map for
    // index-only scans.
    sqlx::query("VACUUM ANALYZE").execute(&pool).await?;
    // Write the load's dirty pages out now rather than under the first measurement (needs a
    // superuser; without one the checkpointer does it in its own time).
    if let Err(e) = sqlx::query("CHECKPOINT").execute(&pool).await {
        eprintln!("CHECKPOINT skipped: {e}");
    }
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT complaint_id FROM complaints WHERE last_sequence % 10 = 0 LIMIT 1000")
            .fetch_all(&pool)
            .await?;
    let http = reqwest::Client::builder().pool_max_idle_per_host(64).build()?;
    let admin = token(ADMIN.id, Role::Admin);
    let mut rows = vec![];
    let queries: [(&str, PathFor); 6] = [
        ("inbox page", Box::new(|i| format!("/v1/inbox?pic_id=pic-{:03}&limit=50", i % 300))),
        ("badge", Box::new(|i| format!("/v1/inbox/badge?pic_id=pic-{:03}", i % 300))),
        ("complaint detail", {
            let ids = ids.clone();
            Box::new(move |i| format!("/v1/complaints/{}", ids[i % ids.len().max(1)]))
        }),
        ("aging report (by PIC)", Box::new(|_| "/v1/reports/aging?group_by=pic".into())),
        ("resolution report (by category)", Box::new(|_| "/v1/reports/resolution?group_by=category".into())),
        ("text search", Box::new(|i| format!("/v1/complaints?q={}&limit=20", ["baucar", "invois", "lejar"][i % 3]))),
    ];
    for (name, path) in queries {
        let (p50, p99, count) =
            read_under_load(&http, &projection.url, &Credentials::Bearer(admin.clone()), path, sizes).await?;
        rows.push(Row {
            figure: format!("5. {name} at {} complaints ({} readers)", sizes.query_complaints, sizes.query_readers),
            value: format!("p50 {p50:.1} ms, p99 {p99:.1} ms ({count} requests)"),
            target: "p99 < 20 ms".into(),
            ..Default::default()
        });
    }
    rows.extend(web_pages(&env, [&command, &projection], &http, &admin, &ids, sizes).await?);
    // The reports above are shared per checkpoint; this is what computing one costs.
    for (name, by) in [("aging report (by PIC)", GroupBy::Pic), ("resolution report (by category)", GroupBy::Category)]
    {
        let mut samples = vec![];
        for _ in 0..20 {
            let t = Instant::now();
            if name.starts_with("aging") {
                queries::aging_report(&pool, by, queries::today_in_malaysia()).await?;
            } else {
                queries::resolution_report(&pool, by, 5).await?;
            }
            samples.push(t.elapsed());
        }
        let (p50, p99, _) = percentiles(samples);
        rows.push(Row {
            figure: format!("5. {name} computed afresh (1 reader, 20 times)"),
            value: format!("p50 {p50:.1} ms, p99 {p99:.1} ms"),
            ..Default::default()
        });
    }
    drop(projection);
    Ok(rows)
}
