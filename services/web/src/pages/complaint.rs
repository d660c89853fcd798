//! "Maklumat Aduan & Pengadu", "Sejarah maklumbalas antara Admin, PIC & Pengadu", and the
//! reply form with its three statuses.

use askama::Template;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::actions::Actions;
use super::{Choice, Chrome};
use crate::format;

#[derive(Template)]
#[template(path = "complaint.html")]
pub struct ComplaintPage {
    pub chrome: Chrome,
    pub complaint: ComplaintView,
    pub history: Vec<HistoryEntry>,
    /// The reply form, for those who may reply (the assigned PIC, an admin).
    pub reply: Option<ReplyForm>,
    pub status_options: Vec<Choice>,
    pub vendor_options: Vec<Choice>,
    /// The admin's assignment form, while the complaint is open.
    pub assign: Option<AssignForm>,
    /// What the last command warned of (a PIC outside the category), in Malay.
    pub warning: Option<&'static str>,
    /// The other forms the person is offered.
    pub actions: Actions,
    /// Admins and auditors: the link to the complaint's log.
    pub audit_link: bool,
}

/// "Tugaskan kepada PIC": the PICs, those covering the category first, each with their load.
pub struct AssignForm {
    pub pic_options: Vec<Choice>,
    pub idempotency_key: String,
    pub error: Option<String>,
}

/// A PIC as the query service lists them for assignment (`GET /v1/assignees`).
#[derive(Debug, Deserialize)]
pub struct Assignee {
    pub staff_id: String,
    pub name: String,
    pub covers_category: bool,
    pub open_complaints: i64,
}

impl AssignForm {
    pub fn new(assignees: Vec<Assignee>, current_pic: Option<&str>, error: Option<String>) -> Self {
        let options = assignees.into_iter().map(|a| {
            let outside =
                if a.covers_category { "" } else { " · tidak meliputi kategori ini / does not cover this category" };
            let label = format!("{} — {} aduan terbuka / open{outside}", a.name, a.open_complaints);
            (a.staff_id, label)
        });
        Self {
            pic_options: Choice::list(options, current_pic.unwrap_or_default()),
            idempotency_key: Uuid::new_v4().to_string(),
            error,
        }
    }
}

/// The warnings a command may answer with, as a person reads them (the rest are not shown).
pub fn warning_text(code: &str) -> Option<&'static str> {
    match code {
        "pic_does_not_cover_category" => Some(
            "Amaran: PIC ini tidak meliputi kategori aduan ini. / Warning: this PIC does not cover the complaint's category.",
        ),
        _ => None,
    }
}

impl ComplaintPage {
    pub fn new(chrome: Chrome, detail: Detail, reply: Option<ReplyForm>) -> Self {
        let (complaint, history) = detail.into();
        let chosen = reply.as_ref().map(|r| (r.status.as_str(), r.vendor.as_str())).unwrap_or_default();
        let status_options = Choice::list(REPLY_STATUSES, chosen.0);
        let vendor_options = Choice::list(VENDORS.map(|v| (v, v)), chosen.1);
        let actions = Actions::default();
        Self {
            chrome,
            complaint,
            history,
            reply,
            status_options,
            vendor_options,
            assign: None,
            warning: None,
            actions,
            audit_link: false,
        }
    }
}

/// The complaint's detail as the query API answers it (`GET /v1/complaints/{id}`).
#[derive(Debug, Deserialize)]
pub struct Detail {
    pub complaint_id: Uuid,
    pub number: String,
    pub category_name_ms: String,
    pub category: String,
    pub status_label_ms: String,
    pub status_label_en: String,
    pub pic_name: Option<String>,
    #[serde(default)]
    pub pic_id: Option<String>,
    pub logged_at: DateTime<Utc>,
    pub age_working_days: i32,
    pub complaint: DetailComplaint,
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
}

