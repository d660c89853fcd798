use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Where a complaint stands. API values in English, labels in Malay first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    New,
    Assigned,
    InProgress,
    AwaitingComplainant,
    WithImplementor,
    WithVendor,
    PendingClosure,
    Closed,
}

impl Status {
    pub const ALL: [Status; 8] = [
        Status::New,
        Status::Assigned,
        Status::InProgress,
        Status::AwaitingComplainant,
        Status::WithImplementor,
        Status::WithVendor,
        Status::PendingClosure,
        Status::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Assigned => "assigned",
            Status::InProgress => "in_progress",
            Status::AwaitingComplainant => "awaiting_complainant",
            Status::WithImplementor => "with_implementor",
            Status::WithVendor => "with_vendor",
            Status::PendingClosure => "pending_closure",
            Status::Closed => "closed",
        }
    }

    pub fn label_ms(self) -> &'static str {
        match self {
            Status::New => "BARU",
            Status::Assigned => "DITUGASKAN",
            Status::InProgress => "DALAM TINDAKAN",
            Status::AwaitingComplainant => "MOHON MAKLUMBALAS PENGADU",
            Status::WithImplementor => "RUJUK IMPLEMENTOR",
            Status::WithVendor => "DALAM TINDAKAN VENDOR",
            Status::PendingClosure => "MOHON PENGADU TUTUP ADUAN",
            Status::Closed => "SELESAI",
        }
    }

    pub fn label_en(self) -> &'static str {
        match self {
            Status::New => "New",
            Status::Assigned => "Assigned",
            Status::InProgress => "In progress",
            Status::AwaitingComplainant => "Feedback requested from complainant",
            Status::WithImplementor => "Referred to implementor",
            Status::WithVendor => "With the vendor",
            Status::PendingClosure => "Complainant asked to close",
            Status::Closed => "Solved",
        }
    }

    pub fn is_open(self) -> bool {
        self != Status::Closed
    }
}
