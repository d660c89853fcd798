//! The fault experiments of issue 13 as tests: each starts servers of its own on 127.0.0.1
//! (never the shared NATS on 4222 or PostgreSQL on 5432), runs both services as the built
//! binaries, drives load with a few workers (tests/src/load.rs), injects a fault, and ends
//! with the consistency check (tests/src/consistency.rs): every acknowledged command's event
//! in the stream and in the read models exactly once, no number twice, `verify` clean. Each
//! prints what clients saw (`--nocapture`): answers by status, recovery times; a 500 fails.
//!
//! Not here, because other tests already do them: the counter's stream purged, its key
//! deleted, an old value restored (complaint_numbers.rs); a rebuild while the live projector
//! applies with the projection restarted in-process (projection_faults.rs). The rebuild
//! below is the same experiment with processes and a kill -9.
//!
//! Needs the binaries built first (`cargo build --bins`; `make test` does it). The
//! experiments run one at a time (they share two cores with everything else), about
//! 1-2 minutes in all.

use std::time::{Duration, Instant};

use ehelpdesk_tests::consistency::{self, Recovery};
use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::load::Load;
use ehelpdesk_tests::nats_cluster::NatsCluster;
use ehelpdesk_tests::postgres_server::PostgresServer;
use ehelpdesk_tests::process::Service;
use ehelpdesk_tests::{InProcess, TestDatabase, TestEventLog, service_env_for};

/// One experiment at a time: concurrent ones would measure each other.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Load workers: enough to keep every service busy, few enough for two cores.
const WORKERS: usize = 4;
/// Generous: elections after a kill -9 on a loaded machine can take several seconds.
const RECOVERY_WITHIN: Duration = Duration::from_secs(90);

/// The services' environment for a fault test: the test's log and database, and no rate
/// limit worth the name (every worker writes as the same two people).
fn env_for(log: &TestEventLog, database_url: &str) -> Vec<(&'static str, String)> {
    let mut env = service_env_for(log, database_url);
    env.push(("RATE_LIMIT_PER_SECOND", "100000".into()));
    env.push(("RATE_LIMIT_BURST", "100000".into()));
    env
}

