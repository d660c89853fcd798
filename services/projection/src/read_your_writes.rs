//! `min_seq`: a query waits until the read models hold stream sequence N, the sequence its
//! caller's own write got.
//!
//! - A sequence the stream has not reached yet is a 400 at once: nothing would ever make it
//!   appear in time. The stream's head is cached, and asked of NATS only when a `min_seq`
//!   passes the cached value; requests that arrive while one such question is out share the
//!   next answer.
//! - A waiter sleeps on the in-process watch of the applied sequence, which is fed by this
//!   process's projector and, for batches another instance applied, by PostgreSQL
//!   `LISTEN/NOTIFY` on the checkpoint's channel (`apply.rs` notifies in the batch's
//!   transaction).
//! - At most `MIN_SEQ_WAITERS` requests wait at once; the next is refused with 503
//!   `too_many_waiters`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use ehelpdesk_shared::http::ApiError;
use prometheus::IntGauge;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Mutex, Semaphore, SemaphorePermit, watch};

use crate::db;

/// Moves the applied sequence forward, never back: the projector and the listener both feed
/// it, and a notification may overtake the projector's own report of an earlier batch.
pub fn advance(applied: &watch::Sender<u64>, to: u64) {
    applied.send_if_modified(|current| {
        let newer = to > *current;
        if newer {
            *current = to;
        }
        newer
    });
}

pub struct ReadYourWrites {
    jetstream: async_nats::jetstream::Context,
    stream: String,
    applied: watch::Receiver<u64>,
    longest_wait: Duration,
    head: StreamHead,
    waiters: Semaphore,
    waiting: IntGauge,
}

impl ReadYourWrites {
    pub fn new(
        jetstream: async_nats::jetstream::Context,
        stream: String,
        applied: watch::Receiver<u64>,
        longest_wait: Duration,
        max_waiters: usize,
        waiting: IntGauge,
    ) -> Arc<Self> {
        Arc::new(Self {
            jetstream,
            stream,
            applied,
            longest_wait,
            head: StreamHead::default(),
            waiters: Semaphore::new(max_waiters),
            waiting,
        })
    }

    /// Returns once sequence `wanted` is in the read models; refuses a sequence the stream
    /// has not reached (400), a wait over the cap (503) or one longer than `MIN_SEQ_WAIT_MS`
    /// (503 `projection_behind`).
    pub async fn wait_for(&self, wanted: u64) -> Result<(), ApiError> {
        if *self.applied.borrow() >= wanted {
            return Ok(());
        }
        let head = self.head.at_least(wanted, || db::stream_head(&self.jetstream, &self.stream)).await?;
        if wanted > head {
            return Err(ApiError::MinSeqNotWritten { wanted, head });
        }
        let _waiting = Waiting::start(&self.waiters, &self.waiting)?;
        let mut applied = self.applied.clone();
        let reached = tokio::time::timeout(self.longest_wait, applied.wait_for(|a| *a >= wanted)).await;
        match reached {
            Ok(Ok(_)) => Ok(()),
            // A closed watch means the service is stopping: as good as behind.
            Ok(Err(_)) | Err(_) => Err(ApiError::ProjectionBehind { wanted, applied: *self.applied.borrow() }),
        }
    }
}

/// One request's place among the waiters, given back however the wait ends (a client that
/// hangs up drops it mid-wait).
struct Waiting<'a> {
    _permit: SemaphorePermit<'a>,
    gauge: &'a IntGauge,
}

