//! Value types that can only hold valid input.
//!
//! Every type here is built with `parse`, which returns a [`FieldError`] naming the
//! offending field, so the HTTP edge can answer 422 with the field and the domain never
//! sees malformed data. Serialisation is the normalised form.

use std::fmt;

use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::ToSchema;

/// One field that failed validation: the field name, a stable code and a readable message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub code: &'static str,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}

/// Reading back what was written: the value was validated when it entered (at the HTTP
/// edge, through `parse`), and validators may tighten later, so the stored schema
/// ([`crate::stored`]) hands its strings back as they are, for ever. Nothing deserializes
/// into these types (`StaffId` aside, an envelope's id): request bodies carry strings that
/// handlers `parse`, and stored data goes through the stored schema.
macro_rules! from_stored {
    ($ty:ty) => {
        impl $ty {
            /// A value read back from the log or a stored state, as it was written.
            pub(crate) fn from_stored(raw: String) -> Self {
                Self(raw)
            }
        }
    };
}

/// Malaysian identity card number ("No KP"): 12 digits, the first six a valid YYMMDD date.
/// Accepts `900101-03-5678` or `900101035678`; stored without dashes.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(value_type = String, example = "900101035678")]
pub struct IcNumber(String);

impl IcNumber {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let digits: String = raw.trim().chars().filter(|c| *c != '-').collect();
        if digits.len() != 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(FieldError::new(
                field,
                "invalid_ic_number",
                "No KP mesti 12 digit / IC number must be 12 digits",
            ));
        }
        let num = |r: std::ops::Range<usize>| digits[r].parse::<u32>().unwrap_or(0);
        let (yy, mm, dd) = (num(0..2), num(2..4), num(4..6));
        // The century is not in the number; a date is valid if it exists in either 19YY or 20YY
        // (29 February only exists in leap years).
        let exists =
            [1900, 2000].iter().any(|century| NaiveDate::from_ymd_opt((century + yy) as i32, mm, dd).is_some());
        if !exists {
            return Err(FieldError::new(
                field,
                "invalid_ic_number",
                "Tarikh lahir dalam No KP tidak sah / the date part of the IC number is not a valid date",
            ));
        }
        Ok(Self(digits))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `******-**-5678`: the form used in logs and in list views for roles that need no more.
    pub fn masked(&self) -> String {
        // A number read back from the log may predate today's rules: never index blindly.
        crate::visibility::mask_ic_number(&self.0)
    }
}
from_stored!(IcNumber);

// Debug never prints the whole number, so a stray `{:?}` in a log line cannot leak it.
impl fmt::Debug for IcNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IcNumber({})", self.masked())
    }
}

