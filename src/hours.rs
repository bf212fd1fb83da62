//! Opening hours (`[hours]`): when a person answers — a weekly schedule in the shop's time zone,
//! Polish public holidays and extra closed days — and how to tell a customer when that is.

use std::collections::BTreeSet;

use chrono::{
    DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::Deserialize;

use crate::knowledge::Lang;

/// `[hours]` settings.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HoursSettings {
    /// An IANA time zone, e.g. `Europe/Warsaw`.
    pub time_zone: String,
    /// Each day's hours: `08:00-16:00`, several ranges separated by commas, or empty (closed).
    /// Every day empty: no schedule, and messages promise no time.
    pub mon: String,
    pub tue: String,
    pub wed: String,
    pub thu: String,
    pub fri: String,
    pub sat: String,
    pub sun: String,
    /// `pl`: closed on Polish public holidays. Empty: no holiday calendar.
    pub holidays: String,
    /// Further closed days, `YYYY-MM-DD`.
    pub closed_dates: Vec<String>,
    /// Inside hours, a customer waiting this many minutes for a person is announced again.
    pub escalate_after_min: u32,
}

/// The schedule, parsed once.
#[derive(Debug, Clone, PartialEq)]
pub struct OpeningHours {
    tz: Tz,
    /// Monday first; ranges sorted, not overlapping.
    week: [Vec<(NaiveTime, NaiveTime)>; 7],
    polish_holidays: bool,
    closed: BTreeSet<NaiveDate>,
    pub escalate_after: std::time::Duration,
}

/// Whether a person answers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Availability {
    /// No schedule is configured.
    Unknown,
    Open {
        closes: DateTime<Tz>,
    },
    /// `opens`: the next opening within a year (none: the schedule never opens).
    Closed {
        opens: Option<DateTime<Tz>>,
    },
}

fn parse_time(text: &str) -> Result<NaiveTime, String> {
    let t = text.trim();
    if t == "24:00" {
        return Ok(NaiveTime::from_hms_opt(23, 59, 59).expect("valid time"));
    }
    NaiveTime::parse_from_str(t, "%H:%M").map_err(|_| format!("`{t}` is not a time such as 08:00"))
}

fn parse_day(text: &str) -> Result<Vec<(NaiveTime, NaiveTime)>, String> {
    let mut ranges = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (from, to) = part
            .split_once('-')
            .ok_or_else(|| format!("`{part}` is not a range such as 08:00-16:00"))?;
        let (from, to) = (parse_time(from)?, parse_time(to)?);
        if from >= to {
            return Err(format!("`{part}` ends before it starts"));
        }
        ranges.push((from, to));
    }
    ranges.sort();
    if ranges.windows(2).any(|w| w[0].1 > w[1].0) {
        return Err(format!("the ranges of `{text}` overlap"));
    }
    Ok(ranges)
}

impl OpeningHours {
    /// The schedule of `s`; `None` when no day has hours.
    pub fn from_settings(s: &HoursSettings) -> Result<Option<OpeningHours>, String> {
        let tz: Tz = s.time_zone.trim().parse().map_err(|_| {
            format!(
                "hours.time_zone: `{}` is not a time zone such as Europe/Warsaw",
                s.time_zone
            )
        })?;
        let days = [
            ("mon", &s.mon),
            ("tue", &s.tue),
            ("wed", &s.wed),
            ("thu", &s.thu),
            ("fri", &s.fri),
            ("sat", &s.sat),
            ("sun", &s.sun),
        ];
        let mut week: [Vec<(NaiveTime, NaiveTime)>; 7] = Default::default();
        for (i, (key, text)) in days.iter().enumerate() {
            week[i] = parse_day(text).map_err(|e| format!("hours.{key}: {e}"))?;
        }
        let polish_holidays = match s.holidays.trim() {
            "pl" => true,
            "" => false,
            other => {
                return Err(format!(
                    "hours.holidays must be `pl` or empty, got `{other}`"
                ))
            }
        };
        let mut closed = BTreeSet::new();
        for d in &s.closed_dates {
            closed.insert(
                NaiveDate::parse_from_str(d.trim(), "%Y-%m-%d").map_err(|_| {
                    format!("hours.closed_dates: `{d}` is not a date such as 2026-12-31")
                })?,
            );
        }
        if !(1..=1440).contains(&s.escalate_after_min) {
            return Err(format!(
                "hours.escalate_after_min must be between 1 and 1440, got {}",
                s.escalate_after_min
            ));
        }
        if week.iter().all(Vec::is_empty) {
            return Ok(None);
        }
        Ok(Some(OpeningHours {
            tz,
            week,
            polish_holidays,
            closed,
            escalate_after: std::time::Duration::from_secs(u64::from(s.escalate_after_min) * 60),
        }))
    }

