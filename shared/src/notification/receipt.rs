//! A worker's report of what became of a notification. The projection records the latest
//! one per notification on its outbox row; receipts may arrive twice or out of order, so
//! each carries what orders it (the retry cycle, the attempt, the state's rank).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::Channel;

/// Where a notification stands. `Queued` is the outbox's own state before any receipt.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    strum::EnumIter,
    strum::IntoStaticStr,
    strum::EnumString,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[strum(serialize_all = "snake_case")]
pub enum DeliveryState {
    Queued,
    /// Tried and not yet delivered; it will be tried again.
    Failed,
    /// Given up on: a permanent refusal, or the attempts ran out. An admin may retry it.
    DeadLettered,
    /// Accepted by the mail server or by WhatsApp.
    Sent,
}

impl DeliveryState {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    pub id: Uuid,
    pub channel: Channel,
    pub state: DeliveryState,
    /// Attempts made in this cycle, this one included.
    pub attempts: u32,
    /// 0 until an admin retries a dead letter, then 1, 2, ...
    pub cycle: u32,
    /// Why it failed, in words an admin can act on.
    pub reason: Option<String>,
    /// The mail server's queue id or WhatsApp's message id (`wamid...`).
    pub provider_message_id: Option<String>,
    pub at: DateTime<Utc>,
}

impl Receipt {
    /// The `Nats-Msg-Id` it is published with: the same outcome reported twice is one receipt.
    pub fn message_id(&self) -> String {
        format!("{}:{}:{}:{}", self.id, self.cycle, self.attempts, self.state.as_str())
    }

    /// Whether this receipt is newer news than one already recorded as `(cycle, attempts,
    /// state)`: a later cycle, or a later attempt, or the same attempt's final word.
    pub fn supersedes(&self, cycle: u32, attempts: u32, state: DeliveryState) -> bool {
        (self.cycle, self.attempts, self.state) > (cycle, attempts, state)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use strum::IntoEnumIterator;

    use super::*;

    fn receipt(cycle: u32, attempts: u32, state: DeliveryState) -> Receipt {
        Receipt {
            id: Uuid::nil(),
            channel: Channel::Email,
            state,
            attempts,
            cycle,
            reason: None,
            provider_message_id: None,
            at: DateTime::UNIX_EPOCH,
        }
    }

    fn state() -> impl Strategy<Value = DeliveryState> {
        proptest::sample::select(DeliveryState::iter().collect::<Vec<_>>())
    }

    #[test]
    fn a_sent_receipt_outranks_the_failure_of_the_same_attempt() {
        assert!(receipt(0, 2, DeliveryState::Sent).supersedes(0, 2, DeliveryState::Failed));
        assert!(!receipt(0, 1, DeliveryState::Failed).supersedes(0, 2, DeliveryState::Failed));
        assert!(receipt(1, 1, DeliveryState::Failed).supersedes(0, 8, DeliveryState::DeadLettered));
        assert!(receipt(0, 1, DeliveryState::Failed).supersedes(0, 0, DeliveryState::Queued));
    }

    proptest! {
        /// Whatever order receipts arrive in, recording each one that supersedes what is
        /// recorded ends with the same state: the greatest.
        #[test]
        fn any_arrival_order_ends_in_the_same_state(
            receipts in proptest::collection::vec((0u32..3, 1u32..5, state()), 1..12),
            seed in any::<u64>(),
        ) {
            let record = |order: &[(u32, u32, DeliveryState)]| {
                let mut now = (0, 0, DeliveryState::Queued);
                for &(c, a, s) in order {
                    if receipt(c, a, s).supersedes(now.0, now.1, now.2) {
                        now = (c, a, s);
                    }
                }
                now
            };
            let mut shuffled = receipts.clone();
            let mut x = seed | 1;
            for i in (1..shuffled.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                shuffled.swap(i, (x % (i as u64 + 1)) as usize);
            }
            prop_assert_eq!(record(&receipts), record(&shuffled));
        }
    }
}
