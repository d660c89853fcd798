//! Why the domain refuses a command. Every refusal has a stable `code` that clients may
//! match on, and a kind that tells the HTTP edge which status to answer with.

use crate::validation::FieldError;

/// How a refusal maps onto HTTP: the edge turns these into 403, 404, 409 and 422.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    Forbidden,
    NotFound,
    Conflict,
    Invalid,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    #[error("invalid input: {0}")]
    Invalid(#[from] FieldError),
    #[error("the role `{role}` may not {action}")]
    RoleNotAllowed { role: &'static str, action: &'static str },
    #[error("only the complainant who filed this complaint may do this")]
    NotYourComplaint,
    #[error("only the PIC assigned to this complaint (or an admin) may do this")]
    NotAssignedToYou,
    #[error("a complainant may only log complaints for themselves")]
    CannotLogForOthers,
    #[error("no such complaint")]
    ComplaintNotFound,
    #[error("this complaint already exists")]
    ComplaintExists,
    #[error("the complaint is closed; only its complainant may reopen it")]
    ComplaintClosed,
    #[error("the complaint has not been assigned to a PIC yet")]
    NotAssigned,
    #[error("the complaint is already assigned to this PIC")]
    AlreadyAssigned,
    #[error("the complaint is already with the implementor")]
    AlreadyWithImplementor,
    #[error("the complaint is already with this vendor")]
    AlreadyWithVendor,
    #[error("the complaint is not with a vendor")]
    NotWithVendor,
    #[error("the complaint is not closed")]
    NotClosed,
    #[error("a complaint can only be reopened within {days} days of closing")]
    ReopenWindowExpired { days: i64 },
    #[error("this complaint was reopened {max} times already; please file a new complaint")]
    ReopenLimitReached { max: u32 },
    #[error("{max} replies are waiting for the PIC's answer; please wait for it")]
    ReplyLimitReached { max: u32 },
    #[error("an admin closing a complaint must give a reason")]
    ReasonRequired,
    #[error("only the complainant rates a complaint")]
    RatingOnlyByComplainant,
    #[error("no member of staff `{0}`")]
    StaffNotFound(String),
    #[error("member of staff `{0}` is deactivated")]
    StaffInactive(String),
    #[error("member of staff `{id}` does not have the role `{role}`")]
    StaffLacksRole { id: String, role: &'static str },
    #[error("member of staff `{0}` is already registered")]
    StaffExists(String),
    #[error("the update changes nothing")]
    NothingToUpdate,
}

impl DomainError {
    /// Stable, machine-readable code; part of the API contract.
    pub fn code(&self) -> &'static str {
        use DomainError::*;
        match self {
            Invalid(e) => e.code,
            RoleNotAllowed { .. } => "role_not_allowed",
            NotYourComplaint => "not_your_complaint",
            NotAssignedToYou => "not_assigned_to_you",
            CannotLogForOthers => "cannot_log_for_others",
            ComplaintNotFound => "complaint_not_found",
            ComplaintExists => "complaint_exists",
            ComplaintClosed => "complaint_closed",
            NotAssigned => "not_assigned",
            AlreadyAssigned => "already_assigned",
            AlreadyWithImplementor => "already_with_implementor",
            AlreadyWithVendor => "already_with_vendor",
            NotWithVendor => "not_with_vendor",
            NotClosed => "not_closed",
            ReopenWindowExpired { .. } => "reopen_window_expired",
            ReopenLimitReached { .. } => "reopen_limit_reached",
            ReplyLimitReached { .. } => "reply_limit_reached",
            ReasonRequired => "reason_required",
            RatingOnlyByComplainant => "rating_only_by_complainant",
            StaffNotFound(_) => "staff_not_found",
            StaffInactive(_) => "staff_inactive",
            StaffLacksRole { .. } => "staff_lacks_role",
            StaffExists(_) => "staff_exists",
            NothingToUpdate => "nothing_to_update",
        }
    }

    pub fn kind(&self) -> ErrorKind {
        use DomainError::*;
        match self {
            Invalid(_) | ReasonRequired | RatingOnlyByComplainant | NothingToUpdate => ErrorKind::Invalid,
            StaffNotFound(_) | StaffInactive(_) | StaffLacksRole { .. } => ErrorKind::Invalid,
            RoleNotAllowed { .. } | NotYourComplaint | NotAssignedToYou | CannotLogForOthers => ErrorKind::Forbidden,
            ComplaintNotFound => ErrorKind::NotFound,
            ComplaintExists
            | ComplaintClosed
            | NotAssigned
            | AlreadyAssigned
            | AlreadyWithImplementor
            | AlreadyWithVendor
            | NotWithVendor
            | NotClosed
            | ReopenWindowExpired { .. }
            | ReopenLimitReached { .. }
            | ReplyLimitReached { .. }
            | StaffExists(_) => ErrorKind::Conflict,
        }
    }

    /// The request field the error is about, where there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            DomainError::Invalid(e) => Some(&e.field),
            DomainError::ReasonRequired => Some("reason"),
            DomainError::RatingOnlyByComplainant => Some("rating"),
            _ => None,
        }
    }
}
