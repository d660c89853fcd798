//! The eHelpdesk notifier: delivers the notifications on the NOTIFY stream by e-mail and
//! WhatsApp, each once as a person sees it, and reports every outcome back.
//!
//! Reading order: [`worker`] (the durable consumer and one message's life) judges each
//! message by its [`record`] (the delivery record and the pure `judge`), sends it through
//! [`email`] or [`whatsapp`], decides a failure's next step by [`retry`], and reports the
//! outcome with [`receipts`]; WhatsApp messages wait out [`quiet_hours`]. [`configuration`], [`startup`], [`routes`] (probes),
//! [`metrics`] and [`clock`] are the plumbing.

pub mod clock;
pub mod configuration;
pub mod email;
pub mod metrics;
pub mod quiet_hours;
pub mod receipts;
pub mod record;
pub mod retry;
pub mod routes;
pub mod startup;
pub mod whatsapp;
pub mod worker;
