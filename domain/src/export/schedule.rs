//! Schedule arithmetic: the export slots a segment schedule has due, in UTC — daily at a time,
//! weekly, monthly (a day the month lacks falls back to its last day), every N hours from the
//! first time of day, once; the start date inclusive and the end date exclusive.

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Utc};

use crate::catalog::spec::Schedule;

/// When a segment is exported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub schedule: Schedule,
    /// The time of day (UTC) of the slots; for every-N-hours the first slot of each day.
    pub time: NaiveTime,
    pub start: NaiveDate,
    /// Exclusive.
    pub end: Option<NaiveDate>,
}

fn at(date: NaiveDate, time: NaiveTime) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_time(time))
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    let (y, m) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.pred_opt())
        .map_or(28, |d| d.day())
}

/// The date in `year`/`month` for the plan's day of month, or the month's last day.
fn monthly_date(year: i32, month: u32, day: u32) -> NaiveDate {
    let day = day.min(last_day_of_month(year, month));
    NaiveDate::from_ymd_opt(year, month, day).expect("a day that exists in the month")
}

impl Plan {
    fn hours(&self) -> Option<i64> {
        match self.schedule {
            Schedule::Every3Hours => Some(3),
            Schedule::Every6Hours => Some(6),
            Schedule::Every8Hours => Some(8),
            Schedule::Every12Hours => Some(12),
            _ => None,
        }
    }

    fn within(&self, slot: DateTime<Utc>) -> bool {
        slot >= at(self.start, NaiveTime::MIN)
            && self.end.is_none_or(|end| slot < at(end, NaiveTime::MIN))
    }

    /// Every slot in `(after, until]`, oldest first (at most `limit`).
    pub fn slots_between(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
        limit: usize,
    ) -> Vec<DateTime<Utc>> {
        let mut slots = Vec::new();
        let mut cursor = after;
        while slots.len() < limit {
            match self.next_after(cursor) {
                Some(slot) if slot <= until => {
                    slots.push(slot);
                    cursor = slot;
                }
                _ => break,
            }
        }
        slots
    }

    /// The latest slot at or before `now`, if any has come.
    pub fn latest_due(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        // Walk back day by day (a month at most) to find the candidate, then confirm it.
        let mut day = now.date_naive();
        if let Some(end) = self.end
            && day >= end
        {
            day = end.pred_opt()?;
        }
        for _ in 0..40 {
            let mut candidates = self.slots_on(day);
            candidates.retain(|s| *s <= now && self.within(*s));
            if let Some(slot) = candidates.into_iter().max() {
                return Some(slot);
            }
            if day <= self.start {
                return None;
            }
            day = day.pred_opt()?;
        }
        None
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let mut day = after.date_naive().max(self.start);
        for _ in 0..400 {
            if let Some(end) = self.end
                && day >= end
            {
                return None;
            }
            let mut candidates = self.slots_on(day);
            candidates.retain(|s| *s > after && self.within(*s));
            if let Some(slot) = candidates.into_iter().min() {
                return Some(slot);
            }
            if self.schedule == Schedule::Once && day > self.start {
                return None;
            }
            day = day.succ_opt()?;
        }
        None
    }

