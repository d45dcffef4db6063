//! The daemon's schedule and when its next run is due. Pure: the caller passes the time.
//! Cron expressions are read and matched by `croner` on local (civil) time; this module turns a
//! local time into an instant with the one daylight-saving rule all three forms share.

use std::collections::BTreeSet;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::civil::{DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};

/// Below this many minutes between runs the daemon warns: Winningtemp's own integrations run at
/// most every 15 minutes.
pub const FREQUENT_MINUTES: u32 = 15;
/// `every_minutes` at most: a day. Use `times` for daily runs.
pub const MAX_EVERY_MINUTES: u32 = 24 * 60;
/// The most local times a search for the next cron slot looks at before it gives up: enough to
/// step over every minute of an hour that happens twice.
const CRON_STEPS: usize = 24 * 60;

/// When runs are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slots {
    /// Local times of day in the schedule's time zone (never empty).
    Times(BTreeSet<Time>),
    /// Every N minutes, on the multiples of N minutes since 1970-01-01 00:00 UTC, so a restart
    /// does not move the slots and daylight saving does not bend them.
    EveryMinutes(u32),
    /// The local times a cron expression names, in the schedule's time zone.
    Cron(CronSlots),
}

/// A five-field cron expression (minute hour day-of-month month day-of-week, e.g.
/// `0 1 * * 1-5`), read by `croner`. Equal when written alike.
#[derive(Debug, Clone)]
pub struct CronSlots {
    text: String,
    /// Boxed: a parsed expression is a few hundred bytes.
    cron: Box<Cron>,
}

impl PartialEq for CronSlots {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for CronSlots {}

impl CronSlots {
    /// Reads an expression; the error says why it is not one. An expression that never comes
    /// round (`0 0 30 2 *`) is refused too.
    pub fn parse(text: &str) -> Result<CronSlots, String> {
        let text = text.trim();
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(text)
            .map_err(|e| e.to_string())?;
        let slots = CronSlots {
            text: text.to_string(),
            cron: Box::new(cron),
        };
        if slots
            .next_after(DateTime::constant(2000, 1, 1, 0, 0, 0, 0))
            .is_none()
        {
            return Err("it names no time that ever comes".into());
        }
        Ok(slots)
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first local time strictly after `local` that the expression names.
    fn next_after(&self, local: DateTime) -> Option<DateTime> {
        self.cron.find_next_occurrence(&local, false).ok()
    }

    /// Whether two local times it names in a week (from a Monday) are less than `minutes` apart.
    fn runs_within(&self, minutes: i64) -> bool {
        let start = DateTime::constant(2024, 1, 1, 0, 0, 0, 0);
        let Ok(end) = start.checked_add(8.days()) else {
            return false;
        };
        let mut previous = self.next_after(start);
        while let Some(at) = previous.filter(|at| *at < end) {
            let next = self.next_after(at);
            if next.is_some_and(|next| at.duration_until(next) < SignedDuration::from_mins(minutes))
            {
                return true;
            }
            previous = next;
        }
        false
    }
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub slots: Slots,
    pub time_zone: TimeZone,
    /// Run once as soon as the daemon starts, then follow the slots.
    pub run_at_start: bool,
}

impl Schedule {
    /// Winningtemp's own default: daily at 01:00.
    pub fn daily_at_one(time_zone: TimeZone) -> Schedule {
        Schedule {
            slots: Slots::Times(BTreeSet::from([Time::constant(1, 0, 0, 0)])),
            time_zone,
            run_at_start: false,
        }
    }

    /// For logs: "daily at 01:00, 13:00 (Europe/Stockholm)" or "every 30 minutes".
    pub fn describe(&self) -> String {
        match &self.slots {
            Slots::Times(times) => {
                let times: Vec<String> = times
                    .iter()
                    .map(|t| t.strftime("%H:%M").to_string())
                    .collect();
                let zone = self.time_zone.iana_name().unwrap_or("fixed offset");
                format!("daily at {} ({zone})", times.join(", "))
            }
            Slots::EveryMinutes(minutes) => format!("every {minutes} minutes"),
            Slots::Cron(cron) => {
                let zone = self.time_zone.iana_name().unwrap_or("fixed offset");
                format!("cron \"{}\" ({zone})", cron.as_str())
            }
        }
    }

