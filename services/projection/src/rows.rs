//! The rows of the models kept one per aggregate (`complaints`, `staff`), as typed structs
//! whose field names ARE the column lists: the upsert writes exactly `COLUMNS`, and the JSON
//! PostgreSQL turns into records (`jsonb_populate_recordset`) is the struct serialised, so a
//! misspelt key cannot silently write NULL. A test against a migrated database
//! (`tests/tests/read_model_schema.rs`) checks `COLUMNS` against the tables, so a column
//! added on one side only fails a test.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::complaint::{Channel, ClosedBy, Complaint, Status, Vendor};
use ehelpdesk_shared::staff::StaffMember;
use ehelpdesk_shared::stored::state::{StoredComplaint, StoredStaffMember};
use serde::Serialize;
use uuid::Uuid;

/// Declares a row struct and its `COLUMNS`, from one list of fields.
macro_rules! read_model_row {
    ($(#[$meta:meta])* pub struct $name:ident { $($(#[$field_meta:meta])* pub $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Serialize)]
        pub struct $name {
            $($(#[$field_meta])* pub $field: $ty,)*
        }

        impl $name {
            /// The table's written columns, in the struct's order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($field)),*];
        }
    };
}

read_model_row! {
    /// One row of `complaints`: the columns queries filter and sort on, derived from the
    /// stored state, which travels beside them.
    pub struct ComplaintRecord {
        pub complaint_id: Uuid,
        pub number: String,
        pub title: String,
        pub description: String,
        pub category: String,
        pub channel: Channel,
        pub complainant_id: String,
        pub complainant_ic: String,
        pub complainant_name: String,
        pub complainant_email: String,
        pub complainant_phone: String,
        pub ptj: String,
        pub status: Status,
        pub pic_id: Option<String>,
        pub pic_name: Option<String>,
        pub implementor_id: Option<String>,
        pub implementor_name: Option<String>,
        pub vendor: Option<Vendor>,
        pub vendor_log_number: Option<String>,
        pub logged_at: DateTime<Utc>,
        pub assigned_at: Option<DateTime<Utc>>,
        pub first_response_at: Option<DateTime<Utc>>,
        pub closed_at: Option<DateTime<Utc>>,
        pub last_activity_at: DateTime<Utc>,
        pub closed_by: Option<ClosedBy>,
        pub satisfaction_rating: Option<u8>,
        pub satisfaction_comment: Option<String>,
        pub reopen_count: u32,
        pub state: StoredComplaint,
        pub last_sequence: u64,
    }
}

read_model_row! {
    /// One row of `staff`.
    pub struct StaffRecord {
        pub staff_id: String,
        pub name: String,
        pub email: String,
        pub phone: String,
        pub ptj: String,
        pub roles: BTreeSet<Role>,
        pub categories: BTreeSet<String>,
        pub active: bool,
        pub notify_email: bool,
        pub notify_whatsapp: bool,
        pub state: StoredStaffMember,
        pub last_sequence: u64,
    }
}

impl ComplaintRecord {
    /// The row of `c` after the event at stream sequence `sequence`. Built from the stored
    /// state, so the columns and `state` cannot disagree.
    pub fn of(c: &Complaint, sequence: u64) -> Self {
        let state = StoredComplaint::from(c);
        let satisfaction = state.satisfaction.clone();
        let (pic_id, pic_name) = state.pic.clone().map(|p| (p.id, p.name)).unzip();
        let (implementor_id, implementor_name) = state.implementor.clone().map(|p| (p.id, p.name)).unzip();
        ComplaintRecord {
            complaint_id: state.id,
            number: state.number.clone(),
            title: state.title.clone(),
            description: state.description.clone(),
            category: state.category.clone(),
            channel: state.channel,
            complainant_id: state.complainant.id.clone(),
            complainant_ic: state.complainant.ic_number.clone(),
            complainant_name: state.complainant.name.clone(),
            complainant_email: state.complainant.email.clone(),
            complainant_phone: state.complainant.phone.clone(),
            ptj: state.complainant.ptj.clone(),
            status: state.status,
            pic_id,
            pic_name,
            implementor_id,
            implementor_name,
            vendor: state.vendor,
            vendor_log_number: state.vendor_log_number.clone(),
            logged_at: state.logged_at,
            assigned_at: state.assigned_at,
            first_response_at: state.first_response_at,
            closed_at: state.closed_at,
            last_activity_at: state.last_activity_at,
            closed_by: state.closed_by,
            satisfaction_rating: satisfaction.as_ref().and_then(|s| s.rating),
            satisfaction_comment: satisfaction.and_then(|s| s.comment),
            reopen_count: state.reopen_count,
            state,
            last_sequence: sequence,
        }
    }
}

impl StaffRecord {
    pub fn of(s: &StaffMember, sequence: u64) -> Self {
        let state = StoredStaffMember::from(s);
        StaffRecord {
            staff_id: state.id.clone(),
            name: state.name.clone(),
            email: state.email.clone(),
            phone: state.phone.clone(),
            ptj: state.ptj.clone(),
            roles: state.roles.clone(),
            categories: state.categories.clone(),
            active: state.active,
            notify_email: state.notification_preferences.email,
            notify_whatsapp: state.notification_preferences.whatsapp,
            state,
            last_sequence: sequence,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(row: impl Serialize) -> Vec<String> {
        // serde_json keeps the struct's order (preserve_order is not needed: compare sorted).
        let mut keys: Vec<String> = serde_json::to_value(row).unwrap().as_object().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    fn sorted(columns: &[&str]) -> Vec<String> {
        let mut c: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        c.sort();
        c
    }

    /// A `#[serde(rename)]` on a field would make the JSON disagree with `COLUMNS`.
    #[test]
    fn the_serialised_row_has_exactly_the_columns() {
        let complaint = ehelpdesk_shared::test_fixtures::complaint();
        assert_eq!(keys(ComplaintRecord::of(&complaint, 7)), sorted(ComplaintRecord::COLUMNS));
        let member = ehelpdesk_shared::test_fixtures::staff_member();
        assert_eq!(keys(StaffRecord::of(&member, 3)), sorted(StaffRecord::COLUMNS));
    }
}