    pub fn time_zone(&self) -> Tz {
        self.tz
    }

    fn closed_on(&self, date: NaiveDate) -> bool {
        self.closed.contains(&date) || (self.polish_holidays && polish_holiday(date).is_some())
    }

    /// The day's opening ranges as times in the zone (none on a closed day).
    fn ranges(&self, date: NaiveDate) -> Vec<(DateTime<Tz>, DateTime<Tz>)> {
        if self.closed_on(date) {
            return Vec::new();
        }
        let day = date.weekday().num_days_from_monday() as usize;
        self.week[day]
            .iter()
            .filter_map(|&(from, to)| Some((self.local(date, from)?, self.local(date, to)?)))
            .collect()
    }

    /// A local date and time as an instant; in a daylight-saving gap, the first instant after it.
    fn local(&self, date: NaiveDate, time: NaiveTime) -> Option<DateTime<Tz>> {
        let naive = date.and_time(time);
        self.tz.from_local_datetime(&naive).earliest().or_else(|| {
            self.tz
                .from_local_datetime(&(naive + Duration::hours(1)))
                .earliest()
        })
    }

    /// Whether a person answers at `at`, and until or from when.
    pub fn at(&self, at: DateTime<Utc>) -> Availability {
        let local = at.with_timezone(&self.tz);
        let mut date = local.date_naive();
        for (from, to) in self.ranges(date) {
            if from <= local && local < to {
                return Availability::Open { closes: to };
            }
        }
        for _ in 0..=366 {
            if let Some((from, _)) = self
                .ranges(date)
                .into_iter()
                .find(|(from, _)| *from > local)
            {
                return Availability::Closed { opens: Some(from) };
            }
            date = match date.succ_opt() {
                Some(d) => d,
                None => break,
            };
        }
        Availability::Closed { opens: None }
    }
}

/// The availability under an optional schedule.
pub fn availability(hours: Option<&OpeningHours>, at: DateTime<Utc>) -> Availability {
    hours.map_or(Availability::Unknown, |h| h.at(at))
}

/// Easter Sunday of `year` (Gregorian; the anonymous algorithm of 1876).
pub fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

/// The Polish public holiday (a day off by law) on `date`, by its Polish name.
pub fn polish_holiday(date: NaiveDate) -> Option<&'static str> {
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some("Nowy Rok"),
        (1, 6) => Some("Trzech Króli"),
        (5, 1) => Some("Święto Pracy"),
        (5, 3) => Some("Święto Konstytucji 3 Maja"),
        (8, 15) => Some("Wniebowzięcie Najświętszej Maryi Panny"),
        (11, 1) => Some("Wszystkich Świętych"),
        (11, 11) => Some("Narodowe Święto Niepodległości"),
        // A day off since 2025 (the act of 6 December 2024).
        (12, 24) if date.year() >= 2025 => Some("Wigilia Bożego Narodzenia"),
        (12, 25) => Some("Boże Narodzenie (pierwszy dzień)"),
        (12, 26) => Some("Boże Narodzenie (drugi dzień)"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let e = easter(date.year());
    match (date - e).num_days() {
        0 => Some("Wielkanoc"),
        1 => Some("Poniedziałek Wielkanocny"),
        49 => Some("Zielone Świątki"),
        60 => Some("Boże Ciało"),
        _ => None,
    }
}

