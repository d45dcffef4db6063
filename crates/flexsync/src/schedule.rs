//! The daemon's schedule and when its next run is due. Pure: the caller passes the time.

use std::collections::BTreeSet;

use jiff::civil::{DateTime, Time};
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp, ToSpan, Zoned};

/// Below this many minutes between runs the daemon warns: Winningtemp's own integrations run at
/// most every 15 minutes.
pub const FREQUENT_MINUTES: u32 = 15;
/// `every_minutes` at most: a day. Use `times` for daily runs.
pub const MAX_EVERY_MINUTES: u32 = 24 * 60;

/// When runs are due.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slots {
    /// Local times of day in the schedule's time zone (never empty).
    Times(BTreeSet<Time>),
    /// Every N minutes, on the multiples of N minutes since 1970-01-01 00:00 UTC, so a restart
    /// does not move the slots and daylight saving does not bend them.
    EveryMinutes(u32),
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
        }
    }

    /// What an operator should hear about this schedule at every start.
    pub fn warnings(&self) -> Vec<String> {
        match self.slots {
            Slots::EveryMinutes(minutes) if minutes < FREQUENT_MINUTES => vec![format!(
                "schedule.every_minutes = {minutes}: runs more often than every {FREQUENT_MINUTES} minutes, Winningtemp's own shortest interval"
            )],
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
/// that happens twice (the autumn fold) runs once, at its first pass.
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

    fn at(text: &str) -> Zoned {
        text.parse().unwrap()
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
}
