//! The command path of design.md: load (cache, else fold the subject) -> decide -> append
//! with the expected last subject sequence -> on "wrong last sequence" catch up and decide
//! again, a bounded number of times. A retried request (same Idempotency-Key) is answered
//! from the event it already wrote, however long ago.

use std::collections::HashMap;
use std::hash::Hash;

use chrono::Utc;
use ehelpdesk_shared::actor::Actor;
use ehelpdesk_shared::aggregate::{Context, Recorded, StaffDirectory};
use ehelpdesk_shared::staff::StaffMember;
use ehelpdesk_shared::validation::StaffId;
use uuid::Uuid;

use crate::cache::AggregateCache;
use std::sync::Arc;

use crate::event_store::{Appended, EventStore, Loaded, Receipt, StoreError};
use crate::metrics::CommandMetrics;
use ehelpdesk_shared::http::problem::ApiError;

/// How many times a command is decided again after losing a race for the same aggregate.
pub const MAX_ATTEMPTS: usize = 8;

/// A client's Idempotency-Key, scoped so that two clients, two aggregates or two commands
/// never share a `Nats-Msg-Id`: a note and a vendor update sent with the same key are two
/// requests, not a retry of one.
#[derive(Debug, Clone)]
pub struct Idempotency {
    pub msg_id: String,
    /// Hash of the request body: a key reused for a different request is refused.
    pub request_hash: String,
}

impl Idempotency {
    pub fn new(
        kind: &str,
        command: &str,
        id: &impl std::fmt::Display,
        actor: &Actor,
        key: &str,
        request_hash: String,
    ) -> Self {
        Self { msg_id: format!("{kind}:{command}:{id}:{}:{key}", actor.id), request_hash }
    }
}

pub struct Outcome<R> {
    pub receipt: R,
    /// True when this answers a retry of a request already carried out.
    pub replayed: bool,
}

pub struct Executor<A: Receipt>
where
    A::Id: Hash + Eq,
{
    store: EventStore,
    cache: AggregateCache<A>,
    /// Commands on one aggregate queue up inside an instance instead of racing each other
    /// through JetStream; only other instances are left to race (and OCC settles that).
    stripes: Vec<tokio::sync::Mutex<()>>,
    metrics: Arc<CommandMetrics>,
}

const STRIPES: usize = 256;

