//! Complaint numbers (`ADU-2026-000123`): sequential per year, proposed by a compare-and-set
//! counter in a JetStream key-value bucket (`counter`) and made unique by a claim in the
//! event log (`claims`).
//!
//! Why both: the bucket lets several instances agree on the next number in one round trip,
//! but it is a separate stream that can be deleted, its key deleted, or an older value
//! written back; fault injection saw each of those hand out ADU-2026-000001 again. Checking
//! the counter against the log only narrows that window. A claim on the event stream, with
//! an expected last subject sequence of 0, closes it: the stream is append-only (deny delete,
//! deny purge), so a number claimed once can never be claimed again, and losing the claims
//! means losing the log itself. A counter that is not what it should be is a hard error
//! (503, a metric, `/readyz` not ready) until an operator repairs it (`repair`).

pub mod claims;
pub mod counter;
pub mod repair;

use chrono::{DateTime, Datelike, FixedOffset, Utc};
use ehelpdesk_shared::complaint::complaint_number;
use ehelpdesk_shared::config::EventLogConfig;
use prometheus::IntCounterVec;
use tokio::sync::{Mutex, oneshot};
use uuid::Uuid;

use crate::event_store::StoreError;
use claims::{ClaimError, Claims};
use counter::{Counter, Reading};

/// What is wrong with the counter. All but `Unavailable` mean it cannot be trusted.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CounterFault {
    #[error("the complaint number counter {key} was deleted or purged")]
    Deleted { key: String },
    #[error("the complaint number counter {key} holds `{value}`, not a number")]
    Unparsable { key: String, value: String },
    #[error("the complaint number counter {key} is missing, yet numbers of that year are claimed in the log")]
    Missing { key: String },
    #[error("the complaint number counter {key} says {counter}, yet number {claimed} is already claimed in the log")]
    Behind { key: String, counter: u64, claimed: u64 },
    #[error("complaint numbers are unavailable: {0}")]
    Unavailable(String),
}

impl CounterFault {
    /// The `fault` label of `ehelpdesk_complaint_number_faults_total`; None for an outage.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            CounterFault::Deleted { .. } => Some("deleted"),
            CounterFault::Unparsable { .. } => Some("unparsable"),
            CounterFault::Missing { .. } => Some("missing"),
            CounterFault::Behind { .. } => Some("behind"),
            CounterFault::Unavailable(_) => None,
        }
    }
}

impl From<CounterFault> for StoreError {
    fn from(fault: CounterFault) -> Self {
        StoreError::Unavailable(fault.to_string())
    }
}

/// A request waiting for a number: its year, its complaint, and where to send the number.
type Waiter = (i32, Uuid, oneshot::Sender<Result<String, CounterFault>>);

pub struct ComplaintNumbers {
    counter: Counter,
    claims: Claims,
    /// `ehelpdesk_complaint_number_faults_total{fault}`.
    faults: IntCounterVec,
    /// Requests waiting for a number: whoever holds `allocator` next serves them all with
    /// one compare-and-set (flat combining), so a burst of new complaints costs one round
    /// trip to the bucket instead of one each.
    waiting: std::sync::Mutex<Vec<Waiter>>,
    // One allocating request at a time in this process; CAS handles the other instances.
    allocator: Mutex<()>,
}

/// Malaysia's offset; complaint years follow the treasury's calendar, not UTC.
fn malaysia() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// The counter's key for a year.
pub fn counter_key(year: i32) -> String {
    format!("year-{year}")
}

/// The year `now` falls in, in Malaysia.
pub fn year_of(now: DateTime<Utc>) -> i32 {
    now.with_timezone(&malaysia()).year()
}

impl ComplaintNumbers {
    pub async fn open(
        jetstream: &async_nats::jetstream::Context,
        log: &EventLogConfig,
        faults: IntCounterVec,
    ) -> Result<Self, StoreError> {
        let counter =
            Counter::open(jetstream, &log.numbers_bucket(), log.replicas).await.map_err(StoreError::Unavailable)?;
        let numbers = Self {
            counter,
            claims: Claims::new(jetstream.clone(), log.clone()),
            faults,
            waiting: std::sync::Mutex::new(vec![]),
            allocator: Mutex::new(()),
        };
        // The counter against the log at start: a fault is logged and counted here, and
        // refuses complaints (and readiness) until repaired.
        if let Err(fault) = numbers.check(Utc::now()).await {
            tracing::error!(%fault, "complaint number counter is not trustworthy at start");
        }
        Ok(numbers)
    }

