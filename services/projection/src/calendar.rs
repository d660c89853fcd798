//! Working days: the state's week (Kelantan rests on Friday and Saturday) and its public
//! holidays. Pure code; the projection stores the result in the `calendar` table so that
//! aging in working days is a subtraction of two indexes.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// The weekend days of the working week.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkingWeek {
    pub weekend: Vec<Weekday>,
}

impl WorkingWeek {
    /// Kelantan: Friday and Saturday off, Sunday to Thursday at work.
    pub fn kelantan() -> Self {
        Self { weekend: vec![Weekday::Fri, Weekday::Sat] }
    }

    /// `"fri,sat"` or `"sat,sun"`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let weekend = raw
            .split(',')
            .map(str::trim)
            .filter(|d| !d.is_empty())
            .map(|d| d.parse::<Weekday>().map_err(|_| format!("`{d}` is not a weekday (mon, tue, ... sun)")))
            .collect::<Result<Vec<_>, _>>()?;
        if weekend.len() >= 7 {
            return Err("a week needs at least one working day".into());
        }
        Ok(Self { weekend })
    }

    pub fn is_weekend(&self, day: NaiveDate) -> bool {
        self.weekend.contains(&day.weekday())
    }
}

#[derive(Debug, Clone, Deserialize)]
struct HolidayFile {
    holidays: Vec<Holiday>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Holiday {
    pub date: NaiveDate,
    pub name: String,
}

/// The holiday file shipped with the service (services/projection/data/).
pub const KELANTAN_HOLIDAYS: &str = include_str!("../data/holidays-kelantan.json");

pub fn parse_holidays(json: &str) -> Result<Vec<Holiday>, serde_json::Error> {
    serde_json::from_str::<HolidayFile>(json).map(|f| f.holidays)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarDay {
    pub day: NaiveDate,
    pub is_working: bool,
    pub holiday: Option<String>,
    /// Working days from the calendar's first day up to and including this one.
    pub working_index: i32,
}

/// Every day from `from` to `to` inclusive.
pub fn calendar(from: NaiveDate, to: NaiveDate, week: &WorkingWeek, holidays: &[Holiday]) -> Vec<CalendarDay> {
    let by_date: BTreeMap<NaiveDate, &str> = holidays.iter().map(|h| (h.date, h.name.as_str())).collect();
    let mut index = 0;
    from.iter_days()
        .take_while(|d| *d <= to)
        .map(|day| {
            let holiday = by_date.get(&day).map(|n| n.to_string());
            let is_working = !week.is_weekend(day) && holiday.is_none();
            if is_working {
                index += 1;
            }
            CalendarDay { day, is_working, holiday, working_index: index }
        })
        .collect()
}

/// The calendar as an index in memory, for aging list rows without joining the calendar
/// table three times per row. Built from the same settings and range as that table.
#[derive(Debug, Clone)]
pub struct WorkingDays {
    first: NaiveDate,
    working_index: Vec<i32>,
}

impl WorkingDays {
    pub fn new(from: NaiveDate, to: NaiveDate, week: &WorkingWeek, holidays: &[Holiday]) -> Self {
        let days = calendar(from, to, week, holidays);
        Self { first: from, working_index: days.iter().map(|d| d.working_index).collect() }
    }

    fn index(&self, day: NaiveDate) -> Option<i32> {
        let offset = usize::try_from((day - self.first).num_days()).ok()?;
        self.working_index.get(offset).copied()
    }

    /// Working days after `start` up to and including `end`, as the SQL reports count them:
    /// negative if `end` is earlier, 0 when either day is outside the calendar.
    pub fn between(&self, start: NaiveDate, end: NaiveDate) -> i32 {
        match (self.index(start), self.index(end)) {
            (Some(s), Some(e)) => e - s,
            _ => 0,
        }
    }
}

/// Working days after `start` up to and including `end` (0 when `end <= start`): a
/// complaint logged on Thursday is 1 working day old on Sunday in Kelantan.
pub fn working_days_between(start: NaiveDate, end: NaiveDate, week: &WorkingWeek, holidays: &[Holiday]) -> i64 {
    if end <= start {
        return 0;
    }
    let days = calendar(start, end, week, holidays);
    let first = days.first().map_or(0, |d| d.working_index);
    let last = days.last().map_or(0, |d| d.working_index);
    i64::from(last - first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn kelantan_weekend_is_friday_and_saturday() {
        let week = WorkingWeek::kelantan();
        // 2026-11-19 is a Thursday.
        assert!(!week.is_weekend(d("2026-11-19")));
        assert!(week.is_weekend(d("2026-11-20")));
        assert!(week.is_weekend(d("2026-11-21")));
        assert!(!week.is_weekend(d("2026-11-22")));
        assert_eq!(working_days_between(d("2026-11-19"), d("2026-11-22"), &week, &[]), 1);
        assert_eq!(working_days_between(d("2026-11-19"), d("2026-11-26"), &week, &[]), 5);
        assert_eq!(working_days_between(d("2026-11-22"), d("2026-11-22"), &week, &[]), 0);
        assert_eq!(working_days_between(d("2026-11-22"), d("2026-11-19"), &week, &[]), 0);
    }

    #[test]
    fn the_index_in_memory_counts_as_the_calendar_does() {
        let week = WorkingWeek::kelantan();
        let holidays = vec![Holiday { date: d("2026-11-23"), name: "Cuti".into() }];
        let index = WorkingDays::new(d("2026-01-01"), d("2026-12-31"), &week, &holidays);
        for (start, end) in [("2026-11-19", "2026-11-26"), ("2026-11-19", "2026-11-22"), ("2026-02-01", "2026-11-30")] {
            assert_eq!(
                i64::from(index.between(d(start), d(end))),
                working_days_between(d(start), d(end), &week, &holidays),
                "{start}..{end}"
            );
        }
        assert_eq!(index.between(d("2026-11-26"), d("2026-11-19")), -4);
        assert_eq!(index.between(d("2019-12-31"), d("2026-11-19")), 0, "outside the calendar");
    }

    #[test]
    fn holidays_are_not_working_days() {
        let week = WorkingWeek::kelantan();
        let holidays = vec![Holiday { date: d("2026-11-23"), name: "Cuti".into() }];
        // Thursday to next Thursday: Sun, Mon(holiday), Tue, Wed, Thu = 4.
        assert_eq!(working_days_between(d("2026-11-19"), d("2026-11-26"), &week, &holidays), 4);
        let days = calendar(d("2026-11-22"), d("2026-11-23"), &week, &holidays);
        assert_eq!(days[1].holiday.as_deref(), Some("Cuti"));
        assert!(!days[1].is_working);
    }

    #[test]
    fn weeks_parse_and_the_shipped_holiday_file_reads() {
        assert_eq!(WorkingWeek::parse("fri, sat").unwrap(), WorkingWeek::kelantan());
        assert_eq!(WorkingWeek::parse("sat,sun").unwrap().weekend, vec![Weekday::Sat, Weekday::Sun]);
        assert!(WorkingWeek::parse("fri,funday").is_err());
        let holidays = parse_holidays(KELANTAN_HOLIDAYS).unwrap();
        assert!(holidays.iter().any(|h| h.date == d("2026-08-31")));
        assert!(holidays.len() > 30);
    }
}