/// Both services as processes, ready.
async fn start_services(env: &[(&'static str, String)]) -> (Service, Service) {
    let mut command = Service::start("ehelpdesk-command", env, "COMMAND_ADDR");
    command.wait_ready_within(RECOVERY_WITHIN).await;
    let mut projection = Service::start("ehelpdesk-projection", env, "PROJECTION_ADDR");
    projection.wait_ready_within(RECOVERY_WITHIN).await;
    (command, projection)
}

/// Registers the staff the load workers name.
async fn register_staff(command: &Service) {
    let client = InProcess::client_for(command.addr, command.admin);
    client.post("/v1/staff", &ADMIN, &PIC.registration(&["pic"], &["AC"])).await.assert_ok(201);
}

/// Waits until the load has `n` more acknowledgements (bounded).
async fn load_for(load: &Load, n: usize) {
    assert!(load.wait_for_acks(n, RECOVERY_WITHIN).await, "the load never reached {n} more acknowledgements");
}

/// A single NATS server (JetStream, storage in a temporary directory) killed -9 under load
/// and started again on the same storage.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_killed_and_restarted_under_load() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut nats = NatsCluster::start(1).await;
    let mut log = TestEventLog::new();
    log.config.nats_url = nats.urls().parse().expect("a NATS URL");
    let db = TestDatabase::new().await;
    let env = env_for(&log, &db.url);
    let (command, projection) = start_services(&env).await;
    register_staff(&command).await;

    let load = Load::start(WORKERS, &command.url, &projection.url);
    load_for(&load, 60).await;
    nats.kill(0);
    let killed = Instant::now();
    // 10 s: a command caught mid-append waits out the service's 5 s JetStream timeout
    // before its 503; the window must hold answers, not only requests in flight.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (command_ready, projection_ready) =
        tokio::join!(consistency::readiness(&command.url), consistency::readiness(&projection.url));
    tokio::time::sleep(Duration::from_secs(10).saturating_sub(killed.elapsed())).await;
    nats.restart(0);
    let restarted = Instant::now();
    // Answers that arrived while NATS was down (after a margin for acks already on their
    // way when it died): 503 only. Those of requests still waiting arrive after the restart.
    let outage = (killed + Duration::from_millis(500), restarted);
    let during = load.snapshot().command_statuses_between(outage.0, outage.1);
    let slowest = load.snapshot().slowest_command_between(outage.0, outage.1);
    let recovered = consistency::recovery(&load, &db.url, "NATS restarted", restarted, RECOVERY_WITHIN).await;
    load_for(&load, 40).await;
    let outcome = load.stop().await;

    let checked = consistency::check(&log, &db.url, &env, &outcome).await;
    consistency::report("a single NATS server killed -9 for 10 s", &outcome, &[recovered], &checked);
    println!("   commands answered while NATS was down, by status: {during:?}; the slowest took {slowest:?}");
    assert!(during.keys().all(|s| s == "503"), "while NATS is down commands answer 503: {during:?}");
    let after_kill = outcome.command_statuses_between(killed, Instant::now());
    assert!(after_kill.get("503").is_some_and(|n| *n > 0), "the outage was seen: {after_kill:?}");
    println!("   /readyz while NATS was down: command {command_ready:?}, projection {projection_ready:?}");
    assert_eq!((command_ready.0, projection_ready.0), (Some(503), Some(503)), "neither is ready without NATS");
}

/// The read models' PostgreSQL (a private cluster) stopped with `-m immediate` under load
/// and started again: commands never notice, queries answer 503, the projection resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_immediately_and_restarted_under_load() {
    let _one = ONE_AT_A_TIME.lock().await;
    let postgres = PostgresServer::start().await;
    let log = TestEventLog::new();
    let env = env_for(&log, &postgres.url());
    let (command, projection) = start_services(&env).await;
    register_staff(&command).await;

    let load = Load::start(WORKERS, &command.url, &projection.url);
    load_for(&load, 60).await;
    postgres.stop_immediate();
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (command_ready, projection_ready) =
        tokio::join!(consistency::readiness(&command.url), consistency::readiness(&projection.url));
    tokio::time::sleep(Duration::from_secs(5).saturating_sub(stopped.elapsed())).await;
    postgres.start_again().await;
    let started = Instant::now();
    let during = load.snapshot();
    let queries_during: usize = during
        .answers
        .iter()
        .filter(|a| a.what == "query" && a.sent >= stopped && a.answered < started && a.status == Some(503))
        .count();
    let recovered =
        consistency::recovery(&load, &postgres.url(), "PostgreSQL restarted", started, RECOVERY_WITHIN).await;
    load_for(&load, 40).await;
    let outcome = load.stop().await;

    let checked = consistency::check(&log, &postgres.url(), &env, &outcome).await;
    consistency::report("PostgreSQL stopped -m immediate for 5 s", &outcome, &[recovered], &checked);
    println!("   queries answered 503 while PostgreSQL was down: {queries_during}");
    let commands_during = during.command_statuses_between(stopped, started);
    println!("   commands answered while PostgreSQL was down, by status: {commands_during:?}");
    assert!(commands_during.values().sum::<usize>() > 0, "commands were answered during the outage");
    assert!(
        commands_during.keys().all(|s| s == "200" || s == "201"),
        "the command side holds no database: {commands_during:?}"
    );
    println!("   /readyz while PostgreSQL was down: command {command_ready:?}, projection {projection_ready:?}");
    assert_eq!((command_ready.0, projection_ready.0), (Some(200), Some(503)), "only the projection needs PostgreSQL");
    drop(projection);
}

