//! HTTP conventions both services follow: one error type answered as problem+json, and
//! extractors that reject bad requests the same way.

pub mod extract;
pub mod observe;
pub mod problem;

pub use problem::{ApiError, Problem};
