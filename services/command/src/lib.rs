//! The eHelpdesk command service: validates commands on complaints and the staff directory
//! and appends the resulting events to NATS JetStream, with optimistic concurrency per
//! aggregate.
//!
//! Reading order: [`routes`] (HTTP in) -> [`executor`] (load, decide, append, retry) ->
//! [`event_store`] (JetStream) with [`cache`] and [`numbers`] beside it. [`notifications`]:
//! an admin's retry of a dead-lettered notification, on NOTIFY rather than the event log.

pub mod cache;
pub mod configuration;
pub mod event_store;
pub mod executor;
pub mod metrics;
pub mod notifications;
pub mod numbers;
pub mod openapi;
pub mod rate_limit;
pub mod receipts;
pub mod routes;
pub mod startup;
pub mod state;

#[cfg(test)]
mod response_snapshots;