/// A 3-node JetStream cluster with `STREAM_REPLICAS=3`: the stream's leader killed -9 under
/// load and restarted; then two of three nodes down (no quorum: 503, never 500) and back;
/// then the services restarted while one node is down, and the node back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jetstream_cluster_loses_its_leader_then_its_quorum_under_load() {
    let _one = ONE_AT_A_TIME.lock().await;
    let mut cluster = NatsCluster::start(3).await;
    let mut log = TestEventLog::new();
    log.config.nats_url = cluster.urls().parse().expect("three NATS URLs");
    log.config.replicas = 3;
    let db = TestDatabase::new().await;
    let env = env_for(&log, &db.url);
    // NATS 2.9 may place a stream created shortly after a node's kill -9 on that node, where
    // it hangs: the services create every stream before anything is killed.
    let (command, projection) = start_services(&env).await;
    register_staff(&command).await;
    let mut recoveries: Vec<Recovery> = vec![];

    let load = Load::start(WORKERS, &command.url, &projection.url);
    load_for(&load, 60).await;
    let leader = wait_for_leader(&cluster, &log.config.stream).await;
    cluster.kill(leader);
    let killed = Instant::now();
    recoveries.push(consistency::recovery(&load, &db.url, "stream leader killed", killed, RECOVERY_WITHIN).await);
    load_for(&load, 20).await;
    cluster.restart(leader);
    load_for(&load, 40).await;

    // Two of three: the current leader and one other. 12 s: the first attempts wait out
    // the command service's 5 s JetStream timeout before their 503.
    let leader = wait_for_leader(&cluster, &log.config.stream).await;
    let other = (leader + 1) % 3;
    cluster.kill(leader);
    cluster.kill(other);
    let lost = Instant::now();
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (command_ready, projection_ready) =
        tokio::join!(consistency::readiness(&command.url), consistency::readiness(&projection.url));
    tokio::time::sleep(Duration::from_secs(12).saturating_sub(lost.elapsed())).await;
    let no_quorum = (lost + Duration::from_millis(500), Instant::now());
    let without_quorum = load.snapshot().command_statuses_between(no_quorum.0, no_quorum.1);
    let slowest = load.snapshot().slowest_command_between(no_quorum.0, no_quorum.1);
    cluster.restart(leader);
    cluster.restart(other);
    let back = Instant::now();

    recoveries.push(consistency::recovery(&load, &db.url, "quorum back", back, RECOVERY_WITHIN).await);
    load_for(&load, 40).await;

    // Services (re)started while one node is down: node 0, the first in NATS_URL. The
    // streams exist on all three nodes already.
    cluster.kill(0);
    let node_down = Instant::now();
    drop(command);
    drop(projection);
    let (command, projection) = start_services(&env).await;
    load.retarget(Some(&command.url), Some(&projection.url));
    let restarted = Instant::now();
    recoveries.push(
        consistency::recovery(&load, &db.url, "services restarted with a node down", restarted, RECOVERY_WITHIN).await,
    );
    load_for(&load, 40).await;
    cluster.restart(0);
    let services_down_for = restarted.duration_since(node_down);
    load_for(&load, 20).await;
    let outcome = load.stop().await;

    let checked = consistency::check(&log, &db.url, &env, &outcome).await;
    consistency::report(
        "3-node cluster: leader killed -9, then two of three, then services started with one down",
        &outcome,
        &recoveries,
        &checked,
    );
    println!("   commands answered without quorum (12 s), by status: {without_quorum:?}; the slowest took {slowest:?}");
    println!(
        "   services killed and started again with node 0 down, ready in {:.2} s",
        services_down_for.as_secs_f64()
    );
    assert!(
        without_quorum.keys().all(|s| s == "503" || s == "transport"),
        "without quorum nothing is acknowledged and nothing is a 500: {without_quorum:?}"
    );
    let after_loss = outcome.command_statuses_between(lost, back);
    assert!(after_loss.get("503").is_some_and(|n| *n > 0), "the quorum loss was seen: {after_loss:?}");
    println!("   /readyz without quorum: command {command_ready:?}, projection {projection_ready:?}");
    assert_eq!(command_ready.0, Some(503), "the command side is not ready without quorum");
    drop(projection);
}

