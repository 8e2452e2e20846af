//! The working-time calendar: working windows on working days, public holidays and the weekend
//! make-up workdays (调休) of the State Council's yearly notice.
//!
//! Limits in working hours (工作时) count only time inside the windows of working days; a
//! working day (工作日) counts as the length of one day's windows (7.5 h by default), which puts
//! a 1 WD deadline at the same clock time on the next working day when it starts inside a
//! window. Urgent cases run on the 24×7 clock: their working units are read as clock units.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{Datelike, Duration, FixedOffset, NaiveDate, NaiveTime, Weekday};
use serde::{Deserialize, Serialize};

use crate::category::{ClockKind, Limit, LimitSpec, LimitUnit, Urgency};
use crate::time::Timestamp;

/// A daily working window, in minutes since local midnight, `start < end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkingWindow {
    /// First working minute.
    pub start_min: u16,
    /// Minute the window closes (exclusive).
    pub end_min: u16,
}

impl WorkingWindow {
    /// Parses `HH:MM-HH:MM`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| format!("{s:?} is not HH:MM-HH:MM"))?;
        let (start_min, end_min) = (minute_of_day(a)?, minute_of_day(b)?);
        if start_min >= end_min {
            return Err(format!("window {s:?} must end after it starts"));
        }
        Ok(Self { start_min, end_min })
    }
}

/// Parses a local time `HH:MM` into minutes since midnight.
pub fn minute_of_day(s: &str) -> Result<u16, String> {
    NaiveTime::parse_from_str(s.trim(), "%H:%M")
        .map(|t| t.signed_duration_since(NaiveTime::MIN).num_minutes() as u16)
        .map_err(|_| format!("{:?} is not a time HH:MM", s.trim()))
}

/// How a date differs from the plain Monday–Friday week.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DayOverride {
    /// A statutory holiday (法定节假日), including a weekday in the holiday block.
    Holiday,
    /// A weekend day worked in exchange (调休上班).
    MakeupWorkday,
}

/// The calendar of one city: its UTC offset, daily windows and dated overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkCalendar {
    offset: FixedOffset,
    windows: Vec<WorkingWindow>,
    overrides: BTreeMap<NaiveDate, DayOverride>,
    years: BTreeSet<i32>,
}

/// Longest stretch the calendar searches for working time before giving up, in days. Only a
/// calendar without any working day for this long could reach it.
const MAX_SEARCH_DAYS: i64 = 3700;
const DAY_MS: i64 = 86_400_000;

impl WorkCalendar {
    /// Builds a calendar. `windows` must be non-empty, sorted and non-overlapping; `years` are
    /// the years whose official holiday notice is in `overrides` (other years fall back to the
    /// plain Monday–Friday week).
    pub fn new(
        offset: FixedOffset,
        windows: Vec<WorkingWindow>,
        overrides: BTreeMap<NaiveDate, DayOverride>,
        years: BTreeSet<i32>,
    ) -> Result<Self, String> {
        if windows.is_empty() {
            return Err("at least one working window is required".into());
        }
        if let Some(w) = windows.windows(2).find(|w| w[0].end_min > w[1].start_min) {
            return Err(format!(
                "working windows must be sorted and must not overlap ({}..{} then {}..{} minutes)",
                w[0].start_min, w[0].end_min, w[1].start_min, w[1].end_min
            ));
        }
        Ok(Self { offset, windows, overrides, years })
    }

    /// The city's UTC offset.
    pub fn offset(&self) -> FixedOffset {
        self.offset
    }

    /// True if the calendar has official holiday data for `year`.
    pub fn covers_year(&self, year: i32) -> bool {
        self.years.contains(&year)
    }

