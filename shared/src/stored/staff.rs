//! Staff directory events as the log stores them: plain strings, read back as written.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::actor::Role;
use crate::aggregate::DecodeError;
use crate::category::CategoryCode;
use crate::staff::{self as domain, StaffEvent};
use crate::validation::{Email, IcNumber, PhoneNumber, Text};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffRegistered {
    pub ic_number: String,
    pub name: String,
    pub email: String,
    pub phone: String,
    pub ptj: String,
    pub roles: BTreeSet<Role>,
    pub categories: BTreeSet<String>,
}

/// Only the fields that changed are present.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffUpdated {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ptj: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<BTreeSet<Role>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub categories: Option<BTreeSet<String>>,
}

/// The channels chosen, both written every time (the whole choice, not a change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationPreferencesChanged {
    pub email: bool,
    pub whatsapp: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaffDeactivated {
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, strum::IntoStaticStr, strum::VariantNames)]
#[serde(tag = "type", content = "data")]
pub enum StoredStaffEvent {
    StaffRegistered(StaffRegistered),
    StaffUpdated(StaffUpdated),
    NotificationPreferencesChanged(NotificationPreferencesChanged),
    StaffDeactivated(StaffDeactivated),
}

pub const TYPES: &[&str] = <StoredStaffEvent as strum::VariantNames>::VARIANTS;

pub fn current_version(event_type: &str) -> Option<u32> {
    TYPES.contains(&event_type).then_some(1)
}

pub fn decode(event_type: &str, version: u32, data: Value) -> Result<StoredStaffEvent, DecodeError> {
    let current = current_version(event_type).ok_or_else(|| DecodeError::UnknownType(event_type.into()))?;
    if version != current {
        return Err(DecodeError::UnknownVersion { event_type: event_type.into(), version });
    }
    super::read_tagged(event_type, data)
}

impl StoredStaffEvent {
    pub fn to_data(&self) -> Value {
        super::data_of(serde_json::to_value(self))
    }
}

fn codes(categories: &BTreeSet<CategoryCode>) -> BTreeSet<String> {
    categories.iter().map(|c| c.as_str().to_owned()).collect()
}

fn categories(codes: BTreeSet<String>) -> BTreeSet<CategoryCode> {
    codes.into_iter().map(CategoryCode::from_stored).collect()
}

impl From<&StaffEvent> for StoredStaffEvent {
    fn from(event: &StaffEvent) -> Self {
        let s = |t: &Text| t.as_str().to_owned();
        match event {
            StaffEvent::StaffRegistered(e) => StoredStaffEvent::StaffRegistered(StaffRegistered {
                ic_number: e.ic_number.as_str().to_owned(),
                name: s(&e.name),
                email: e.email.as_str().to_owned(),
                phone: e.phone.as_str().to_owned(),
                ptj: s(&e.ptj),
                roles: e.roles.clone(),
                categories: codes(&e.categories),
            }),
            StaffEvent::StaffUpdated(e) => StoredStaffEvent::StaffUpdated(StaffUpdated {
                name: e.name.as_ref().map(s),
                email: e.email.as_ref().map(|v| v.as_str().to_owned()),
                phone: e.phone.as_ref().map(|v| v.as_str().to_owned()),
                ptj: e.ptj.as_ref().map(s),
                roles: e.roles.clone(),
                categories: e.categories.as_ref().map(codes),
            }),
            StaffEvent::NotificationPreferencesChanged(e) => {
                StoredStaffEvent::NotificationPreferencesChanged(NotificationPreferencesChanged {
                    email: e.email,
                    whatsapp: e.whatsapp,
                })
            }
            StaffEvent::StaffDeactivated(e) => {
                StoredStaffEvent::StaffDeactivated(StaffDeactivated { reason: s(&e.reason) })
            }
        }
    }
}

impl From<StoredStaffEvent> for StaffEvent {
    fn from(stored: StoredStaffEvent) -> Self {
        match stored {
            StoredStaffEvent::StaffRegistered(e) => StaffEvent::StaffRegistered(domain::StaffRegistered {
                ic_number: IcNumber::from_stored(e.ic_number),
                name: Text::from_stored(e.name),
                email: Email::from_stored(e.email),
                phone: PhoneNumber::from_stored(e.phone),
                ptj: Text::from_stored(e.ptj),
                roles: e.roles,
                categories: categories(e.categories),
            }),
            StoredStaffEvent::StaffUpdated(e) => StaffEvent::StaffUpdated(domain::StaffUpdated {
                name: e.name.map(Text::from_stored),
                email: e.email.map(Email::from_stored),
                phone: e.phone.map(PhoneNumber::from_stored),
                ptj: e.ptj.map(Text::from_stored),
                roles: e.roles,
                categories: e.categories.map(categories),
            }),
            StoredStaffEvent::NotificationPreferencesChanged(e) => {
                StaffEvent::NotificationPreferencesChanged(domain::NotificationPreferencesChanged {
                    email: e.email,
                    whatsapp: e.whatsapp,
                })
            }
            StoredStaffEvent::StaffDeactivated(e) => {
                StaffEvent::StaffDeactivated(domain::StaffDeactivated { reason: Text::from_stored(e.reason) })
            }
        }
    }
}
