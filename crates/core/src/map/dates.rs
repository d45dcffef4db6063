//! Dates as Flex sends them, and employment periods: parsing, merging, and the employment on a day.

use jiff::civil::Date;

/// Reads a Flex date: `YYYY-MM-DD`, optionally followed by `T` and a time (`HH:MM`, seconds,
/// fraction) and an offset (`Z`, `+01:00`, `+0100`, `+01`). The date is taken as written: Flex
/// dates are local calendar days, so an offset never moves them.
pub fn parse_date(text: &str) -> Option<Date> {
    let text = text.trim();
    let date_part = text.get(..10)?;
    let rest = text.get(10..)?;
    if !rest.is_empty() {
        let time = rest.strip_prefix(['T', 't', ' '])?;
        if !is_time_with_offset(time) {
            return None;
        }
    }
    let mut parts = date_part.split('-');
    let (Some(year), Some(month), Some(day), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if year.len() != 4 || month.len() != 2 || day.len() != 2 {
        return None;
    }
    Date::new(
        i16::try_from(digits(year)?).ok()?,
        i8::try_from(digits(month)?).ok()?,
        i8::try_from(digits(day)?).ok()?,
    )
    .ok()
}

/// The value of a run of ASCII digits (no sign, no spaces).
fn digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `HH:MM[:SS[.fraction]]` followed by nothing, `Z`, or `+HH[[:]MM]` / `-HH[[:]MM]`.
fn is_time_with_offset(text: &str) -> bool {
    let (time, offset) = match text.find(['Z', 'z', '+', '-']) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    is_time(time) && is_offset(offset)
}

fn is_time(text: &str) -> bool {
    let (clock, fraction) = match text.split_once(['.', ',']) {
        Some((clock, fraction)) => (clock, Some(fraction)),
        None => (text, None),
    };
    let parts: Vec<&str> = clock.split(':').collect();
    let in_range = |part: &str, max: u32| part.len() == 2 && digits(part).is_some_and(|v| v <= max);
    let clock_ok = match parts.as_slice() {
        [hour, minute] => in_range(hour, 23) && in_range(minute, 59),
        [hour, minute, second] => {
            in_range(hour, 23) && in_range(minute, 59) && in_range(second, 60)
        }
        _ => false,
    };
    let fraction_ok = match fraction {
        Some(fraction) => {
            parts.len() == 3 && (1..=9).contains(&fraction.len()) && digits(fraction).is_some()
        }
        None => true,
    };
    clock_ok && fraction_ok
}

fn is_offset(text: &str) -> bool {
    if text.is_empty() || text.eq_ignore_ascii_case("z") {
        return true;
    }
    let Some(body) = text.strip_prefix(['+', '-']) else {
        return false;
    };
    let two_digits =
        |part: &str, max: u32| part.len() == 2 && digits(part).is_some_and(|v| v <= max);
    match body.split_once(':') {
        Some((hours, minutes)) => two_digits(hours, 23) && two_digits(minutes, 59),
        None if body.len() == 2 => two_digits(body, 23),
        None => {
            body.get(..2).is_some_and(|h| two_digits(h, 23))
                && body.get(2..).is_some_and(|m| two_digits(m, 59))
        }
    }
}

/// A run of employed days: `from` to `to` inclusive; `to = None` is open-ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    pub from: Date,
    pub to: Option<Date>,
}

impl Span {
    pub fn covers(&self, day: Date) -> bool {
        self.from <= day && self.to.is_none_or(|to| day <= to)
    }
}

/// Merges overlapping and back-to-back spans (one ends the day before the next starts) into
/// disjoint spans, sorted by start.
pub fn merge_spans(mut spans: Vec<Span>) -> Vec<Span> {
    spans.sort();
    let mut merged: Vec<Span> = Vec::with_capacity(spans.len());
    for span in spans {
        if let Some(last) = merged.last_mut() {
            let joins = match last.to {
                None => true,
                Some(end) => span.from <= end || end.tomorrow().ok() == Some(span.from),
            };
            if joins {
                last.to = match (last.to, span.to) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
                continue;
            }
        }
        merged.push(span);
    }
    merged
}

