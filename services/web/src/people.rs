//! The development sign-in picker: the invented people of `ehelpdesk_shared::demo_people`,
//! each signed in with a token minted here with the development secret. None of this exists
//! under `APP_ENV=production` (the routes are not even registered).

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{AuthConfig, claims_for, mint_hs256};
use ehelpdesk_shared::demo_people::{EVERYONE, Person};

/// How long a picker session lasts: a working day.
const PICKER_SESSION: Duration = Duration::from_secs(8 * 3600);

pub fn find(id: &str, role: &str) -> Option<&'static Person> {
    EVERYONE.iter().find(|p| p.id == id && p.role == role)
}

/// A token for `person` as the portal would issue it, or why there is none.
pub fn token_for(config: &AuthConfig, person: &Person) -> Result<String, String> {
    if config.production {
        return Err("the development picker does not exist in production".into());
    }
    let secret = config.effective_secret().ok_or("no HS256 secret to sign development tokens with")?;
    let role: Role = person.role.parse().map_err(|_| format!("unknown role {}", person.role))?;
    let mut claims = claims_for(config, person.id, person.name, &[role], PICKER_SESSION);
    claims.profile = person.profile();
    mint_hs256(secret, &claims)
}

/// Malay label of a role, for the picker and the header.
pub fn role_label(role: Role) -> &'static str {
    match role {
        Role::Complainant => "Pengadu / Complainant",
        Role::Admin => "Admin eHelpdesk",
        Role::Pic => "PIC (Person In Charge)",
        Role::Implementor => "Implementor",
        Role::Auditor => "Juruaudit / Auditor",
    }
}
