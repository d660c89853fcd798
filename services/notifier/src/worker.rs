//! The worker: a durable pull consumer on NOTIFY shared by every notifier instance. Each
//! message is judged against its delivery record, claimed, handed to its provider, and its
//! outcome recorded and reported before it is acked (see docs/architecture.md, "Exactly once
//! as a person sees it").

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::pull;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer};
use chrono::{DateTime, Utc};
use ehelpdesk_shared::notification::{Channel, NotificationMessage, NotifyConfig};
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;
use tracing::Instrument;
use uuid::Uuid;

use crate::clock::Clock;
use crate::configuration::{Fault, RetryPolicy};
use crate::email::{Letterhead, Mailer};
use crate::metrics::NotifierMetrics;
use crate::quiet_hours::QuietHours;
use crate::receipts::{Receipts, receipt_of};
use crate::record::{DeliveryRecord, Judgement, RecordError, RecordState, RecordStore, judge};
use crate::retry::{NextStep, SendFailure, next_step};
use crate::whatsapp::WhatsApp;

#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("NATS: {0}")]
    Nats(String),
}

/// Everything a worker needs; cloned cheaply into each message's task.
#[derive(Clone)]
pub struct Worker(pub Arc<WorkerParts>);

pub struct WorkerParts {
    pub jetstream: async_nats::jetstream::Context,
    pub notify: NotifyConfig,
    pub consumer: String,
    pub records: RecordStore,
    pub receipts: Receipts,
    pub letterhead: Letterhead,
    pub mailer: Mailer,
    pub whatsapp: WhatsApp,
    pub policy: RetryPolicy,
    pub lease: Duration,
    pub ack_wait: Duration,
    pub concurrency: usize,
    pub quiet_hours: Option<QuietHours>,
    pub email_rate: Arc<ChannelRate>,
    pub whatsapp_rate: Arc<ChannelRate>,
    pub hold_recheck: Duration,
    pub fault: Option<Fault>,
    pub metrics: Arc<NotifierMetrics>,
    pub clock: Clock,
    /// Which process claims: host, pid and a random part (a restarted pid is another worker).
    pub worker_id: String,
}

/// Sends per second on one channel, in this instance.
pub type ChannelRate = governor::DefaultDirectRateLimiter;

pub fn channel_rate(per_second: u32) -> Arc<ChannelRate> {
    let per_second = std::num::NonZeroU32::new(per_second).unwrap_or(std::num::NonZeroU32::MIN);
    Arc::new(governor::RateLimiter::direct(governor::Quota::per_second(per_second)))
}

/// How the message is answered.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    Ack,
    /// Offer it again after this long.
    Later(Duration),
    /// A test's fault: never answer.
    Hang,
}

impl Worker {
    /// JetStream stops offering a message after this many deliveries; the worker dead-letters
    /// it before then, so that no notification is dropped without a record. Room beyond the
    /// attempts for the waits that are no attempt (another worker's claim, quiet hours).
    pub fn max_deliver(&self) -> i64 {
        i64::from(self.0.policy.attempts) * 4 + 100
    }