const PL_DAYS: [&str; 7] = [
    "w poniedziałek",
    "we wtorek",
    "w środę",
    "w czwartek",
    "w piątek",
    "w sobotę",
    "w niedzielę",
];
const PL_MONTHS: [&str; 12] = [
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
];
const EN_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

fn weekday_en(w: Weekday) -> &'static str {
    match w {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

/// When `at` is, as a customer reads it from `now` (both in the shop's zone): "dziś o 8:00",
/// "jutro o 8:00", "w poniedziałek 8 grudnia o 8:00"; "today at 8:00", "on Monday 8 December at
/// 8:00".
pub fn describe(at: DateTime<Tz>, now: DateTime<Tz>, lang: Lang) -> String {
    let time = format!("{}:{:02}", at.hour(), at.minute());
    let days = (at.date_naive() - now.date_naive()).num_days();
    let month = at.month0() as usize;
    let weekday = at.weekday();
    match lang {
        Lang::Pl => match days {
            0 => format!("dziś o {time}"),
            1 => format!("jutro o {time}"),
            _ => format!(
                "{} {} {} o {time}",
                PL_DAYS[weekday.num_days_from_monday() as usize],
                at.day(),
                PL_MONTHS[month]
            ),
        },
        Lang::En => match days {
            0 => format!("today at {time}"),
            1 => format!("tomorrow at {time}"),
            _ => format!(
                "on {} {} {} at {time}",
                weekday_en(weekday),
                at.day(),
                EN_MONTHS[month]
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> HoursSettings {
        HoursSettings {
            time_zone: "Europe/Warsaw".into(),
            mon: "08:00-16:00".into(),
            tue: "08:00-16:00".into(),
            wed: "08:00-16:00".into(),
            thu: "08:00-16:00".into(),
            fri: "08:00-12:00, 13:00-16:00".into(),
            sat: String::new(),
            sun: String::new(),
            holidays: "pl".into(),
            closed_dates: vec!["2026-12-31".into()],
            escalate_after_min: 30,
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn warsaw(s: &str) -> DateTime<Tz> {
        utc(s).with_timezone(&chrono_tz::Europe::Warsaw)
    }

    #[test]
    fn easter_matches_the_calendar() {
        for (y, m, d) in [
            (2024, 3, 31),
            (2025, 4, 20),
            (2026, 4, 5),
            (2027, 3, 28),
            (2038, 4, 25),
        ] {
            assert_eq!(easter(y), NaiveDate::from_ymd_opt(y, m, d).unwrap(), "{y}");
        }
    }

    #[test]
    fn polish_public_holidays_of_2026() {
        let days: Vec<String> = (0..365)
            .map(|i| NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + Duration::days(i))
            .filter(|d| polish_holiday(*d).is_some())
            .map(|d| d.format("%m-%d").to_string())
            .collect();
        assert_eq!(
            days,
            [
                "01-01", "01-06", "04-05", "04-06", "05-01", "05-03", "05-24", "06-04", "08-15",
                "11-01", "11-11", "12-24", "12-25", "12-26"
            ]
        );
        assert_eq!(
            polish_holiday(NaiveDate::from_ymd_opt(2024, 12, 24).unwrap()),
            None
        );
    }

    #[test]
    fn open_closed_and_the_next_opening_across_weekends_holidays_and_dst() {
        let h = OpeningHours::from_settings(&settings()).unwrap().unwrap();
        // Monday 7 December 2026, 10:00 in Warsaw (UTC+1).
        assert_eq!(
            h.at(utc("2026-12-07T09:00:00Z")),
            Availability::Open {
                closes: warsaw("2026-12-07T15:00:00Z")
            }
        );
        // Friday's lunch break, then 13:00.
        assert_eq!(
            h.at(utc("2026-12-11T11:30:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2026-12-11T12:00:00Z"))
            }
        );
        // Friday evening: Monday 8:00.
        assert_eq!(
            h.at(utc("2026-12-11T18:00:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2026-12-14T07:00:00Z"))
            }
        );
        // Wednesday 23 December evening: 24, 25, 26 (holidays) and 27 (Sunday) closed; Monday 28.
        assert_eq!(
            h.at(utc("2026-12-23T17:00:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2026-12-28T07:00:00Z"))
            }
        );
        // Wednesday 30 December evening: 31 closed by the shop, 1 January a holiday, Monday 4th.
        assert_eq!(
            h.at(utc("2026-12-30T17:00:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2027-01-04T07:00:00Z"))
            }
        );
        // Summer time: 8:00 in Warsaw is 6:00 UTC (Friday 3 April 2026; Easter Monday after).
        assert_eq!(
            h.at(utc("2026-04-03T05:59:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2026-04-03T06:00:00Z"))
            }
        );
        assert_eq!(
            h.at(utc("2026-04-03T15:00:00Z")),
            Availability::Closed {
                opens: Some(warsaw("2026-04-07T06:00:00Z"))
            }
        );
    }

    #[test]
    fn the_next_opening_reads_naturally_in_both_languages() {
        let now = warsaw("2026-12-11T18:00:00Z");
        let monday = warsaw("2026-12-14T07:00:00Z");
        assert_eq!(
            describe(monday, now, Lang::Pl),
            "w poniedziałek 14 grudnia o 8:00"
        );
        assert_eq!(
            describe(monday, now, Lang::En),
            "on Monday 14 December at 8:00"
        );
        let early = warsaw("2026-12-10T05:00:00Z");
        let later = warsaw("2026-12-10T07:30:00Z");
        assert_eq!(describe(later, early, Lang::Pl), "dziś o 8:30");
        assert_eq!(
            describe(
                warsaw("2026-12-16T07:00:00Z"),
                warsaw("2026-12-15T17:00:00Z"),
                Lang::En
            ),
            "tomorrow at 8:00"
        );
        assert_eq!(
            describe(warsaw("2026-12-15T07:00:00Z"), now, Lang::Pl),
            "we wtorek 15 grudnia o 8:00"
        );
    }

    #[test]
    fn bad_settings_get_clear_errors_and_an_empty_week_is_no_schedule() {
        let empty = HoursSettings {
            mon: String::new(),
            tue: String::new(),
            wed: String::new(),
            thu: String::new(),
            fri: String::new(),
            ..settings()
        };
        assert_eq!(OpeningHours::from_settings(&empty).unwrap(), None);
        let cases = [
            (
                HoursSettings {
                    time_zone: "Mars/Olympus".into(),
                    ..settings()
                },
                "hours.time_zone",
            ),
            (
                HoursSettings {
                    mon: "8-16".into(),
                    ..settings()
                },
                "hours.mon",
            ),
            (
                HoursSettings {
                    tue: "16:00-08:00".into(),
                    ..settings()
                },
                "ends before it starts",
            ),
            (
                HoursSettings {
                    wed: "08:00-12:00,11:00-16:00".into(),
                    ..settings()
                },
                "overlap",
            ),
            (
                HoursSettings {
                    holidays: "de".into(),
                    ..settings()
                },
                "hours.holidays",
            ),
            (
                HoursSettings {
                    closed_dates: vec!["31.12.2026".into()],
                    ..settings()
                },
                "closed_dates",
            ),
            (
                HoursSettings {
                    escalate_after_min: 0,
                    ..settings()
                },
                "escalate_after_min",
            ),
        ];
        for (s, want) in cases {
            let e = OpeningHours::from_settings(&s).unwrap_err();
            assert!(e.contains(want), "{e}");
        }
    }
}
