//! WhatsApp's quiet hours: a phone that buzzes at midnight about a complaint helps nobody.
//! Held messages go out when the hours end; e-mail goes at any time.

use std::time::Duration;

use chrono::{DateTime, FixedOffset, NaiveTime, Timelike, Utc};

/// Malaysian time: UTC+8 all year (no daylight saving).
fn malaysia() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")
}

/// A window of Malaysian wall-clock time, `start` inclusive to `end` exclusive; it may wrap
/// midnight (22:00-07:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl std::str::FromStr for QuietHours {
    type Err = String;

    /// `HH:MM-HH:MM`, Malaysian time.
    fn from_str(text: &str) -> Result<Self, String> {
        let (start, end) = text.split_once('-').ok_or("HH:MM-HH:MM, e.g. 22:00-07:00")?;
        let time = |t: &str| NaiveTime::parse_from_str(t.trim(), "%H:%M").map_err(|e| format!("`{}`: {e}", t.trim()));
        let (start, end) = (time(start)?, time(end)?);
        if start == end {
            return Err("start and end are the same time".into());
        }
        Ok(Self { start, end })
    }
}

impl QuietHours {
    /// How long until the quiet hours end, when `now` falls in them; None otherwise.
    pub fn remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        let local = now.with_timezone(&malaysia());
        let time = local.time().with_nanosecond(0).unwrap_or(local.time());
        let inside = if self.start < self.end {
            self.start <= time && time < self.end
        } else {
            time >= self.start || time < self.end
        };
        if !inside {
            return None;
        }
        let mut end = local.date_naive().and_time(self.end);
        if end <= local.naive_local() {
            end += chrono::Duration::days(1);
        }
        (end - local.naive_local()).to_std().ok()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn the_default_window_wraps_midnight_in_malaysian_time() {
        let quiet: QuietHours = "22:00-07:00".parse().unwrap();
        // 14:30 UTC is 22:30 in Kota Bharu: held until 07:00, 8.5 hours.
        assert_eq!(quiet.remaining(at("2026-12-03T14:30:00Z")), Some(Duration::from_secs(8 * 3600 + 1800)));
        // 22:59 UTC is 06:59 the next morning: one minute left.
        assert_eq!(quiet.remaining(at("2026-12-03T22:59:00Z")), Some(Duration::from_secs(60)));
        assert_eq!(quiet.remaining(at("2026-12-03T23:00:00Z")), None, "07:00 is the end");
        assert_eq!(quiet.remaining(at("2026-12-04T01:00:00Z")), None, "09:00");
        assert_eq!(quiet.remaining(at("2026-12-03T14:00:00Z")), Some(Duration::from_secs(9 * 3600)), "22:00 is in");
        let lunch: QuietHours = "12:00-14:00".parse().unwrap();
        assert_eq!(lunch.remaining(at("2026-12-03T05:00:00Z")), Some(Duration::from_secs(3600)));
        for bad in ["22:00", "25:00-07:00", "07:00-07:00", ""] {
            assert!(bad.parse::<QuietHours>().is_err(), "{bad}");
        }
    }

    proptest! {
        /// Held messages wait exactly until the window ends: never past it, never out of it.
        #[test]
        fn a_held_message_waits_until_the_end_and_no_longer(
            start in 0u32..24 * 60, end in 0u32..24 * 60, seconds in 0i64..400 * 24 * 3600,
        ) {
            prop_assume!(start != end);
            let hm = |m: u32| NaiveTime::from_hms_opt(m / 60, m % 60, 0).unwrap();
            let quiet = QuietHours { start: hm(start), end: hm(end) };
            let now = at("2026-01-01T00:00:00Z") + chrono::Duration::seconds(seconds);
            match quiet.remaining(now) {
                Some(wait) => {
                    prop_assert!(wait > Duration::ZERO && wait <= Duration::from_secs(24 * 3600));
                    let then = now + chrono::Duration::from_std(wait).unwrap();
                    prop_assert_eq!(quiet.remaining(then), None, "still quiet at the end");
                    let before = then - chrono::Duration::seconds(1);
                    prop_assert!(quiet.remaining(before).is_some(), "let out early");
                    prop_assert_eq!(then.with_timezone(&malaysia()).time(), quiet.end);
                }
                None => {
                    let local = now.with_timezone(&malaysia()).time();
                    let inside = if quiet.start < quiet.end {
                        quiet.start <= local && local < quiet.end
                    } else {
                        local >= quiet.start || local < quiet.end
                    };
                    prop_assert!(!inside);
                }
            }
        }
    }
}
