//! What goes wrong becomes a page a person can read: Malay first, English beside, never raw
//! JSON, a stack trace or a blank page. A refusal from an API is shown on its form instead
//! (see [`refusal`]); only what stops a whole page lands here.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;
use crate::pages::{ErrorPage, Render};
use crate::session::sign_in_url;

#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The form's CSRF token is missing or not this browser's.
    #[error("form expired")]
    FormExpired,
    #[error("bad form: {0}")]
    BadForm(String),
    #[error("not found")]
    NotFound,
    /// The token was refused by the API (expired between our check and theirs).
    #[error("signed out")]
    SignedOut { next: String },
    #[error("api: {0}")]
    Api(#[from] ApiError),
    #[error("internal: {0}")]
    Internal(String),
}

impl PageError {
    /// The error's page, answered with `status` rather than its own.
    pub fn into_response_with(self, status: StatusCode) -> Response {
        let mut response = self.into_response();
        *response.status_mut() = status;
        response
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            PageError::FormExpired => (
                StatusCode::FORBIDDEN,
                "Borang tamat tempoh / Form expired",
                "Borang ini tidak sah atau telah tamat tempoh. Sila muat semula halaman dan cuba lagi. / \
                 This form is not valid or has expired. Reload the page and try again."
                    .to_owned(),
            ),
            PageError::BadForm(detail) => (StatusCode::BAD_REQUEST, "Borang tidak sah / Invalid form", detail.clone()),
            PageError::NotFound => not_found(),
            PageError::SignedOut { next } => return axum::response::Redirect::to(&sign_in_url(next)).into_response(),
            PageError::Api(ApiError::Problem { status, .. }) if *status == StatusCode::NOT_FOUND => not_found(),
            PageError::Api(ApiError::Problem { status, code, detail, .. }) => {
                (*status, "Permintaan ditolak / Request refused", refusal(code, detail))
            }
            PageError::Api(ApiError::Unavailable(cause)) => {
                tracing::warn!(%cause, "an API did not answer");
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Perkhidmatan tidak tersedia / Service unavailable",
                    "eHelpdesk tidak dapat dicapai buat seketika. Sila cuba lagi sebentar lagi. / \
                     eHelpdesk cannot be reached for a moment. Please try again shortly."
                        .to_owned(),
                )
            }
            PageError::Internal(cause) => {
                tracing::error!(%cause, "page failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Ralat dalaman / Internal error",
                    "Sesuatu tidak kena di pihak kami. Sila cuba lagi. / Something went wrong on our side. Please try again."
                        .to_owned(),
                )
            }
        };
        let chrome = crate::pages::Chrome::signed_out(String::new());
        ErrorPage { chrome, title, message, status: status.as_u16() }.render_page(status)
    }
}

fn not_found() -> (StatusCode, &'static str, String) {
    (
        StatusCode::NOT_FOUND,
        "Tidak dijumpai / Not found",
        "Halaman atau aduan ini tiada, atau anda tidak dibenarkan melihatnya. / \
         This page or complaint does not exist, or you may not see it."
            .to_owned(),
    )
}

/// An API's refusal as a person reads it: the Malay sentence for its code, English beside,
/// or, for a code without one, the service's own detail (already Malay first where it has one).
pub fn refusal(code: &str, detail: &str) -> String {
    match MESSAGES.iter().find(|(c, _)| *c == code) {
        Some((_, message)) => (*message).to_owned(),
        None if detail.is_empty() => format!("Permintaan ditolak ({code}). / The request was refused ({code})."),
        None => format!("Permintaan ditolak: {detail}"),
    }
}

/// The codes a person meets on a form (shared/src/error.rs names them), in Malay and English.
const MESSAGES: &[(&str, &str)] = &[
    ("role_not_allowed", "Peranan anda tidak dibenarkan melakukan ini. / Your role may not do this."),
    (
        "not_your_complaint",
        "Hanya pengadu yang memfailkan aduan ini boleh melakukannya. / Only the complainant who filed this complaint may do this.",
    ),
    (
        "not_assigned_to_you",
        "Hanya PIC yang ditugaskan (atau Admin) boleh melakukannya. / Only the assigned PIC (or an admin) may do this.",
    ),
    ("complaint_not_found", "Aduan tidak dijumpai. / No such complaint."),
    (
        "complaint_closed",
        "Aduan ini telah ditutup; hanya pengadunya boleh membukanya semula. / This complaint is closed; only its complainant may reopen it.",
    ),
    ("not_assigned", "Aduan ini belum ditugaskan kepada PIC. / This complaint is not yet assigned to a PIC."),
    (
        "already_assigned",
        "Aduan ini sudah ditugaskan kepada PIC tersebut. / This complaint is already assigned to that PIC.",
    ),
    (
        "already_with_implementor",
        "Aduan ini sudah dirujuk kepada Implementor. / This complaint is already with the implementor.",
    ),
    ("already_with_vendor", "Aduan ini sudah dalam tindakan vendor. / This complaint is already with the vendor."),
    ("not_with_vendor", "Aduan ini tidak dalam tindakan vendor. / This complaint is not with the vendor."),
    ("not_closed", "Aduan ini belum ditutup. / This complaint is not closed."),
    (
        "reopen_window_expired",
        "Tempoh untuk membuka semula aduan telah tamat. / The time to reopen this complaint has passed.",
    ),
    ("reopen_limit_reached", "Aduan ini tidak boleh dibuka semula lagi. / This complaint cannot be reopened again."),
    (
        "reply_limit_reached",
        "Had maklumbalas bagi aduan ini telah dicapai. / This complaint has reached its limit of replies.",
    ),
    ("reason_required", "Sila nyatakan sebab. / Please give a reason."),
    ("rating_only_by_complainant", "Hanya pengadu boleh memberi penilaian. / Only the complainant may give a rating."),
    ("staff_not_found", "Kakitangan tidak dijumpai dalam direktori. / No such member of staff in the directory."),
    ("staff_inactive", "Kakitangan ini tidak aktif. / This member of staff is inactive."),
    ("staff_lacks_role", "Kakitangan ini tiada peranan yang diperlukan. / This member of staff lacks the role needed."),
    ("staff_exists", "Kakitangan ini sudah didaftarkan. / This member of staff is already registered."),
    ("nothing_to_update", "Tiada perubahan untuk disimpan. / Nothing to change."),
    ("rate_limited", "Terlalu banyak permintaan; sila tunggu sebentar. / Too many requests; please wait a moment."),
    (
        "projection_behind",
        "Paparan sedang dikemas kini; sila muat semula sebentar lagi. / The view is catching up; reload in a moment.",
    ),
    (
        "unavailable",
        "eHelpdesk tidak dapat dicapai buat seketika; cuba lagi. / eHelpdesk cannot be reached for a moment; try again.",
    ),
    ("invalid_body", "Maklumat borang tidak lengkap atau tidak sah. / The form is incomplete or not valid."),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_known_code_reads_in_malay_first() {
        assert!(refusal("complaint_closed", "the complaint is closed").starts_with("Aduan ini telah ditutup"));
        assert_eq!(refusal("x_y", "Tajuk terlalu panjang"), "Permintaan ditolak: Tajuk terlalu panjang");
        assert!(refusal("x_y", "").contains("(x_y)"));
    }

    #[test]
    fn every_message_is_malay_then_english() {
        for (code, message) in MESSAGES {
            assert_eq!(message.matches(" / ").count(), 1, "{code}");
        }
    }
}
