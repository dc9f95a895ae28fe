//! When a schedule fires: the local days it fires on, the instant of its slot on such a day in
//! its time zone, the latest slot at or before an instant, and the durations of task due dates.
//! Pure: no storage, no clock.

use chrono::{DateTime, Datelike, Days, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use super::model::{Every, ScheduleTrigger, Weekday};

/// A slot of a schedule: its instant, its key (the local day, one slot a day at most) and the
/// occasion of a yearly date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub at: DateTime<Utc>,
    pub key: String,
    pub occasion: Option<String>,
}

pub fn parse_time(raw: &str) -> Option<NaiveTime> {
    NaiveTime::parse_from_str(raw, "%H:%M:%S").or_else(|_| NaiveTime::parse_from_str(raw, "%H:%M")).ok()
}

pub fn parse_zone(raw: &str) -> Option<Tz> {
    raw.parse::<Tz>().ok()
}

/// `MM-DD` as (month, day), checked against a leap year so that `02-29` is allowed.
pub fn parse_month_day(raw: &str) -> Option<(u32, u32)> {
    let (m, d) = raw.split_once('-')?;
    let (m, d) = (m.parse().ok()?, d.parse().ok()?);
    NaiveDate::from_ymd_opt(2028, m, d).map(|_| (m, d))
}

/// A fixed-length ISO 8601 duration (weeks, days, hours, minutes, seconds; not months or years,
/// whose length varies), as a time delta.
pub fn parse_duration(raw: &str) -> Result<TimeDelta, String> {
    let parsed =
        iso8601::duration(raw.trim()).map_err(|_| "is not an ISO 8601 duration such as P1D or PT4H".to_string())?;
    let delta = match parsed {
        iso8601::Duration::Weeks(w) => TimeDelta::weeks(w as i64),
        iso8601::Duration::YMDHMS { year, month, day, hour, minute, second, millisecond } => {
            if year > 0 || month > 0 {
                return Err("use weeks, days, hours and minutes: months and years vary in length".into());
            }
            TimeDelta::days(day as i64)
                + TimeDelta::hours(hour as i64)
                + TimeDelta::minutes(minute as i64)
                + TimeDelta::seconds(second as i64)
                + TimeDelta::milliseconds(millisecond as i64)
        }
    };
    // Due dates stay in the calendar: far enough for any follow-up, never an overflow.
    if delta > TimeDelta::days(3650) {
        return Err("must be at most 10 years (P3650D)".into());
    }
    Ok(delta)
}

fn weekday(w: Weekday) -> chrono::Weekday {
    match w {
        Weekday::Mon => chrono::Weekday::Mon,
        Weekday::Tue => chrono::Weekday::Tue,
        Weekday::Wed => chrono::Weekday::Wed,
        Weekday::Thu => chrono::Weekday::Thu,
        Weekday::Fri => chrono::Weekday::Fri,
        Weekday::Sat => chrono::Weekday::Sat,
        Weekday::Sun => chrono::Weekday::Sun,
    }
}

fn last_day_of_month(d: NaiveDate) -> u32 {
    let first_next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    first_next.and_then(|n| n.pred_opt()).map_or(28, |l| l.day())
}

/// Whether the schedule fires on local day `d`, and the occasion if it is a yearly date.
fn fires_on(s: &ScheduleTrigger, d: NaiveDate) -> Option<Option<String>> {
    match s.every {
        Every::Day => Some(None),
        Every::Week => (d.weekday() == weekday(s.weekday.unwrap_or(Weekday::Mon))).then_some(None),
        Every::Month => {
            let wanted = s.day_of_month.unwrap_or(1).min(last_day_of_month(d));
            (d.day() == wanted).then_some(None)
        }
        Every::Year => s.dates.as_ref()?.iter().find_map(|y| {
            let (m, day) = parse_month_day(&y.on)?;
            (d.month() == m && d.day() == day).then(|| y.occasion.clone())
        }),
    }
}

/// The instant of local time `at` on day `d` in `tz`: the earlier one when the clock goes back,
/// the moment the clock jumps to when it goes forward over it.
fn instant(tz: Tz, d: NaiveDate, at: NaiveTime) -> Option<DateTime<Utc>> {
    let local = d.and_time(at);
    match tz.from_local_datetime(&local) {
        chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        chrono::LocalResult::None => {
            tz.from_local_datetime(&(local + TimeDelta::hours(1))).earliest().map(|t| t.with_timezone(&Utc))
        }
    }
}