    /// True if `date` is a working day: a make-up workday, or a Monday–Friday that is not a
    /// holiday.
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        match self.overrides.get(&date) {
            Some(DayOverride::Holiday) => false,
            Some(DayOverride::MakeupWorkday) => true,
            None => !matches!(date.weekday(), Weekday::Sat | Weekday::Sun),
        }
    }

    /// Milliseconds of working time in one working day.
    pub fn day_length_ms(&self) -> i64 {
        self.windows.iter().map(|w| i64::from(w.end_min - w.start_min) * 60_000).sum()
    }

    /// Resolves a written limit for a case of `urgency`. Urgent cases run 24×7, so their
    /// working hours and days become clock hours and 24-hour days.
    pub fn resolve(&self, spec: LimitSpec, urgency: Urgency) -> Limit {
        let amount = |unit_ms: i64| (spec.milli_amount as i64).saturating_mul(unit_ms) / 1000;
        let working = urgency == Urgency::Normal;
        match spec.unit {
            LimitUnit::WorkingHours if working => Limit { clock: ClockKind::Working, millis: amount(3_600_000) },
            LimitUnit::WorkingDays if working => Limit { clock: ClockKind::Working, millis: amount(self.day_length_ms()) },
            LimitUnit::WorkingHours | LimitUnit::Hours => Limit { clock: ClockKind::Calendar, millis: amount(3_600_000) },
            LimitUnit::WorkingDays => Limit { clock: ClockKind::Calendar, millis: amount(DAY_MS) },
            LimitUnit::Minutes => Limit { clock: ClockKind::Calendar, millis: amount(60_000) },
            LimitUnit::Seconds => Limit { clock: ClockKind::Calendar, millis: amount(1000) },
        }
    }

    /// Converts a written extension to the clock of an existing limit: an extension of a 24×7
    /// case runs 24×7 whatever its unit, one of a working-time case counts working time.
    pub fn resolve_on(&self, spec: LimitSpec, clock: ClockKind) -> Limit {
        let urgency = match clock {
            ClockKind::Working => Urgency::Normal,
            ClockKind::Calendar => Urgency::Urgent,
        };
        let limit = self.resolve(spec, urgency);
        if limit.clock == clock {
            return limit;
        }
        // A clock unit (h, min, s) given for a working-time case counts as working time.
        Limit { clock, millis: limit.millis }
    }

    /// The instant `limit` after `start`: on the calendar clock simply `start + limit`; on the
    /// working clock, the instant at which `limit` of working time has passed since `start`.
    ///
    /// Monotone: a later start or a longer limit never gives an earlier deadline.
    pub fn advance(&self, start: Timestamp, limit: Limit) -> Timestamp {
        match limit.clock {
            ClockKind::Calendar => start.add_millis(limit.millis.max(0)),
            ClockKind::Working => self.advance_working(start, limit.millis.max(0)),
        }
    }

    fn advance_working(&self, start: Timestamp, mut remaining: i64) -> Timestamp {
        if remaining == 0 {
            return start;
        }
        let mut date = start.local(self.offset).date();
        for _ in 0..MAX_SEARCH_DAYS {
            if self.is_working_day(date) {
                for (ws, we) in self.window_instants(date) {
                    if start >= we {
                        continue;
                    }
                    let from = start.max(ws);
                    let available = we.millis_since(from);
                    if remaining <= available {
                        return from.add_millis(remaining);
                    }
                    remaining -= available;
                }
            }
            date = date.succ_opt().unwrap_or(date);
        }
        Timestamp::from_millis(i64::MAX)
    }

    /// Time on `clock` between `from` and `to` (0 if `to` is not after `from`).
    pub fn elapsed(&self, from: Timestamp, to: Timestamp, clock: ClockKind) -> i64 {
        if to <= from {
            return 0;
        }
        match clock {
            ClockKind::Calendar => to.millis_since(from),
            ClockKind::Working => self.working_between(from, to),
        }
    }

    fn working_between(&self, from: Timestamp, to: Timestamp) -> i64 {
        let mut total = 0;
        let mut date = from.local(self.offset).date();
        let last = to.local(self.offset).date();
        while date <= last {
            if self.is_working_day(date) {
                for (ws, we) in self.window_instants(date) {
                    let (a, b) = (from.max(ws), to.min(we));
                    if b > a {
                        total += b.millis_since(a);
                    }
                }
            }
            match date.succ_opt() {
                Some(next) => date = next,
                None => break,
            }
        }
        total
    }

    /// True if `t` lies inside a working window of a working day.
    pub fn is_working_instant(&self, t: Timestamp) -> bool {
        let date = t.local(self.offset).date();
        self.is_working_day(date) && self.window_instants(date).any(|(ws, we)| ws <= t && t < we)
    }

    fn window_instants(&self, date: NaiveDate) -> impl Iterator<Item = (Timestamp, Timestamp)> + '_ {
        let midnight = Timestamp::from_local(date.and_time(NaiveTime::MIN), self.offset);
        self.windows
            .iter()
            .map(move |w| (midnight.add_millis(i64::from(w.start_min) * 60_000), midnight.add_millis(i64::from(w.end_min) * 60_000)))
    }

    /// Local midnight of the day after `t`'s local date.
    pub fn next_local_midnight(&self, t: Timestamp) -> Timestamp {
        let date = t.local(self.offset).date() + Duration::days(1);
        Timestamp::from_local(date.and_time(NaiveTime::MIN), self.offset)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::*;

    /// The 2026 State Council notice, as shipped in config/xinyi/calendar/2026.toml.
    pub(crate) fn calendar_2026() -> WorkCalendar {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).expect("valid date");
        let mut overrides = BTreeMap::new();
        let holidays = [(1, 1, 3), (2, 15, 23), (4, 4, 6), (5, 1, 5), (6, 19, 21), (9, 25, 27), (10, 1, 7)];
        for (m, from, to) in holidays {
            for day in from..=to {
                overrides.insert(d(m, day), DayOverride::Holiday);
            }
        }
        for (m, day) in [(1, 4), (2, 14), (2, 28), (5, 9), (9, 20), (10, 10)] {
            overrides.insert(d(m, day), DayOverride::MakeupWorkday);
        }
        let windows = vec![WorkingWindow::parse("08:30-12:00").expect("valid"), WorkingWindow::parse("13:30-17:30").expect("valid")];
        let offset = FixedOffset::east_opt(8 * 3600).expect("valid offset");
        WorkCalendar::new(offset, windows, overrides, BTreeSet::from([2026])).expect("valid calendar")
    }

    fn at(m: u32, day: u32, h: u32, min: u32) -> Timestamp {
        let cal = calendar_2026();
        let local = NaiveDate::from_ymd_opt(2026, m, day).and_then(|d| d.and_hms_opt(h, min, 0)).expect("valid time");
        Timestamp::from_local(local, cal.offset())
    }

    fn wh(hours: i64) -> Limit {
        Limit { clock: ClockKind::Working, millis: hours * 3_600_000 }
    }

    #[test]
    fn working_hours_skip_lunch_and_night() {
        let cal = calendar_2026();
        // Monday 2026-11-23 11:00 + 2 WH: 1 h to noon, 1 h from 13:30.
        assert_eq!(cal.advance(at(11, 23, 11, 0), wh(2)), at(11, 23, 14, 30));
        // Friday 17:00 + 1 WH: 30 min Friday, 30 min Monday morning.
        assert_eq!(cal.advance(at(11, 27, 17, 0), wh(1)), at(11, 30, 9, 0));
        // Saturday night counts from Monday 08:30.
        assert_eq!(cal.advance(at(11, 28, 22, 0), wh(1)), at(11, 30, 9, 30));
    }

    #[test]
    fn holidays_skipped_and_makeup_workdays_counted() {
        let cal = calendar_2026();
        // Friday 13 Feb 17:00 + 1 WH: Saturday 14 Feb is a make-up workday.
        assert_eq!(cal.advance(at(2, 13, 17, 0), wh(1)), at(2, 14, 9, 0));
        // Saturday 14 Feb 17:00 + 1 WH: the Spring Festival runs 15–23 Feb; next is Tue 24 Feb.
        assert_eq!(cal.advance(at(2, 14, 17, 0), wh(1)), at(2, 24, 9, 0));
        // National Day: Wed 30 Sep 17:00 + 1 WH → Thu 8 Oct 09:00.
        assert_eq!(cal.advance(at(9, 30, 17, 0), wh(1)), at(10, 8, 9, 0));
        // Saturday 10 Oct is a make-up workday, Sunday 11 Oct is not.
        assert!(cal.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 10).expect("date")));
        assert!(!cal.is_working_day(NaiveDate::from_ymd_opt(2026, 10, 11).expect("date")));
    }

    #[test]
    fn one_working_day_is_the_same_time_next_working_day() {
        let cal = calendar_2026();
        let one_wd = cal.resolve(LimitSpec::parse("1WD").expect("valid"), Urgency::Normal);
        assert_eq!(cal.advance(at(11, 23, 10, 0), one_wd), at(11, 24, 10, 0));
        assert_eq!(cal.advance(at(11, 27, 15, 0), one_wd), at(11, 30, 15, 0));
    }

    #[test]
    fn urgent_limits_run_around_the_clock() {
        let cal = calendar_2026();
        let limit = cal.resolve(LimitSpec::parse("4WH").expect("valid"), Urgency::Urgent);
        assert_eq!(limit.clock, ClockKind::Calendar);
        assert_eq!(cal.advance(at(11, 28, 22, 0), limit), at(11, 29, 2, 0));
    }

    #[test]
    fn extensions_follow_the_clock_of_the_case() {
        let cal = calendar_2026();
        let spec = LimitSpec::parse("2h").expect("valid");
        assert_eq!(cal.resolve_on(spec, ClockKind::Working), wh(2));
        let wd = LimitSpec::parse("1WD").expect("valid");
        assert_eq!(cal.resolve_on(wd, ClockKind::Calendar).millis, DAY_MS);
    }

    fn any_instant() -> impl Strategy<Value = Timestamp> {
        // Anywhere in 2026, to the second.
        let start = at(1, 1, 0, 0).millis();
        (0i64..365 * 86_400).prop_map(move |s| Timestamp::from_millis(start + s * 1000))
    }

    fn any_working_limit() -> impl Strategy<Value = Limit> {
        (0i64..40 * 3600).prop_map(|s| Limit { clock: ClockKind::Working, millis: s * 1000 })
    }

    proptest! {
        #[test]
        fn deadlines_are_monotone_in_start(a in any_instant(), b in any_instant(), l in any_working_limit()) {
            let cal = calendar_2026();
            let (early, late) = if a <= b { (a, b) } else { (b, a) };
            prop_assert!(cal.advance(early, l) <= cal.advance(late, l));
        }

        #[test]
        fn deadlines_are_monotone_in_limit(s in any_instant(), x in any_working_limit(), y in any_working_limit()) {
            let cal = calendar_2026();
            let (short, long) = if x.millis <= y.millis { (x, y) } else { (y, x) };
            prop_assert!(cal.advance(s, short) <= cal.advance(s, long));
        }

        #[test]
        fn deadline_consumes_exactly_the_limit_in_working_time(s in any_instant(), l in any_working_limit()) {
            let cal = calendar_2026();
            let deadline = cal.advance(s, l);
            prop_assert_eq!(cal.elapsed(s, deadline, ClockKind::Working), l.millis);
        }

        #[test]
        fn a_positive_deadline_never_lands_on_a_day_off(s in any_instant(), l in any_working_limit()) {
            prop_assume!(l.millis > 0);
            let cal = calendar_2026();
            // The last working millisecond before the deadline lies in a working window.
            let last = cal.advance(s, l).add_millis(-1);
            prop_assert!(cal.is_working_instant(last), "deadline {} falls outside working time", last);
            prop_assert!(cal.is_working_day(last.local(cal.offset()).date()));
        }
    }
}
