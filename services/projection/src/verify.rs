//! `ehelpdesk-projection verify`: replays the log and checks every complaint's read-model row
//! and timeline against the state the domain folds from its events, and every event against
//! the domain's rules (could `decide` have produced it from the state before it?). Any
//! difference is reported; the command exits non-zero.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use ehelpdesk_shared::aggregate::Aggregate;
use ehelpdesk_shared::complaint::Complaint;
use ehelpdesk_shared::config::EventLogConfig;
use ehelpdesk_shared::envelope;
use ehelpdesk_shared::staff::StaffMember;
use ehelpdesk_shared::validation::StaffId;
use futures::StreamExt;
use serde::Serialize;
use sqlx::{PgPool, Row};
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
    pub checkpoint: u64,
    pub complaints: usize,
    pub differences: Vec<Difference>,
}

impl VerifyReport {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
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
        let before = self.staff.remove(&decoded.id);
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
) -> Result<VerifyReport, VerifyError> {
    let checkpoint = crate::db::checkpoint(pool).await?;
    let mut replay = Replay::default();
    let mut events = 0;
    if checkpoint > 0 {
        let stream = jetstream.get_stream(&log.stream).await.map_err(|e| VerifyError::Nats(e.to_string()))?;
        let consumer = stream
            .create_consumer(OrderedConfig {
                deliver_policy: DeliverPolicy::All,
                filter_subject: log.all_subjects(),
                ..Default::default()
            })
            .await
            .map_err(|e| VerifyError::Nats(e.to_string()))?;
        let mut messages = consumer.messages().await.map_err(|e| VerifyError::Nats(e.to_string()))?;
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
    let rows = sqlx::query(
        "SELECT complaint_id, status, pic_id, closed_at IS NOT NULL AS closed, state, last_sequence FROM complaints",
    )
    .fetch_all(pool)
    .await?;
    let mut in_models = BTreeSet::new();
    for row in &rows {
        let id: Uuid = row.get("complaint_id");
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
        let state: serde_json::Value = row.get("state");
        check("state differs from the folded events", serde_json::to_value(c).ok().as_ref() == Some(&state));
        check(
            &format!("status is `{}`, the log says `{}`", row.get::<String, _>("status"), c.status.as_str()),
            row.get::<String, _>("status") == c.status.as_str(),
        );
        check("PIC differs", row.get::<Option<String>, _>("pic_id").as_deref() == c.pic_id().map(|p| p.as_str()));
        check("closed or not differs", row.get::<bool, _>("closed") == c.closed_at.is_some());
        check("last_sequence differs", f.sequences.last().copied() == Some(row.get::<i64, _>("last_sequence")));
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
    for row in sqlx::query("SELECT complaint_id, sequence FROM timeline").fetch_all(pool).await? {
        timelines.entry(row.get(0)).or_default().insert(row.get(1));
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
    differences.sort_by(|a, b| (a.complaint_id, &a.what).cmp(&(b.complaint_id, &b.what)));
    Ok(VerifyReport { events, checkpoint, complaints: folded.len(), differences })
}
