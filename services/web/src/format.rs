//! Dates and numbers as the guide shows them: Malaysian time (UTC+8, no daylight saving),
//! day-month-year.

use chrono::{DateTime, FixedOffset, Utc};

fn malaysia() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"))
}

/// `31-12-2026`.
pub fn date(at: DateTime<Utc>) -> String {
    at.with_timezone(&malaysia()).format("%d-%m-%Y").to_string()
}

/// `31-12-2026 17:05`.
pub fn date_time(at: DateTime<Utc>) -> String {
    at.with_timezone(&malaysia()).format("%d-%m-%Y %H:%M").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_malaysian_day_month_year() {
        let late_evening_utc: DateTime<Utc> = "2026-12-31T17:05:00Z".parse().unwrap();
        assert_eq!(date(late_evening_utc), "01-01-2027");
        assert_eq!(date_time(late_evening_utc), "01-01-2027 01:05");
    }
}