/// Malaysian phone number normalised to E.164 (`+60123456789`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[schema(value_type = String, example = "+60123456789")]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Accepts local (`012-345 6789`, `03-2691 2345`) and international (`+60 12-345 6789`,
    /// `60123456789`) writing. Mobile numbers are 01x with 7 or 8 more digits; fixed lines
    /// are 0[3-9] with a national number of 8 or 9 digits.
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let compact: String = raw.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '(' | ')' | '.')).collect();
        let national = compact
            .strip_prefix("+60")
            .or_else(|| compact.strip_prefix("60"))
            .or_else(|| compact.strip_prefix('0'))
            .unwrap_or_default();
        let national = national.strip_prefix('0').unwrap_or(national);
        let valid = national.bytes().all(|b| b.is_ascii_digit())
            && match national.as_bytes().first() {
                Some(b'1') => (9..=10).contains(&national.len()),
                Some(b'3'..=b'9') => (8..=9).contains(&national.len()),
                _ => false,
            };
        if !valid {
            return Err(FieldError::new(
                field,
                "invalid_phone",
                "Nombor telefon Malaysia tidak sah / not a valid Malaysian phone number",
            ));
        }
        Ok(Self(format!("+60{national}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
from_stored!(PhoneNumber);

/// An e-mail address (RFC 5322 addr-spec, as checked by the `email_address` crate).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[schema(value_type = String, example = "aminah@example.gov.my")]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let ok = trimmed.len() <= 254
            && email_address::EmailAddress::parse_with_options(
                trimmed,
                email_address::Options::default().without_display_text(),
            )
            .is_ok_and(|e| e.domain().contains('.'));
        if !ok {
            return Err(FieldError::new(field, "invalid_email", "Alamat e-mel tidak sah / not a valid e-mail address"));
        }
        Ok(Self(trimmed.to_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
from_stored!(Email);

/// Identifier of a member of staff (the treasury portal's user id): 1-64 of `a-z 0-9 _ -`,
/// so it is safe as a NATS subject token and in URLs.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, ToSchema)]
#[schema(value_type = String, example = "pic-aminah")]
pub struct StaffId(String);

impl StaffId {
    pub fn parse(field: &str, raw: &str) -> Result<Self, FieldError> {
        let ok = (1..=64).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
        if !ok {
            return Err(FieldError::new(
                field,
                "invalid_staff_id",
                "ID kakitangan: 1-64 aksara a-z, 0-9, _ atau - / staff id: 1-64 of a-z, 0-9, _ or -",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
from_stored!(StaffId);

// Ids are read from envelopes and subjects (`Aggregate::Id`) as written, like the stored schema.
impl<'de> Deserialize<'de> for StaffId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl fmt::Display for StaffId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Free text with a length limit in characters, trimmed, without control characters other
/// than newlines and tabs (which keeps header injection out of notifications built from it).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, ToSchema)]
#[schema(value_type = String)]
pub struct Text(String);

impl Text {
    pub fn parse(field: &str, raw: &str, min: usize, max: usize) -> Result<Self, FieldError> {
        let trimmed = raw.trim();
        let len = trimmed.chars().count();
        if len < min || len > max {
            return Err(FieldError::new(
                field,
                "invalid_length",
                format!("Panjang mesti {min}-{max} aksara / length must be {min}-{max} characters (got {len})"),
            ));
        }
        if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t' && c != '\r') {
            return Err(FieldError::new(
                field,
                "control_characters",
                "Aksara kawalan tidak dibenarkan / control characters are not allowed",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    /// `within` for text that must stay on one line (titles, names, department names): it
    /// ends up in mail subjects and list rows.
    pub fn single_line(field: &str, raw: &str, bounds: (usize, usize)) -> Result<Self, FieldError> {
        let text = Self::within(field, raw, bounds)?;
        if text.0.contains(['\n', '\r', '\t']) {
            return Err(FieldError::new(
                field,
                "line_breaks",
                "Mesti satu baris, tanpa baris baharu atau tab / must be one line, without line breaks or tabs",
            ));
        }
        Ok(text)
    }

    /// `parse` with bounds from [`limits`].
    pub fn within(field: &str, raw: &str, (min, max): (usize, usize)) -> Result<Self, FieldError> {
        Self::parse(field, raw, min, max)
    }

    /// `within` for a field that may be left out.
    pub fn optional(field: &str, raw: Option<String>, bounds: (usize, usize)) -> Result<Option<Self>, FieldError> {
        raw.map(|r| Self::within(field, &r, bounds)).transpose()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// Stored text was validated when written; limits may change, so reading never re-checks them.
from_stored!(Text);

/// Limits, in characters, for the free-text fields of commands.
pub mod limits {
    pub const TITLE: (usize, usize) = (5, 200);
    pub const DESCRIPTION: (usize, usize) = (10, 5000);
    pub const MESSAGE: (usize, usize) = (1, 5000);
    pub const NAME: (usize, usize) = (2, 150);
    pub const PTJ: (usize, usize) = (2, 150);
    pub const VENDOR_LOG_NUMBER: (usize, usize) = (1, 64);
    pub const REFERENCE: (usize, usize) = (1, 64);
    pub const REASON: (usize, usize) = (3, 1000);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ic_number_accepts_dashes_and_checks_the_date() {
        assert_eq!(IcNumber::parse("ic", "900101-03-5678").unwrap().as_str(), "900101035678");
        assert!(IcNumber::parse("ic", "000229035678").is_ok(), "2000-02-29 exists");
        assert!(IcNumber::parse("ic", "010229035678").is_err(), "neither 1901 nor 2001 is leap");
        assert!(IcNumber::parse("ic", "901301035678").is_err(), "month 13");
        assert!(IcNumber::parse("ic", "900132035678").is_err(), "day 32");
        assert!(IcNumber::parse("ic", "90010103567").is_err(), "11 digits");
        assert!(IcNumber::parse("ic", "9001010356789").is_err(), "13 digits");
        assert!(IcNumber::parse("ic", "90010103567x").is_err());
        let err = IcNumber::parse("complainant.ic_number", "abc").unwrap_err();
        assert_eq!(err.field, "complainant.ic_number");
        assert_eq!(err.code, "invalid_ic_number");
    }

    #[test]
    fn ic_number_is_masked_in_debug_and_masked() {
        let ic = IcNumber::parse("ic", "900101035678").unwrap();
        assert_eq!(ic.masked(), "******-**-5678");
        assert!(!format!("{ic:?}").contains("900101"));
    }

    #[test]
    fn phone_numbers_normalise_to_e164() {
        for (raw, want) in [
            ("012-345 6789", "+60123456789"),
            ("011-2345 6789", "+601123456789"),
            ("+60 12-345 6789", "+60123456789"),
            ("60123456789", "+60123456789"),
            ("03-2691 2345", "+60326912345"),
            ("09-748 1234", "+6097481234"),
            ("(082) 123456", "+6082123456"),
        ] {
            assert_eq!(PhoneNumber::parse("phone", raw).unwrap().as_str(), want, "{raw}");
        }
        for bad in ["", "12345", "+6512345678", "012-345", "0123456789012", "02-1234567", "abc", "+60"] {
            assert!(PhoneNumber::parse("phone", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(Email::parse("e", " Aminah@Example.GOV.my ").unwrap().as_str(), "aminah@example.gov.my");
        for bad in ["", "aminah", "aminah@", "@example.my", "a b@example.my", "aminah@localhost", "Aminah <a@b.my>"] {
            assert!(Email::parse("e", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn staff_ids_are_subject_safe() {
        assert!(StaffId::parse("id", "pic-aminah_2").is_ok());
        for bad in ["", "PIC", "a.b", "a b", "a>b", "a*", &"x".repeat(65), "../etc"] {
            assert!(StaffId::parse("id", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_is_trimmed_and_bounded() {
        assert_eq!(Text::parse("t", "  hello  ", 1, 10).unwrap().as_str(), "hello");
        assert!(Text::parse("t", "   ", 1, 10).is_err());
        assert!(Text::parse("t", &"é".repeat(11), 1, 10).is_err());
        assert!(Text::parse("t", &"é".repeat(10), 1, 10).is_ok(), "limits count characters, not bytes");
        assert!(Text::parse("t", "line\nbreak", 1, 20).is_ok());
        assert!(Text::parse("t", "bell\u{7}", 1, 20).is_err());
        assert_eq!(
            Text::parse("t", "<script>'; DROP TABLE x;--", 1, 50).unwrap().as_str(),
            "<script>'; DROP TABLE x;--"
        );
    }
}
