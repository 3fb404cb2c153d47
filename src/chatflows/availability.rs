//! Availability: a chatflow's office hours in a time zone, how fast the team typically replies,
//! and the away message shown (with a request for the visitor's email) outside those hours.
//!
//! JSON shape, every field optional:
//! `{"time_zone": "Europe/Paris",
//!   "hours": {"monday": ["09:00-12:30", "13:30-17:00"], "friday": ["22:00-02:00"]},
//!   "typically_replies_in": "a_few_minutes",
//!   "away_message": "We are away. Leave your email and we will write back."}`
//!
//! Without `hours` the chatflow is always open; with `hours` it is open only in the listed
//! intervals (a day left out has none). An interval is local wall-clock time in `time_zone`
//! (an IANA name, `UTC` by default); `24:00` may end one, and one whose end is before its start
//! runs past midnight into the next day. Wall-clock times are resolved on each date, so
//! `09:00-17:00` stays 09:00 to 17:00 local across DST changes; a start inside a DST gap opens
//! at the first instant after the gap.

use jiff::Timestamp;
use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::{OffsetDateTime, UtcOffset};

use super::{ShapeError, from_value, require_object};

/// Longest away message, in characters.
pub const MAX_AWAY_MESSAGE_CHARS: usize = 500;
/// Most intervals on one weekday.
pub const MAX_INTERVALS_PER_DAY: usize = 12;
const DEFAULT_AWAY_MESSAGE: &str =
    "We are away right now. Leave your email and we will get back to you.";

/// A chatflow's parsed availability; the default is always open, in UTC.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Availability {
    #[serde(default)]
    pub time_zone: TimeZoneName,
    /// `None`: always open.
    #[serde(default)]
    pub hours: Option<WeeklyHours>,
    #[serde(default)]
    pub typically_replies_in: RepliesIn,
    #[serde(default)]
    pub away_message: AwayMessage,
}

/// Office hours for each weekday; a day left out has none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WeeklyHours {
    #[serde(default)]
    pub monday: Vec<Interval>,
    #[serde(default)]
    pub tuesday: Vec<Interval>,
    #[serde(default)]
    pub wednesday: Vec<Interval>,
    #[serde(default)]
    pub thursday: Vec<Interval>,
    #[serde(default)]
    pub friday: Vec<Interval>,
    #[serde(default)]
    pub saturday: Vec<Interval>,
    #[serde(default)]
    pub sunday: Vec<Interval>,
}

/// The reply-time promise the widget shows while open (HubSpot's choices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepliesIn {
    #[default]
    AFewMinutes,
    AnHour,
    AFewHours,
    ADay,
}

impl RepliesIn {
    /// The words after "typically replies in".
    pub fn phrase(self) -> &'static str {
        match self {
            RepliesIn::AFewMinutes => "a few minutes",
            RepliesIn::AnHour => "an hour",
            RepliesIn::AFewHours => "a few hours",
            RepliesIn::ADay => "a day",
        }
    }
}

/// What the widget shows now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AvailabilityStatus {
    Open {
        typically_replies_in: RepliesIn,
    },
    /// Show `message` and ask for the visitor's email.
    Away {
        message: String,
        /// When office hours next begin, in the chatflow's zone offset; `None` if never.
        #[serde(with = "time::serde::rfc3339::option")]
        next_open: Option<OffsetDateTime>,
    },
}

/// An IANA time zone name, checked against the bundled time zone database.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeZoneName {
    name: String,
    tz: TimeZone,
}

impl Default for TimeZoneName {
    fn default() -> Self {
        Self {
            name: "UTC".to_owned(),
            tz: TimeZone::UTC,
        }
    }
}

impl TimeZoneName {
    pub fn as_str(&self) -> &str {
        &self.name
    }
}

impl TryFrom<String> for TimeZoneName {
    type Error = String;
    fn try_from(name: String) -> Result<Self, String> {
        let trimmed = name.trim();
        let tz = TimeZone::get(trimmed).map_err(|_| {
            format!("unknown time zone '{trimmed}'; use an IANA name such as Europe/Paris")
        })?;
        // Store the database's spelling, so `europe/paris` comes back as `Europe/Paris`.
        let name = tz.iana_name().unwrap_or(trimmed).to_owned();
        Ok(Self { name, tz })
    }
}

impl Serialize for TimeZoneName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

