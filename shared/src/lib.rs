//! What both eHelpdesk services share.
//!
//! - [`complaint`] and [`staff`]: the two aggregates, pure code (no I/O, no async), built on
//!   the [`aggregate`] pattern: `state = events.fold(apply)`, `decide(state, command) -> event`.
//! - [`validation`], [`category`], [`actor`]: the value types commands are made of.
//! - [`auth`] and [`access`]: who is calling (the portal's token) and what the staff directory
//!   lets them do.
//! - [`error`]: why the domain refuses a command, with stable codes.
//! - [`visibility`]: who sees what of a complaint, for both services.
//! - [`envelope`]: the JSON form of an event in the stream.
//! - [`stored`]: the stored schemas the log and the read model's states are read through,
//!   apart from the domain types.
//! - [`http`]: problem+json errors and request extractors both APIs use.
//! - [`notification`]: what the outbox relay, the notifier and the projection say to each
//!   other on the NOTIFY stream.
//! - `test_fixtures` (feature `test-fixtures`): fixed states for the services' snapshot tests.
//! - [`config`], [`telemetry`], [`shutdown`] and [`streams`]: plumbing both services start
//!   and stop with.

pub mod access;
pub mod actor;
pub mod aggregate;
pub mod auth;
pub mod category;
pub mod complaint;
pub mod config;
pub mod demo_people;
pub mod envelope;
pub mod error;
pub mod http;
pub mod notification;
pub mod shutdown;
pub mod staff;
pub mod stored;
pub mod streams;
pub mod telemetry;
#[cfg(feature = "test-fixtures")]
pub mod test_fixtures;
pub mod validation;
pub mod visibility;
