//! How a failed send is retried: whether it can succeed later, and when to try again.

use std::time::Duration;

use crate::configuration::RetryPolicy;

/// Why a send did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct SendFailure {
    pub kind: FailureKind,
    /// In words an admin can act on; it goes on the receipt and in `/v1/outbox`.
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The provider was unreachable or asked us to come back (SMTP 4xx, HTTP 429 and 5xx,
    /// a timeout); `retry_after` when it said when.
    Transient { retry_after: Option<Duration> },
    /// Trying again cannot help (SMTP 5xx for the mailbox, not a WhatsApp user, a template
    /// error, an invalid address).
    Permanent,
}

impl SendFailure {
    pub fn transient(reason: impl Into<String>) -> Self {
        Self { kind: FailureKind::Transient { retry_after: None }, reason: reason.into() }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self { kind: FailureKind::Permanent, reason: reason.into() }
    }
}

/// What follows the failure of attempt `attempt`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    RetryAfter(Duration),
    DeadLetter,
}

/// `jitter` in [0, 1) spreads retries of many messages failed together (drawn by the caller,
/// so that this stays pure): the wait is `base * 2^(attempt-1)` scaled by 0.5 + jitter/2..
/// at most `max`, and never sooner than the provider asked.
pub fn next_step(policy: &RetryPolicy, failure: &SendFailure, attempt: u32, jitter: f64) -> NextStep {
    let FailureKind::Transient { retry_after } = failure.kind else { return NextStep::DeadLetter };
    if attempt >= policy.attempts {
        return NextStep::DeadLetter;
    }
    let exponential = policy.base.saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1).min(31)));
    let spread = exponential.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0).min(policy.max);
    // The provider's own Retry-After wins over the cap: sooner would only be refused again.
    NextStep::RetryAfter(retry_after.map_or(spread, |asked| asked.max(spread)))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const POLICY: RetryPolicy = RetryPolicy { attempts: 5, base: Duration::from_secs(2), max: Duration::from_secs(60) };

    #[test]
    fn transient_failures_back_off_then_dead_letter() {
        let f = SendFailure::transient("connection refused");
        let waits: Vec<_> = (1..=5).map(|a| next_step(&POLICY, &f, a, 1.0)).collect();
        let secs = |s: u64| NextStep::RetryAfter(Duration::from_secs(s));
        assert_eq!(waits, [secs(2), secs(4), secs(8), secs(16), NextStep::DeadLetter]);
        assert_eq!(next_step(&POLICY, &f, 1, 0.0), NextStep::RetryAfter(Duration::from_secs(1)));
        assert_eq!(next_step(&POLICY, &SendFailure::permanent("550 no such user"), 1, 0.5), NextStep::DeadLetter);
    }

    #[test]
    fn retry_after_is_honoured_even_beyond_the_cap() {
        let asked = SendFailure {
            kind: FailureKind::Transient { retry_after: Some(Duration::from_secs(90)) },
            reason: "429".into(),
        };
        assert_eq!(next_step(&POLICY, &asked, 1, 0.0), NextStep::RetryAfter(Duration::from_secs(90)));
    }

    proptest! {
        #[test]
        fn waits_grow_and_stay_within_bounds(attempt in 1u32..40, jitter in 0.0f64..1.0, asked in proptest::option::of(0u64..500)) {
            let policy = RetryPolicy { attempts: 50, ..POLICY };
            let f = SendFailure { kind: FailureKind::Transient { retry_after: asked.map(Duration::from_secs) }, reason: String::new() };
            let NextStep::RetryAfter(wait) = next_step(&policy, &f, attempt, jitter) else { panic!("dead-lettered early") };
            let ceiling = policy.max.max(Duration::from_secs(asked.unwrap_or(0)));
            prop_assert!(wait <= ceiling);
            if let Some(asked) = asked {
                let floor = Duration::from_secs(asked);
                prop_assert!(wait >= floor);
            }
            let NextStep::RetryAfter(later) = next_step(&policy, &f, attempt + 1, jitter) else { panic!() };
            prop_assert!(later >= wait);
        }
    }
}
