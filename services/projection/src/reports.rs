//! The aging and resolution reports, shared between readers. A report changes only when
//! events are applied, and dashboards ask for it all at once; so each report is computed
//! once per checkpoint, in a snapshot that also reads the checkpoint, and every reader who
//! asks meanwhile gets that answer. Nobody gets a report older than the checkpoint they saw
//! when they asked, so read-your-writes (`min_seq`) still holds.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use futures::future::BoxFuture;
use sqlx::{PgPool, Postgres, Transaction};

use crate::queries::{self, AgingRow, GroupBy, ResolutionRow};

#[derive(Default)]
pub struct Reports {
    aging: Memo<(GroupBy, NaiveDate), Vec<AgingRow>>,
    resolution: Memo<(GroupBy, i32), Vec<ResolutionRow>>,
}

impl Reports {
    pub async fn aging(&self, pool: &PgPool, by: GroupBy, today: NaiveDate) -> Result<Vec<AgingRow>, sqlx::Error> {
        self.aging.get(pool, (by, today), |tx| Box::pin(queries::aging_report(&mut **tx, by, today))).await
    }

    pub async fn resolution(&self, pool: &PgPool, by: GroupBy, target: i32) -> Result<Vec<ResolutionRow>, sqlx::Error> {
        self.resolution.get(pool, (by, target), |tx| Box::pin(queries::resolution_report(&mut **tx, by, target))).await
    }
}

/// The last answer of one report and the checkpoint it was computed at.
type Slot<V> = Arc<tokio::sync::Mutex<Option<(u64, V)>>>;

/// Different days and targets are different reports; past this many, the answers kept are
/// forgotten, so a sweep through `today=` cannot grow memory without end.
const MAX_KEPT: usize = 64;

struct Memo<K, V> {
    slots: Mutex<HashMap<K, Slot<V>>>,
}

impl<K, V> Default for Memo<K, V> {
    fn default() -> Self {
        Self { slots: Mutex::new(HashMap::new()) }
    }
}

impl<K: Eq + Hash + Copy, V: Clone> Memo<K, V> {
    async fn get(
        &self,
        pool: &PgPool,
        key: K,
        compute: impl for<'t> FnOnce(&'t mut Transaction<'static, Postgres>) -> BoxFuture<'t, Result<V, sqlx::Error>>,
    ) -> Result<V, sqlx::Error> {
        let seen = crate::db::checkpoint(pool).await?;
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            if slots.len() >= MAX_KEPT && !slots.contains_key(&key) {
                slots.clear();
            }
            slots.entry(key).or_default().clone()
        };
        // One reader computes; the others wait here and take its answer.
        let mut last = slot.lock().await;
        if let Some((at, answer)) = last.as_ref()
            && *at >= seen
        {
            return Ok(answer.clone());
        }
        let mut tx = pool.begin().await?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
        let at = sqlx::query_scalar!("SELECT last_sequence FROM projection_checkpoint WHERE name = 'main'")
            .fetch_one(&mut *tx)
            .await?;
        let answer = compute(&mut tx).await?;
        tx.commit().await?;
        *last = Some((at as u64, answer.clone()));
        Ok(answer)
    }
}
