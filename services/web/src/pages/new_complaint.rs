//! "Failkan Aduan": a complainant files a complaint (their details come from their token).

use askama::Template;
use serde::Deserialize;

use super::{Choice, Chrome};

#[derive(Template)]
#[template(path = "new_complaint.html")]
pub struct NewComplaintPage {
    pub chrome: Chrome,
    pub categories: Vec<Choice>,
    pub form: NewComplaint,
    pub error: Option<String>,
}

/// The form as typed (kept when the API refuses it).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct NewComplaint {
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub reference: String,
    #[serde(default)]
    pub idempotency_key: String,
}
