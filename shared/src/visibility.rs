//! Who sees what of a complaint: the one place both services ask (docs/security.md, "What
//! may not leak"). A caller stands in a [`Relation`] to a complaint, or in none, and then
//! the complaint does not exist for them, for reads and writes alike.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::actor::{Actor, Role};
use crate::category::CategoryCode;
use crate::complaint::{Channel, ClosedBy, Complaint, Satisfaction, StaffRef, Status, Vendor};
use crate::staff::{NotificationPreferences, StaffMember};
use crate::validation::Text;

/// How a caller stands to one complaint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relation {
    /// The complainant who filed it (or for whom it was filed).
    Owner,
    AssignedPic,
    ReferredImplementor,
    Admin,
    Auditor,
}

/// The people a complaint names, as both the domain state and the read model hold them.
#[derive(Debug, Clone, Copy)]
pub struct Parties<'a> {
    pub complainant_id: &'a str,
    pub pic_id: Option<&'a str>,
    pub implementor_id: Option<&'a str>,
}

impl<'a> Parties<'a> {
    pub fn of(complaint: &'a Complaint) -> Self {
        Self {
            complainant_id: complaint.complainant.id.as_str(),
            pic_id: complaint.pic_id().map(|p| p.as_str()),
            implementor_id: complaint.implementor.as_ref().map(|i| i.id.as_str()),
        }
    }
}

impl Relation {
    /// The caller's relation to the complaint, or None: then it is "not found" to them.
    pub fn of(actor: &Actor, parties: Parties<'_>) -> Option<Self> {
        let me = Some(actor.id.as_str());
        match actor.role {
            Role::Admin => Some(Relation::Admin),
            Role::Auditor => Some(Relation::Auditor),
            Role::Complainant => (me == Some(parties.complainant_id)).then_some(Relation::Owner),
            Role::Pic => (me == parties.pic_id).then_some(Relation::AssignedPic),
            Role::Implementor => (me == parties.implementor_id).then_some(Relation::ReferredImplementor),
        }
    }

    /// The implementor works on the problem, not with the person: no identity number.
    pub fn sees_full_ic_number(self) -> bool {
        self != Relation::ReferredImplementor
    }

    /// Internal notes, referrals and the admin's note to the PIC are staff business.
    pub fn sees_internal_steps(self) -> bool {
        self != Relation::Owner
    }

    /// A complainant is told the complaint is being worked on, not to whom it was referred.
    pub fn shown_status(self, status: Status) -> Status {
        match (self, status) {
            (Relation::Owner, Status::WithImplementor) => Status::InProgress,
            _ => status,
        }
    }
}

impl Relation {
    /// The statuses a search for `shown` must match so that it finds what the caller sees
    /// as `shown`, and nothing they would see otherwise.
    pub fn statuses_shown_as(self, shown: Status) -> Vec<Status> {
        Status::ALL.into_iter().filter(|s| self.shown_status(*s) == shown).collect()
    }
}

