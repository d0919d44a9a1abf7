//! Timer schedules: NCRONTAB expressions with six fields `{second} {minute} {hour} {day} {month}
//! {day-of-week}` (five, without seconds, also accepted; Sunday = 0) evaluated in UTC with `croner`,
//! or a `TimeSpan` interval (`"00:05:00"`) as the host also accepts outside Consumption plans.
//!
//! NCrontab requires BOTH the day of month and the day of week to match when both are restricted
//! (unlike Vixie cron's "either"), so croner runs with `dom_and_dow`.

use std::cmp::Ordering;
use std::time::Duration;

use croner::errors::CronError;
use croner::parser::{CronParser, Seconds, Year};
use croner::{CivilDate, CivilDateTime, CivilTime, Cron, CronDateTime, Resolution, Weekday};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time};

/// A parsed `schedule`.
#[derive(Debug, Clone)]
pub(crate) enum Schedule {
    Cron(Box<Cron>),
    Every(Duration),
}

impl Schedule {
    /// Parses a schedule (after `%AppSetting%` substitution).
    pub(crate) fn parse(text: &str) -> Result<Schedule, String> {
        let text = text.trim();
        if text.contains(':') {
            return match super::clock::parse_timespan(text) {
                Some(d) if !d.is_zero() => Ok(Schedule::Every(d)),
                _ => Err(format!(
                    "'{text}' is neither an NCRONTAB expression nor a TimeSpan"
                )),
            };
        }
        let fields = text.split_whitespace().count();
        if fields != 5 && fields != 6 {
            return Err(format!(
                "'{text}' has {fields} fields; NCRONTAB takes 6 ({{second}} {{minute}} {{hour}} {{day}} {{month}} {{day-of-week}}) or 5 (without seconds)"
            ));
        }
        CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .dom_and_dow(true)
            .build()
            .parse(text)
            .map(|cron| Schedule::Cron(Box::new(cron)))
            .map_err(|e| format!("'{text}' is not a valid NCRONTAB expression: {e}"))
    }

    /// The first occurrence strictly after `t`.
    pub(crate) fn next_after(&self, t: OffsetDateTime) -> Option<OffsetDateTime> {
        match self {
            Schedule::Every(d) => t.checked_add((*d).try_into().ok()?),
            Schedule::Cron(cron) => {
                let whole = t.replace_nanosecond(0).ok()?;
                cron.find_next_occurrence(&Utc(whole), false)
                    .ok()
                    .map(|u| u.0)
            }
        }
    }

    /// The host's default for `useMonitor`: on when occurrences are at least a minute apart.
    pub(crate) fn default_use_monitor(&self, from: OffsetDateTime) -> bool {
        let Some(first) = self.next_after(from) else {
            return false;
        };
        self.next_after(first)
            .is_some_and(|second| second - first >= time::Duration::MINUTE)
    }
}

/// A UTC instant croner can search over.
#[derive(Debug, Clone, Copy)]
struct Utc(OffsetDateTime);

impl CronDateTime for Utc {
    fn to_civil(&self) -> CivilDateTime {
        let t = self.0;
        CivilDateTime::new(
            CivilDate::from_parts_unchecked(t.year(), u8::from(t.month()).into(), t.day().into()),
            CivilTime::from_parts_unchecked(t.hour().into(), t.minute().into(), t.second().into()),
        )
    }

    fn civil_weekday(&self) -> Weekday {
        Weekday::from_days_from_sunday(self.0.weekday().number_days_from_sunday().into())
    }

    fn resolve_civil(&self, civil: CivilDateTime) -> Result<Resolution<Self>, CronError> {
        let month = u8::try_from(civil.month())
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or(CronError::InvalidDate)?;
        let day = u8::try_from(civil.day()).map_err(|_| CronError::InvalidDate)?;
        let date = Date::from_calendar_date(civil.year(), month, day)
            .map_err(|_| CronError::InvalidDate)?;
        let part = |v: u32| u8::try_from(v).map_err(|_| CronError::InvalidTime);
        let time = Time::from_hms(
            part(civil.hour())?,
            part(civil.minute())?,
            part(civil.second())?,
        )
        .map_err(|_| CronError::InvalidTime)?;
        Ok(Resolution::Single(Utc(
            PrimitiveDateTime::new(date, time).assume_utc()
        )))
    }

    fn checked_add_seconds(&self, seconds: i64) -> Option<Self> {
        self.0
            .checked_add(time::Duration::seconds(seconds))
            .map(Utc)
    }

    fn cmp_instant(&self, other: &Self) -> Ordering {
        self.0.cmp(&other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn next(schedule: &str, after: OffsetDateTime) -> OffsetDateTime {
        Schedule::parse(schedule)
            .unwrap()
            .next_after(after)
            .unwrap()
    }

    #[test]
    fn six_and_five_fields_in_utc() {
        let t = datetime!(2026-11-28 10:59:59.5 UTC);
        assert_eq!(next("0 0 * * * *", t), datetime!(2026-11-28 11:00 UTC));
        assert_eq!(next("0 * * * *", t), datetime!(2026-11-28 11:00 UTC));
        assert_eq!(next("*/1 * * * * *", t), datetime!(2026-11-28 11:00 UTC));
        assert_eq!(
            next("0 30 9 * * 1-5", t),
            datetime!(2026-11-30 09:30 UTC),
            "2026-11-28 is a Saturday"
        );
        // Sunday = 0.
        assert_eq!(next("0 0 0 * * 0", t), datetime!(2026-11-29 00:00 UTC));
        // Day of month AND day of week (NCrontab), not either.
        assert_eq!(next("0 0 0 13 * 5", t), datetime!(2027-08-13 00:00 UTC));
        // Strictly after.
        let at = datetime!(2026-11-28 11:00 UTC);
        assert_eq!(next("0 0 * * * *", at), datetime!(2026-11-28 12:00 UTC));
        assert_eq!(next("00:05:00", at), datetime!(2026-11-28 11:05 UTC));
    }

    #[test]
    fn bad_schedules_are_explained() {
        let err = Schedule::parse("0 0 * * * * 2026").unwrap_err();
        assert!(err.contains("has 7 fields"), "{err}");
        let err = Schedule::parse("0 61 * * * *").unwrap_err();
        assert!(err.contains("not a valid NCRONTAB expression"), "{err}");
    }

    #[test]
    fn use_monitor_defaults_on_for_a_minute_or_more() {
        let t = datetime!(2026-11-28 10:00 UTC);
        assert!(
            Schedule::parse("0 0 * * * *")
                .unwrap()
                .default_use_monitor(t)
        );
        assert!(
            !Schedule::parse("*/1 * * * * *")
                .unwrap()
                .default_use_monitor(t)
        );
    }
}