    /// What an operator should hear about this schedule at every start.
    pub fn warnings(&self) -> Vec<String> {
        match self.slots {
            Slots::EveryMinutes(minutes) if minutes < FREQUENT_MINUTES => vec![format!(
                "schedule.every_minutes = {minutes}: runs more often than every {FREQUENT_MINUTES} minutes, Winningtemp's own shortest interval"
            )],
            Slots::Cron(ref cron) if cron.runs_within(i64::from(FREQUENT_MINUTES)) => {
                vec![format!(
                    "schedule.cron = \"{}\": runs more often than every {FREQUENT_MINUTES} minutes, Winningtemp's own shortest interval",
                    cron.as_str()
                )]
            }
            _ => Vec::new(),
        }
    }
}

/// Reads a local time of day written as `HH:MM` (24-hour clock).
pub fn parse_time_of_day(text: &str) -> Option<Time> {
    let (hour, minute) = text.trim().split_once(':')?;
    let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
    if !two_digits(hour) || !two_digits(minute) {
        return None;
    }
    Time::new(hour.parse().ok()?, minute.parse().ok()?, 0, 0).ok()
}

/// The first slot strictly after `after`, in the schedule's time zone. A local time that does
/// not exist that day (the spring gap) runs at the first instant after the gap; a local time
/// that happens twice (the autumn fold) runs once, at its first pass. Both rules hold for
/// `times` and `cron` alike (several cron times in one gap run once, when it ends).
pub fn next_run(after: &Zoned, schedule: &Schedule) -> Zoned {
    let tz = &schedule.time_zone;
    let at = after.timestamp();
    let next = match &schedule.slots {
        Slots::Times(times) => {
            let today = after.with_time_zone(tz.clone()).date();
            (-1i64..=2)
                .filter_map(|days| today.checked_add(days.days()).ok())
                .flat_map(|day| times.iter().map(move |time| day.to_datetime(*time)))
                .filter_map(|local| instant_of(local, tz))
                .filter(|instant| *instant > at)
                .min()
        }
        Slots::EveryMinutes(minutes) => {
            let step = i64::from((*minutes).clamp(1, MAX_EVERY_MINUTES)) * 60;
            let slot = (at.as_second().div_euclid(step) + 1) * step;
            Timestamp::from_second(slot).ok()
        }
        Slots::Cron(cron) => {
            // Local times it names, one after the other, until one falls after `at`: those in
            // the second pass of a repeated hour (or merged into the end of a gap) do not.
            let mut local = after.with_time_zone(tz.clone()).datetime();
            let mut found = None;
            for _ in 0..CRON_STEPS {
                let Some(next) = cron.next_after(local) else {
                    break;
                };
                match instant_of(next, tz) {
                    Some(instant) if instant > at => {
                        found = Some(instant);
                        break;
                    }
                    _ => local = next,
                }
            }
            found
        }
    };
    next.or_else(|| at.checked_add(SignedDuration::from_hours(24)).ok())
        .unwrap_or(Timestamp::MAX)
        .to_zoned(tz.clone())
}

fn instant_of(local: DateTime, tz: &TimeZone) -> Option<Timestamp> {
    match tz.to_ambiguous_timestamp(local).offset() {
        AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(local).ok(),
        AmbiguousOffset::Fold { before, .. } => before.to_timestamp(local).ok(),
        AmbiguousOffset::Gap { after, .. } => {
            // Read with the later offset, the local time falls just before the transition.
            let inside = after.to_timestamp(local).ok()?;
            tz.following(inside)
                .next()
                .map(|transition| transition.timestamp())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stockholm() -> TimeZone {
        TimeZone::get("Europe/Stockholm").unwrap()
    }

    fn times(list: &[&str]) -> Schedule {
        Schedule {
            slots: Slots::Times(list.iter().map(|t| parse_time_of_day(t).unwrap()).collect()),
            time_zone: stockholm(),
            run_at_start: false,
        }
    }

    fn every(minutes: u32) -> Schedule {
        Schedule {
            slots: Slots::EveryMinutes(minutes),
            time_zone: stockholm(),
            run_at_start: false,
        }
    }

    fn cron(expression: &str) -> Schedule {
        Schedule {
            slots: Slots::Cron(CronSlots::parse(expression).unwrap()),
            time_zone: stockholm(),
            run_at_start: false,
        }
    }

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
    }

    /// The next `count` slots after `after`.
    fn slots(after: &str, schedule: &Schedule, count: usize) -> Vec<String> {
        let mut after = at(after);
        (0..count)
            .map(|_| {
                after = next_run(&after, schedule);
                after.to_string()
            })
            .collect()
    }

    fn next(after: &str, schedule: &Schedule) -> String {
        next_run(&at(after), schedule).to_string()
    }

    #[test]
    fn the_default_runs_daily_at_one_in_the_morning() {
        let schedule = Schedule::daily_at_one(stockholm());
        assert_eq!(
            next("2026-01-10T12:00:00+01:00[Europe/Stockholm]", &schedule),
            "2026-01-11T01:00:00+01:00[Europe/Stockholm]"
        );
        assert_eq!(
            next("2026-01-10T00:30:00+01:00[Europe/Stockholm]", &schedule),
            "2026-01-10T01:00:00+01:00[Europe/Stockholm]"
        );
        assert_eq!(
            next("2026-07-10T00:59:59.999+02:00[Europe/Stockholm]", &schedule),
            "2026-07-10T01:00:00+02:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn the_next_run_is_strictly_after() {
        let schedule = Schedule::daily_at_one(stockholm());
        assert_eq!(
            next("2026-01-10T01:00:00+01:00[Europe/Stockholm]", &schedule),
            "2026-01-11T01:00:00+01:00[Europe/Stockholm]"
        );
        assert_eq!(
            next("2026-01-10T12:00:00+01:00[Europe/Stockholm]", &every(15)),
            "2026-01-10T12:15:00+01:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn several_times_a_day_run_in_order_whatever_order_they_are_written_in() {
        let schedule = times(&["18:00", "01:00", "06:30"]);
        let mut after = at("2026-05-04T03:00:00+02:00[Europe/Stockholm]");
        let mut seen = Vec::new();
        for _ in 0..4 {
            after = next_run(&after, &schedule);
            seen.push(after.to_string());
        }
        assert_eq!(
            seen,
            [
                "2026-05-04T06:30:00+02:00[Europe/Stockholm]",
                "2026-05-04T18:00:00+02:00[Europe/Stockholm]",
                "2026-05-05T01:00:00+02:00[Europe/Stockholm]",
                "2026-05-05T06:30:00+02:00[Europe/Stockholm]",
            ]
        );
    }

    #[test]
    fn the_after_time_may_be_in_another_zone() {
        let schedule = Schedule::daily_at_one(stockholm());
        // 23:30 UTC on 9 January is 00:30 on the 10th in Stockholm.
        assert_eq!(
            next("2026-01-09T23:30:00+00:00[UTC]", &schedule),
            "2026-01-10T01:00:00+01:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn spring_2026_a_time_in_the_gap_runs_when_the_gap_ends() {
        // 29 March 2026: Stockholm's clocks jump from 02:00 to 03:00; 02:30 does not exist.
        let schedule = times(&["02:30"]);
        let first = next("2026-03-28T12:00:00+01:00[Europe/Stockholm]", &schedule);
        assert_eq!(first, "2026-03-29T03:00:00+02:00[Europe/Stockholm]");
        assert_eq!(
            next(&first, &schedule),
            "2026-03-30T02:30:00+02:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn spring_2026_one_in_the_morning_is_23_hours_after_the_day_before() {
        let schedule = Schedule::daily_at_one(stockholm());
        let saturday = at("2026-03-28T01:00:00+01:00[Europe/Stockholm]");
        let sunday = next_run(&saturday, &schedule);
        let monday = next_run(&sunday, &schedule);
        assert_eq!(
            sunday.to_string(),
            "2026-03-29T01:00:00+01:00[Europe/Stockholm]"
        );
        assert_eq!(
            monday.to_string(),
            "2026-03-30T01:00:00+02:00[Europe/Stockholm]"
        );
        assert_eq!(
            monday.timestamp().duration_since(sunday.timestamp()),
            SignedDuration::from_hours(23)
        );
    }

    #[test]
    fn autumn_2026_a_repeated_time_runs_once() {
        // 25 October 2026: Stockholm's clocks go back from 03:00 to 02:00; 02:30 happens twice.
        let schedule = times(&["02:30"]);
        let first = next("2026-10-24T12:00:00+02:00[Europe/Stockholm]", &schedule);
        assert_eq!(first, "2026-10-25T02:30:00+02:00[Europe/Stockholm]");
        assert_eq!(
            next(&first, &schedule),
            "2026-10-26T02:30:00+01:00[Europe/Stockholm]"
        );
        // Started during the second pass of that hour: the day's run is already past.
        assert_eq!(
            next("2026-10-25T02:10:00+01:00[Europe/Stockholm]", &schedule),
            "2026-10-26T02:30:00+01:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn every_n_minutes_follows_elapsed_time_across_both_2026_changes() {
        let quarter = every(15);
        assert_eq!(
            next("2026-03-29T01:50:00+01:00[Europe/Stockholm]", &quarter),
            "2026-03-29T03:00:00+02:00[Europe/Stockholm]"
        );
        assert_eq!(
            next("2026-10-25T02:50:00+02:00[Europe/Stockholm]", &quarter),
            "2026-10-25T02:00:00+01:00[Europe/Stockholm]"
        );
        assert_eq!(
            next("2026-10-25T02:00:00+01:00[Europe/Stockholm]", &quarter),
            "2026-10-25T02:15:00+01:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn every_n_minutes_lands_on_multiples_of_n() {
        let schedule = every(40);
        let mut after = at("2026-06-01T10:07:13+02:00[Europe/Stockholm]");
        for _ in 0..50 {
            let next = next_run(&after, &schedule);
            assert!(next.timestamp() > after.timestamp());
            assert_eq!(next.timestamp().as_second() % (40 * 60), 0);
            assert!(
                next.timestamp().duration_since(after.timestamp()) <= SignedDuration::from_mins(40)
            );
            after = next;
        }
    }

    #[test]
    fn times_of_day_are_read_strictly() {
        assert_eq!(parse_time_of_day("01:00"), Some(Time::constant(1, 0, 0, 0)));
        assert_eq!(
            parse_time_of_day("23:59"),
            Some(Time::constant(23, 59, 0, 0))
        );
        for bad in ["1:00", "24:00", "12:60", "01:00:00", "0100", "", "ab:cd"] {
            assert_eq!(parse_time_of_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_frequent_runs_are_warned_about() {
        assert_eq!(every(5).warnings().len(), 1);
        assert!(every(15).warnings().is_empty());
        assert!(Schedule::daily_at_one(stockholm()).warnings().is_empty());
        assert_eq!(
            times(&["13:00", "01:00"]).describe(),
            "daily at 01:00, 13:00 (Europe/Stockholm)"
        );
    }

    #[test]
    fn a_weekdays_cron_skips_the_weekend() {
        let weekdays = cron("0 1 * * 1-5");
        // Friday 9 January 2026, midday: next Monday, then every weekday at 01:00.
        assert_eq!(
            slots("2026-01-09T12:00:00+01:00[Europe/Stockholm]", &weekdays, 6),
            [
                "2026-01-12T01:00:00+01:00[Europe/Stockholm]",
                "2026-01-13T01:00:00+01:00[Europe/Stockholm]",
                "2026-01-14T01:00:00+01:00[Europe/Stockholm]",
                "2026-01-15T01:00:00+01:00[Europe/Stockholm]",
                "2026-01-16T01:00:00+01:00[Europe/Stockholm]",
                "2026-01-19T01:00:00+01:00[Europe/Stockholm]",
            ]
        );
        // Names of days read the same; the time zone is the schedule's, not the caller's.
        assert_eq!(
            next("2026-01-10T23:30:00+00:00[UTC]", &cron("0 1 * * MON-FRI")),
            "2026-01-12T01:00:00+01:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn a_missed_slot_is_told_apart_from_a_weekend_without_one() {
        // How the daemon finds a slot missed while it was down: the first slot after the last
        // sync started, compared with now.
        let weekdays = cron("0 1 * * 1-5");
        let friday = at("2026-01-09T01:00:02+01:00[Europe/Stockholm]");
        let due = next_run(&friday, &weekdays);
        let sunday = at("2026-01-11T20:00:00+01:00[Europe/Stockholm]");
        let monday = at("2026-01-12T08:00:00+01:00[Europe/Stockholm]");
        assert!(
            due.timestamp() > sunday.timestamp(),
            "nothing missed over the weekend"
        );
        assert!(
            due.timestamp() <= monday.timestamp(),
            "Monday 01:00 was missed"
        );
    }

    #[test]
    fn spring_2026_a_cron_time_in_the_gap_runs_when_the_gap_ends() {
        let half_past_two = cron("30 2 * * *");
        assert_eq!(
            slots(
                "2026-03-28T12:00:00+01:00[Europe/Stockholm]",
                &half_past_two,
                2
            ),
            [
                "2026-03-29T03:00:00+02:00[Europe/Stockholm]",
                "2026-03-30T02:30:00+02:00[Europe/Stockholm]",
            ]
        );
        // Several times inside the gap run once, when it ends.
        assert_eq!(
            slots(
                "2026-03-29T01:10:00+01:00[Europe/Stockholm]",
                &cron("*/30 * * * *"),
                4
            ),
            [
                "2026-03-29T01:30:00+01:00[Europe/Stockholm]",
                "2026-03-29T03:00:00+02:00[Europe/Stockholm]",
                "2026-03-29T03:30:00+02:00[Europe/Stockholm]",
                "2026-03-29T04:00:00+02:00[Europe/Stockholm]",
            ]
        );
        // A time outside the gap keeps its local time: 23 hours after the day before.
        let one = cron("0 1 * * *");
        let sunday = next("2026-03-28T01:00:00+01:00[Europe/Stockholm]", &one);
        assert_eq!(sunday, "2026-03-29T01:00:00+01:00[Europe/Stockholm]");
        assert_eq!(
            next(&sunday, &one),
            "2026-03-30T01:00:00+02:00[Europe/Stockholm]"
        );
    }

    #[test]
    fn autumn_2026_a_repeated_cron_time_runs_once() {
        let half_past_two = cron("30 2 * * *");
        assert_eq!(
            slots(
                "2026-10-24T12:00:00+02:00[Europe/Stockholm]",
                &half_past_two,
                2
            ),
            [
                "2026-10-25T02:30:00+02:00[Europe/Stockholm]",
                "2026-10-26T02:30:00+01:00[Europe/Stockholm]",
            ]
        );
        assert_eq!(
            next(
                "2026-10-25T02:10:00+01:00[Europe/Stockholm]",
                &half_past_two
            ),
            "2026-10-26T02:30:00+01:00[Europe/Stockholm]",
            "started during the second pass: the day's run is already past"
        );
        // Every half hour on the clock: the repeated hour is not run a second time.
        assert_eq!(
            slots(
                "2026-10-25T01:50:00+02:00[Europe/Stockholm]",
                &cron("*/30 * * * *"),
                4
            ),
            [
                "2026-10-25T02:00:00+02:00[Europe/Stockholm]",
                "2026-10-25T02:30:00+02:00[Europe/Stockholm]",
                "2026-10-25T03:00:00+01:00[Europe/Stockholm]",
                "2026-10-25T03:30:00+01:00[Europe/Stockholm]",
            ]
        );
    }

    #[test]
    fn a_daily_cron_and_the_same_times_agree_all_year() {
        let by_cron = cron("0 1,13 * * *");
        let by_times = times(&["01:00", "13:00"]);
        let mut after = at("2026-01-01T00:00:00+01:00[Europe/Stockholm]");
        for _ in 0..(2 * 366) {
            let next = next_run(&after, &by_times);
            assert_eq!(next_run(&after, &by_cron), next, "after {after}");
            after = next;
        }
    }

    #[test]
    fn cron_expressions_are_read_strictly() {
        for good in [
            "0 1 * * 1-5",
            "*/15 6-18 * * MON-FRI",
            "0 0 29 2 *",
            "@daily",
        ] {
            assert!(CronSlots::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "0 25 * * *",
            "61 1 * * *",
            "0 1 * *",
            "0 0 1 * * *",
            "0 0 1 1 * 2030",
            "every day",
            "0 0 30 2 *",
        ] {
            assert!(CronSlots::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            CronSlots::parse(" 0 1 * * 1-5 ").unwrap(),
            CronSlots::parse("0 1 * * 1-5").unwrap()
        );
    }

    #[test]
    fn frequent_cron_runs_are_warned_about() {
        assert_eq!(cron("*/5 * * * *").warnings().len(), 1);
        assert_eq!(cron("0,10 1 * * *").warnings().len(), 1);
        assert!(cron("*/15 * * * *").warnings().is_empty());
        assert!(cron("0 1 * * 1-5").warnings().is_empty());
        assert_eq!(
            cron("0 1 * * 1-5").describe(),
            "cron \"0 1 * * 1-5\" (Europe/Stockholm)"
        );
    }
}
