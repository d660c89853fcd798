//! The complaint's state, folded from its events.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::event::*;
use super::status::Status;
use crate::actor::Actor;
use crate::aggregate::{Recorded, ReplayError};
use crate::category::CategoryCode;
use crate::validation::{StaffId, Text};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaffRef {
    pub id: StaffId,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Satisfaction {
    pub rating: Option<u8>,
    pub comment: Option<Text>,
}

/// The domain state `decide` and `apply` work on. The read model stores
/// [`crate::stored::state::StoredComplaint`] and the APIs answer with
/// [`crate::visibility::ComplaintView`], so a field renamed here changes neither.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complaint {
    pub id: Uuid,
    pub number: String,
    pub complainant: ComplainantDetails,
    pub category: CategoryCode,
    pub title: Text,
    pub description: Text,
    pub channel: Channel,
    /// The iSPEKS document the complaint is about, if given (ComplaintLogged v2).
    pub reference: Option<Text>,
    pub logged_by: Actor,
    pub status: Status,
    pub pic: Option<StaffRef>,
    pub implementor: Option<StaffRef>,
    pub vendor: Option<Vendor>,
    pub vendor_log_number: Option<Text>,
    pub logged_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<ClosedBy>,
    pub satisfaction: Option<Satisfaction>,
    pub last_activity_at: DateTime<Utc>,
    pub reopen_count: u32,
    /// The complainant's replies since the PIC (or an admin) last answered: they page the
    /// PIC, so they are limited ([`super::MAX_REPLIES_WITHOUT_ANSWER`]).
    pub replies_since_answer: u32,
    /// Number of events folded into this state.
    pub version: u64,
}

impl Complaint {
    pub(crate) fn apply_event(
        state: Option<Self>,
        id: &Uuid,
        recorded: &Recorded<ComplaintEvent>,
    ) -> Result<Self, ReplayError> {
        let at = recorded.occurred_at;
        let mut c = match (state, &recorded.event) {
            (None, ComplaintEvent::ComplaintLogged(e)) => {
                return Ok(Complaint {
                    id: *id,
                    number: e.number.clone(),
                    complainant: e.complainant.clone(),
                    category: e.category.clone(),
                    title: e.title.clone(),
                    description: e.description.clone(),
                    channel: e.channel,
                    reference: e.reference.clone(),
                    logged_by: recorded.actor.clone(),
                    status: Status::New,
                    pic: None,
                    implementor: None,
                    vendor: None,
                    vendor_log_number: None,
                    logged_at: at,
                    assigned_at: None,
                    first_response_at: None,
                    closed_at: None,
                    closed_by: None,
                    satisfaction: None,
                    last_activity_at: at,
                    reopen_count: 0,
                    replies_since_answer: 0,
                    version: 1,
                });
            }
            (Some(_), ComplaintEvent::ComplaintLogged(_)) => {
                return Err(ReplayError { event_type: "ComplaintLogged", state: "an existing complaint" });
            }
            (None, other) => {
                use crate::aggregate::DomainEvent;
                return Err(ReplayError { event_type: other.event_type(), state: "a complaint never logged" });
            }
            (Some(c), _) => c,
        };
        match &recorded.event {
            ComplaintEvent::ComplaintLogged(_) => unreachable!("handled above"),
            ComplaintEvent::ComplaintAssigned(e) => {
                c.pic = Some(StaffRef { id: e.pic_id.clone(), name: e.pic_name.clone() });
                c.assigned_at = Some(at);
                c.replies_since_answer = 0;
                if c.status == Status::New {
                    c.status = Status::Assigned;
                }
            }
            ComplaintEvent::ComplaintResponded(e) => {
                c.status = e.status.into();
                c.first_response_at.get_or_insert(at);
                c.replies_since_answer = 0;
            }
            ComplaintEvent::ComplainantReplied(_) => {
                c.replies_since_answer += 1;
                if matches!(c.status, Status::AwaitingComplainant | Status::PendingClosure) {
                    c.status = Status::InProgress;
                }
            }
            ComplaintEvent::ReferredToImplementor(e) => {
                c.implementor = Some(StaffRef { id: e.implementor_id.clone(), name: e.implementor_name.clone() });
                c.status = Status::WithImplementor;
            }
            ComplaintEvent::EscalatedToVendor(e) => {
                c.vendor = Some(e.vendor);
                c.vendor_log_number = e.vendor_log_number.clone();
                c.status = Status::WithVendor;
            }
            ComplaintEvent::VendorUpdateRecorded(e) => {
                if e.vendor_log_number.is_some() {
                    c.vendor_log_number = e.vendor_log_number.clone();
                }
            }
            ComplaintEvent::InternalNoteAdded(_) => {}
            ComplaintEvent::ComplaintClosed(e) => {
                c.status = Status::Closed;
                c.closed_at = Some(at);
                c.closed_by = Some(e.closed_by);
                c.satisfaction = (e.rating.is_some() || e.comment.is_some())
                    .then(|| Satisfaction { rating: e.rating, comment: e.comment.clone() });
            }
            ComplaintEvent::ComplaintReopened(_) => {
                c.status = if c.pic.is_some() { Status::InProgress } else { Status::New };
                c.closed_at = None;
                c.closed_by = None;
                c.satisfaction = None;
                c.reopen_count += 1;
                c.replies_since_answer = 0;
            }
        }
        c.last_activity_at = at;
        c.version += 1;
        Ok(c)
    }

    /// The PIC handling the complaint, if any.
    pub fn pic_id(&self) -> Option<&StaffId> {
        self.pic.as_ref().map(|p| &p.id)
    }
}
