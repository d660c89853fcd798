//! The eHelpdesk web app: the guide's screens for complainants, PICs, admins and auditors,
//! rendered on the server from the command and query APIs, with htmx for partial updates. It
//! keeps no data of its own.
//!
//! Reading order: [`routes`] (one module per screen) fill [`pages`] (the askama templates and
//! the views they show) from [`api`] (the two services, called with the signed-in person's
//! token). Who is asking comes from [`session`] (the cookie that holds the portal's token);
//! every form is guarded by [`csrf`]; what goes wrong becomes a readable page in [`error`].
//! [`format`] renders dates and numbers as the guide does, [`people`] lists the development
//! picker's invented people, and [`configuration`] and [`startup`] are the plumbing.

pub mod api;
pub mod configuration;
pub mod csrf;
pub mod error;
pub mod format;
pub mod pages;
pub mod people;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
