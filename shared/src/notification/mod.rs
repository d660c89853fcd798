//! Notifications: what travels on the NOTIFY stream between the projection's outbox relay,
//! the notifier that delivers by e-mail and WhatsApp, and back.
//!
//! - [`stream`]: the NOTIFY stream and its subjects (`notify.<channel>` to deliver,
//!   `notify.receipt.<channel>` for what became of it).
//! - [`message`]: one notification to one person on one channel, as the relay publishes it.
//! - [`template`]: which message it is (one WhatsApp template each) and its parameters.
//! - [`receipt`]: a worker's report of an outcome (sent, failed, dead-lettered).
//! - [`record`]: the delivery record per notification (the notifier's key-value bucket),
//!   which the notifier judges each message by and an admin's retry starts from.

pub mod message;
pub mod receipt;
pub mod record;
pub mod stream;
pub mod template;

pub use message::{Channel, NotificationMessage};
pub use receipt::{DeliveryState, Receipt};
pub use record::{DeliveryRecord, RecordState, RecordStore};
pub use stream::NotifyConfig;
pub use template::Template;