    /// The next number of the year `now` falls in (Malaysian time), claimed for `complaint_id`.
    pub async fn allocate(&self, now: DateTime<Utc>, complaint_id: Uuid) -> Result<String, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.lock_waiting().push((year_of(now), complaint_id, tx));
        {
            let _turn = self.allocator.lock().await;
            // Empty when an earlier allocator already served this request.
            let batch: Vec<_> = std::mem::take(&mut *self.lock_waiting());
            let mut by_year: std::collections::BTreeMap<i32, Vec<(Uuid, oneshot::Sender<_>)>> = Default::default();
            for (year, id, tx) in batch {
                by_year.entry(year).or_default().push((id, tx));
            }
            for (year, waiters) in by_year {
                self.serve(year, waiters).await;
            }
        }
        match rx.await {
            Ok(Ok(number)) => Ok(number),
            Ok(Err(fault)) => Err(fault.into()),
            Err(_) => Err(StoreError::Unavailable("complaint number allocator stopped".into())),
        }
    }

    /// Reserves one block of numbers for `waiters` and claims each waiter's.
    async fn serve(&self, year: i32, waiters: Vec<(Uuid, oneshot::Sender<Result<String, CounterFault>>)>) {
        let first = match self.observe(self.reserve(year, waiters.len() as u64).await) {
            Ok(first) => first,
            Err(fault) => {
                for (_, tx) in waiters {
                    let _ = tx.send(Err(fault.clone()));
                }
                return;
            }
        };
        let claims = waiters.iter().zip(first..).map(|((id, _), sequence)| self.claim(year, sequence, *id));
        let outcomes = futures::future::join_all(claims).await;
        for ((_, tx), outcome) in waiters.into_iter().zip(outcomes) {
            let _ = tx.send(self.observe(outcome));
        }
    }

    async fn claim(&self, year: i32, sequence: u64, complaint_id: Uuid) -> Result<String, CounterFault> {
        let number = complaint_number(year, sequence);
        match self.claims.claim(year, sequence, &number, complaint_id).await {
            Ok(()) => Ok(number),
            // The counter proposed a number the log already has: it went back.
            Err(ClaimError::Taken) => {
                Err(CounterFault::Behind { key: counter_key(year), counter: sequence - 1, claimed: sequence })
            }
            Err(ClaimError::Unavailable(e)) => Err(CounterFault::Unavailable(e)),
        }
    }

    fn lock_waiting(&self) -> std::sync::MutexGuard<'_, Vec<Waiter>> {
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reserves `count` consecutive numbers of `year`; returns the first.
    async fn reserve(&self, year: i32, count: u64) -> Result<u64, CounterFault> {
        let key = counter_key(year);
        // Each round fails only because another instance won it, so this ends unless a
        // thousand allocations elsewhere overtake us in a row.
        for _ in 0..1000 {
            let reading = self.counter.read(&key).await?;
            let last = self.last_handed_out(year, &key, reading).await?;
            // A counter behind the log (an older value written back) stays where it is, so
            // it keeps being refused until repaired instead of creeping up one 503 at a time.
            if self.claims.is_claimed(year, last + 1).await? {
                return Err(CounterFault::Behind { key, counter: last, claimed: last + 1 });
            }
            if self.counter.advance(&key, reading, last + count).await? {
                return Ok(last + 1);
            }
            tokio::task::yield_now().await;
        }
        Err(CounterFault::Unavailable("complaint number counter is too contended".into()))
    }

    /// The counter's value; an absent key is a year's start only if nothing of that year
    /// was ever claimed.
    async fn last_handed_out(&self, year: i32, key: &str, reading: Reading) -> Result<u64, CounterFault> {
        match reading {
            Reading::Value { last, .. } => Ok(last),
            Reading::Absent if self.claims.is_claimed(year, 1).await? => Err(CounterFault::Missing { key: key.into() }),
            Reading::Absent => Ok(0),
        }
    }

    /// Whether the counter of `now`'s year can be trusted: a plain number (or absent before
    /// the year's first claim), and no number past it claimed in the log. Returns its value.
    pub async fn check(&self, now: DateTime<Utc>) -> Result<u64, CounterFault> {
        let year = year_of(now);
        let key = counter_key(year);
        let checked = async {
            let last = self.last_handed_out(year, &key, self.counter.read(&key).await?).await?;
            let newest = self.claims.last_claimed(year).await?.filter(|claimed| *claimed > last);
            let next_taken = self.claims.is_claimed(year, last + 1).await?.then_some(last + 1);
            match newest.or(next_taken) {
                Some(claimed) => Err(CounterFault::Behind { key: key.clone(), counter: last, claimed }),
                None => Ok(last),
            }
        };
        self.observe(checked.await)
    }

    /// Counts and logs a fault on its way out.
    fn observe<T>(&self, outcome: Result<T, CounterFault>) -> Result<T, CounterFault> {
        if let Err(fault) = &outcome
            && let Some(label) = fault.label()
        {
            self.faults.with_label_values(&[label]).inc();
            tracing::error!(%fault, "complaint numbers refused: the counter needs `ehelpdesk-command repair-numbers`");
        }
        outcome
    }
}