    /// Consumes until `shutdown`; recovers from every NATS fault by recreating the consumer.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        loop {
            match self.consume(shutdown.clone()).await {
                Ok(()) if *shutdown.borrow() => return,
                Ok(()) => failures = 0,
                Err(e) => {
                    failures += 1;
                    tracing::warn!(error = %e, failures, "notifier consumer interrupted; recreating it");
                }
            }
            let wait = (Duration::from_millis(200) * 2u32.pow(failures.min(5))).min(Duration::from_secs(5));
            let mut stop = shutdown.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    pub async fn consumer(&self) -> Result<PullConsumer, WorkerError> {
        let parts = &self.0;
        let nats = |e: &dyn std::fmt::Display| WorkerError::Nats(e.to_string());
        let stream = parts.jetstream.get_stream(&parts.notify.stream).await.map_err(|e| nats(&e))?;
        stream
            .get_or_create_consumer(
                &parts.consumer,
                pull::Config {
                    durable_name: Some(parts.consumer.clone()),
                    filter_subject: parts.notify.all_deliveries(),
                    deliver_policy: DeliverPolicy::All,
                    ack_policy: AckPolicy::Explicit,
                    ack_wait: parts.ack_wait,
                    max_deliver: self.max_deliver(),
                    max_ack_pending: 10_000,
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| nats(&e))
    }

    /// Pulls and handles messages, `concurrency` at a time, until the stream breaks or
    /// `shutdown`; on shutdown the messages in hand are finished, not abandoned mid-send.
    async fn consume(&self, mut shutdown: watch::Receiver<bool>) -> Result<(), WorkerError> {
        let consumer = self.consumer().await?;
        let messages = consumer
            .stream()
            .max_messages_per_batch(self.0.concurrency)
            .heartbeat(Duration::from_secs(1))
            .expires(Duration::from_secs(30))
            .messages()
            .await
            .map_err(|e| WorkerError::Nats(e.to_string()))?;
        tracing::info!(consumer = %self.0.consumer, "delivering notifications");
        let stop = async move {
            let _ = shutdown.wait_for(|s| *s).await;
        };
        messages
            .take_until(stop)
            .map_err(|e| WorkerError::Nats(e.to_string()))
            .try_for_each_concurrent(self.0.concurrency, |message| {
                let worker = self.clone();
                async move {
                    worker.handle(message).await;
                    Ok(())
                }
            })
            .await
    }

    async fn handle(&self, message: async_nats::jetstream::Message) {
        let Ok(info) = message.info() else { return };
        let (sequence, delivered) = (info.stream_sequence, info.delivered);
        let notification: NotificationMessage = match serde_json::from_slice(&message.payload) {
            Ok(n) => n,
            Err(e) => {
                self.0.metrics.undecodable.inc();
                tracing::error!(sequence, error = %e, "a NOTIFY message that is no notification; dropped");
                let _ = message.ack_with(AckKind::Term).await;
                return;
            }
        };
        let span = tracing::info_span!("deliver_notification", id = %notification.id, channel = %notification.channel,
            cycle = notification.cycle, delivered);
        let traceparent = message.headers.as_ref().and_then(|h| h.get("traceparent")).map(|v| v.as_str().to_owned());
        ehelpdesk_shared::telemetry::continue_trace(&span, traceparent.as_deref());
        let reply = self.deliver(&message, &notification, sequence, delivered).instrument(span).await;
        let answered = match reply {
            // A plain ack, not a confirmed one: should it be lost, the message comes back and
            // its record says it is settled, so nothing is sent twice.
            Ok(Reply::Ack) => message.ack().await,
            Ok(Reply::Later(after)) => message.ack_with(AckKind::Nak(Some(after))).await,
            Ok(Reply::Hang) => {
                tracing::warn!(id = %notification.id, "NOTIFIER_FAULT: never answering this message");
                std::future::pending::<()>().await;
                Ok(())
            }
            Err(e) => {
                tracing::warn!(id = %notification.id, error = %e, "notification not settled; offered again");
                message.ack_with(AckKind::Nak(Some(Duration::from_secs(1)))).await
            }
        };
        if let Err(e) = answered {
            // Unanswered, it comes back after ack_wait and is judged from its record.
            tracing::debug!(error = %e, "answering the message failed");
        }
    }

    async fn deliver(
        &self,
        message: &async_nats::jetstream::Message,
        notification: &NotificationMessage,
        sequence: u64,
        delivered: i64,
    ) -> Result<Reply, WorkerError> {
        let parts = &self.0;
        if notification.channel == Channel::WhatsApp
            && let Some(wait) = parts.quiet_hours.and_then(|q| q.remaining((parts.clock)()))
        {
            parts.metrics.held.with_label_values(&["quiet_hours"]).inc();
            return Ok(Reply::Later(wait.min(parts.hold_recheck)));
        }
        // The first delivery of a first cycle has no record unless another worker raced for
        // it: claim straight away (the create fails if there is one) and read only after a
        // lost race. One round trip fewer for nearly every message.
        let mut assume_unrecorded = delivered == 1 && notification.cycle == 0;
        // A lost race with another worker writes nothing: read and judge again.
        for _ in 0..3 {
            let current = match std::mem::take(&mut assume_unrecorded) {
                true => None,
                false => parts.records.read(notification.id).await?,
            };
            let now = (parts.clock)();
            match judge(current.as_ref().map(|c| &c.record), notification.cycle, now, parts.lease) {
                Judgement::Settled => {
                    let record = current.as_ref().map(|c| &c.record);
                    if let Some(receipt) = record.and_then(|r| receipt_of(notification, r)) {
                        parts.receipts.publish(&receipt).await.map_err(WorkerError::Nats)?;
                    }
                    return Ok(Reply::Ack);
                }
                Judgement::Superseded => return Ok(Reply::Ack),
                Judgement::Busy { after } | Judgement::NotYet { after } => return Ok(Reply::Later(after)),
                Judgement::Send { attempt, after_crash } => {
                    let claim = DeliveryRecord {
                        state: RecordState::Sending,
                        cycle: notification.cycle,
                        attempts: attempt,
                        worker: parts.worker_id.clone(),
                        since: now,
                        retry_at: None,
                        reason: None,
                        provider_message_id: None,
                        stream_sequence: sequence,
                    };
                    let Some(revision) =
                        parts.records.write(notification.id, &claim, current.map(|c| c.revision)).await?
                    else {
                        continue;
                    };
                    if after_crash {
                        parts.metrics.resent_after_crash.with_label_values(&[notification.channel.as_str()]).inc();
                        tracing::warn!(id = %notification.id, "its worker died mid-send; sending again (the provider may have it)");
                    }
                    return self.attempt(message, notification, claim, revision, delivered).await;
                }
            }
        }
        Ok(Reply::Later(Duration::from_secs(1)))
    }

    /// One attempt under a claim: send, record the outcome, report it.
    async fn attempt(
        &self,
        message: &async_nats::jetstream::Message,
        notification: &NotificationMessage,
        claim: DeliveryRecord,
        revision: u64,
        delivered: i64,
    ) -> Result<Reply, WorkerError> {
        let parts = &self.0;
        if parts.fault == Some(Fault::HangBeforeSend) {
            return Ok(Reply::Hang);
        }
        let channel = notification.channel.as_str();
        let started = Instant::now();
        let result = self.send_reporting_progress(message, notification).await;
        parts.metrics.send_seconds.with_label_values(&[channel]).observe(started.elapsed().as_secs_f64());
        let now = (parts.clock)();
        let (record, reply) = self.outcome(notification, claim, result, now, delivered);
        // Both must be stored before the ack, neither needs the other: one round trip, not two.
        // A receipt that goes out beside a failed record write is still true (it was sent).
        let receipt = receipt_of(notification, &record);
        let (written, reported) = tokio::join!(parts.records.write(notification.id, &record, Some(revision)), async {
            match &receipt {
                Some(receipt) => parts.receipts.publish(receipt).await,
                None => Ok(()),
            }
        });
        if written?.is_none() {
            // Only a claim held past its lease can be taken over; the new holder decides.
            tracing::warn!(id = %notification.id, "the claim was taken over while sending");
            return Ok(Reply::Later(Duration::from_secs(1)));
        }
        reported.map_err(WorkerError::Nats)?;
        if parts.fault == Some(Fault::HangBeforeAck) {
            return Ok(Reply::Hang);
        }
        Ok(reply)
    }

    /// The record and reply that follow a send's result.
    fn outcome(
        &self,
        notification: &NotificationMessage,
        claim: DeliveryRecord,
        result: Result<String, SendFailure>,
        now: DateTime<Utc>,
        delivered: i64,
    ) -> (DeliveryRecord, Reply) {
        let metrics = &self.0.metrics;
        let channel = notification.channel.as_str();
        let settled = |state, reason, provider_message_id| DeliveryRecord {
            state,
            since: now,
            reason,
            provider_message_id,
            retry_at: None,
            worker: claim.worker.clone(),
            ..claim.clone()
        };
        let failure = match result {
            Ok(provider_message_id) => {
                metrics.sent.with_label_values(&[channel]).inc();
                let delay = (now - notification.created_at).to_std().unwrap_or_default();
                metrics.delivery_delay_seconds.observe(delay.as_secs_f64());
                tracing::info!(id = %notification.id, channel, attempt = claim.attempts, "notification sent");
                return (settled(RecordState::Sent, None, Some(provider_message_id)), Reply::Ack);
            }
            Err(failure) => failure,
        };
        metrics.failed.with_label_values(&[channel]).inc();
        let jitter: f64 = rand::random();
        let step = match next_step(&self.0.policy, &failure, claim.attempts, jitter) {
            // The server would stop offering it: settle it here, where it is recorded.
            NextStep::RetryAfter(_) if delivered + 1 >= self.max_deliver() => NextStep::DeadLetter,
            step => step,
        };
        match step {
            NextStep::RetryAfter(after) => {
                metrics.retried.with_label_values(&[channel]).inc();
                tracing::info!(id = %notification.id, channel, attempt = claim.attempts, reason = %failure.reason, ?after,
                    "notification failed; trying again later");
                let retry_at = now + chrono::Duration::from_std(after).unwrap_or(chrono::Duration::MAX);
                let record = DeliveryRecord {
                    retry_at: Some(retry_at),
                    ..settled(RecordState::Failed, Some(failure.reason), None)
                };
                (record, Reply::Later(after))
            }
            NextStep::DeadLetter => {
                metrics.dead_lettered.with_label_values(&[channel]).inc();
                tracing::warn!(id = %notification.id, channel, attempt = claim.attempts, reason = %failure.reason,
                    "notification dead-lettered");
                (settled(RecordState::DeadLettered, Some(failure.reason), None), Reply::Ack)
            }
        }
    }

    /// Sends, telling JetStream the message is still in hand while the provider takes its
    /// time, so that it is not offered to another worker meanwhile.
    async fn send_reporting_progress(
        &self,
        message: &async_nats::jetstream::Message,
        notification: &NotificationMessage,
    ) -> Result<String, SendFailure> {
        let send = self.send(notification);
        tokio::pin!(send);
        let mut progress = tokio::time::interval(self.0.ack_wait / 3);
        progress.tick().await;
        loop {
            tokio::select! {
                result = &mut send => return result,
                _ = progress.tick() => { let _ = message.ack_with(AckKind::Progress).await; }
            }
        }
    }

    async fn send(&self, notification: &NotificationMessage) -> Result<String, SendFailure> {
        let parts = &self.0;
        match notification.channel {
            Channel::Email => {
                let email = parts.letterhead.compose(notification)?;
                parts.email_rate.until_ready().await;
                parts.mailer.send(notification.id, email).await
            }
            Channel::WhatsApp => {
                parts.whatsapp_rate.until_ready().await;
                parts.whatsapp.send(notification).await
            }
        }
    }

    /// Keeps the backlog gauge true every few seconds.
    pub async fn watch_backlog(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            if let Ok(mut consumer) = self.consumer().await
                && let Ok(info) = consumer.info().await
            {
                self.0.metrics.backlog.set((info.num_pending + info.num_ack_pending as u64) as i64);
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                _ = shutdown.wait_for(|s| *s) => return,
            }
        }
    }
}

/// `<host>:<pid>:<random>`.
pub fn worker_id() -> String {
    let host = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "notifier".into());
    format!("{host}:{}:{}", std::process::id(), &Uuid::new_v4().simple().to_string()[..8])
}