impl<'a> Waiting<'a> {
    fn start(waiters: &'a Semaphore, gauge: &'a IntGauge) -> Result<Self, ApiError> {
        let permit = waiters.try_acquire().map_err(|_| ApiError::TooManyWaiters)?;
        gauge.inc();
        Ok(Self { _permit: permit, gauge })
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

/// The last sequence in the stream as far as this process knows.
#[derive(Default)]
struct StreamHead {
    known: AtomicU64,
    /// Questions to NATS started so far.
    asked: AtomicU64,
    /// One question out at a time; whoever waited for it shares its answer.
    asking: Mutex<()>,
}

impl StreamHead {
    /// The head, asked of NATS if `wanted` passes what is known, the answer coming from a
    /// question asked after this call began (an earlier one could predate the write).
    async fn at_least<F, Fut>(&self, wanted: u64, ask: F) -> Result<u64, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<u64, String>>,
    {
        let known = self.known.load(Ordering::Acquire);
        if wanted <= known {
            return Ok(known);
        }
        let asked_before = self.asked.load(Ordering::Acquire);
        let _turn = self.asking.lock().await;
        if self.asked.load(Ordering::Acquire) > asked_before {
            // A question asked after this call began has been answered meanwhile.
            return Ok(self.known.load(Ordering::Acquire));
        }
        self.asked.fetch_add(1, Ordering::AcqRel);
        let head = ask().await.map_err(|e| ApiError::Unavailable(format!("stream head: {e}")))?;
        Ok(self.known.fetch_max(head, Ordering::AcqRel).max(head))
    }
}

/// The channel a batch's transaction notifies with its new checkpoint: one per schema, so a
/// rebuild's scratch schema does not wake the live models' waiters. `apply.rs` names it in
/// SQL the same way: `current_schema() || '_checkpoint'`.
pub fn checkpoint_channel(schema: &str) -> String {
    format!("{schema}_checkpoint")
}

/// Feeds `applied` from the checkpoint channel until `stop` turns true, reconnecting after
/// any fault (and reading the checkpoint again then, for what was missed meanwhile).
pub async fn follow_checkpoints(
    pool: PgPool,
    schema: String,
    applied: watch::Sender<u64>,
    mut stop: watch::Receiver<bool>,
) {
    let channel = checkpoint_channel(&schema);
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            outcome = listen(&pool, &channel, &applied) => {
                tracing::warn!(error = %outcome, ?backoff, "checkpoint notifications interrupted; listening again");
            }
            _ = stop.wait_for(|stop| *stop) => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.wait_for(|stop| *stop) => return,
        }
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

/// Listens until the connection fails; returns why.
async fn listen(pool: &PgPool, channel: &str, applied: &watch::Sender<u64>) -> sqlx::Error {
    let mut listener = match PgListener::connect_with(pool).await {
        Ok(listener) => listener,
        Err(e) => return e,
    };
    if let Err(e) = listener.listen(channel).await {
        return e;
    }
    // Listening from here on; what was committed before is in the checkpoint.
    match db::checkpoint(pool).await {
        Ok(checkpoint) => advance(applied, checkpoint),
        Err(e) => return e,
    }
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => match notification.payload().parse() {
                Ok(sequence) => advance(applied, sequence),
                Err(_) => {
                    tracing::warn!(payload = notification.payload(), "a checkpoint notification without a sequence")
                }
            },
            // The connection dropped: notifications may have been lost while it was down.
            Ok(None) => return sqlx::Error::Protocol("the listening connection was lost".into()),
            Err(e) => return e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_head_is_asked_only_past_what_is_known_and_shared_by_those_waiting() {
        let head = StreamHead::default();
        let asked = AtomicU64::new(0);
        let ask = |answer: u64| {
            let asked = &asked;
            move || async move {
                asked.fetch_add(1, Ordering::SeqCst);
                Ok(answer)
            }
        };
        assert_eq!(head.at_least(5, ask(10)).await.unwrap(), 10);
        assert_eq!(head.at_least(7, ask(99)).await.unwrap(), 10, "known: not asked again");
        assert_eq!(asked.load(Ordering::SeqCst), 1);
        assert_eq!(head.at_least(11, ask(12)).await.unwrap(), 12);
        assert_eq!(asked.load(Ordering::SeqCst), 2);
        // Never backwards, whatever a late answer says.
        assert_eq!(head.at_least(13, ask(3)).await.unwrap(), 12);
    }

    #[tokio::test]
    async fn an_unreachable_log_is_a_503() {
        let head = StreamHead::default();
        let err = head.at_least(1, || async { Err::<u64, _>("no NATS".to_owned()) }).await.unwrap_err();
        assert_eq!(err.code(), "event_log_unavailable");
    }

    #[tokio::test]
    async fn a_waiter_that_goes_away_gives_its_place_back() {
        let (tx, rx) = watch::channel(0);
        let jetstream = async_nats::jetstream::new(
            async_nats::ConnectOptions::new().retry_on_initial_connect().connect("nats://127.0.0.1:1").await.unwrap(),
        );
        let gauge = IntGauge::new("waiting", "waiting").unwrap();
        let waits = ReadYourWrites::new(jetstream, "S".into(), rx, Duration::from_secs(60), 1, gauge.clone());
        waits.head.known.store(10, Ordering::Release);
        let first = tokio::time::timeout(Duration::from_millis(50), waits.wait_for(5)).await;
        assert!(first.is_err(), "still waiting when dropped");
        assert_eq!(gauge.get(), 0);
        // The place is free again: the next waiter is not refused, and lands.
        let second = tokio::spawn({
            let waits = waits.clone();
            async move { waits.wait_for(5).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(gauge.get(), 1, "the second is waiting");
        advance(&tx, 5);
        second.await.unwrap().unwrap();
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn the_applied_sequence_only_moves_forward() {
        let (tx, rx) = watch::channel(5);
        advance(&tx, 3);
        assert_eq!(*rx.borrow(), 5);
        advance(&tx, 8);
        assert_eq!(*rx.borrow(), 8);
    }
}
