//! Writes per person are rate limited (a runaway script must not flood the event log):
//! a token bucket per actor id, answered with 429 and Retry-After.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use ehelpdesk_shared::actor::Actor;
use ehelpdesk_shared::http::ApiError;
use ehelpdesk_shared::http::extract::{Authenticator, CurrentActor};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

#[derive(Debug, Clone, Copy)]
pub struct RateLimit {
    /// `RATE_LIMIT_PER_SECOND`, default 10: sustained writes per person.
    pub per_second: u32,
    /// `RATE_LIMIT_BURST`, default 30: writes allowed at once.
    pub burst: u32,
}

pub struct WriteLimiter {
    limiter: DefaultKeyedRateLimiter<String>,
}

impl WriteLimiter {
    pub fn new(limit: RateLimit) -> Arc<Self> {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(per_second);
        let this = Arc::new(Self { limiter: RateLimiter::keyed(Quota::per_second(per_second).allow_burst(burst)) });
        // Forget idle people now and then so the table does not grow without end.
        let weak = Arc::downgrade(&this);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(60)).await;
                match weak.upgrade() {
                    Some(limiter) => limiter.limiter.retain_recent(),
                    None => return,
                }
            }
        });
        this
    }

    pub fn check(&self, actor: &Actor) -> Result<(), ApiError> {
        self.limiter.check_key(&actor.id.to_string()).map_err(|not_until| {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::RateLimited { retry_after_secs: wait.as_secs().max(1) }
        })
    }
}

/// The acting person of a write, once the rate limit lets them through.
pub struct Writer(pub Actor);

impl<S: Send + Sync> FromRequestParts<S> for Writer
where
    Authenticator: FromRef<S>,
    Arc<WriteLimiter>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let CurrentActor(actor) = CurrentActor::from_request_parts(parts, state).await?;
        Arc::<WriteLimiter>::from_ref(state).check(&actor)?;
        Ok(Writer(actor))
    }
}
