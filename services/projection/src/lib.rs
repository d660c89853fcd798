//! The eHelpdesk projection service: consumes the HELPDESK stream into PostgreSQL read
//! models, relays notifications, and serves the query API.
//!
//! Reading order: [`consumer`] (durable pull consumer) -> [`apply`] (one transaction per
//! batch, writing [`rows`]) -> [`project`] (timeline rows and notifications, pure) ; [`queries`] and
//! [`routes`] serve the models ([`badge_stream`] the badge as it changes), [`read_your_writes`] holds a query until its `min_seq` lands; [`relay`] publishes the outbox (gathering assignments by [`batching`]), [`digest`] adds each PIC's daily summary to it, and [`receipts`] records what became of it; [`rebuild`] replays it all;
//! [`audit`], [`verify`] and [`audit_routes`] serve auditors straight from the log.

pub mod apply;
pub mod audit;
pub mod audit_routes;
pub mod badge_stream;
pub mod batching;
pub mod calendar;
pub mod configuration;
pub mod consumer;
pub mod db;
pub mod digest;
pub mod export;
pub mod metrics;
pub mod monitor;
pub mod openapi;
pub mod params;
pub mod project;
pub mod queries;
pub mod read_your_writes;
pub mod rebuild;
pub mod receipts;
pub mod relay;
pub mod reports;
pub mod routes;
pub mod rows;
pub mod skipped;
pub mod startup;
pub mod state;
pub mod verify;

#[cfg(test)]
mod response_snapshots;