impl<'de> Deserialize<'de> for TimeZoneName {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::try_from(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// Local wall-clock office hours on one day, `HH:MM-HH:MM`. The end may be `24:00`; an end
/// before the start runs into the next day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    /// Minutes after midnight, 0..1440.
    start: u16,
    /// Minutes after midnight, 0..=1440; before `start` means the next day.
    end: u16,
}

impl Interval {
    fn overnight(self) -> bool {
        self.end < self.start
    }
}

impl TryFrom<&str> for Interval {
    type Error = String;
    fn try_from(raw: &str) -> Result<Self, String> {
        let bad =
            || format!("'{raw}' is not an interval; write it as HH:MM-HH:MM, e.g. 09:00-17:30");
        let (from, to) = raw.trim().split_once('-').ok_or_else(bad)?;
        let start = clock(from.trim()).ok_or_else(bad)?;
        let end = clock(to.trim()).ok_or_else(bad)?;
        if start == 1440 {
            return Err(format!("'{raw}': an interval cannot start at 24:00"));
        }
        if start == end {
            return Err(format!("'{raw}': an interval cannot be empty"));
        }
        Ok(Self { start, end })
    }
}

/// `HH:MM` as minutes after midnight; `24:00` is 1440.
fn clock(s: &str) -> Option<u16> {
    let (h, m) = s.split_once(':')?;
    if h.len() != 2 || m.len() != 2 || !h.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (h, m): (u16, u16) = (h.parse().ok()?, m.parse().ok()?);
    match (h, m) {
        (24, 0) => Some(1440),
        (0..=23, 0..=59) => Some(h * 60 + m),
        _ => None,
    }
}

impl std::fmt::Display for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
        write!(f, "{}-{}", hm(self.start), hm(self.end))
    }
}

impl Serialize for Interval {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Interval {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::try_from(raw.as_str()).map_err(serde::de::Error::custom)
    }
}

/// The text shown outside office hours, 1..=500 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwayMessage(String);

impl Default for AwayMessage {
    fn default() -> Self {
        Self(DEFAULT_AWAY_MESSAGE.to_owned())
    }
}

impl AwayMessage {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Serialize for AwayMessage {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for AwayMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        let text = raw.trim();
        if text.is_empty() {
            return Err(serde::de::Error::custom("must not be empty"));
        }
        if text.chars().count() > MAX_AWAY_MESSAGE_CHARS {
            return Err(serde::de::Error::custom(format!(
                "at most {MAX_AWAY_MESSAGE_CHARS} characters"
            )));
        }
        Ok(Self(text.to_owned()))
    }
}

impl WeeklyHours {
    fn on(&self, day: Weekday) -> &[Interval] {
        match day {
            Weekday::Monday => &self.monday,
            Weekday::Tuesday => &self.tuesday,
            Weekday::Wednesday => &self.wednesday,
            Weekday::Thursday => &self.thursday,
            Weekday::Friday => &self.friday,
            Weekday::Saturday => &self.saturday,
            Weekday::Sunday => &self.sunday,
        }
    }

    fn days(&self) -> [(&'static str, &[Interval]); 7] {
        [
            ("monday", &self.monday),
            ("tuesday", &self.tuesday),
            ("wednesday", &self.wednesday),
            ("thursday", &self.thursday),
            ("friday", &self.friday),
            ("saturday", &self.saturday),
            ("sunday", &self.sunday),
        ]
    }
}

impl Availability {
    /// Parses the `availability` JSON of a chatflow; errors name `availability.<path>`.
    pub fn parse(value: &Value) -> Result<Self, ShapeError> {
        require_object("availability", value)?;
        let parsed: Self = from_value("availability", value)?;
        if let Some(hours) = &parsed.hours {
            for (day, intervals) in hours.days() {
                if intervals.len() > MAX_INTERVALS_PER_DAY {
                    return Err(ShapeError::new(
                        format!("availability.hours.{day}"),
                        format!("at most {MAX_INTERVALS_PER_DAY} intervals a day"),
                    ));
                }
            }
        }
        Ok(parsed)
    }

