//! Checks on query parameters that parse but that the database cannot hold or that no
//! honest client sends: answered as 400 problems at the edge instead of 500s from PostgreSQL.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use ehelpdesk_shared::http::ApiError;

/// Years a date in a query may name. The service began in the 2020s, and PostgreSQL and
/// chrono disagree far outside this range (chrono reads year -200000, PostgreSQL cannot).
pub const YEARS: std::ops::RangeInclusive<i32> = 2000..=9999;

/// A text filter without control characters (NUL cannot reach PostgreSQL at all, and the
/// others are never in a category, PTJ, staff id or search words).
pub fn plain_text(name: &'static str, value: Option<String>) -> Result<Option<String>, ApiError> {
    match value {
        Some(text) if text.chars().any(char::is_control) => Err(ApiError::BadRequest {
            code: "control_characters",
            detail: format!(
                "Aksara kawalan tidak dibenarkan dalam `{name}` / control characters are not allowed in `{name}`"
            ),
        }),
        other => Ok(other),
    }
}

fn year_error(name: &'static str) -> ApiError {
    ApiError::BadRequest {
        code: "invalid_date",
        detail: format!(
            "Tarikh `{name}` mesti dalam tahun {}-{} / `{name}` must fall in the years {} to {}",
            YEARS.start(),
            YEARS.end(),
            YEARS.start(),
            YEARS.end()
        ),
    }
}

pub fn is_sane(at: &DateTime<Utc>) -> bool {
    YEARS.contains(&at.year())
}

/// A time in a query, within [`YEARS`].
pub fn time(name: &'static str, value: Option<DateTime<Utc>>) -> Result<Option<DateTime<Utc>>, ApiError> {
    match value {
        Some(at) if !is_sane(&at) => Err(year_error(name)),
        other => Ok(other),
    }
}

/// A date in a query, within [`YEARS`].
pub fn date(name: &'static str, value: Option<NaiveDate>) -> Result<Option<NaiveDate>, ApiError> {
    match value {
        Some(day) if !YEARS.contains(&day.year()) => Err(year_error(name)),
        other => Ok(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_refused_and_other_text_passes() {
        assert!(plain_text("q", Some("a\0b".into())).is_err());
        assert!(plain_text("q", Some("\u{1b}[31m".into())).is_err());
        assert!(plain_text("q", Some("x\u{7f}".into())).is_err());
        assert_eq!(plain_text("q", Some("Baucar BV-1 'ok' é".into())).unwrap().as_deref(), Some("Baucar BV-1 'ok' é"));
        assert_eq!(plain_text("q", None).unwrap(), None);
    }

    #[test]
    fn dates_outside_the_years_are_refused() {
        let at = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        assert!(time("from", Some(at("-200000-01-01T00:00:00Z"))).is_err());
        assert!(time("from", Some(at("1999-12-31T23:59:59Z"))).is_err());
        assert!(time("from", Some(at("2000-01-01T00:00:00Z"))).is_ok());
        assert!(time("from", Some(at("9999-12-31T23:59:59Z"))).is_ok());
        assert!(date("today", "-200000-01-01".parse().ok()).is_err());
        assert!(date("today", "2026-03-01".parse().ok()).is_ok());
    }
}
