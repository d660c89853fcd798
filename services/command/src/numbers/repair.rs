//! `ehelpdesk-command repair-numbers`: what an operator runs after the counter was found
//! broken. Reads the whole log once, claims every number a ComplaintLogged event carries that
//! has no claim yet (logs written before claims existed), and raises each year's counter to
//! the highest number in the log. It never lowers a counter and never unclaims anything, so
//! it is safe to run while the service runs, and twice.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent};
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope;
use futures::StreamExt;
use uuid::Uuid;

use super::claims::{ClaimError, Claims};
use super::counter::Counter;
use super::{CounterFault, counter_key};

#[derive(Debug, Default)]
pub struct RepairReport {
    /// Each year's counter afterwards.
    pub counters: BTreeMap<i32, u64>,
    /// Numbers of logged complaints that had no claim, now claimed.
    pub backfilled: usize,
    /// Numbers the log gives to more than one complaint (written before claims existed).
    pub duplicates: BTreeMap<String, Vec<Uuid>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error(transparent)]
    Counter(#[from] CounterFault),
}

/// What the log holds of numbers.
#[derive(Default)]
struct Seen {
    claimed: BTreeSet<(i32, u64)>,
    /// (year, sequence) -> the number in full and the complaints logged with it.
    logged: BTreeMap<(i32, u64), (String, Vec<Uuid>)>,
}

pub async fn repair(
    jetstream: &async_nats::jetstream::Context,
    log: &EventLogConfig,
) -> Result<RepairReport, RepairError> {
    let counter = Counter::open(jetstream, &log.numbers_bucket(), log.replicas).await.map_err(RepairError::Nats)?;
    let claims = Claims::new(jetstream.clone(), log.clone());
    let seen = read_log(jetstream, log).await?;
    let mut report = RepairReport::default();
    for ((year, sequence), (number, complaints)) in &seen.logged {
        if complaints.len() > 1 {
            report.duplicates.insert(number.clone(), complaints.clone());
        }
        if !seen.claimed.contains(&(*year, *sequence)) {
            match claims.claim(*year, *sequence, number, complaints[0]).await {
                Ok(()) => report.backfilled += 1,
                Err(ClaimError::Taken) => {}
                Err(ClaimError::Unavailable(e)) => return Err(RepairError::Nats(e)),
            }
        }
    }
    let mut highest: BTreeMap<i32, u64> = BTreeMap::new();
    for (year, sequence) in seen.claimed.iter().chain(seen.logged.keys()) {
        let top = highest.entry(*year).or_default();
        *top = (*top).max(*sequence);
    }
    for (year, top) in highest {
        report.counters.insert(year, counter.raise_to(&counter_key(year), top).await?);
    }
    Ok(report)
}

/// Every claim and every ComplaintLogged number, reading the log from its start to the head
/// it had when the repair began.
async fn read_log(jetstream: &async_nats::jetstream::Context, log: &EventLogConfig) -> Result<Seen, RepairError> {
    let nats = |e: &dyn std::fmt::Display| RepairError::Nats(e.to_string());
    let mut stream = jetstream.get_stream(&log.stream).await.map_err(|e| nats(&e))?;
    let head = stream.info().await.map_err(|e| nats(&e))?.state.last_sequence;
    let mut seen = Seen::default();
    if head == 0 {
        return Ok(seen);
    }
    let mut messages = ehelpdesk_shared::streams::replay_log(jetstream, log, 1).await.map_err(RepairError::Nats)?;
    let complaints = format!("{}.complaint.", log.subject_prefix);
    loop {
        let message = match tokio::time::timeout(Duration::from_secs(5), messages.next()).await {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(e))) => return Err(nats(&e)),
            Ok(None) | Err(_) => return Err(RepairError::Nats("the log stopped delivering before its head".into())),
        };
        let sequence = message.info().map_err(|e| nats(&e))?.stream_sequence;
        if let Some(claim) = log.parse_number_claim(&message.subject) {
            seen.claimed.insert(claim);
        } else if message.subject.starts_with(&complaints)
            && let Ok(decoded) = envelope::decode::<Complaint>(&message.payload)
            && let ComplaintEvent::ComplaintLogged(logged) = &decoded.recorded.event
            && let Some(key) = parse_number(&logged.number)
        {
            seen.logged.entry(key).or_insert_with(|| (logged.number.clone(), vec![])).1.push(decoded.id);
        }
        if sequence >= head {
            return Ok(seen);
        }
    }
}

/// (year, sequence) of `ADU-2026-000123`.
pub fn parse_number(number: &str) -> Option<(i32, u64)> {
    let (year, sequence) = number.strip_prefix("ADU-")?.split_once('-')?;
    Some((year.parse().ok()?, sequence.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_parse_back() {
        assert_eq!(parse_number(&ehelpdesk_shared::complaint::complaint_number(2026, 123)), Some((2026, 123)));
        assert_eq!(parse_number("ADU-2026-1234567"), Some((2026, 1_234_567)));
        assert_eq!(parse_number("ADU-20x6-000001"), None);
        assert_eq!(parse_number("XYZ-2026-000001"), None);
    }
}
