//! Who is acting: the person behind a command or an event.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::StaffId;

/// The roles of domain.md. A person acts in one role per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Complainant,
    Admin,
    Pic,
    Implementor,
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Complainant, Role::Admin, Role::Pic, Role::Implementor, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Complainant => "complainant",
            Role::Admin => "admin",
            Role::Pic => "pic",
            Role::Implementor => "implementor",
            Role::Auditor => "auditor",
        }
    }

    pub fn label_ms(self) -> &'static str {
        match self {
            Role::Complainant => "Pengadu",
            Role::Admin => "Admin eHelpdesk",
            Role::Pic => "Pegawai Bertanggungjawab (PIC)",
            Role::Implementor => "Implementor",
            Role::Auditor => "Juruaudit",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}` (expected complainant, admin, pic, implementor or auditor)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

/// The actor recorded on every event: id, role and display name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Actor {
    pub id: StaffId,
    pub role: Role,
    pub name: String,
}

impl Actor {
    pub fn new(id: StaffId, role: Role, name: impl Into<String>) -> Self {
        Self { id, role, name: name.into() }
    }

    pub fn is(&self, role: Role) -> bool {
        self.role == role
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
            assert_eq!(serde_json::to_string(&role).unwrap(), format!("\"{role}\""));
        }
        assert!("root".parse::<Role>().is_err());
        assert!("Admin".parse::<Role>().is_err(), "role names are exact");
    }
}
