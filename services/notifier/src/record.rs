//! Judging a notification message by its delivery record. The record itself (its types and
//! the key-value bucket that holds it) is shared with the command service, whose admin retry
//! reads it: [`ehelpdesk_shared::notification::record`]. A worker claims a notification
//! (state `sending`) before it hands it to a provider and records the outcome before it acks,
//! so that a redelivered message, or a second worker racing for it, is judged from the record
//! ([`judge`]) and never re-sent blindly.

use std::time::Duration;

use chrono::{DateTime, Utc};

pub use ehelpdesk_shared::notification::record::{DeliveryRecord, RecordError, RecordState, RecordStore, Revisioned};

/// What to do with a notification message, given its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// Nobody has it: claim attempt `attempt` and send. `after_crash` when the previous
    /// claim's worker vanished mid-send (its lease ran out): the provider may have it already.
    Send { attempt: u32, after_crash: bool },
    /// Its outcome is recorded: report it again (the receipt may not have gone out) and ack.
    Settled,
    /// Another worker is sending it now: look again after `after`.
    Busy { after: Duration },
    /// It failed and its next attempt is not due yet.
    NotYet { after: Duration },
    /// The message belongs to an earlier cycle than the record: drop it.
    Superseded,
}

/// Judges a message of retry cycle `cycle` against the record (pure; `now` and `lease` given).
pub fn judge(record: Option<&DeliveryRecord>, cycle: u32, now: DateTime<Utc>, lease: Duration) -> Judgement {
    let Some(record) = record else { return Judgement::Send { attempt: 1, after_crash: false } };
    if cycle > record.cycle {
        return Judgement::Send { attempt: 1, after_crash: false };
    }
    if cycle < record.cycle {
        return Judgement::Superseded;
    }
    let until = |at: DateTime<Utc>| (at - now).to_std().unwrap_or(Duration::ZERO);
    match record.state {
        RecordState::Sent | RecordState::DeadLettered => Judgement::Settled,
        RecordState::Failed => match record.retry_at.map(until).filter(|d| !d.is_zero()) {
            Some(after) => Judgement::NotYet { after },
            None => Judgement::Send { attempt: record.attempts + 1, after_crash: false },
        },
        RecordState::Sending => {
            let expires = record.since + chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::MAX);
            match until(expires) {
                after if !after.is_zero() => Judgement::Busy { after },
                _ => Judgement::Send { attempt: record.attempts + 1, after_crash: true },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const LEASE: Duration = Duration::from_secs(120);

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + chrono::Duration::seconds(seconds)
    }

    fn record(state: RecordState, cycle: u32, attempts: u32, since: i64) -> DeliveryRecord {
        DeliveryRecord {
            state,
            cycle,
            attempts,
            worker: "w".into(),
            since: at(since),
            retry_at: None,
            reason: None,
            provider_message_id: None,
            stream_sequence: 1,
        }
    }

    #[test]
    fn each_record_state_is_judged() {
        let now = at(1000);
        assert_eq!(judge(None, 0, now, LEASE), Judgement::Send { attempt: 1, after_crash: false });
        assert_eq!(judge(Some(&record(RecordState::Sent, 0, 1, 990)), 0, now, LEASE), Judgement::Settled);
        assert_eq!(judge(Some(&record(RecordState::DeadLettered, 0, 8, 990)), 0, now, LEASE), Judgement::Settled);
        assert_eq!(
            judge(Some(&record(RecordState::Sending, 0, 1, 990)), 0, now, LEASE),
            Judgement::Busy { after: Duration::from_secs(110) }
        );
        assert_eq!(
            judge(Some(&record(RecordState::Sending, 0, 1, 880)), 0, now, LEASE),
            Judgement::Send { attempt: 2, after_crash: true }
        );
        let failed = DeliveryRecord { retry_at: Some(at(1030)), ..record(RecordState::Failed, 0, 3, 990) };
        assert_eq!(judge(Some(&failed), 0, now, LEASE), Judgement::NotYet { after: Duration::from_secs(30) });
        assert_eq!(judge(Some(&failed), 0, at(1030), LEASE), Judgement::Send { attempt: 4, after_crash: false });
        // An admin's retry starts a new cycle; a message of the old one is dropped.
        let dead = record(RecordState::DeadLettered, 1, 8, 990);
        assert_eq!(judge(Some(&dead), 2, now, LEASE), Judgement::Send { attempt: 1, after_crash: false });
        assert_eq!(judge(Some(&dead), 0, now, LEASE), Judgement::Superseded);
    }

    fn state() -> impl Strategy<Value = RecordState> {
        prop_oneof![
            Just(RecordState::Sending),
            Just(RecordState::Sent),
            Just(RecordState::Failed),
            Just(RecordState::DeadLettered)
        ]
    }

    proptest! {
        /// Whatever the record, a settled notification is never sent again in its cycle, a
        /// claim inside its lease is never taken over, and a new attempt counts up by one.
        #[test]
        fn a_notification_is_sent_again_only_when_nothing_settled_it(
            state in state(), cycle in 0u32..3, message_cycle in 0u32..3, attempts in 1u32..10,
            since in 0i64..10_000, now in 0i64..10_000, retry_in in proptest::option::of(-100i64..100),
        ) {
            let r = DeliveryRecord { retry_at: retry_in.map(|d| at(now + d)), ..record(state, cycle, attempts, since) };
            let j = judge(Some(&r), message_cycle, at(now), LEASE);
            if message_cycle == cycle {
                match (state, &j) {
                    (RecordState::Sent | RecordState::DeadLettered, j) => prop_assert_eq!(j, &Judgement::Settled),
                    (_, Judgement::Send { attempt, after_crash }) => {
                        prop_assert_eq!(*attempt, attempts + 1);
                        prop_assert_eq!(*after_crash, state == RecordState::Sending);
                        if state == RecordState::Sending {
                            prop_assert!(now - since >= LEASE.as_secs() as i64);
                        }
                    }
                    (RecordState::Sending, j) => prop_assert!(matches!(j, Judgement::Busy { .. }), "{:?}", j),
                    (_, j) => prop_assert!(matches!(j, Judgement::NotYet { .. }), "{:?}", j),
                }
            } else if message_cycle > cycle {
                prop_assert_eq!(j, Judgement::Send { attempt: 1, after_crash: false });
            } else {
                prop_assert_eq!(j, Judgement::Superseded);
            }
        }
    }
}