/// The node leading `stream`, once one is elected (bounded).
async fn wait_for_leader(cluster: &NatsCluster, stream: &str) -> usize {
    for _ in 0..300 {
        if let Some(leader) = cluster.leader_of(stream).await {
            return leader;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no leader for {stream}");
}

/// `ehelpdesk-projection rebuild` as a process while commands arrive, the live projection
/// service killed -9 and started again during it (the in-process variant with a graceful
/// restart is in projection_faults.rs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuild_under_load_with_the_live_projection_killed_during_it() {
    let _one = ONE_AT_A_TIME.lock().await;
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = env_for(&log, &db.url);
    let (command, projection) = start_services(&env).await;
    register_staff(&command).await;

    let load = Load::start(WORKERS, &command.url, &projection.url);
    // A log long enough that the rebuild takes a while in small batches.
    load_for(&load, 600).await;
    let mut rebuild = Rebuild(
        std::process::Command::new(ehelpdesk_tests::process::binary("ehelpdesk-projection"))
            .arg("rebuild")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "warn")
            .env("REBUILD_BATCH_SIZE", "5")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("rebuild starts"),
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rebuilding_at_kill = rebuild.0.try_wait().expect("rebuild's status").is_none();
    drop(projection); // kill -9
    let mut projection = Service::start("ehelpdesk-projection", &env, "PROJECTION_ADDR");
    projection.wait_ready_within(RECOVERY_WITHIN).await;
    load.retarget(None, Some(&projection.url));
    let restarted = Instant::now();
    let rebuilding_at_restart = rebuild.0.try_wait().expect("rebuild's status").is_none();
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = rebuild.0.try_wait().expect("rebuild's status") {
            break status;
        }
        assert!(Instant::now() < deadline, "the rebuild did not end within 180 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let mut printed = String::new();
    if let Some(mut out) = rebuild.0.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut printed);
    }
    assert!(status.success(), "rebuild failed: {status}; {printed}");
    let recovered =
        consistency::recovery(&load, &db.url, "live projection restarted", restarted, RECOVERY_WITHIN).await;
    load_for(&load, 40).await;
    let outcome = load.stop().await;

    let checked = consistency::check(&log, &db.url, &env, &outcome).await;
    consistency::report("rebuild under load, live projection killed -9 during it", &outcome, &[recovered], &checked);
    println!("   rebuild: {}", printed.trim());
    println!("   the rebuild still ran when the live projection was ready again: {rebuilding_at_restart}");
    assert!(rebuilding_at_kill, "the rebuild had already ended when the live projection was killed: {printed}");
    drop(projection);
    drop(command);
}

/// The rebuild process, killed on drop if it still runs: a failing test leaves none behind.
struct Rebuild(std::process::Child);

impl Drop for Rebuild {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// The check and the report can fail: an acknowledged event the log lacks, one the read
/// models lack, or a 500 among the answers each fail them (so a clean run means something).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_check_fails_on_a_lost_event_and_the_report_on_a_500() {
    use futures::FutureExt;
    use std::panic::AssertUnwindSafe;
    let _one = ONE_AT_A_TIME.lock().await;
    let log = TestEventLog::new();
    let db = TestDatabase::new().await;
    let env = env_for(&log, &db.url);
    let (command, projection) = start_services(&env).await;
    register_staff(&command).await;
    let load = Load::start(2, &command.url, &projection.url);
    load_for(&load, 12).await;
    let outcome = load.stop().await;
    let checked = consistency::check(&log, &db.url, &env, &outcome).await;
    consistency::report("the check's own test, no fault", &outcome, &[], &checked);

    // An acknowledgement the log does not hold.
    let mut lost = outcome.clone();
    let mut ghost = lost.acks[0].clone();
    ghost.sequence = checked.stream_head + 1000;
    lost.acks.push(ghost);
    let failed = AssertUnwindSafe(consistency::check(&log, &db.url, &env, &lost)).catch_unwind().await;
    assert!(failed.is_err(), "an acknowledged event missing from the log must fail the check");

    // An event in the log the read models lost.
    let pool = ehelpdesk_projection::db::connect(&db.url, "readmodel", 1).await.expect("read models");
    let removed = sqlx::query("DELETE FROM timeline WHERE sequence = $1")
        .bind(outcome.acks[1].sequence as i64)
        .execute(&pool)
        .await
        .expect("delete a timeline row");
    assert_eq!(removed.rows_affected(), 1);
    let failed = AssertUnwindSafe(consistency::check(&log, &db.url, &env, &outcome)).catch_unwind().await;
    assert!(failed.is_err(), "an event missing from the read models must fail the check");

    // A 500 among the answers.
    let mut broken = outcome.clone();
    let mut answer = broken.answers[0].clone();
    answer.status = Some(500);
    broken.answers.push(answer);
    let failed = std::panic::catch_unwind(|| consistency::report("a 500", &broken, &[], &checked));
    assert!(failed.is_err(), "a 500 must fail the report");
}