/// The pairs of spans that share at least one day, each as (earlier start, later start). A span
/// is paired with the span before it that reaches furthest.
pub fn overlaps(spans: &[Span]) -> Vec<(Span, Span)> {
    let mut sorted = spans.to_vec();
    sorted.sort();
    let mut pairs = Vec::new();
    let mut reaching: Option<Span> = None;
    for span in sorted {
        if let Some(before) = reaching {
            if before.to.is_none_or(|end| span.from <= end) {
                pairs.push((before, span));
            }
            let further = match (before.to, span.to) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(a), Some(b)) => b > a,
            };
            if further {
                reaching = Some(span);
            }
        } else {
            reaching = Some(span);
        }
    }
    pairs
}

/// Where a person stands on a day, from their merged spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Employment {
    pub active: bool,
    /// The span that decides the dates: the one covering the day, else the next one to start,
    /// else the last one that ended. None when there are no spans.
    pub span: Option<Span>,
}

/// The employment on `today` from disjoint spans sorted by start (as [`merge_spans`] returns).
pub fn employment_on(spans: &[Span], today: Date, lead_days: u32) -> Employment {
    if let Some(span) = spans.iter().find(|span| span.covers(today)) {
        return Employment {
            active: true,
            span: Some(*span),
        };
    }
    let next = spans.iter().find(|span| span.from > today);
    // A future starter appears `lead_days` before their first day.
    // A lead beyond the calendar reaches every future starter (and never panics).
    let horizon = jiff::Span::new()
        .try_days(i64::from(lead_days))
        .ok()
        .and_then(|lead| today.checked_add(lead).ok());
    let starts_soon = next.is_some_and(|span| horizon.is_none_or(|horizon| span.from <= horizon));
    let span = next.or_else(|| spans.last()).copied();
    Employment {
        active: starts_soon,
        span,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    #[test]
    fn parse_date_accepts_the_shapes_flex_sends() {
        let expected = Some(date(1990, 3, 12));
        for text in [
            "1990-03-12",
            " 1990-03-12 ",
            "1990-03-12T00:00:00",
            "1990-03-12T00:00",
            "1990-03-12T23:59:59.1234567",
            "1990-03-12T00:00:00Z",
            "1990-03-12T00:00:00.000z",
            "1990-03-12T00:00:00+01:00",
            "1990-03-12T00:00:00-0500",
            "1990-03-12T00:00:00+02",
            "1990-03-12 00:00:00",
        ] {
            assert_eq!(parse_date(text), expected, "{text:?}");
        }
    }

    #[test]
    fn parse_date_keeps_the_written_day_whatever_the_offset() {
        assert_eq!(
            parse_date("1990-03-12T23:30:00-11:00"),
            Some(date(1990, 3, 12))
        );
        assert_eq!(
            parse_date("1990-03-12T00:30:00+14:00"),
            Some(date(1990, 3, 12))
        );
    }

    #[test]
    fn parse_date_rejects_everything_else() {
        for text in [
            "",
            "   ",
            "1990-3-12",
            "12/03/1990",
            "1990-02-30",
            "1990-13-01",
            "19900312",
            "1990-03-12T",
            "1990-03-12Tnoon",
            "1990-03-12T25:00:00",
            "1990-03-12T00:00:00+",
            "1990-03-12T00:00:00.",
            "1990-03-12T00:00:00+1:00",
            "1990-03-12X00:00:00",
            "1990-03-12 garbage",
            "199O-03-12",
            "+990-03-12",
            "19900312-1234",
            "1990-03-12ö",
            "ööööööööööö",
        ] {
            assert_eq!(parse_date(text), None, "{text:?}");
        }
    }

    fn span(from: Date, to: Option<Date>) -> Span {
        Span { from, to }
    }

    #[test]
    fn merge_joins_overlapping_and_back_to_back_spans() {
        let merged = merge_spans(vec![
            span(date(2022, 1, 1), Some(date(2022, 6, 30))),
            span(date(2020, 1, 1), Some(date(2020, 12, 31))),
            span(date(2021, 1, 1), Some(date(2021, 3, 31))),
            span(date(2021, 2, 1), Some(date(2021, 2, 28))),
            span(date(2022, 7, 1), None),
            span(date(2023, 1, 1), Some(date(2023, 2, 1))),
        ]);
        assert_eq!(
            merged,
            vec![
                span(date(2020, 1, 1), Some(date(2021, 3, 31))),
                span(date(2022, 1, 1), None),
            ]
        );
    }

    #[test]
    fn merge_keeps_a_gap_of_one_day_apart() {
        let merged = merge_spans(vec![
            span(date(2020, 1, 1), Some(date(2020, 1, 10))),
            span(date(2020, 1, 12), Some(date(2020, 1, 20))),
        ]);
        assert_eq!(merged.len(), 2);
    }

    #[test]
    fn overlaps_name_spans_sharing_a_day_but_not_back_to_back_ones() {
        let a = span(date(2020, 1, 1), Some(date(2020, 12, 31)));
        let b = span(date(2020, 6, 1), Some(date(2020, 7, 31)));
        let c = span(date(2020, 12, 31), None);
        let d = span(date(2021, 6, 1), Some(date(2021, 6, 30)));
        assert_eq!(overlaps(&[d, c, b, a]), vec![(a, b), (a, c), (c, d)]);
        let next_day = span(date(2021, 1, 1), None);
        assert!(overlaps(&[a, next_day]).is_empty());
        assert!(overlaps(&[a]).is_empty());
        assert_eq!(overlaps(&[a, a]), vec![(a, a)]);
    }

    #[test]
    fn employment_prefers_the_covering_then_the_next_then_the_last_span() {
        let spans = merge_spans(vec![
            span(date(2019, 1, 1), Some(date(2019, 12, 31))),
            span(date(2021, 1, 1), Some(date(2021, 12, 31))),
            span(date(2023, 1, 1), None),
        ]);
        let covering = employment_on(&spans, date(2021, 12, 31), 0);
        assert!(covering.active);
        assert_eq!(covering.span, Some(spans[1]));

        let between = employment_on(&spans, date(2022, 6, 1), 0);
        assert!(!between.active);
        assert_eq!(between.span, Some(spans[2]));

        let before_all = employment_on(&spans, date(2018, 6, 1), 0);
        assert!(employment_on(&spans, date(2018, 6, 1), 10_000).active);
        assert_eq!(
            before_all,
            Employment {
                active: false,
                span: Some(spans[0])
            }
        );

        let ended = merge_spans(vec![
            span(date(2019, 1, 1), Some(date(2019, 12, 31))),
            span(date(2020, 6, 1), Some(date(2020, 8, 31))),
        ]);
        let leaver = employment_on(&ended, date(2024, 1, 1), 0);
        assert_eq!(
            leaver,
            Employment {
                active: false,
                span: Some(ended[1])
            }
        );
    }

    #[test]
    fn employment_without_spans_is_inactive_with_no_dates() {
        assert_eq!(
            employment_on(&[], date(2024, 1, 1), 0),
            Employment {
                active: false,
                span: None
            }
        );
    }

    #[test]
    fn the_first_and_last_day_of_a_span_are_covered() {
        let only = span(date(2024, 1, 1), Some(date(2024, 1, 31)));
        assert!(only.covers(date(2024, 1, 1)));
        assert!(only.covers(date(2024, 1, 31)));
        assert!(!only.covers(date(2024, 2, 1)));
        assert!(!only.covers(date(2023, 12, 31)));
    }

    #[test]
    fn a_lead_time_beyond_the_calendar_does_not_panic() {
        let today = date(2026, 11, 27);
        let future = [span(date(2099, 1, 1), None)];
        assert!(employment_on(&future, today, u32::MAX).active);
        assert!(!employment_on(&future, today, 30).active);
    }
}
