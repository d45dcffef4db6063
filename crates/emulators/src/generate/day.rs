//! Civil dates as plain day numbers, so that date arithmetic in the generator cannot fail.

use jiff::civil::Date;

/// A civil date as days since 1970-01-01 (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Day(pub i64);

impl Day {
    pub fn from_date(date: Date) -> Day {
        Day::from_ymd(
            i64::from(date.year()),
            i64::from(date.month()),
            i64::from(date.day()),
        )
    }

    /// After Howard Hinnant's `days_from_civil`.
    pub fn from_ymd(year: i64, month: i64, day: i64) -> Day {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        Day(era * 146_097 + day_of_era - 719_468)
    }

    /// After Howard Hinnant's `civil_from_days`.
    fn ymd(self) -> (i64, i64, i64) {
        let z = self.0 + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        (year, month, day)
    }

    pub fn plus(self, days: i64) -> Day {
        Day(self.0 + days)
    }

    /// The same day of the month `years` later (the 29th-31st become the 28th).
    pub fn add_years(self, years: i64) -> Day {
        let (year, month, day) = self.ymd();
        Day::from_ymd(year + years, month, day.min(28))
    }

    /// `YYYY-MM-DD`.
    pub fn text(self) -> String {
        let (year, month, day) = self.ymd();
        format!("{year:04}-{month:02}-{day:02}")
    }

    /// As Flex writes dates: `YYYY-MM-DDT00:00:00`.
    pub fn iso(self) -> String {
        format!("{}T00:00:00", self.text())
    }
}

/// `YYYY-MM-DD` of a Flex date such as `2021-09-01T00:00:00`.
pub fn day_part(date: &str) -> &str {
    date.get(..10).unwrap_or(date)
}
