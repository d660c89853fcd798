//! The notifier's Prometheus metrics, by channel.

use std::sync::Arc;

use prometheus::{Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

pub struct NotifierMetrics {
    pub sent: IntCounterVec,
    pub failed: IntCounterVec,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    /// Sent again because the worker that had it died mid-send (see docs/architecture.md).
    pub resent_after_crash: IntCounterVec,
    pub send_seconds: HistogramVec,
    /// From the notification's event to the provider's acceptance.
    pub delivery_delay_seconds: Histogram,
    /// Messages on NOTIFY not yet handled by any instance (the consumer's pending + in hand).
    pub backlog: IntGauge,
    pub undecodable: IntCounter,
    /// Deliveries put off without an attempt, by why (`quiet_hours`).
    pub held: IntCounterVec,
}

impl NotifierMetrics {
    pub fn register(registry: &Registry) -> Arc<Self> {
        let by_channel = |name: &str, help: &str| {
            let counter = IntCounterVec::new(Opts::new(name, help), &["channel"]).expect("metric");
            registry.register(Box::new(counter.clone())).expect("register");
            counter
        };
        let send_seconds = HistogramVec::new(
            HistogramOpts::new("ehelpdesk_notifier_send_seconds", "Time a provider took to accept a notification")
                .buckets(vec![0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["channel"],
        )
        .expect("metric");
        registry.register(Box::new(send_seconds.clone())).expect("register");
        let delivery_delay_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "ehelpdesk_notifier_delivery_delay_seconds",
                "From the event to the provider's acceptance",
            )
            .buckets(vec![0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0]),
        )
        .expect("metric");
        registry.register(Box::new(delivery_delay_seconds.clone())).expect("register");
        let backlog =
            IntGauge::new("ehelpdesk_notifier_backlog", "Notifications waiting on NOTIFY or in hand").expect("metric");
        registry.register(Box::new(backlog.clone())).expect("register");
        let undecodable =
            IntCounter::new("ehelpdesk_notifier_undecodable_total", "NOTIFY messages that are no notification")
                .expect("metric");
        registry.register(Box::new(undecodable.clone())).expect("register");
        let held = IntCounterVec::new(
            Opts::new("ehelpdesk_notifier_held_total", "Deliveries put off without an attempt, by why"),
            &["reason"],
        )
        .expect("metric");
        registry.register(Box::new(held.clone())).expect("register");
        let metrics = Self {
            sent: by_channel("ehelpdesk_notifier_sent_total", "Notifications a provider accepted"),
            failed: by_channel("ehelpdesk_notifier_failed_total", "Send attempts that failed"),
            retried: by_channel("ehelpdesk_notifier_retried_total", "Failed attempts that will be tried again"),
            dead_lettered: by_channel("ehelpdesk_notifier_dead_lettered_total", "Notifications given up on"),
            resent_after_crash: by_channel(
                "ehelpdesk_notifier_resent_after_crash_total",
                "Notifications sent again after their worker died mid-send",
            ),
            send_seconds,
            delivery_delay_seconds,
            backlog,
            undecodable,
            held,
        };
        // Every channel's series from the start: an alert on a counter's increase cannot see
        // the first increment of a series that did not exist before it.
        for channel in ehelpdesk_shared::notification::Channel::ALL {
            let channel = [channel.as_str()];
            for counter in
                [&metrics.sent, &metrics.failed, &metrics.retried, &metrics.dead_lettered, &metrics.resent_after_crash]
            {
                counter.with_label_values(&channel);
            }
        }
        metrics.held.with_label_values(&["quiet_hours"]);
        Arc::new(metrics)
    }
}
