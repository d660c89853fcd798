//! The command service's Prometheus metrics (besides HTTP, see shared::http::observe).

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, IntCounterVec, Opts, Registry};

pub struct CommandMetrics {
    /// `outcome`: ok, ok_after_conflict (won after losing a race), replayed (an idempotent
    /// retry), refused (the domain said no), failed (the log was unavailable).
    pub commands: IntCounterVec,
    pub append_seconds: Histogram,
    /// `fault`: deleted, unparsable, missing, behind. The number counter cannot be trusted
    /// and complaints are refused with 503 until `repair-numbers` runs.
    pub number_faults: IntCounterVec,
}

impl CommandMetrics {
    pub fn register(registry: &Registry) -> Arc<Self> {
        let commands = IntCounterVec::new(
            Opts::new("ehelpdesk_commands_total", "Commands by type and outcome"),
            &["command", "outcome"],
        )
        .expect("valid metric");
        let append_seconds = Histogram::with_opts(
            HistogramOpts::new("ehelpdesk_append_duration_seconds", "Time to append one event to JetStream (acked)")
                .buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0]),
        )
        .expect("valid metric");
        let number_faults = IntCounterVec::new(
            Opts::new(
                "ehelpdesk_complaint_number_faults_total",
                "Times the complaint number counter was found deleted, unparsable, missing or behind the log",
            ),
            &["fault"],
        )
        .expect("valid metric");
        registry.register(Box::new(commands.clone())).expect("registered once");
        registry.register(Box::new(append_seconds.clone())).expect("registered once");
        registry.register(Box::new(number_faults.clone())).expect("registered once");
        Arc::new(Self { commands, append_seconds, number_faults })
    }
}