#[derive(Debug, Deserialize)]
pub struct DetailComplaint {
    pub complainant: DetailComplainant,
    pub title: String,
    pub description: String,
    #[serde(default)]
    pub reference: Option<String>,
    pub status: String,
    #[serde(default)]
    pub vendor: Option<String>,
    #[serde(default)]
    pub vendor_log_number: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct DetailComplainant {
    pub name: String,
    pub ic_number: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    pub ptj: String,
}

#[derive(Debug, Deserialize)]
pub struct TimelineEntry {
    pub occurred_at: DateTime<Utc>,
    pub event_type: String,
    pub actor_name: String,
    pub actor_role: String,
    pub status_label_ms: String,
    #[serde(default)]
    pub message: Option<String>,
    pub visibility: String,
}

/// The complaint as the page shows it.
pub struct ComplaintView {
    pub id: Uuid,
    pub category_code: String,
    pub pic_id: Option<String>,
    pub closed: bool,
    /// The API's status code (`pending_closure`), which decides the forms shown.
    pub status_code: String,
    pub number: String,
    pub received: String,
    pub complainant_name: String,
    pub ic_number: String,
    pub phone: String,
    pub email: String,
    pub ptj: String,
    pub category: String,
    pub title: String,
    pub description: String,
    pub reference: String,
    pub status: String,
    pub status_en: String,
    pub pic: String,
    pub aging: String,
    pub vendor: String,
}

pub struct HistoryEntry {
    pub at: String,
    pub what: &'static str,
    pub who: String,
    pub status: String,
    pub message: String,
    /// An internal note or step: staff only (the API gives complainants none).
    pub internal: bool,
}

/// The reply form, with what the person typed when the API refused it.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ReplyForm {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub vendor: String,
    #[serde(default)]
    pub vendor_log_number: String,
    /// Made when the form was shown: the same form sent twice is one reply.
    #[serde(default)]
    pub idempotency_key: String,
    /// The API's refusal, shown on the form.
    #[serde(skip)]
    pub error: Option<String>,
}

/// The three statuses of the guide's reply form, as (value, label).
pub const REPLY_STATUSES: [(&str, &str); 3] = [
    ("with_vendor", "Dalam Tindakan Vendor"),
    ("awaiting_complainant", "Mohon Maklumbalas Pengadu"),
    ("pending_closure", "Mohon Pengadu Tutup Aduan"),
];

pub const VENDORS: [&str; 2] = ["BKP", "TTSB"];

impl ReplyForm {
    pub fn fresh() -> Self {
        Self { idempotency_key: Uuid::new_v4().to_string(), ..Self::default() }
    }
}

impl From<Detail> for (ComplaintView, Vec<HistoryEntry>) {
    fn from(d: Detail) -> Self {
        let c = d.complaint;
        let vendor = match (c.vendor, c.vendor_log_number) {
            (Some(v), Some(log)) => format!("{v} (log {log})"),
            (Some(v), None) => v,
            _ => "-".into(),
        };
        let view = ComplaintView {
            id: d.complaint_id,
            category_code: d.category.clone(),
            pic_id: d.pic_id,
            closed: c.status == "closed",
            status_code: c.status.clone(),
            number: d.number,
            received: format::date_time(d.logged_at),
            complainant_name: c.complainant.name,
            ic_number: c.complainant.ic_number,
            phone: c.complainant.phone.unwrap_or_else(|| "-".into()),
            email: c.complainant.email.unwrap_or_else(|| "-".into()),
            ptj: c.complainant.ptj,
            category: format!("{} ({})", d.category_name_ms, d.category),
            title: c.title,
            description: c.description,
            reference: c.reference.unwrap_or_else(|| "-".into()),
            status: d.status_label_ms,
            status_en: d.status_label_en,
            pic: d.pic_name.unwrap_or_else(|| "-".into()),
            aging: format!("{} hari bekerja", d.age_working_days),
            vendor,
        };
        let history = d
            .timeline
            .into_iter()
            .map(|t| HistoryEntry {
                at: format::date_time(t.occurred_at),
                what: event_label(&t.event_type),
                who: format!("{} ({})", t.actor_name, t.actor_role),
                status: t.status_label_ms,
                message: t.message.unwrap_or_default(),
                internal: t.visibility == "internal",
            })
            .collect();
        (view, history)
    }
}

/// What an event in the history is called, Malay first. Every complaint event has one
/// (a test walks `ComplaintEvent::TYPES`).
pub fn event_label(event_type: &str) -> &'static str {
    match event_type {
        "ComplaintLogged" => "Aduan difailkan / Complaint logged",
        "ComplaintAssigned" => "Ditugaskan kepada PIC / Assigned to a PIC",
        "ComplaintResponded" => "Maklumbalas PIC / PIC's response",
        "ComplainantReplied" => "Maklumbalas pengadu / Complainant's reply",
        "ReferredToImplementor" => "Dirujuk kepada Implementor / Referred to the implementor",
        "EscalatedToVendor" => "Dalam tindakan vendor / Escalated to the vendor",
        "VendorUpdateRecorded" => "Maklumbalas vendor / Vendor's update",
        "InternalNoteAdded" => "Nota dalaman / Internal note",
        "ComplaintClosed" => "Aduan ditutup / Complaint closed",
        "ComplaintReopened" => "Aduan dibuka semula / Complaint reopened",
        _ => "Peristiwa / Event",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ehelpdesk_shared::complaint::ComplaintEvent;

    #[test]
    fn every_complaint_event_has_a_label() {
        for event_type in ComplaintEvent::TYPES {
            assert_ne!(event_label(event_type), "Peristiwa / Event", "{event_type} has no label");
        }
    }
}
