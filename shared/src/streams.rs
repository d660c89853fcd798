//! JetStream streams the services create (the event log, the number counter's bucket,
//! NOTIFY): each with `STREAM_REPLICAS` replicas, set up the same way.

use async_nats::jetstream::stream;

/// Creates the stream, or brings an existing one to `wanted`. An existing stream with other
/// replicas than `STREAM_REPLICAS` is reported with a warning and JetStream is asked to
/// change them (issue 13: NOTIFY ran on one node and its relay failed with that node). If
/// JetStream refuses (a single server cannot hold 3 replicas), the stream keeps its replicas
/// and the service carries on, warned: better served with fewer replicas than not at all.
pub async fn ensure(jetstream: &async_nats::jetstream::Context, wanted: stream::Config) -> Result<(), String> {
    let name = wanted.name.clone();
    let existing = match jetstream.get_stream(&name).await {
        Ok(mut stream) => Some(stream.info().await.map_err(|e| format!("stream {name}: {e}"))?.config.num_replicas),
        Err(_) => None,
    };
    if let Some(have) = existing.filter(|have| *have != wanted.num_replicas) {
        tracing::warn!(stream = %name, have, wanted = wanted.num_replicas, "the stream's replicas differ from STREAM_REPLICAS; changing them");
    }
    match jetstream.create_or_update_stream(wanted.clone()).await {
        Ok(_) => Ok(()),
        Err(e) => match existing.filter(|have| *have != wanted.num_replicas) {
            Some(have) => {
                tracing::warn!(stream = %name, have, error = %e, "JetStream refused to change the replicas; keeping them");
                let kept = stream::Config { num_replicas: have, ..wanted };
                jetstream.create_or_update_stream(kept).await.map(|_| ()).map_err(|e| format!("stream {name}: {e}"))
            }
            None => Err(format!("stream {name}: {e}")),
        },
    }
}

/// The event log in order from stream sequence `from` (1 for all of it), every subject,
/// through an ordered consumer: how verify, rebuild and repair-numbers replay it.
pub async fn replay_log(
    jetstream: &async_nats::jetstream::Context,
    log: &crate::config::EventLogConfig,
    from: u64,
) -> Result<async_nats::jetstream::consumer::pull::Ordered, String> {
    use async_nats::jetstream::consumer::DeliverPolicy;
    use async_nats::jetstream::consumer::pull::OrderedConfig;
    let stream = jetstream.get_stream(&log.stream).await.map_err(|e| format!("stream {}: {e}", log.stream))?;
    let consumer = stream
        .create_consumer(OrderedConfig {
            deliver_policy: DeliverPolicy::ByStartSequence { start_sequence: from.max(1) },
            filter_subject: log.all_subjects(),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    consumer.messages().await.map_err(|e| e.to_string())
}
