//! The streams the services create have `STREAM_REPLICAS` replicas (issue 13 item 9: NOTIFY
//! ran on one node, and its relay failed with that node), on a 3-node JetStream cluster of
//! the test's own; and an existing stream with other replicas is brought to them.

use async_nats::jetstream::stream;
use ehelpdesk_tests::nats_cluster::NatsCluster;
use ehelpdesk_tests::{CommandApp, ProjectionApp, TestDatabase, TestEventLog, projection_settings};

async fn replicas(js: &async_nats::jetstream::Context, name: &str) -> Option<usize> {
    Some(js.get_stream(name).await.ok()?.info().await.ok()?.config.num_replicas)
}

#[tokio::test]
async fn every_stream_the_services_create_has_stream_replicas() {
    let cluster = NatsCluster::start(3).await;
    let mut log = TestEventLog::new();
    log.config.nats_url = cluster.url(0).parse().expect("a NATS URL");
    log.config.replicas = 3;
    let db = TestDatabase::new().await;
    let command = CommandApp::spawn(&log.config).await;
    let projection = ProjectionApp::spawn(projection_settings(&log.config, &db)).await;
    let js = log.jetstream().await;
    let names = [log.config.stream.clone(), format!("KV_{}", log.config.numbers_bucket()), log.notify().0];
    let mut seen = vec![];
    for _ in 0..100 {
        seen = Vec::new();
        for name in &names {
            seen.push(replicas(&js, name).await);
        }
        if seen.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(seen, [Some(3), Some(3), Some(3)], "{names:?}");
    projection.stop().await;
    command.stop().await;

    // A stream created with other replicas is brought to STREAM_REPLICAS.
    let single = stream::Config {
        name: format!("{}_SINGLE", log.config.stream),
        subjects: vec![format!("{}_single.>", log.config.subject_prefix)],
        num_replicas: 1,
        ..Default::default()
    };
    js.create_stream(single.clone()).await.unwrap();
    let wanted = stream::Config { num_replicas: 3, ..single.clone() };
    ehelpdesk_shared::streams::ensure(&js, wanted).await.unwrap();
    assert_eq!(replicas(&js, &single.name).await, Some(3));
}
