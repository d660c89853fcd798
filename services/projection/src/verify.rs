//! `ehelpdesk-projection verify`: replays the log and checks every complaint's read-model row
//! and timeline against the state the domain folds from its events, and every event against
//! the domain's rules (could `decide` have produced it from the state before it?). Any
//! difference is reported; the command exits non-zero.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use ehelpdesk_shared::aggregate::Aggregate;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::StaffMember;
use ehelpdesk_shared::stored::state::StoredComplaint;
use ehelpdesk_shared::validation::StaffId;
use futures::StreamExt;
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Difference {
    pub complaint_id: Uuid,
    pub what: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct VerifyReport {
    /// Events replayed: every event up to the read models' checkpoint.
    pub events: u64,
    /// The read models' checkpoint the replay stopped at.
    pub checkpoint: u64,
    /// The stream's last sequence when verify ended.
    pub stream_head: u64,
    /// Events the read models lacked when verify ended.
    pub behind: u64,
    pub complaints: usize,
    pub differences: Vec<Difference>,
    /// Why the projection itself fails: stalled, or further behind than allowed. The models
    /// can match the log up to the checkpoint while the checkpoint is stuck.
    pub projection_problems: Vec<String>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty() && self.projection_problems.is_empty()
    }
}

/// When a projection that is behind fails verify.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `VERIFY_MAX_BEHIND`: more unapplied events than this at the end fail.
    pub max_behind: u64,
    /// `VERIFY_STALL_SECS`: a checkpoint behind the head that does not move for this long
    /// (from verify's start) is stalled.
    pub stall_wait: Duration,
}

impl Limits {
    pub fn of(settings: &crate::configuration::Settings) -> Self {
        Self { max_behind: settings.verify_max_behind, stall_wait: settings.verify_stall_wait }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("NATS: {0}")]
    Nats(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}

struct Folded {
    state: Option<Complaint>,
    sequences: BTreeSet<i64>,
    broken: Option<String>,
    /// Events `decide` could not have produced from the state before them.
    illegal: Vec<String>,
}

/// The log replayed in order: complaints folded and judged by the domain's rules, against
/// the staff directory as it stood at each event.
#[derive(Default)]
struct Replay {
    complaints: HashMap<Uuid, Folded>,
    staff: HashMap<StaffId, StaffMember>,
}

impl Replay {
    fn staff_event(&mut self, payload: &[u8]) {
        let Ok(decoded) = envelope::decode::<StaffMember>(payload) else { return };
        // Applied to a copy: a refused event leaves the member as they were.
        let before = self.staff.get(&decoded.id).cloned();
        if let Ok(member) = StaffMember::apply(before, &decoded.id, &decoded.recorded) {
            self.staff.insert(decoded.id, member);
        }
    }

