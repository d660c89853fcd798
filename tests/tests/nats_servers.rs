//! `NATS_URL` takes a comma-separated list of servers (issue 13 item 8): a service started
//! while the first node named is down connects to another and serves, where with one URL
//! it answered 503 until that very node came back, though the cluster had quorum.

use std::time::Duration;

use ehelpdesk_tests::fixtures::*;
use ehelpdesk_tests::nats_cluster::NatsCluster;
use ehelpdesk_tests::{CommandApp, TestEventLog};

#[tokio::test]
async fn command_service_starts_with_the_first_listed_node_down() {
    let mut cluster = NatsCluster::start(3).await;
    let mut log = TestEventLog::new();
    // The dead node first: the list is tried past it.
    log.config.nats_url = cluster.urls().parse().expect("three URLs");
    log.config.replicas = 3;
    // As in production, the streams exist on all three nodes before one is lost (a stream
    // created while a node is freshly dead may be placed on it, which is the cluster's
    // matter, not this test's). Then the service is restarted with node 0 down.
    CommandApp::spawn(&log.config).await.stop().await;
    cluster.kill(0);

    let app = CommandApp::spawn(&log.config).await;
    let mut ready = app.get("/readyz", &ADMIN).await;
    // Streams and the meta layer may need to elect new leaders: a bounded wait.
    for _ in 0..150 {
        if ready.status == 200 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        ready = app.get("/readyz", &ADMIN).await;
    }
    ready.assert_ok(200);
    let filed = app.post("/v1/complaints", &COMPLAINANT, &complaint("AC", "Nod pertama mati")).await;
    filed.assert_ok(201);
    app.stop().await;
}
