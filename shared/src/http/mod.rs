//! HTTP conventions both services follow: one error type answered as problem+json,
//! extractors that reject bad requests the same way, what each request leaves behind
//! (ids, spans, metrics), and how routers are served (deadlines, limits).

pub mod contract;
pub mod extract;
pub mod observe;
pub mod problem;
pub mod serve;

pub use problem::{ApiError, Problem};