    /// The normalized JSON to store.
    pub fn to_stored(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Open or away at `now`, and when away, the next opening.
    pub fn status_at(&self, now: OffsetDateTime) -> AvailabilityStatus {
        let open = AvailabilityStatus::Open {
            typically_replies_in: self.typically_replies_in,
        };
        let Some(hours) = &self.hours else {
            return open;
        };
        // Out of the zone database's range (beyond year ±9999): nothing sensible to say.
        let Ok(now) = Timestamp::from_nanosecond(now.unix_timestamp_nanos()) else {
            return open;
        };
        let tz = &self.time_zone.tz;
        let today = now.to_zoned_datetime(tz.clone()).date();
        let Ok(yesterday) = today.yesterday() else {
            return open;
        };
        // Yesterday's overnight intervals may still be running.
        for day in [yesterday, today] {
            for &interval in hours.on(day.weekday()) {
                if let Some((start, end)) = span(tz, day, interval)
                    && start <= now
                    && now < end
                {
                    return open;
                }
            }
        }
        let mut next: Option<Timestamp> = None;
        let mut day = today;
        // A week and a day covers every weekday's intervals after `now`.
        for _ in 0..8 {
            for &interval in hours.on(day.weekday()) {
                if let Some((start, _)) = span(tz, day, interval)
                    && start > now
                    && next.is_none_or(|n| start < n)
                {
                    next = Some(start);
                }
            }
            match day.tomorrow() {
                Ok(d) => day = d,
                Err(_) => break,
            }
        }
        AvailabilityStatus::Away {
            message: self.away_message.as_str().to_owned(),
            next_open: next.and_then(|t| in_zone(tz, t)),
        }
    }
}

impl Availability {
    /// Seconds of `[start, end)` inside office hours (all of them without `hours`), for the
    /// office-hours variant of reports. Overlapping intervals of one day count once each.
    pub fn open_seconds_between(&self, start: OffsetDateTime, end: OffsetDateTime) -> i64 {
        let wall = (end - start).whole_seconds().max(0);
        let Some(hours) = &self.hours else {
            return wall;
        };
        let (Ok(s), Ok(e)) = (
            Timestamp::from_nanosecond(start.unix_timestamp_nanos()),
            Timestamp::from_nanosecond(end.unix_timestamp_nanos()),
        ) else {
            return wall;
        };
        if e <= s {
            return 0;
        }
        let tz = &self.time_zone.tz;
        let last = tz.to_datetime(e).date();
        // The day before `start`: its overnight intervals may still be running.
        let Ok(mut day) = tz.to_datetime(s).date().yesterday() else {
            return wall;
        };
        let mut nanos: i128 = 0;
        while day <= last {
            for &interval in hours.on(day.weekday()) {
                if let Some((open, close)) = span(tz, day, interval) {
                    let (lo, hi) = (open.max(s), close.min(e));
                    if lo < hi {
                        nanos += hi.as_nanosecond() - lo.as_nanosecond();
                    }
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        i64::try_from(nanos / 1_000_000_000).unwrap_or(i64::MAX)
    }
}

/// The instants an interval on `day` covers, resolving each wall-clock time on its own date.
fn span(tz: &TimeZone, day: Date, interval: Interval) -> Option<(Timestamp, Timestamp)> {
    let at = |date: Date, minutes: u16| -> Option<Timestamp> {
        let (date, minutes) = if minutes >= 1440 {
            (date.tomorrow().ok()?, minutes - 1440)
        } else {
            (date, minutes)
        };
        let h = i8::try_from(minutes / 60).ok()?;
        let m = i8::try_from(minutes % 60).ok()?;
        tz.to_ambiguous_timestamp(date.at(h, m, 0, 0))
            .compatible()
            .ok()
    };
    let start = at(day, interval.start)?;
    let end = if interval.overnight() {
        at(day.tomorrow().ok()?, interval.end)?
    } else {
        at(day, interval.end)?
    };
    Some((start, end))
}

fn in_zone(tz: &TimeZone, t: Timestamp) -> Option<OffsetDateTime> {
    let offset = tz.to_offset(t).seconds();
    let utc = OffsetDateTime::from_unix_timestamp(t.as_second()).ok()?;
    Some(utc.to_offset(UtcOffset::from_whole_seconds(offset).ok()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    fn away(next: Option<OffsetDateTime>) -> AvailabilityStatus {
        AvailabilityStatus::Away {
            message: "Back soon".to_owned(),
            next_open: next,
        }
    }

    const OPEN: AvailabilityStatus = AvailabilityStatus::Open {
        typically_replies_in: RepliesIn::AnHour,
    };

    fn paris(hours: Value) -> Availability {
        Availability::parse(&json!({
            "time_zone": "Europe/Paris",
            "hours": hours,
            "typically_replies_in": "an_hour",
            "away_message": "Back soon",
        }))
        .unwrap()
    }

    #[test]
    fn open_seconds_count_only_office_hours_across_days_and_overnight() {
        let a = paris(json!({"monday": ["09:00-12:00"], "tuesday": ["22:00-02:00"]}));
        // Monday 2026-11-23 08:00 to 10:30 Paris (UTC+1): 90 minutes open.
        let s = datetime!(2026-11-23 07:00 UTC);
        assert_eq!(
            a.open_seconds_between(s, datetime!(2026-11-23 09:30 UTC)),
            90 * 60
        );
        // Monday 11:00 to Wednesday 01:00 Paris: 1 h Monday + 3 h Tuesday night.
        let from = datetime!(2026-11-23 10:00 UTC);
        let to = datetime!(2026-11-25 00:00 UTC);
        assert_eq!(a.open_seconds_between(from, to), 4 * 3600);
        assert_eq!(
            Availability::default().open_seconds_between(from, to),
            38 * 3600
        );
        assert_eq!(a.open_seconds_between(to, from), 0);
    }

    #[test]
    fn office_hours_follow_local_time_across_dst() {
        // Paris moves from +01:00 to +02:00 at 02:00 on Sunday 2026-03-29.
        let week = paris(json!({
            "monday": ["09:00-17:00"], "tuesday": ["09:00-17:00"], "wednesday": ["09:00-17:00"],
            "thursday": ["09:00-17:00"], "friday": ["09:00-12:00", "13:00-17:00", "22:00-02:00"],
            "sunday": ["01:00-04:00"],
        }));
        let cases = [
            // Friday before the change, +01:00.
            (datetime!(2026-03-27 08:30 UTC), OPEN),
            (
                datetime!(2026-03-27 11:30 UTC),
                away(Some(datetime!(2026-03-27 13:00 +01:00))),
            ),
            (
                datetime!(2026-03-27 07:59 UTC),
                away(Some(datetime!(2026-03-27 09:00 +01:00))),
            ),
            // Overnight Friday interval still running early Saturday, then over.
            (datetime!(2026-03-27 23:30 UTC), OPEN),
            (datetime!(2026-03-28 00:59 UTC), OPEN),
            (
                datetime!(2026-03-28 01:00 UTC),
                away(Some(datetime!(2026-03-29 01:00 +01:00))),
            ),
            // The change day: 01:00-04:00 local is two real hours; 02:30 local never happens.
            (datetime!(2026-03-29 00:30 UTC), OPEN),
            (datetime!(2026-03-29 01:30 UTC), OPEN),
            (
                datetime!(2026-03-29 02:00 UTC),
                away(Some(datetime!(2026-03-30 09:00 +02:00))),
            ),
            // Saturday evening before the change: Monday 09:00 is already summer time.
            (
                datetime!(2026-03-28 18:00 UTC),
                away(Some(datetime!(2026-03-29 01:00 +01:00))),
            ),
            (
                datetime!(2026-03-30 06:59 UTC),
                away(Some(datetime!(2026-03-30 09:00 +02:00))),
            ),
            (datetime!(2026-03-30 07:00 UTC), OPEN),
            (datetime!(2026-03-30 14:59 UTC), OPEN),
            (
                datetime!(2026-03-30 15:00 UTC),
                away(Some(datetime!(2026-03-31 09:00 +02:00))),
            ),
        ];
        for (now, expected) in cases {
            assert_eq!(week.status_at(now), expected, "at {now}");
        }
    }

    #[test]
    fn a_start_inside_the_dst_gap_opens_after_it() {
        let gap = paris(json!({"sunday": ["02:30-05:00"]}));
        // 02:30 does not exist on 2026-03-29 in Paris; it opens at 03:00 +02:00 (01:00 UTC)
        // and, resolved like 02:30 +01:00 would be, exactly at the end of the gap.
        assert_eq!(
            gap.status_at(datetime!(2026-03-28 12:00 UTC)),
            away(Some(datetime!(2026-03-29 03:30 +02:00)))
        );
        assert_eq!(gap.status_at(datetime!(2026-03-29 01:45 UTC)), OPEN);
    }

    #[test]
    fn autumn_change_day_keeps_wall_clock_hours() {
        // New York falls back from -04:00 to -05:00 at 02:00 on Sunday 2026-11-01.
        let ny = Availability::parse(&json!({
            "time_zone": "America/New_York",
            "hours": {"sunday": ["00:00-24:00"], "monday": ["09:00-17:00"]},
        }))
        .unwrap();
        // 23:30 local on Sunday, -05:00: still open (the day is 25 hours long).
        assert!(matches!(
            ny.status_at(datetime!(2026-11-02 04:30 UTC)),
            AvailabilityStatus::Open { .. }
        ));
        match ny.status_at(datetime!(2026-11-02 05:00 UTC)) {
            AvailabilityStatus::Away { next_open, .. } => {
                assert_eq!(next_open, Some(datetime!(2026-11-02 09:00 -05:00)));
            }
            other => panic!("expected away, got {other:?}"),
        }
    }

    #[test]
    fn no_hours_means_always_open_and_empty_hours_never() {
        let always = Availability::parse(&json!({})).unwrap();
        assert_eq!(
            always.status_at(datetime!(2026-01-01 03:00 UTC)),
            AvailabilityStatus::Open {
                typically_replies_in: RepliesIn::AFewMinutes
            }
        );
        let never = paris(json!({"monday": []}));
        assert_eq!(never.status_at(datetime!(2026-01-05 10:00 UTC)), away(None));
        let whole_day = paris(json!({"thursday": ["00:00-24:00"]}));
        assert_eq!(whole_day.status_at(datetime!(2026-01-01 22:59 UTC)), OPEN);
        assert_eq!(
            whole_day.status_at(datetime!(2026-01-01 23:00 UTC)),
            away(Some(datetime!(2026-01-08 00:00 +01:00)))
        );
    }

    #[test]
    fn bad_values_name_the_exact_field() {
        let cases = [
            (
                json!({"time_zone": "Mars/Olympus"}),
                "availability.time_zone",
            ),
            (
                json!({"hours": {"monday": ["9-5"]}}),
                "availability.hours.monday[0]",
            ),
            (
                json!({"hours": {"monday": ["09:00-17:00", "10:00-10:00"]}}),
                "availability.hours.monday[1]",
            ),
            (
                json!({"hours": {"friday": ["24:00-02:00"]}}),
                "availability.hours.friday[0]",
            ),
            (
                json!({"hours": {"sunday": ["09:60-10:00"]}}),
                "availability.hours.sunday[0]",
            ),
            (
                json!({"hours": {"funday": []}}),
                "availability.hours.funday",
            ),
            (
                json!({"hours": {"monday": "09:00-17:00"}}),
                "availability.hours.monday",
            ),
            (
                json!({"typically_replies_in": "a_week"}),
                "availability.typically_replies_in",
            ),
            (json!({"away_message": " "}), "availability.away_message"),
            (
                json!({"away_message": "x".repeat(501)}),
                "availability.away_message",
            ),
            (json!({"open": true}), "availability.open"),
            (json!([]), "availability"),
        ];
        for (input, field) in cases {
            let e = Availability::parse(&input).unwrap_err();
            assert_eq!(e.field, field, "{input}: {e}");
        }
    }

    #[test]
    fn stored_form_is_normalized_and_round_trips() {
        let parsed = Availability::parse(&json!({
            "time_zone": "europe/paris",
            "hours": {"monday": [" 09:00 - 17:00 "]},
        }))
        .unwrap();
        let stored = parsed.to_stored();
        assert_eq!(stored["time_zone"], "Europe/Paris");
        assert_eq!(stored["hours"]["monday"], json!(["09:00-17:00"]));
        assert_eq!(stored["hours"]["sunday"], json!([]));
        assert_eq!(stored["typically_replies_in"], "a_few_minutes");
        assert_eq!(Availability::parse(&stored).unwrap(), parsed);
    }

    #[test]
    fn status_serializes_for_the_widget() {
        assert_eq!(
            serde_json::to_value(away(Some(datetime!(2026-03-30 09:00 +02:00)))).unwrap(),
            json!({"status": "away", "message": "Back soon", "next_open": "2026-03-30T09:00:00+02:00"})
        );
        assert_eq!(
            serde_json::to_value(OPEN).unwrap(),
            json!({"status": "open", "typically_replies_in": "an_hour"})
        );
        assert_eq!(RepliesIn::AFewHours.phrase(), "a few hours");
    }
}
