//! "Log Masuk": the portal's sign-in in production, the picker of invented people in
//! development.

use askama::Template;

use super::Chrome;

#[derive(Template)]
#[template(path = "sign_in.html")]
pub struct SignInPage {
    pub chrome: Chrome,
    /// Where to go once signed in (a local path).
    pub next: String,
    /// The development picker; empty in production.
    pub people: Vec<PickerPerson>,
    /// Production: the link that starts the portal's sign-in, if the portal is configured.
    pub portal_url: Option<String>,
    pub production: bool,
}

pub struct PickerPerson {
    pub id: &'static str,
    pub role: &'static str,
    pub name: &'static str,
    pub role_label: &'static str,
    pub ptj: &'static str,
}