/// `******-**-5678`: the form lists and implementors see.
pub fn mask_ic_number(ic: &str) -> String {
    let tail = ic.get(ic.len().saturating_sub(4)..).unwrap_or("");
    format!("******-**-{tail}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ComplainantView {
    pub id: String,
    /// Whole for those who may see it, else masked (`******-**-5678`).
    pub ic_number: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub ptj: String,
}

/// Someone a complaint names (PIC, implementor), as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = StaffRef)]
pub struct StaffRefView {
    pub id: String,
    pub name: String,
}

impl From<&StaffRef> for StaffRefView {
    fn from(r: &StaffRef) -> Self {
        Self { id: r.id.as_str().to_owned(), name: r.name.clone() }
    }
}

/// The complainant's rating and comment on closing, as the API shows them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Satisfaction)]
pub struct SatisfactionView {
    pub rating: Option<u8>,
    pub comment: Option<String>,
}

impl From<&Satisfaction> for SatisfactionView {
    fn from(s: &Satisfaction) -> Self {
        Self { rating: s.rating, comment: s.comment.as_ref().map(|c| c.as_str().to_owned()) }
    }
}

/// A member of staff as the directory's readers (admins, auditors) see them: the API's
/// shape, apart from the domain state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = StaffMember)]
pub struct StaffMemberView {
    pub id: String,
    pub ic_number: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub ptj: String,
    pub roles: BTreeSet<Role>,
    pub categories: BTreeSet<String>,
    pub active: bool,
    pub notification_preferences: NotificationPreferencesView,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The channels a member of staff is told on. With both off they still get assignments by
/// e-mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = NotificationPreferences)]
pub struct NotificationPreferencesView {
    pub email: bool,
    pub whatsapp: bool,
}

impl From<NotificationPreferences> for NotificationPreferencesView {
    fn from(p: NotificationPreferences) -> Self {
        Self { email: p.email, whatsapp: p.whatsapp }
    }
}

impl From<&StaffMember> for StaffMemberView {
    fn from(s: &StaffMember) -> Self {
        Self {
            id: s.id.as_str().to_owned(),
            ic_number: s.ic_number.as_str().to_owned(),
            name: s.name.as_str().to_owned(),
            email: s.email.as_str().to_owned(),
            phone: s.phone.as_str().to_owned(),
            ptj: s.ptj.as_str().to_owned(),
            roles: s.roles.clone(),
            categories: s.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            active: s.active,
            notification_preferences: s.notification_preferences.into(),
            registered_at: s.registered_at,
            updated_at: s.updated_at,
        }
    }
}

/// A complaint as one caller may see it: the API's shape, kept apart from the domain state
/// so that neither can change the other by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ComplaintView {
    pub id: Uuid,
    pub number: String,
    pub complainant: ComplainantView,
    #[schema(value_type = String)]
    pub category: CategoryCode,
    #[schema(value_type = String)]
    pub title: Text,
    #[schema(value_type = String)]
    pub description: Text,
    pub channel: Channel,
    #[schema(value_type = Option<String>)]
    pub reference: Option<Text>,
    pub logged_by: Actor,
    pub status: Status,
    pub pic: Option<StaffRefView>,
    /// Staff only: a complainant is never told who the complaint was referred to.
    pub implementor: Option<StaffRefView>,
    pub vendor: Option<Vendor>,
    #[schema(value_type = Option<String>)]
    pub vendor_log_number: Option<Text>,
    pub logged_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<ClosedBy>,
    pub satisfaction: Option<SatisfactionView>,
    pub last_activity_at: DateTime<Utc>,
    pub reopen_count: u32,
    /// Number of events folded into this state.
    pub version: u64,
}

impl ComplaintView {
    pub fn of(c: &Complaint, relation: Relation) -> Self {
        let ic = c.complainant.ic_number.as_str();
        Self {
            id: c.id,
            number: c.number.clone(),
            complainant: ComplainantView {
                id: c.complainant.id.to_string(),
                ic_number: if relation.sees_full_ic_number() { ic.to_owned() } else { mask_ic_number(ic) },
                name: c.complainant.name.as_str().to_owned(),
                email: c.complainant.email.as_str().to_owned(),
                phone: c.complainant.phone.as_str().to_owned(),
                ptj: c.complainant.ptj.as_str().to_owned(),
            },
            category: c.category.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            channel: c.channel,
            reference: c.reference.clone(),
            logged_by: c.logged_by.clone(),
            status: relation.shown_status(c.status),
            pic: c.pic.as_ref().map(Into::into),
            implementor: if relation.sees_internal_steps() { c.implementor.as_ref().map(Into::into) } else { None },
            vendor: c.vendor,
            vendor_log_number: c.vendor_log_number.clone(),
            logged_at: c.logged_at,
            assigned_at: c.assigned_at,
            first_response_at: c.first_response_at,
            closed_at: c.closed_at,
            closed_by: c.closed_by,
            satisfaction: c.satisfaction.as_ref().map(Into::into),
            last_activity_at: c.last_activity_at,
            reopen_count: c.reopen_count,
            version: c.version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::StaffId;

    fn actor(id: &str, role: Role) -> Actor {
        Actor::new(StaffId::parse("id", id).unwrap(), role, id)
    }

    #[test]
    fn every_role_stands_in_its_relation_or_in_none() {
        let parties = Parties { complainant_id: "ali", pic_id: Some("aminah"), implementor_id: Some("chong") };
        let cases = [
            (actor("ali", Role::Complainant), Some(Relation::Owner)),
            (actor("mei", Role::Complainant), None),
            (actor("aminah", Role::Pic), Some(Relation::AssignedPic)),
            (actor("bakar", Role::Pic), None),
            (actor("chong", Role::Implementor), Some(Relation::ReferredImplementor)),
            (actor("farid", Role::Implementor), None),
            (actor("siti", Role::Admin), Some(Relation::Admin)),
            (actor("devi", Role::Auditor), Some(Relation::Auditor)),
            // A PIC named as the complainant is still only a PIC in that role.
            (actor("ali", Role::Pic), None),
        ];
        for (who, expected) in cases {
            assert_eq!(Relation::of(&who, parties), expected, "{who:?}");
        }
        let unassigned = Parties { complainant_id: "ali", pic_id: None, implementor_id: None };
        assert_eq!(Relation::of(&actor("aminah", Role::Pic), unassigned), None);
    }

    #[test]
    fn what_each_relation_is_shown() {
        use Relation::*;
        for relation in [Owner, AssignedPic, ReferredImplementor, Admin, Auditor] {
            assert_eq!(relation.sees_full_ic_number(), relation != ReferredImplementor);
            assert_eq!(relation.sees_internal_steps(), relation != Owner);
            for status in Status::ALL {
                let shown = relation.shown_status(status);
                let hidden = relation == Owner && status == Status::WithImplementor;
                assert_eq!(shown == status, !hidden, "{relation:?} {status:?}");
            }
        }
        assert_eq!(mask_ic_number("900101035678"), "******-**-5678");
        assert_eq!(Owner.statuses_shown_as(Status::InProgress), [Status::InProgress, Status::WithImplementor]);
        assert!(Owner.statuses_shown_as(Status::WithImplementor).is_empty());
        assert_eq!(Admin.statuses_shown_as(Status::WithImplementor), [Status::WithImplementor]);
    }
}
