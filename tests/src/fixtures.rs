//! Invented people for tests and the demo (they live in `ehelpdesk_shared::demo_people`, which
//! the web app's development picker lists too), and the bodies tests send.

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{AuthConfig, DEVELOPMENT_SECRET, claims_for, mint_hs256};
pub use ehelpdesk_shared::demo_people::*;
use serde_json::{Value, json};

/// The HS256 secret tokens are minted with: `JWT_HS256_SECRET`, as the services read it,
/// or the development secret they fall back to.
pub fn jwt_secret() -> String {
    std::env::var("JWT_HS256_SECRET").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| DEVELOPMENT_SECRET.into())
}

/// Token settings the services under test use.
pub fn auth_config() -> AuthConfig {
    AuthConfig {
        issuer: "mypkn".into(),
        audience: "ehelpdesk".into(),
        hs256_secret: Some(jwt_secret()),
        jwks_file: None,
        jwks_url: None,
        dev_actor_headers: false,
        production: false,
        max_lifetime: Duration::from_secs(12 * 3600),
        // The first admin, who registers everyone else in each test's directory.
        bootstrap_admins: [ADMIN.id.to_owned()].into(),
        // Tests see a change to the directory at once.
        staff_cache: Duration::ZERO,
    }
}

/// What tests do with a person beyond what they are: a token, and a request made as them.
pub trait PersonExt {
    /// A bearer token for this person in their role, valid for an hour.
    fn token(&self) -> String;
    fn headers(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder;
}

impl PersonExt for Person {
    fn token(&self) -> String {
        let role: Role = self.role.parse().expect("fixture roles are valid");
        let mut claims = claims_for(&auth_config(), self.id, self.name, &[role], Duration::from_secs(3600));
        claims.profile = self.profile();
        mint_hs256(&jwt_secret(), &claims).expect("token")
    }

    fn headers(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.token())
    }
}

/// The event types of domain.md's whole flow, in order, as the tests and the demo walk it.
pub const WHOLE_FLOW_EVENTS: [&str; 10] = [
    "ComplaintLogged",
    "ComplaintAssigned",
    "ComplaintResponded",
    "ComplainantReplied",
    "ReferredToImplementor",
    "InternalNoteAdded",
    "EscalatedToVendor",
    "VendorUpdateRecorded",
    "ComplaintResponded",
    "ComplaintClosed",
];

/// Body of `POST /v1/complaints` as a complainant files it for themselves: their details
/// come from their token, never from the body.
pub fn complaint(category: &str, title: &str) -> Value {
    json!({
        "category": category,
        "title": title,
        "description": "Amaun yang dicaj pada baris kedua arahan bayaran tidak sama dengan amaun invois.",
    })
}

/// Body of `POST /v1/complaints` as an admin logs it on `person`'s behalf.
pub fn complaint_for(person: &Person, category: &str, title: &str) -> Value {
    let mut body = complaint(category, title);
    body["complainant"] = person.as_complainant();
    body
}
