//! Notifications: what travels on the NOTIFY stream between the projection's outbox relay,
//! the notifier that delivers by e-mail and WhatsApp, and back.
//!
//! - [`stream`]: the NOTIFY stream and its subjects (`notify.<channel>` to deliver,
//!   `notify.receipt.<channel>` for what became of it).
//! - [`message`]: one notification to one person on one channel, as the relay publishes it.
//! - [`template`]: which message it is (one WhatsApp template each) and its parameters.
//! - [`receipt`]: a worker's report of an outcome (sent, failed, dead-lettered).

pub mod message;
pub mod receipt;
pub mod stream;
pub mod template;

pub use message::{Channel, NotificationMessage};
pub use receipt::{DeliveryState, Receipt};
pub use stream::NotifyConfig;
pub use template::Template;
