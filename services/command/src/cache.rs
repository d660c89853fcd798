//! Recently used aggregates, so a command on a hot complaint does not re-read its history.
//! The cache is only a head start: every append carries the expected last sequence, so a
//! stale entry is caught by JetStream and refreshed, never trusted.

use std::hash::Hash;
use std::num::NonZeroUsize;
use std::sync::Mutex;

use crate::event_store::Receipt;
use lru::LruCache;

use crate::event_store::Loaded;

pub struct AggregateCache<A: Receipt>
where
    A::Id: Hash + Eq,
{
    entries: Mutex<LruCache<A::Id, Loaded<A>>>,
}

impl<A: Receipt> AggregateCache<A>
where
    A::Id: Hash + Eq,
{
    pub fn new(capacity: usize) -> Self {
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Self { entries: Mutex::new(LruCache::new(capacity)) }
    }

    pub fn get(&self, id: &A::Id) -> Option<Loaded<A>> {
        self.lock().get(id).cloned()
    }

    /// Keeps `loaded` unless the cache already holds a later state of the same aggregate
    /// (two requests on one complaint may finish out of order).
    pub fn put(&self, id: A::Id, loaded: Loaded<A>) {
        let mut entries = self.lock();
        let newer_present = entries.peek(&id).is_some_and(|held| held.last_sequence > loaded.last_sequence);
        if !newer_present {
            entries.put(id, loaded);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LruCache<A::Id, Loaded<A>>> {
        // A panic while holding the lock cannot leave an entry half-written (`put` and `get`
        // are single calls), so a poisoned cache is still consistent.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
