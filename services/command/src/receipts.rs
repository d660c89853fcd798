//! What a successful command answers: the aggregate's id, the event's stream sequence (for
//! read-your-writes on the query side) and the resulting status, Malay label first.

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::complaint::{Complaint, ComplaintEvent, Status};
use ehelpdesk_shared::staff::{NotificationPreferences, StaffEvent, StaffMember};
use ehelpdesk_shared::validation::StaffId;
use ehelpdesk_shared::visibility::NotificationPreferencesView;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::event_store::Receipt;

/// Something the caller should know although the command succeeded.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Warning {
    pub code: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ComplaintReceipt {
    pub complaint_id: Uuid,
    pub complaint_number: String,
    /// Stream sequence of the event written: pass as `min_seq` to read your own write.
    pub stream_sequence: u64,
    pub status: Status,
    pub status_label_ms: &'static str,
    pub status_label_en: &'static str,
    pub warnings: Vec<Warning>,
}

impl Receipt for Complaint {
    type Receipt = ComplaintReceipt;

    fn receipt(&self, event: &ComplaintEvent, sequence: u64) -> ComplaintReceipt {
        let mut warnings = vec![];
        if let ComplaintEvent::ComplaintAssigned(a) = event
            && !a.covers_category
        {
            warnings.push(Warning {
                code: "pic_does_not_cover_category",
                message: format!(
                    "PIC {} tidak meliputi kategori {} / PIC {} does not cover category {}",
                    a.pic_id,
                    self.category.as_str(),
                    a.pic_id,
                    self.category.as_str()
                ),
            });
        }
        ComplaintReceipt {
            complaint_id: self.id,
            complaint_number: self.number.clone(),
            stream_sequence: sequence,
            status: self.status,
            status_label_ms: self.status.label_ms(),
            status_label_en: self.status.label_en(),
            warnings,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StaffReceipt {
    pub staff_id: StaffId,
    pub stream_sequence: u64,
    pub active: bool,
    pub roles: Vec<Role>,
    pub notification_preferences: NotificationPreferencesView,
    pub warnings: Vec<Warning>,
}

impl Receipt for StaffMember {
    type Receipt = StaffReceipt;

    fn receipt(&self, event: &StaffEvent, sequence: u64) -> StaffReceipt {
        let mut warnings = vec![];
        // Judged on the event, not the state, so a retry answered from the log says it again.
        if let StaffEvent::NotificationPreferencesChanged(p) = event
            && NotificationPreferences::from(*p).all_off()
        {
            let name = self.name.as_str();
            warnings.push(Warning {
                code: "all_notifications_off",
                message: format!(
                    "E-mel dan WhatsApp dimatikan untuk {name}: aduan yang ditugaskan kepadanya masih dihantar \
                     melalui e-mel, notifikasi lain tidak. / E-mail and WhatsApp are off for {name}: complaints \
                     assigned to them will still be e-mailed, nothing else."
                ),
            });
        }
        StaffReceipt {
            staff_id: self.id.clone(),
            stream_sequence: sequence,
            active: self.active,
            roles: self.roles.iter().copied().collect(),
            notification_preferences: self.notification_preferences.into(),
            warnings,
        }
    }
}
