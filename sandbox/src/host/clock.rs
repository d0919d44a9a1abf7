//! Dates and durations written the way the Functions host writes them, and .NET `TimeSpan` text
//! (`host.json` `functionTimeout`, the `retry` intervals of `function.json`). The host is .NET: its
//! "o" format always has seven fractional digits (`Timer fired at 2026-11-28T11:00:00.0000000+00:00`),
//! Newtonsoft trims them (`ScheduleStatus`, `sys.UtcNow`), and its console shows milliseconds.
//! Everything here is UTC, as on Linux plans.

use std::time::Duration;

use time::{OffsetDateTime, UtcOffset};

/// `DateTime.MinValue` as the host writes a `ScheduleStatus.Last` that never happened.
pub(crate) const NEVER: &str = "0001-01-01T00:00:00+00:00";

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

fn seconds_part(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Seven fractional digits, trailing zeros trimmed (Newtonsoft's `FFFFFFF`); empty for whole seconds.
fn trimmed_fraction(t: OffsetDateTime) -> String {
    let ticks = t.nanosecond() / 100;
    if ticks == 0 {
        String::new()
    } else {
        format!(".{ticks:07}").trim_end_matches('0').to_owned()
    }
}

/// .NET "o" of a local time on a UTC machine: `2026-11-28T11:00:00.0000000+00:00`.
pub(crate) fn round_trip(t: OffsetDateTime) -> String {
    format!("{}.{:07}+00:00", seconds_part(t), t.nanosecond() / 100)
}

/// A local `DateTime` as Newtonsoft writes it: `2026-11-28T11:00:00.0012345+00:00`.
pub(crate) fn json_local(t: OffsetDateTime) -> String {
    format!("{}{}+00:00", seconds_part(t), trimmed_fraction(t))
}

/// A UTC `DateTime` as Newtonsoft writes it: `2026-11-28T11:02:13.4412783Z`.
pub(crate) fn json_utc(t: OffsetDateTime) -> String {
    format!("{}{}Z", seconds_part(t), trimmed_fraction(t))
}

/// The console prefix's time: `2026-11-28T11:00:00.123Z`.
pub(crate) fn console(t: OffsetDateTime) -> String {
    format!("{}.{:03}Z", seconds_part(t), t.millisecond())
}

/// Parses .NET `TimeSpan` text: `[-][d.]hh:mm[:ss[.fffffff]]` or a whole number of days.
/// Negative spans are refused (no setting here takes one, except `functionTimeout: -1`, handled by
/// its caller).
pub(crate) fn parse_timespan(text: &str) -> Option<Duration> {
    let text = text.trim();
    if let Ok(days) = text.parse::<u64>() {
        return Some(Duration::from_secs(days.checked_mul(86_400)?));
    }
    let (days, clock) = match text.split_once('.') {
        Some((d, rest)) if !d.contains(':') => (d.parse::<u64>().ok()?, rest),
        _ => (0, text),
    };
    let mut parts = clock.split(':');
    let hours: u64 = parts.next()?.parse().ok()?;
    let minutes: u64 = parts.next()?.parse().ok()?;
    let (seconds, nanos) = match parts.next() {
        None => (0, 0),
        Some(sec) => {
            let (whole, fraction) = sec.split_once('.').unwrap_or((sec, ""));
            if fraction.len() > 7 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let nanos = format!("{fraction:0<9}").parse::<u32>().ok()?;
            (whole.parse::<u64>().ok()?, nanos)
        }
    };
    if parts.next().is_some() || hours > 23 || minutes > 59 || seconds > 59 {
        return None;
    }
    let secs = days * 86_400 + hours * 3600 + minutes * 60 + seconds;
    Some(Duration::new(secs, nanos))
}

/// `TimeSpan.ToString()`: `00:30:00`, `1.02:00:00`, `00:00:00.5000000`.
pub(crate) fn format_timespan(d: Duration) -> String {
    let secs = d.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let mut text = if days > 0 {
        format!("{days}.")
    } else {
        String::new()
    };
    text.push_str(&format!(
        "{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    ));
    if d.subsec_nanos() > 0 {
        text.push_str(&format!(".{:07}", d.subsec_nanos() / 100));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn dates_are_written_like_the_host() {
        let t = datetime!(2026-11-28 11:00:00.0012345 UTC);
        assert_eq!(round_trip(t), "2026-11-28T11:00:00.0012345+00:00");
        assert_eq!(json_local(t), "2026-11-28T11:00:00.0012345+00:00");
        assert_eq!(json_utc(t), "2026-11-28T11:00:00.0012345Z");
        assert_eq!(console(t), "2026-11-28T11:00:00.001Z");
        let whole = datetime!(2026-11-28 11:00 UTC);
        assert_eq!(round_trip(whole), "2026-11-28T11:00:00.0000000+00:00");
        assert_eq!(json_local(whole), "2026-11-28T11:00:00+00:00");
        assert_eq!(
            json_utc(datetime!(2024-05-14 15:14:15.128919 UTC)),
            "2024-05-14T15:14:15.128919Z"
        );
    }

    #[test]
    fn timespans_parse_and_print_like_dotnet() {
        assert_eq!(parse_timespan("00:01:00"), Some(Duration::from_secs(60)));
        assert_eq!(parse_timespan("00:05"), Some(Duration::from_secs(300)));
        assert_eq!(
            parse_timespan("1.02:03:04.5"),
            Some(Duration::new(93_784, 500_000_000))
        );
        assert_eq!(
            parse_timespan("00:00:00.25"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_timespan("2"), Some(Duration::from_secs(172_800)));
        for bad in ["", "abc", "00:60:00", "24:00:00", "-00:01:00", "1:2:3:4"] {
            assert_eq!(parse_timespan(bad), None, "{bad}");
        }
        assert_eq!(format_timespan(Duration::from_secs(1800)), "00:30:00");
        assert_eq!(format_timespan(Duration::from_secs(93_600)), "1.02:00:00");
        assert_eq!(
            format_timespan(Duration::from_millis(500)),
            "00:00:00.5000000"
        );
    }
}
