//! Complaint categories: the iSPEKS module areas, kept as data in `shared/data/categories.json`.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::validation::FieldError;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Category {
    pub code: String,
    pub name_ms: String,
    pub name_en: String,
}

const CATEGORIES_JSON: &str = include_str!("../data/categories.json");

/// Every known category, in the order of the data file.
pub fn all() -> &'static [Category] {
    static CATEGORIES: OnceLock<Vec<Category>> = OnceLock::new();
    // The file is compiled in and checked by a unit test, so failing here is a build defect.
    CATEGORIES.get_or_init(|| serde_json::from_str(CATEGORIES_JSON).expect("shared/data/categories.json is valid"))
}

pub fn find(code: &str) -> Option<&'static Category> {
    all().iter().find(|c| c.code == code)
}

/// A category code known to the data file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(value_type = String, example = "AC")]
pub struct CategoryCode(String);

impl CategoryCode {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let code = raw.trim().to_uppercase();
        match find(&code) {
            Some(c) => Ok(Self(c.code.clone())),
            None => Err(FieldError::new(
                field,
                "unknown_category",
                format!(
                    "Kategori tidak dikenali / unknown category `{raw}`; known: {}",
                    all().iter().map(|c| c.code.as_str()).collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A code read back from the log or a stored state, even one the data file since dropped.
    pub(crate) fn from_stored(raw: String) -> Self {
        Self(raw)
    }

    pub fn category(&self) -> &'static Category {
        // Only `parse` builds a CategoryCode, and it checked the code exists.
        find(&self.0).unwrap_or(&all()[0])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_data_file_holds_the_module_areas_of_domain_md() {
        let codes: Vec<_> = all().iter().map(|c| c.code.as_str()).collect();
        for code in ["AP", "AR", "AC", "GL", "PAYROLL", "ASSET", "BUDGET", "CM", "INVEST", "LOAN", "ACCESS"] {
            assert!(codes.contains(&code), "{code}");
        }
        assert_eq!(find("AC").unwrap().name_ms, "Pendahuluan & Tuntutan");
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), codes.len());
    }

    #[test]
    fn codes_parse_case_insensitively_and_unknown_ones_are_refused() {
        assert_eq!(CategoryCode::parse("category", " ac ").unwrap().as_str(), "AC");
        let err = CategoryCode::parse("category", "XYZ").unwrap_err();
        assert_eq!((err.field.as_str(), err.code), ("category", "unknown_category"));
    }
}
