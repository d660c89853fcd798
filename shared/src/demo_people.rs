//! Invented people for development and tests: the web app's sign-in picker, `make demo`, and
//! the test suites. None of these names, identity numbers, phone numbers or addresses belong
//! to anyone real.

use serde_json::{Value, json};

use crate::auth::Profile;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: &'static str,
    pub role: &'static str,
    pub name: &'static str,
    pub ic_number: &'static str,
    pub email: &'static str,
    pub phone: &'static str,
    pub ptj: &'static str,
}

impl Person {
    /// What the portal knows of this person, as its tokens carry it.
    pub fn profile(&self) -> Profile {
        Profile {
            ic_number: Some(self.ic_number.into()),
            email: Some(self.email.into()),
            phone_number: Some(self.phone.into()),
            ptj: Some(self.ptj.into()),
        }
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

/// Everyone, in the order the development picker shows them.
pub const EVERYONE: [Person; 8] =
    [ADMIN, PIC, OTHER_PIC, IMPLEMENTOR, COMPLAINANT, OTHER_COMPLAINANT, AUDITOR, OTHER_IMPLEMENTOR];

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

pub const OTHER_IMPLEMENTOR: Person = Person {
    id: "impl-farid",
    role: "implementor",
    name: "Farid bin Kamal",
    ic_number: "870404-03-5567",
    email: "farid.impl@vendor.example.my",
    phone: "017-900 5005",
    ptj: "Pasukan Pelaksana iSPEKS",
};
