//! What a person may do on a complaint's page besides the PIC's reply: answer, close with a
//! rating, reopen (the complainant); refer to the implementor, record the vendor's answer and
//! add an internal note (staff). Which forms are shown follows the role and the complaint's
//! status; the API decides in the end and a refusal is shown on the form.

use ehelpdesk_shared::actor::Role;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Choice;

/// Every action, with the command it sends (`POST /v1/complaints/{id}/<path>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Answer,
    Close,
    Reopen,
    Refer,
    VendorUpdate,
    Note,
}

impl Action {
    pub const ALL: [Action; 6] =
        [Action::Answer, Action::Close, Action::Reopen, Action::Refer, Action::VendorUpdate, Action::Note];

    /// The web path segment (`/complaints/{id}/act/<name>`).
    pub fn name(self) -> &'static str {
        match self {
            Action::Answer => "answer",
            Action::Close => "close",
            Action::Reopen => "reopen",
            Action::Refer => "refer",
            Action::VendorUpdate => "vendor-update",
            Action::Note => "note",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The command's path under the complaint.
    pub fn api_path(self) -> &'static str {
        match self {
            Action::Answer => "replies",
            Action::Close => "closure",
            Action::Reopen => "reopening",
            Action::Refer => "referral",
            Action::VendorUpdate => "vendor-updates",
            Action::Note => "notes",
        }
    }

    /// Whether `role` is offered the form while the complaint is at `status`.
    pub fn offered(self, role: Role, status: &str) -> bool {
        let open = status != "closed";
        match self {
            Action::Answer => role == Role::Complainant && open,
            Action::Close => role == Role::Complainant && status == "pending_closure",
            Action::Reopen => role == Role::Complainant && !open,
            Action::Refer => matches!(role, Role::Pic | Role::Admin) && open && status != "with_implementor",
            Action::VendorUpdate => matches!(role, Role::Pic | Role::Admin) && status == "with_vendor",
            Action::Note => matches!(role, Role::Pic | Role::Admin | Role::Implementor) && open,
        }
    }

    /// The command's body from the form, or what is missing, in Malay.
    pub fn body(self, form: &ActionForm) -> Result<Value, &'static str> {
        let message = form.message.trim();
        let need_message = || match message.is_empty() {
            true => Err("Sila tulis mesej. / Please write a message."),
            false => Ok(message),
        };
        Ok(match self {
            Action::Answer | Action::Note => json!({ "message": need_message()? }),
            Action::Close => {
                let rating: i64 =
                    form.rating.trim().parse().map_err(|_| "Sila beri penilaian 1 hingga 5. / Please rate 1 to 5.")?;
                if !(1..=5).contains(&rating) {
                    return Err("Sila beri penilaian 1 hingga 5. / Please rate 1 to 5.");
                }
                match form.comment.trim() {
                    "" => json!({ "rating": rating }),
                    comment => json!({ "rating": rating, "comment": comment }),
                }
            }
            Action::Reopen => match form.reason.trim() {
                "" => return Err("Sila nyatakan sebab aduan dibuka semula. / Please say why it is reopened."),
                reason => json!({ "reason": reason }),
            },
            Action::Refer => match form.implementor_id.trim() {
                "" => return Err("Sila pilih Implementor. / Please choose the implementor."),
                implementor => json!({ "implementor_id": implementor, "message": need_message()? }),
            },
            Action::VendorUpdate => match form.vendor_log_number.trim() {
                "" => json!({ "message": need_message()? }),
                log => json!({ "message": need_message()?, "vendor_log_number": log }),
            },
        })
    }
}

/// Every action's fields; each form sends those it has.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub rating: String,
    #[serde(default)]
    pub comment: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub implementor_id: String,
    #[serde(default)]
    pub vendor_log_number: String,
    #[serde(default)]
    pub idempotency_key: String,
}

/// The forms a page shows, and a refused one's message and fields.
#[derive(Default)]
pub struct Actions {
    pub answer: bool,
    pub close: bool,
    pub reopen: bool,
    pub vendor_update: bool,
    pub note: bool,
    /// The implementors to refer to, when referral is offered.
    pub refer: Option<Vec<Choice>>,
    pub idempotency_key: String,
    /// The refused action's name and why.
    pub refused: Option<(&'static str, String)>,
    pub typed: ActionForm,
}

impl Actions {
    pub fn for_page(role: Role, status: &str, implementors: Option<Vec<Choice>>) -> Self {
        let offered = |a: Action| a.offered(role, status);
        Self {
            answer: offered(Action::Answer),
            close: offered(Action::Close),
            reopen: offered(Action::Reopen),
            vendor_update: offered(Action::VendorUpdate),
            note: offered(Action::Note),
            refer: implementors.filter(|_| offered(Action::Refer)),
            idempotency_key: uuid::Uuid::new_v4().to_string(),
            refused: None,
            typed: ActionForm::default(),
        }
    }

    /// The error of `action`'s form, if it was the one refused.
    pub fn error_for(&self, action: &str) -> Option<&str> {
        self.refused.as_ref().filter(|(name, _)| *name == action).map(|(_, message)| message.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for action in Action::ALL {
            assert_eq!(Action::parse(action.name()), Some(action));
        }
        assert_eq!(Action::parse("delete"), None);
    }

    #[test]
    fn a_complainant_closes_only_when_asked_and_reopens_only_a_closed_one() {
        assert!(Action::Close.offered(Role::Complainant, "pending_closure"));
        assert!(!Action::Close.offered(Role::Complainant, "in_progress"));
        assert!(!Action::Close.offered(Role::Pic, "pending_closure"));
        assert!(Action::Reopen.offered(Role::Complainant, "closed"));
        assert!(!Action::Answer.offered(Role::Complainant, "closed"));
        assert!(!Action::Note.offered(Role::Complainant, "assigned"));
    }

    #[test]
    fn bodies_are_checked_before_they_are_sent() {
        let form = |rating: &str| ActionForm { rating: rating.into(), ..ActionForm::default() };
        assert_eq!(Action::Close.body(&form("5")).unwrap(), json!({"rating": 5}));
        for bad in ["", "0", "6", "lima"] {
            assert!(Action::Close.body(&form(bad)).is_err(), "{bad}");
        }
        assert!(Action::Answer.body(&ActionForm::default()).is_err());
        let refer =
            ActionForm { implementor_id: "impl-chong".into(), message: "Rujuk".into(), ..ActionForm::default() };
        assert_eq!(Action::Refer.body(&refer).unwrap(), json!({"implementor_id": "impl-chong", "message": "Rujuk"}));
    }
}
