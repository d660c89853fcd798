//! The folded states as the read model stores them (the `state` jsonb column of
//! `complaints` and `staff`), loaded back by the projector and compared by `verify`.
//! Its own types, so a renamed domain field changes neither the stored rows nor the API.
//! The JSON is what rows written before this module existed hold (pinned by a snapshot).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::complaint::Complainant;
use crate::actor::{Actor, Role};
use crate::category::CategoryCode;
use crate::complaint::{Channel, ClosedBy, Complaint, Satisfaction, StaffRef, Status, Vendor};
use crate::staff::{NotificationPreferences, StaffMember};
use crate::validation::{Email, IcNumber, PhoneNumber, StaffId, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredActor {
    pub id: String,
    pub role: Role,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStaffRef {
    pub id: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSatisfaction {
    pub rating: Option<u8>,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredComplaint {
    pub id: Uuid,
    pub number: String,
    pub complainant: Complainant,
    pub category: String,
    pub title: String,
    pub description: String,
    pub channel: Channel,
    #[serde(default)]
    pub reference: Option<String>,
    pub logged_by: StoredActor,
    pub status: Status,
    pub pic: Option<StoredStaffRef>,
    pub implementor: Option<StoredStaffRef>,
    pub vendor: Option<Vendor>,
    pub vendor_log_number: Option<String>,
    pub logged_at: DateTime<Utc>,
    pub assigned_at: Option<DateTime<Utc>>,
    pub first_response_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub closed_by: Option<ClosedBy>,
    pub satisfaction: Option<StoredSatisfaction>,
    pub last_activity_at: DateTime<Utc>,
    pub reopen_count: u32,
    // Absent when zero, so rows stored before the field existed read and compare the same.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub replies_since_answer: u32,
    pub version: u64,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredStaffMember {
    pub id: String,
    pub ic_number: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub ptj: String,
    pub roles: BTreeSet<Role>,
    pub categories: BTreeSet<String>,
    pub active: bool,
    // Absent while both are on (the default), so rows stored before the choice existed read
    // as both on, and a rebuilt row is the live one byte for byte.
    #[serde(default, skip_serializing_if = "StoredNotificationPreferences::is_default")]
    pub notification_preferences: StoredNotificationPreferences,
    pub registered_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNotificationPreferences {
    pub email: bool,
    pub whatsapp: bool,
}

impl Default for StoredNotificationPreferences {
    fn default() -> Self {
        let NotificationPreferences { email, whatsapp } = NotificationPreferences::default();
        Self { email, whatsapp }
    }
}

impl StoredNotificationPreferences {
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

impl From<&Actor> for StoredActor {
    fn from(a: &Actor) -> Self {
        StoredActor { id: a.id.as_str().to_owned(), role: a.role, name: a.name.clone() }
    }
}

impl From<StoredActor> for Actor {
    fn from(a: StoredActor) -> Self {
        Actor { id: StaffId::from_stored(a.id), role: a.role, name: a.name }
    }
}

impl From<&StaffRef> for StoredStaffRef {
    fn from(r: &StaffRef) -> Self {
        StoredStaffRef { id: r.id.as_str().to_owned(), name: r.name.clone() }
    }
}

impl From<StoredStaffRef> for StaffRef {
    fn from(r: StoredStaffRef) -> Self {
        StaffRef { id: StaffId::from_stored(r.id), name: r.name }
    }
}

fn text(t: &Text) -> String {
    t.as_str().to_owned()
}

impl From<&Complaint> for StoredComplaint {
    fn from(c: &Complaint) -> Self {
        // Destructured so that a new domain field fails to compile until it is stored (or
        // deliberately left out here).
        let Complaint {
            id,
            number,
            complainant,
            category,
            title,
            description,
            channel,
            reference,
            logged_by,
            status,
            pic,
            implementor,
            vendor,
            vendor_log_number,
            logged_at,
            assigned_at,
            first_response_at,
            closed_at,
            closed_by,
            satisfaction,
            last_activity_at,
            reopen_count,
            replies_since_answer,
            version,
        } = c;
        StoredComplaint {
            id: *id,
            number: number.clone(),
            complainant: complainant.into(),
            category: category.as_str().to_owned(),
            title: text(title),
            description: text(description),
            channel: *channel,
            reference: reference.as_ref().map(text),
            logged_by: logged_by.into(),
            status: *status,
            pic: pic.as_ref().map(Into::into),
            implementor: implementor.as_ref().map(Into::into),
            vendor: *vendor,
            vendor_log_number: vendor_log_number.as_ref().map(text),
            logged_at: *logged_at,
            assigned_at: *assigned_at,
            first_response_at: *first_response_at,
            closed_at: *closed_at,
            closed_by: *closed_by,
            satisfaction: satisfaction
                .as_ref()
                .map(|s| StoredSatisfaction { rating: s.rating, comment: s.comment.as_ref().map(text) }),
            last_activity_at: *last_activity_at,
            reopen_count: *reopen_count,
            replies_since_answer: *replies_since_answer,
            version: *version,
        }
    }
}

impl From<StoredComplaint> for Complaint {
    fn from(c: StoredComplaint) -> Self {
        Complaint {
            id: c.id,
            number: c.number,
            complainant: c.complainant.into(),
            category: CategoryCode::from_stored(c.category),
            title: Text::from_stored(c.title),
            description: Text::from_stored(c.description),
            channel: c.channel,
            reference: c.reference.map(Text::from_stored),
            logged_by: c.logged_by.into(),
            status: c.status,
            pic: c.pic.map(Into::into),
            implementor: c.implementor.map(Into::into),
            vendor: c.vendor,
            vendor_log_number: c.vendor_log_number.map(Text::from_stored),
            logged_at: c.logged_at,
            assigned_at: c.assigned_at,
            first_response_at: c.first_response_at,
            closed_at: c.closed_at,
            closed_by: c.closed_by,
            satisfaction: c
                .satisfaction
                .map(|s| Satisfaction { rating: s.rating, comment: s.comment.map(Text::from_stored) }),
            last_activity_at: c.last_activity_at,
            reopen_count: c.reopen_count,
            replies_since_answer: c.replies_since_answer,
            version: c.version,
        }
    }
}

impl From<&StaffMember> for StoredStaffMember {
    fn from(s: &StaffMember) -> Self {
        let StaffMember {
            id,
            ic_number,
            name,
            email,
            phone,
            ptj,
            roles,
            categories,
            active,
            notification_preferences,
            registered_at,
            updated_at,
        } = s;
        StoredStaffMember {
            id: id.as_str().to_owned(),
            ic_number: ic_number.as_str().to_owned(),
            name: text(name),
            email: email.as_str().to_owned(),
            phone: phone.as_str().to_owned(),
            ptj: text(ptj),
            roles: roles.clone(),
            categories: categories.iter().map(|c| c.as_str().to_owned()).collect(),
            active: *active,
            notification_preferences: StoredNotificationPreferences {
                email: notification_preferences.email,
                whatsapp: notification_preferences.whatsapp,
            },
            registered_at: *registered_at,
            updated_at: *updated_at,
        }
    }
}

impl From<StoredStaffMember> for StaffMember {
    fn from(s: StoredStaffMember) -> Self {
        StaffMember {
            id: StaffId::from_stored(s.id),
            ic_number: IcNumber::from_stored(s.ic_number),
            name: Text::from_stored(s.name),
            email: Email::from_stored(s.email),
            phone: PhoneNumber::from_stored(s.phone),
            ptj: Text::from_stored(s.ptj),
            roles: s.roles,
            categories: s.categories.into_iter().map(CategoryCode::from_stored).collect(),
            active: s.active,
            notification_preferences: NotificationPreferences {
                email: s.notification_preferences.email,
                whatsapp: s.notification_preferences.whatsapp,
            },
            registered_at: s.registered_at,
            updated_at: s.updated_at,
        }
    }
}
