//! Receipts: every outcome is published on `<prefix>.receipt.<channel>` and its ack awaited
//! before the notification itself is acked, so the projection hears of each outcome at least
//! once (and, by `Nats-Msg-Id`, records it once).

use async_nats::HeaderMap;
use ehelpdesk_shared::notification::{NotificationMessage, NotifyConfig, Receipt};

use crate::record::DeliveryRecord;

#[derive(Clone)]
pub struct Receipts {
    pub jetstream: async_nats::jetstream::Context,
    pub notify: NotifyConfig,
}

impl Receipts {
    pub async fn publish(&self, receipt: &Receipt) -> Result<(), String> {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", receipt.message_id().as_str());
        let payload = serde_json::to_vec(receipt).map_err(|e| e.to_string())?;
        let ack = self
            .jetstream
            .publish_with_headers(self.notify.receipt_subject(receipt.channel), headers, payload.into())
            .await
            .map_err(|e| format!("receipt: {e}"))?;
        ack.await.map(|_| ()).map_err(|e| format!("receipt: {e}"))
    }
}

/// The receipt that reports a settled or failed record.
pub fn receipt_of(message: &NotificationMessage, record: &DeliveryRecord) -> Option<Receipt> {
    let state = record.state.delivery_state()?;
    Some(Receipt {
        id: message.id,
        channel: message.channel,
        state,
        attempts: record.attempts,
        cycle: record.cycle,
        reason: record.reason.clone(),
        provider_message_id: record.provider_message_id.clone(),
        at: record.since,
    })
}
