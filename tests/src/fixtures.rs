//! Invented people for tests and the demo. None of these names, identity numbers, phone
//! numbers or addresses belong to anyone real.

use std::time::Duration;

use ehelpdesk_shared::actor::Role;
use ehelpdesk_shared::auth::{AuthConfig, DEVELOPMENT_SECRET, Profile, claims_for, mint_hs256};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub struct Person {
    pub id: &'static str,
    pub role: &'static str,
    pub name: &'static str,
    pub ic_number: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub ptj: &'static str,
}

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

impl Person {
    /// A bearer token for this person in their role, valid for an hour.
    pub fn token(&self) -> String {
        let role: Role = self.role.parse().expect("fixture roles are valid");
        let mut claims = claims_for(&auth_config(), self.id, self.name, &[role], Duration::from_secs(3600));
        claims.profile = self.profile();
        mint_hs256(&jwt_secret(), &claims).expect("token")
    }

    /// What the portal knows of this person, as its tokens carry it.
    pub fn profile(&self) -> Profile {
        Profile {
            ic_number: Some(self.ic_number.into()),
            email: Some(self.email.into()),
            phone_number: Some(self.phone.into()),
            ptj: Some(self.ptj.into()),
        }
    }

    pub fn headers(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        request.bearer_auth(self.token())
    }

    /// The same person acting in another role.
    pub fn as_role(&self, role: &'static str) -> Person {
        Person { role, ..self.clone() }
    }

    /// Body of `POST /v1/staff` registering this person.
    pub fn registration(&self, roles: &[&str], categories: &[&str]) -> Value {
        json!({
            "staff_id": self.id, "ic_number": self.ic_number, "name": self.name, "email": self.email,
            "phone": self.phone, "ptj": self.ptj, "roles": roles, "categories": categories,
        })
    }

    /// The `complainant` object of a complaint filed by (or for) this person.
    pub fn as_complainant(&self) -> Value {
        json!({
            "id": self.id, "ic_number": self.ic_number, "name": self.name, "email": self.email,
            "phone": self.phone, "ptj": self.ptj,
        })
    }
}

pub const ADMIN: Person = Person {
    id: "admin-siti",
    role: "admin",
    name: "Siti Nurhaliza binti Omar",
    ic_number: "800212-03-5012",
    email: "siti.admin@helpdesk.example.gov.my",
    phone: "013-900 1001",
    ptj: "Perbendaharaan Negeri",
};

pub const PIC: Person = Person {
    id: "pic-aminah",
    role: "pic",
    name: "Aminah binti Yusof",
    ic_number: "850315-03-5124",
    email: "aminah.pic@helpdesk.example.gov.my",
    phone: "013-900 2002",
    ptj: "Perbendaharaan Negeri",
};

pub const OTHER_PIC: Person = Person {
    id: "pic-bakar",
    role: "pic",
    name: "Abu Bakar bin Salleh",
    ic_number: "790808-03-5233",
    email: "bakar.pic@helpdesk.example.gov.my",
    phone: "013-900 3003",
    ptj: "Perbendaharaan Negeri",
};

pub const IMPLEMENTOR: Person = Person {
    id: "impl-chong",
    role: "implementor",
    name: "Chong Wei Ming",
    ic_number: "880101-14-5345",
    email: "chong.impl@vendor.example.my",
    phone: "017-900 4004",
    ptj: "Pasukan Pelaksana iSPEKS",
};

pub const COMPLAINANT: Person = Person {
    id: "pengadu-ali",
    role: "complainant",
    name: "Ali bin Abu",
    ic_number: "900101-03-5678",
    email: "ali.abu@jkr.example.gov.my",
    phone: "012-345 6789",
    ptj: "Jabatan Kerja Raya Negeri",
};

pub const OTHER_COMPLAINANT: Person = Person {
    id: "pengadu-mei",
    role: "complainant",
    name: "Tan Mei Ling",
    ic_number: "920505-03-5456",
    email: "mei.ling@jpn.example.gov.my",
    phone: "019-876 5432",
    ptj: "Jabatan Pertanian Negeri",
};

pub const AUDITOR: Person = Person {
    id: "audit-devi",
    role: "auditor",
    name: "Devi a/p Ramasamy",
    ic_number: "830707-03-5890",
    email: "devi.audit@audit.example.gov.my",
    phone: "011-2345 6789",
    ptj: "Jabatan Audit Negeri",
};

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

pub const OTHER_IMPLEMENTOR: Person = Person {
    id: "impl-farid",
    role: "implementor",
    name: "Farid bin Kamal",
    ic_number: "870404-03-5567",
    email: "farid.impl@vendor.example.my",
    phone: "017-900 5005",
    ptj: "Pasukan Pelaksana iSPEKS",
};