    fn complaint_event(&mut self, sequence: u64, payload: &[u8]) {
        let Ok(decoded) = envelope::decode::<Complaint>(payload) else { return };
        let entry = self.complaints.entry(decoded.id).or_insert_with(|| Folded {
            state: None,
            sequences: BTreeSet::new(),
            broken: None,
            illegal: vec![],
        });
        entry.sequences.insert(sequence as i64);
        let recorded = &decoded.recorded;
        if let Err(refusal) = Complaint::check_recorded(entry.state.as_ref(), recorded, &self.staff) {
            use ehelpdesk_shared::aggregate::DomainEvent;
            entry.illegal.push(format!(
                "event {sequence} ({}) breaks the rules: {} ({refusal})",
                recorded.event.event_type(),
                refusal.code()
            ));
        }
        match Complaint::apply(entry.state.take(), &decoded.id, recorded) {
            Ok(state) => entry.state = Some(state),
            Err(e) => entry.broken = Some(e.to_string()),
        }
    }
}

pub async fn verify(
    pool: &PgPool,
    jetstream: &async_nats::jetstream::Context,
    log: &EventLogConfig,
    limits: Limits,
) -> Result<VerifyReport, VerifyError> {
    let started = Instant::now();
    let checkpoint = crate::db::checkpoint(pool).await?;
    let head_at_start = crate::db::stream_head(jetstream, &log.stream).await.map_err(VerifyError::Nats)?;
    let mut replay = Replay::default();
    let mut events = 0;
    if checkpoint > 0 {
        let mut messages = ehelpdesk_shared::streams::replay_log(jetstream, log, 1).await.map_err(VerifyError::Nats)?;
        // Stop at the checkpoint: later events are not in the read models yet.
        let head = crate::db::stream_head(jetstream, &log.stream).await.map_err(VerifyError::Nats)?;
        let mut seen_up_to = 0;
        let complaint_subjects = format!("{}.{}.", log.subject_prefix, Complaint::SUBJECT_KIND);
        let staff_subjects = format!("{}.{}.", log.subject_prefix, StaffMember::SUBJECT_KIND);
        while seen_up_to < checkpoint.min(head) {
            let next = tokio::time::timeout(std::time::Duration::from_secs(2), messages.next()).await;
            let Ok(Some(message)) = next else { break };
            let message = message.map_err(|e| VerifyError::Nats(e.to_string()))?;
            let sequence = message.info().map_err(|e| VerifyError::Nats(e.to_string()))?.stream_sequence;
            seen_up_to = sequence;
            if sequence > checkpoint {
                break;
            }
            events += 1;
            if message.subject.starts_with(&complaint_subjects) {
                replay.complaint_event(sequence, &message.payload);
            } else if message.subject.starts_with(&staff_subjects) {
                replay.staff_event(&message.payload);
            }
        }
    }
    let folded = replay.complaints;

    let mut differences = vec![];
    let rows = sqlx::query!(
        r#"SELECT complaint_id, status, pic_id, closed_at IS NOT NULL AS "closed!", state, last_sequence FROM complaints"#,
    )
    .fetch_all(pool)
    .await?;
    let mut in_models = BTreeSet::new();
    for row in &rows {
        let id = row.complaint_id;
        in_models.insert(id);
        let Some(f) = folded.get(&id) else {
            differences.push(Difference { complaint_id: id, what: "in the read model but not in the log".into() });
            continue;
        };
        let Some(c) = &f.state else { continue };
        let mut check = |what: &str, ok: bool| {
            if !ok {
                differences.push(Difference { complaint_id: id, what: what.to_owned() });
            }
        };
        check(
            "state differs from the folded events",
            serde_json::to_value(StoredComplaint::from(c)).ok().as_ref() == Some(&row.state),
        );
        check(
            &format!("status is `{}`, the log says `{}`", row.status, c.status.as_str()),
            row.status == c.status.as_str(),
        );
        check("PIC differs", row.pic_id.as_deref() == c.pic_id().map(|p| p.as_str()));
        check("closed or not differs", row.closed == c.closed_at.is_some());
        check("last_sequence differs", f.sequences.last().copied() == Some(row.last_sequence));
    }
    for (id, f) in &folded {
        if let Some(reason) = &f.broken {
            differences.push(Difference { complaint_id: *id, what: format!("the log does not fold: {reason}") });
        }
        for what in &f.illegal {
            differences.push(Difference { complaint_id: *id, what: what.clone() });
        }
        if f.state.is_some() && !in_models.contains(id) {
            differences
                .push(Difference { complaint_id: *id, what: "in the log but missing from the read model".into() });
        }
    }
    let mut timelines: BTreeMap<Uuid, BTreeSet<i64>> = BTreeMap::new();
    for row in sqlx::query!("SELECT complaint_id, sequence FROM timeline").fetch_all(pool).await? {
        timelines.entry(row.complaint_id).or_default().insert(row.sequence);
    }
    for (id, f) in &folded {
        let steps = timelines.remove(id).unwrap_or_default();
        if f.broken.is_none() && steps != f.sequences {
            differences.push(Difference {
                complaint_id: *id,
                what: format!("timeline has {} steps, the log {} events", steps.len(), f.sequences.len()),
            });
        }
    }
    for id in timelines.keys() {
        differences
            .push(Difference { complaint_id: *id, what: "timeline steps for a complaint not in the log".into() });
    }
    differences.extend(duplicate_numbers(&folded));
    differences.sort_by(|a, b| (a.complaint_id, &a.what).cmp(&(b.complaint_id, &b.what)));
    let start = Start { checkpoint, head: head_at_start, at: started };
    let progress = progress(pool, jetstream, log, start, limits).await?;
    Ok(VerifyReport {
        events,
        checkpoint,
        stream_head: progress.head,
        behind: progress.behind,
        complaints: folded.len(),
        differences,
        projection_problems: progress.problems,
    })
}

/// Complaint numbers are unique: each complaint sharing one is a difference.
fn duplicate_numbers(folded: &HashMap<Uuid, Folded>) -> Vec<Difference> {
    let mut by_number: BTreeMap<&str, Vec<Uuid>> = BTreeMap::new();
    for (id, f) in folded {
        if let Some(c) = &f.state {
            by_number.entry(c.number.as_str()).or_default().push(*id);
        }
    }
    let mut differences = vec![];
    for (number, mut ids) in by_number.into_iter().filter(|(_, ids)| ids.len() > 1) {
        ids.sort();
        for id in &ids {
            let others: Vec<String> = ids.iter().filter(|o| *o != id).map(ToString::to_string).collect();
            differences.push(Difference {
                complaint_id: *id,
                what: format!("number {number} is also the number of {}", others.join(", ")),
            });
        }
    }
    differences
}

/// Where the projection stood when verify began.
struct Start {
    checkpoint: u64,
    head: u64,
    at: Instant,
}

/// Where it stands at the end, and what is wrong with that.
struct Progress {
    head: u64,
    behind: u64,
    problems: Vec<String>,
}

/// Whether the projection moves and how far behind it is. Up to `stall_wait` after verify
/// began it may still move: a projection that is merely between batches is not stalled.
async fn progress(
    pool: &PgPool,
    jetstream: &async_nats::jetstream::Context,
    log: &EventLogConfig,
    start: Start,
    limits: Limits,
) -> Result<Progress, VerifyError> {
    let mut checkpoint = crate::db::checkpoint(pool).await?;
    let had_work = start.head > start.checkpoint;
    while had_work && checkpoint == start.checkpoint && start.at.elapsed() < limits.stall_wait {
        tokio::time::sleep(Duration::from_millis(100)).await;
        checkpoint = crate::db::checkpoint(pool).await?;
    }
    let head = crate::db::stream_head(jetstream, &log.stream).await.map_err(VerifyError::Nats)?;
    let behind = head.saturating_sub(checkpoint);
    let mut problems = vec![];
    if had_work && checkpoint == start.checkpoint {
        problems.push(format!(
            "stalled: the checkpoint stayed at {checkpoint} for {} s while the stream head was at {}",
            limits.stall_wait.as_secs(),
            start.head
        ));
    }
    if behind > limits.max_behind {
        problems.push(format!(
            "far behind: {behind} events behind the stream head {head} (VERIFY_MAX_BEHIND {})",
            limits.max_behind
        ));
    }
    Ok(Progress { head, behind, problems })
}