/// The latest slot at or before `now` (looking back at most a year and a day).
pub fn latest_slot(s: &ScheduleTrigger, now: DateTime<Utc>) -> Option<Slot> {
    let tz = parse_zone(&s.time_zone)?;
    let at = parse_time(&s.at)?;
    let mut day = now.with_timezone(&tz).date_naive();
    for _ in 0..=367 {
        if let Some(occasion) = fires_on(s, day) {
            if let Some(t) = instant(tz, day, at).filter(|t| *t <= now) {
                return Some(Slot { at: t, key: day.to_string(), occasion });
            }
        }
        day = day.checked_sub_days(Days::new(1))?;
    }
    None
}

/// The time zone tasks' `at` is read in.
pub fn zone_of(s: Option<&ScheduleTrigger>) -> Tz {
    s.and_then(|s| parse_zone(&s.time_zone)).unwrap_or(Tz::UTC)
}

/// `from + due_in`, then set to local time `at` on that day when given.
pub fn due(from: DateTime<Utc>, due_in: Option<TimeDelta>, at: Option<NaiveTime>, tz: Tz) -> DateTime<Utc> {
    let t = from + due_in.unwrap_or_default();
    match at {
        Some(at) => instant(tz, t.with_timezone(&tz).date_naive(), at).unwrap_or(t),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::automations::model::{SubjectKind, YearlyDate};

    fn schedule(every: Every, at: &str, tz: &str) -> ScheduleTrigger {
        ScheduleTrigger {
            every,
            at: at.into(),
            time_zone: tz.into(),
            weekday: None,
            day_of_month: None,
            dates: None,
            subject: SubjectKind::Client,
        }
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn daily_slot_is_local_time_in_the_zone() {
        let s = schedule(Every::Day, "06:00", "Europe/Moscow");
        // 06:00 in Moscow is 03:00 UTC.
        let slot = latest_slot(&s, t("2027-01-15T04:00:00Z")).unwrap();
        assert_eq!(slot.at, t("2027-01-15T03:00:00Z"));
        assert_eq!(slot.key, "2027-01-15");
        // Before today's slot: yesterday's.
        assert_eq!(latest_slot(&s, t("2027-01-15T02:59:59Z")).unwrap().key, "2027-01-14");
    }

    #[test]
    fn weekly_monthly_and_yearly_slots() {
        let mut w = schedule(Every::Week, "07:00", "UTC");
        w.weekday = Some(Weekday::Wed);
        // 2027-01-15 is a Friday: the latest Wednesday is the 13th.
        assert_eq!(latest_slot(&w, t("2027-01-15T12:00:00Z")).unwrap().key, "2027-01-13");
        let mut m = schedule(Every::Month, "00:00", "UTC");
        m.day_of_month = Some(31);
        // February has no 31st: its last day fires.
        assert_eq!(latest_slot(&m, t("2027-03-10T00:00:00Z")).unwrap().key, "2027-02-28");
        let mut y = schedule(Every::Year, "09:00", "Europe/Moscow");
        y.dates = Some(vec![
            YearlyDate { on: "02-16".into(), occasion: Some("23 February".into()) },
            YearlyDate { on: "12-20".into(), occasion: None },
        ]);
        let slot = latest_slot(&y, t("2027-02-20T00:00:00Z")).unwrap();
        assert_eq!((slot.key.as_str(), slot.occasion.as_deref()), ("2027-02-16", Some("23 February")));
        assert_eq!(latest_slot(&y, t("2027-02-15T00:00:00Z")).unwrap().key, "2026-12-20");
    }

    #[test]
    fn durations_and_due_times() {
        assert_eq!(parse_duration("P1D").unwrap(), TimeDelta::days(1));
        assert_eq!(parse_duration("PT4H").unwrap(), TimeDelta::hours(4));
        assert_eq!(parse_duration("P1DT2H30M").unwrap(), TimeDelta::minutes(26 * 60 + 30));
        assert_eq!(parse_duration("P2W").unwrap(), TimeDelta::days(14));
        assert!(parse_duration("P1M").is_err());
        assert!(parse_duration("P4000000000D").is_err());
        assert!(parse_duration("P4000000W").is_err());
        assert!(parse_duration("1 day").is_err());
        let tz = parse_zone("Europe/Moscow").unwrap();
        let d = due(t("2027-01-15T03:00:00Z"), Some(TimeDelta::days(1)), parse_time("10:00"), tz);
        assert_eq!(d, t("2027-01-16T07:00:00Z"));
        assert!(parse_zone("Mars/Olympus").is_none());
        assert_eq!(parse_month_day("02-29"), Some((2, 29)));
        assert_eq!(parse_month_day("13-01"), None);
    }
}