impl<A: Receipt> Executor<A>
where
    A::Id: Hash + Eq,
{
    pub fn new(store: EventStore, cache_capacity: usize, metrics: Arc<CommandMetrics>) -> Self {
        let stripes = (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect();
        Self { store, cache: AggregateCache::new(cache_capacity), stripes, metrics }
    }

    /// The aggregate as the log has it now (a leader read from the cached point on).
    pub async fn current(&self, id: &A::Id) -> Result<Loaded<A>, StoreError> {
        let start = self.cache.get(id).unwrap_or_default();
        let loaded = self.store.catch_up(id, start).await?;
        self.cache.put(id.clone(), loaded.clone());
        Ok(loaded)
    }

    /// A retry of an already carried-out request, if `idempotency` names one.
    pub async fn replay(&self, id: &A::Id, idempotency: &Idempotency) -> Result<Option<Outcome<A::Receipt>>, ApiError> {
        let loaded = self.current(id).await?;
        replay_from(&loaded, idempotency)
    }

    #[tracing::instrument(skip_all, fields(aggregate = A::SUBJECT_KIND, id = %id, command = command_name))]
    pub async fn execute(
        &self,
        id: &A::Id,
        command: &A::Command,
        command_name: &'static str,
        actor: &Actor,
        directory: &(dyn StaffDirectory + Sync),
        idempotency: Option<&Idempotency>,
    ) -> Result<Outcome<A::Receipt>, ApiError> {
        let mut lost_races = 0;
        let result = self.execute_counting(id, command, actor, directory, idempotency, &mut lost_races).await;
        let outcome = match &result {
            Ok(o) if o.replayed => "replayed",
            Ok(_) if lost_races > 0 => "ok_after_conflict",
            Ok(_) => "ok",
            Err(ApiError::Domain(_) | ApiError::IdempotencyKeyReused | ApiError::TooContended) => "refused",
            Err(_) => "failed",
        };
        self.metrics.commands.with_label_values(&[command_name, outcome]).inc();
        result
    }

    async fn execute_counting(
        &self,
        id: &A::Id,
        command: &A::Command,
        actor: &Actor,
        directory: &(dyn StaffDirectory + Sync),
        idempotency: Option<&Idempotency>,
        lost_races: &mut usize,
    ) -> Result<Outcome<A::Receipt>, ApiError> {
        let _turn = self.stripe(id).lock().await;
        let (mut loaded, mut fresh) = match self.cache.get(id) {
            Some(cached) => (cached, false),
            None => (self.store.catch_up(id, Loaded::default()).await?, true),
        };
        for attempt in 1..=MAX_ATTEMPTS {
            if let Some(idem) = idempotency
                && let Some(outcome) = replay_from(&loaded, idem)?
            {
                self.cache.put(id.clone(), loaded);
                return Ok(outcome);
            }
            let now = Utc::now();
            let decided = A::decide(loaded.state.as_ref(), command, &Context { actor, now, directory });
            let event = match decided {
                Ok(event) => event,
                // A refusal judged on a cached state is checked against the log first.
                Err(_) if !fresh => {
                    loaded = self.store.catch_up(id, loaded).await?;
                    fresh = true;
                    continue;
                }
                Err(refusal) => return Err(refusal.into()),
            };
            let msg_id = idempotency.map_or_else(|| Uuid::now_v7().to_string(), |i| i.msg_id.clone());
            let hash = idempotency.map(|i| i.request_hash.as_str());
            let recorded = Recorded { event, occurred_at: now, actor: actor.clone() };
            let timer = self.metrics.append_seconds.start_timer();
            let appended = self.store.append::<A>(id, &recorded, loaded.last_sequence, &msg_id, hash).await;
            timer.observe_duration();
            match appended {
                Ok(Appended::Stored(sequence)) => {
                    loaded
                        .record(id, &recorded, sequence, Some(msg_id.clone()), hash.map(str::to_owned))
                        .map_err(|e| ApiError::Internal(e.to_string()))?;
                    let receipt = loaded.written.get(&msg_id).map(|w| w.receipt.clone());
                    self.cache.put(id.clone(), loaded);
                    let receipt = receipt.ok_or_else(|| ApiError::Internal("receipt missing".into()))?;
                    return Ok(Outcome { receipt, replayed: false });
                }
                // Not our event: read what the log holds under our message id, and answer
                // its replay (same request) or refuse the reused key (another request).
                Ok(Appended::Duplicate(sequence)) => {
                    tracing::debug!(attempt, sequence, "message id already in the log; reading it");
                    loaded = self.store.catch_up(id, loaded).await?;
                    fresh = true;
                }
                Err(StoreError::WrongLastSequence) => {
                    *lost_races += 1;
                    tracing::debug!(attempt, "lost a race; catching up and deciding again");
                    backoff(attempt).await;
                    loaded = self.store.catch_up(id, loaded).await?;
                    fresh = true;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(ApiError::TooContended)
    }
}

impl<A: Receipt> Executor<A>
where
    A::Id: Hash + Eq,
{
    fn stripe(&self, id: &A::Id) -> &tokio::sync::Mutex<()> {
        use std::hash::{BuildHasher, RandomState};
        static HASHER: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
        let hash = HASHER.get_or_init(RandomState::new).hash_one(id);
        &self.stripes[(hash as usize) % self.stripes.len()]
    }
}

/// A short random pause, growing with each lost race, so racing instances spread out.
async fn backoff(attempt: usize) {
    let jitter_ms = (Uuid::new_v4().as_u128() % 5) as u64 + 1;
    tokio::time::sleep(std::time::Duration::from_millis(jitter_ms * attempt as u64)).await;
}

fn replay_from<A: Receipt>(
    loaded: &Loaded<A>,
    idempotency: &Idempotency,
) -> Result<Option<Outcome<A::Receipt>>, ApiError> {
    let Some(written) = loaded.written.get(&idempotency.msg_id) else {
        return Ok(None);
    };
    if written.request_hash.as_deref() != Some(idempotency.request_hash.as_str()) {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Some(Outcome { receipt: written.receipt.clone(), replayed: true }))
}

/// Staff looked up for a decision, read fresh from the log.
pub struct LoadedDirectory(pub HashMap<StaffId, StaffMember>);

impl StaffDirectory for LoadedDirectory {
    fn find(&self, id: &StaffId) -> Option<&StaffMember> {
        self.0.get(id)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(reason) => ApiError::Unavailable(reason),
            StoreError::WrongLastSequence => ApiError::TooContended,
            StoreError::Corrupt { sequence, reason } => {
                ApiError::Internal(format!("event log unreadable at sequence {sequence}: {reason}"))
            }
        }
    }
}