    /// The slots that fall on one calendar day (UTC).
    fn slots_on(&self, day: NaiveDate) -> Vec<DateTime<Utc>> {
        match self.schedule {
            Schedule::Once => {
                if day == self.start {
                    vec![at(day, self.time)]
                } else {
                    vec![]
                }
            }
            Schedule::Daily => vec![at(day, self.time)],
            Schedule::Weekly => {
                if day.weekday() == self.start.weekday() {
                    vec![at(day, self.time)]
                } else {
                    vec![]
                }
            }
            Schedule::Monthly => {
                if day == monthly_date(day.year(), day.month(), self.start.day()) {
                    vec![at(day, self.time)]
                } else {
                    vec![]
                }
            }
            Schedule::Streaming => vec![],
            _ => {
                let hours = self.hours().unwrap_or(24);
                // Slots repeat every N hours from the first time of day, across midnight:
                // counted from the start date so a 9-hour gap never appears at day change.
                let origin = at(self.start, self.time);
                let day_start = at(day, NaiveTime::MIN);
                let day_end = day_start + Duration::days(1);
                let step = Duration::hours(hours);
                let mut slot = if day_start <= origin {
                    origin
                } else {
                    let elapsed = (day_start - origin).num_seconds();
                    let steps = (elapsed + step.num_seconds() - 1) / step.num_seconds();
                    origin + step * i32::try_from(steps).unwrap_or(i32::MAX)
                };
                let mut slots = Vec::new();
                while slot < day_end {
                    if slot >= day_start {
                        slots.push(slot);
                    }
                    slot += step;
                }
                slots
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn plan(schedule: Schedule, time: &str, start: &str, end: Option<&str>) -> Plan {
        Plan {
            schedule,
            time: NaiveTime::parse_from_str(time, "%H:%M").unwrap(),
            start: d(start),
            end: end.map(d),
        }
    }

    #[test]
    fn daily_slots_respect_start_and_an_exclusive_end() {
        let p = plan(Schedule::Daily, "09:30", "2026-12-01", Some("2026-12-04"));
        let slots = p.slots_between(t("2026-11-01T00:00:00Z"), t("2027-01-01T00:00:00Z"), 100);
        assert_eq!(
            slots,
            [
                t("2026-12-01T09:30:00Z"),
                t("2026-12-02T09:30:00Z"),
                t("2026-12-03T09:30:00Z")
            ]
        );
        assert_eq!(
            p.latest_due(t("2026-12-02T09:29:59Z")),
            Some(t("2026-12-01T09:30:00Z"))
        );
        assert_eq!(p.latest_due(t("2026-12-01T09:00:00Z")), None);
        assert_eq!(
            p.latest_due(t("2027-06-01T00:00:00Z")),
            Some(t("2026-12-03T09:30:00Z"))
        );
    }

    #[test]
    fn monthly_falls_back_to_the_last_day_of_short_months() {
        let p = plan(Schedule::Monthly, "06:00", "2027-01-31", None);
        let slots = p.slots_between(t("2027-01-01T00:00:00Z"), t("2027-05-01T00:00:00Z"), 100);
        assert_eq!(
            slots,
            [
                t("2027-01-31T06:00:00Z"),
                t("2027-02-28T06:00:00Z"),
                t("2027-03-31T06:00:00Z"),
                t("2027-04-30T06:00:00Z")
            ]
        );
        let leap = plan(Schedule::Monthly, "06:00", "2028-01-30", None);
        assert_eq!(
            leap.next_after(t("2028-01-31T00:00:00Z")),
            Some(t("2028-02-29T06:00:00Z"))
        );
    }

    #[test]
    fn every_n_hours_runs_across_midnight_without_gaps() {
        let p = plan(Schedule::Every8Hours, "20:00", "2026-12-01", None);
        let slots = p.slots_between(t("2026-12-01T00:00:00Z"), t("2026-12-03T00:00:00Z"), 100);
        assert_eq!(
            slots,
            [
                t("2026-12-01T20:00:00Z"),
                t("2026-12-02T04:00:00Z"),
                t("2026-12-02T12:00:00Z"),
                t("2026-12-02T20:00:00Z")
            ]
        );
        let p = plan(
            Schedule::Every3Hours,
            "01:00",
            "2026-12-01",
            Some("2026-12-02"),
        );
        assert_eq!(
            p.slots_between(t("2026-11-30T00:00:00Z"), t("2026-12-05T00:00:00Z"), 100)
                .len(),
            8
        );
        assert_eq!(
            p.latest_due(t("2026-12-01T23:59:00Z")),
            Some(t("2026-12-01T22:00:00Z"))
        );
    }

    #[test]
    fn weekly_keeps_the_start_weekday_and_once_runs_once() {
        let p = plan(Schedule::Weekly, "12:00", "2026-12-02", None);
        let slots = p.slots_between(t("2026-12-01T00:00:00Z"), t("2026-12-20T00:00:00Z"), 100);
        assert_eq!(
            slots,
            [
                t("2026-12-02T12:00:00Z"),
                t("2026-12-09T12:00:00Z"),
                t("2026-12-16T12:00:00Z")
            ]
        );
        let once = plan(Schedule::Once, "08:00", "2026-12-24", None);
        assert_eq!(
            once.slots_between(t("2026-01-01T00:00:00Z"), t("2030-01-01T00:00:00Z"), 100),
            [t("2026-12-24T08:00:00Z")]
        );
        assert_eq!(once.next_after(t("2026-12-24T08:00:00Z")), None);
    }
}
